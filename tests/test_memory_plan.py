"""Chat and training memory from file headers: Llama-2-7B described as llama.cpp's quantiser
writes it (checked against the sizes of the published files), the starter read from its file,
a small synthetic GGUF written by bench/synthetic_gguf.py, a float model's folder, and the plans
for library entries on either chat engine."""

import json
from dataclasses import replace

import pytest

from llamadesk.core import engines, i18n, library
from llamadesk.core.errors import InvalidModelError
from llamadesk.core.formats.gguf import TensorHeader, tensor_bytes
from llamadesk.core.memory_plan import (
    GIB,
    OS_RESERVE_BYTES,
    ModelShape,
    bytes_per_weight,
    chat_memory,
    compute_buffer_bytes,
    describe_gguf,
    describe_hf,
    describe_llama,
    kv_cache_bytes,
    memory_plan,
    plan_for_entry,
    plan_for_path,
    torch_chat_memory,
    train_memory,
)
from llamadesk.core.params import breakdown_from_config

LLAMA2_7B = ModelShape(vocab=32000, hidden=4096, layers=32, ffn=11008, heads=32, kv_heads=32, context=4096)
# TheBloke/Llama-2-7B-GGUF, bytes on disk. Each file also holds ~0.74 MB of metadata (the
# 32000-token vocabulary), which the tensor bytes leave out.
PUBLISHED = {"Q4_0": 3_825_807_040, "Q4_K_M": 4_081_004_224, "Q8_0": 7_161_089_728, "BF16": 13_478_104_576}
GB = 1000**3


def test_bytes_per_weight_comes_from_the_block_layout():
    assert bytes_per_weight("F32") == 4
    assert bytes_per_weight("BF16") == 2
    assert bytes_per_weight("Q4_0") == 18 / 32  # fp16 scale + 32 nibbles
    assert bytes_per_weight("Q4_1") == 20 / 32  # scale and minimum
    assert bytes_per_weight("Q8_0") == 34 / 32
    assert bytes_per_weight("Q4_K") == 144 / 256  # 4.5 bits
    assert bytes_per_weight("Q6_K") == 210 / 256  # 6.5625 bits
    assert tensor_bytes((4096, 11008), "Q4_K") == 4096 * 11008 // 256 * 144
    assert tensor_bytes((11008,), "F32") == 11008 * 4
    with pytest.raises(ValueError):
        tensor_bytes((4, 100), "Q4_0")  # numpy order: 4 rows of 100, not whole blocks of 32
    with pytest.raises(ValueError):
        bytes_per_weight("Q9_9")


@pytest.mark.parametrize("file_type", sorted(PUBLISHED))
def test_llama2_7b_weights_match_the_published_files(file_type):
    model = describe_llama(LLAMA2_7B, file_type)
    assert model.n_params == breakdown_from_config(LLAMA2_7B.config()).total == 6_738_415_616
    published = PUBLISHED[file_type]
    # The file is the tensors plus its metadata: under 1 MB between them, not a rounding error.
    assert 0 < published - model.weight_bytes < 1_000_000


def test_llama2_7b_sizes_in_round_figures():
    sizes = {ft: describe_llama(LLAMA2_7B, ft).weight_bytes for ft in PUBLISHED}
    assert sizes["Q4_0"] / GIB == pytest.approx(3.56, abs=0.01)
    assert sizes["Q4_0"] / GB == pytest.approx(3.83, abs=0.01)
    assert sizes["Q4_K_M"] / GB == pytest.approx(4.08, abs=0.01)
    assert sizes["Q8_0"] / GB == pytest.approx(7.16, abs=0.01)
    assert sizes["BF16"] / GB == pytest.approx(13.48, abs=0.01)


def test_q4_k_m_mix_is_llama_cpps():
    model = describe_llama(LLAMA2_7B, "Q4_K_M")
    types = {t.name: t.type for t in model.tensors}
    bumped = [i for i in range(32) if types[f"blk.{i}.attn_v.weight"] == "Q6_K"]
    assert bumped == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]  # half of them
    assert all(types[f"blk.{i}.ffn_down.weight"] == ("Q6_K" if i in bumped else "Q4_K") for i in range(32))
    assert types["output.weight"] == "Q6_K"
    assert types["token_embd.weight"] == types["blk.5.attn_q.weight"] == "Q4_K"
    assert types["blk.0.attn_norm.weight"] == types["output_norm.weight"] == "F32"
    q4_0 = {t.name: t.type for t in describe_llama(LLAMA2_7B, "Q4_0").tensors}
    assert q4_0["output.weight"] == "Q6_K" and q4_0["blk.0.ffn_down.weight"] == "Q4_0"
    assert {t.type for t in describe_llama(LLAMA2_7B, "Q8_0").tensors} == {"Q8_0", "F32"}


def test_chat_memory_of_llama2_7b():
    chat = chat_memory(describe_llama(LLAMA2_7B, "Q4_0"))
    assert chat.n_ctx == 4096  # the trained context, under the 8192 cap
    # 2 (K and V) × 32 layers × 32 KV heads × 128 × 2 bytes = 0.5 MiB a token.
    assert chat.kv_cache == 2 * 32 * 32 * 128 * 2 * 4096 == 2 * GIB
    # Attention scores of 32 heads × 4096 positions for each of 512 tokens dominate the buffer.
    assert chat.compute == 4 * 512 * (32 * 4096 + 4096 + 11008 + 3 * 4096)
    assert chat.total / GIB == pytest.approx(3.56 + 2 + 0.30 + 0.08, abs=0.02)
    long = replace(LLAMA2_7B, context=32768)
    assert chat_memory(describe_llama(long, "Q4_0")).n_ctx == 8192


def test_compute_buffer_matches_llama_cpp_logs():
    """Sizes llama.cpp 0.3.36 logged ("CPU compute buffer size") for bench/synthetic_gguf.py's
    default shape: the estimate is never below them and at most 8 % above."""
    shape = ModelShape(vocab=49152, hidden=2048, layers=22, ffn=5632, heads=32, kv_heads=4, context=2048)
    mib = 1024**2
    logged = [((2048, 512, False), 153.01), ((2048, 512, True), 104.0), ((512, 512, False), 104.0),
              ((2048, 128, False), 38.25), ((2048, 1, False), 0.30)]  # fmt: skip
    for (n_ctx, n_batch, flash), size in logged:
        estimate = compute_buffer_bytes(shape, n_ctx, n_batch, flash) / mib
        assert size <= estimate <= size * 1.08


def _plan(file_type: str, ram_gib: float, bf16: bool = True):
    total = int(ram_gib * GIB)
    return memory_plan(describe_llama(LLAMA2_7B, file_type), total_ram=total, available_ram=total, bf16=bf16)


def test_chat_verdicts_on_a_16_gib_laptop():
    assert OS_RESERVE_BYTES == 2 * GIB
    for file_type in ("Q4_0", "Q4_K_M", "Q8_0"):
        plan = _plan(file_type, 16)
        assert plan.fits_chat, file_type
        assert plan.chat_bytes < 14 * GIB
    bf16 = _plan("BF16", 16)
    # 12.55 GiB of weights + 2 GiB of KV cache + buffers: more than 16 GiB less 2 GiB for the system.
    assert 14 * GIB < bf16.chat_bytes < 16 * GIB
    assert not bf16.fits_chat
    assert _plan("BF16", 32).fits_chat


def test_training_on_a_cpu_is_fp32_by_default():
    """The runner trains without mixed precision on a CPU (precision "auto"), so the plan does too,
    whatever the CPU's bf16 support."""
    plan = memory_plan(describe_llama(LLAMA2_7B, "Q4_0"), total_ram=64 * GIB, available_ram=64 * GIB)
    assert plan.train_precision == "fp32"
    assert plan.train.weights == 6_738_415_616 * 4


def test_train_verdicts():
    plans = {ft: _plan(ft, 16) for ft in PUBLISHED}
    # Training dequantises, so the file's own type no longer matters: all need the same.
    assert len({p.train_bytes for p in plans.values()}) == 1
    q4 = plans["Q4_K_M"]
    assert q4.train.weights == 6_738_415_616 * 2  # bf16 copy of the base
    assert not q4.fits_train
    # Even gradient checkpointing, batch 1, block 128 and rank 4 leave 7B above 14 GiB.
    assert q4.train_suggestion == {} and q4.train_suggestion_bytes == 0
    assert _plan("Q4_K_M", 32).fits_train  # bf16 defaults: about 24 GiB
    fp32 = _plan("Q4_K_M", 32, bf16=False)
    assert fp32.train.weights == 6_738_415_616 * 4
    assert fp32.train_precision == "fp32" and not fp32.fits_train
    # fp32 on 32 GiB: the defaults do not fit, smaller settings do, and the plan says which.
    assert fp32.train_suggestion["gradient_checkpointing"] is True
    assert fp32.train_bytes > 30 * GIB >= fp32.train_suggestion_bytes > 0


def test_an_explicit_precision_in_the_spec_wins():
    from llamadesk.core.memory_plan import default_train_spec

    spec = replace(default_train_spec(), precision="fp32")
    estimate = train_memory(describe_llama(LLAMA2_7B, "Q4_0"), spec, bf16=True)
    assert estimate.weights == 6_738_415_616 * 4


def test_user_text_and_json():
    text = _plan("Q4_0", 16).text()
    assert text == (
        "Chat needs about 5.9 GiB of the 16.0 GiB this computer has; "
        "training a LoRA needs about 24.0 GiB, more than it has."
    )
    assert "more than the 16.0 GiB this computer has can spare" in _plan("BF16", 16).text()
    assert "which fits" in _plan("Q4_0", 32).text()
    assert "or 29.5 GiB with smaller settings" in _plan("Q4_0", 32, bf16=False).text()
    data = json.loads(json.dumps(_plan("Q4_0", 16).to_json()))
    assert data["fits_chat"] is True and data["fits_train"] is False
    assert data["chat"]["kv_cache"] == 2 * GIB and data["usable_ram"] == 14 * GIB
    assert data["text"] == text


def test_text_is_formatted_in_another_language_too():
    try:
        i18n.set_language("zh_CN")
        text = _plan("Q4_0", 16).text()
    finally:
        i18n.set_language(i18n.ENGLISH)
    assert "5.9 GiB" in text and "24.0 GiB" in text


def test_this_machines_ram_is_used_when_not_given():
    import psutil

    plan = memory_plan(describe_llama(LLAMA2_7B, "Q4_0"), bf16=True)
    assert plan.total_ram == psutil.virtual_memory().total
    assert 0 < plan.available_ram <= plan.total_ram


@pytest.mark.slow
def test_starter_from_its_headers(starter_gguf):
    model = describe_gguf(starter_gguf)
    shape = model.shape
    assert (shape.vocab, shape.hidden, shape.layers, shape.ffn) == (49152, 576, 30, 1536)
    assert (shape.heads, shape.kv_heads, shape.context, shape.tied) == (9, 3, 8192, True)
    assert model.n_params == shape.n_params == 134_515_008
    size = starter_gguf.stat().st_size
    # Tensors and metadata make the file, up to the 32-byte alignment between tensors.
    assert 0 <= size - (model.weight_bytes + model.header_bytes) < 32 * len(model.tensors)
    assert model.weight_bytes == pytest.approx(size, rel=0.02)  # 1.8 MB of it is the tokenizer
    assert model.types() == {"Q8_0": 576 * 49152, "Q4_1": 106_168_320, "F32": 61 * 576}
    # numpy order, (vocab, hidden); its data starts where the header ends.
    assert model.tensors[0] == TensorHeader("token_embd.weight", (49152, 576), "Q8_0", model.header_bytes)
    assert model.largest_tensor == 49152 * 576
    plan = memory_plan(model, total_ram=16 * GIB, available_ram=8 * GIB)
    assert plan.engine == engines.LLAMACPP
    assert plan.fits_chat and plan.fits_train and plan.fits_chat_now
    assert plan.chat.kv_cache == kv_cache_bytes(shape, 8192) == 2 * 30 * 3 * 64 * 2 * 8192


@pytest.mark.slow
def test_synthetic_gguf_reads_back(tmp_path, starter_gguf):
    from bench.synthetic_gguf import SyntheticShape, write_synthetic_gguf

    shape = SyntheticShape(hidden=64, layers=2, ffn=128, heads=4, kv_heads=2, context=256)
    out = tmp_path / "tiny.gguf"
    summary = write_synthetic_gguf(out, shape, tokenizer_from=starter_gguf, embed_type="Q8_0")
    model = describe_gguf(out)
    assert model.shape == ModelShape(
        vocab=49152, hidden=64, layers=2, ffn=128, heads=4, kv_heads=2, context=256, head_dim=16
    )
    assert (
        model.n_params
        == summary["parameters"]
        == 2 * 49152 * 64 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 128) + 64
    )
    assert model.types()["Q8_0"] == 2 * 49152 * 64
    assert 0 <= out.stat().st_size - (model.weight_bytes + model.header_bytes) < 32 * len(model.tensors)


def test_unreadable_file_is_a_user_error(tmp_path):
    from llamadesk.core.errors import InvalidModelError

    bad = tmp_path / "bad.gguf"
    for content in (b"", b"PK\3\4 a zip", b"GGUF" + b"\0" * 10, b"GGUF\3\0\0\0" + b"\1" + b"\0" * 15):
        bad.write_bytes(content)
        with pytest.raises(InvalidModelError, match="bad.gguf is not a readable GGUF file"):
            describe_gguf(bad)


# -- the torch engine and float models ------------------------------------------------------------


def test_torch_engine_on_a_16_gib_laptop_holds_7b_in_bf16_and_quantises_after_loading():
    model = describe_llama(LLAMA2_7B, "BF16")
    n = 6_738_415_616

    def plan(quantization: str, ram_gib: int):
        ram = ram_gib * GIB
        return memory_plan(model, total_ram=ram, available_ram=ram, engine="torch", quantization=quantization)

    full = plan("none", 16)
    assert full.engine == engines.TORCH
    # fp32 would take more than half the RAM, so the engine picks bf16, as core.engine does.
    assert full.chat.dtype == "bfloat16" and full.chat.weights == 2 * n
    assert full.chat.kv_cache == 2 * GIB  # bf16 keys and values, like llama.cpp's f16
    assert not full.fits_chat
    assert plan("none", 64).chat.dtype == "float32" and plan("none", 64).chat.weights == 4 * n
    int8, int4 = plan("int8", 16), plan("int4", 16)
    assert int4.chat.weights < int8.chat.weights < full.chat.weights
    assert int8.chat.weights == pytest.approx(n, rel=0.03)  # a byte a weight, embeddings in bf16
    # The model is built in bf16 before it is quantised: that peak, not the chat, decides.
    assert int8.chat.load == int4.chat.load == 2 * n + 4 * 32000 * 4096
    assert int8.chat_bytes == int4.chat_bytes == int8.chat.runtime + int8.chat.load
    assert int8.fits_chat  # 13.8 GiB of 14 usable: just
    assert not plan("int8", 15).fits_chat


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("mode", ["none", "int8", "int4"])
def test_torch_weight_bytes_match_a_quantised_model(mode, tied):
    """The formula against core/quantize.py's own layers on a small Llama (embeddings 96 rows)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from llamadesk.core.quantize import quantize_model, weight_bytes

    shape = ModelShape(vocab=96, hidden=64, layers=2, ffn=128, heads=4, kv_heads=2, context=64, tied=tied)
    config = LlamaConfig(**shape.config())
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    quantize_model(model, mode)
    rotary = sum(b.numel() * b.element_size() for n, b in model.named_buffers() if "rotary" in n)
    estimate = torch_chat_memory(describe_llama(shape, "F32"), mode, "float32").weights
    assert weight_bytes(model) - rotary == estimate


def test_a_float_model_is_described_from_its_config_and_safetensors(tiny_model_dir):
    import json

    config = json.loads((tiny_model_dir / "config.json").read_text())
    model = describe_hf(tiny_model_dir)
    assert model.format == "hf"
    assert model.shape.hidden == config["hidden_size"] == 32
    assert (model.shape.heads, model.shape.kv_heads, model.shape.context) == (4, 2, 256)
    assert model.n_params == model.shape.n_params == library.import_model(tiny_model_dir).breakdown().total
    assert model.types() == {"F32": model.n_params}
    plan = memory_plan(tiny_model_dir, total_ram=16 * GIB, available_ram=16 * GIB)
    assert plan.engine == engines.TORCH and plan.chat.quantization == "none"
    assert plan.chat.dtype == "float32" and plan.fits_chat and plan.fits_train
    assert plan_for_path(tiny_model_dir).engine == engines.TORCH


def test_folders_that_do_not_say_their_shape_are_user_errors(tmp_path):
    with pytest.raises(InvalidModelError, match="has no config.json"):
        plan_for_path(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama", "hidden_size": 32}')
    with pytest.raises(InvalidModelError, match="does not say the shape of its model"):
        plan_for_path(tmp_path)


def test_plan_for_a_float_entry_follows_its_quantisation_and_its_chat_gguf(tiny_model_dir, monkeypatch):
    entry = library.import_model(tiny_model_dir, "tiny", in_place=True)
    plan = plan_for_entry(entry, total_ram=16 * GIB, available_ram=16 * GIB)
    assert plan.engine == engines.TORCH and plan.chat.quantization == "none"
    int8 = plan_for_entry(
        library.set_quantization("tiny", "int8"), total_ram=16 * GIB, available_ram=16 * GIB
    )
    assert int8.chat.quantization == "int8" and int8.chat.weights < plan.chat.weights
    entry = library.quantize_for_chat("tiny", "q8_0")
    engine, _reason = engines.pick(entry)
    with_gguf = plan_for_entry(entry, total_ram=16 * GIB, available_ram=16 * GIB)
    assert with_gguf.engine == engine
    if engine == engines.LLAMACPP:  # llama.cpp maps the chat GGUF as it is
        assert with_gguf.chat.weights == describe_gguf(entry.gguf_path).weight_bytes
    monkeypatch.setattr(engines, "llamacpp_problem", lambda: "llama.cpp is not installed")
    without = plan_for_entry(entry, total_ram=16 * GIB, available_ram=16 * GIB)
    assert without.engine == engines.TORCH and without.chat.quantization == "int8"
    assert without.train_bytes == plan.train_bytes  # training reads the float weights either way


@pytest.mark.slow
def test_plan_for_the_starter_on_either_engine(starter_gguf, monkeypatch):
    entry = library.import_model(starter_gguf, "starter")
    # The plan is arithmetic: it holds whether or not llama.cpp is installed on this machine.
    monkeypatch.setattr(engines, "llamacpp_problem", lambda: None)
    plan = plan_for_entry(entry, total_ram=8 * GIB, available_ram=4 * GIB)
    assert plan.engine == engines.LLAMACPP
    assert plan.fits_chat and plan.fits_train
    assert plan_for_path(starter_gguf, total_ram=8 * GIB, available_ram=4 * GIB).chat == plan.chat
    monkeypatch.setattr(engines, "llamacpp_problem", lambda: "llama.cpp is not installed")
    torch_plan = plan_for_entry(entry, total_ram=8 * GIB, available_ram=4 * GIB)
    assert torch_plan.engine == engines.TORCH
    assert torch_plan.chat.quantization == "int4" and torch_plan.chat.dtype == "float32"
    assert torch_plan.chat_bytes > plan.chat_bytes
    # Before the import, the path alone gives the plan the import would set up.
    assert plan_for_path(starter_gguf, total_ram=8 * GIB, available_ram=4 * GIB).chat == torch_plan.chat
