"""Meta's original release -> Hugging Face: same logits as Meta's own math, same tokens as Meta's
tokenizers, and a clear refusal for every way a download is commonly broken."""

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch

from llamadesk.core.errors import Cancelled, InvalidModelError
from llamadesk.core.formats import meta_pth
from llamadesk.core.formats.meta_pth import convert_meta_checkpoint, is_meta_checkpoint
from llamadesk.core.progress import Progress
from tests.meta_fixtures import (
    LLAMA2_PARAMS,
    LLAMA3_PARAMS,
    meta_forward,
    random_weights,
    ranks_file,
    sample_text,
    train_bpe_ranks,
    train_sentencepiece,
    write_release,
)

TOKENS = [1, 5, 77, 300, 12, 399, 42, 250, 3, 180, 64, 9]
TEXTS = [
    "the quick llama 1234 ok",
    "  two  leading spaces\nand a newline",
    "héllo wörld 🦙 北京",
    "don't we'll it's (x+y)=z?!",
    " ",
]


@pytest.fixture(scope="session")
def spm_model() -> bytes:
    return train_sentencepiece()


@pytest.fixture(scope="session")
def llama2_release(tmp_path_factory, spm_model) -> tuple[Path, dict]:
    """Two ranks, GQA, column-split embedding, rotary table; tokenizer one folder up, as Meta's
    Llama 2 download lays it out."""
    root = tmp_path_factory.mktemp("meta2")
    weights = random_weights(LLAMA2_PARAMS, vocab=400, seed=1)
    folder = write_release(
        root / "llama-2-tiny", LLAMA2_PARAMS, weights, spm_model, ranks=2, embedding_split=1, rope_table=True
    )
    (folder / "tokenizer.model").rename(root / "tokenizer.model")
    return folder, weights


@pytest.fixture(scope="session")
def llama2_converted(tmp_path_factory, llama2_release) -> Path:
    dest = tmp_path_factory.mktemp("meta2-hf")
    convert_meta_checkpoint(llama2_release[0], dest, Progress())
    return dest


@pytest.fixture(scope="session")
def bpe_ranks() -> dict[bytes, int]:
    return train_bpe_ranks()


def _copy_release(src: Path, dest: Path) -> Path:
    """A writable copy of a release, its tokenizer beside the weights."""
    shutil.copytree(src, dest)
    if not (dest / "tokenizer.model").exists():
        shutil.copy(src.parent / "tokenizer.model", dest / "tokenizer.model")
    return dest


def _max_logit_diff(folder: Path, weights: dict, params: dict) -> float:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    with torch.inference_mode():
        converted = model(torch.tensor([TOKENS])).logits[0]
        reference = meta_forward(weights, params, TOKENS)
    return (converted - reference).abs().max().item()


def test_llama2_release_gives_meta_logits(llama2_release, llama2_converted):
    folder, weights = llama2_release
    diff = _max_logit_diff(llama2_converted, weights, LLAMA2_PARAMS)
    print(f"llama2-style max |logit diff| = {diff:.2e}")
    assert diff < 1e-4

    config = json.loads((llama2_converted / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["intermediate_size"] == 224  # 2*4*64/3 -> 170, *1.3 -> 221, up to a multiple of 32
    assert config["num_key_value_heads"] == 2
    assert config["vocab_size"] == 400
    assert config["max_position_embeddings"] == 4096
    assert config["rope_parameters"] == {"rope_type": "default", "rope_theta": 500000.0}
    assert config["tie_word_embeddings"] is False
    assert (llama2_converted / "generation_config.json").is_file()
    assert (llama2_converted / "model.safetensors").is_file()


def test_sentencepiece_tokenizer_matches_sentencepiece(llama2_converted, spm_model):
    import sentencepiece
    from transformers import AutoTokenizer

    reference = sentencepiece.SentencePieceProcessor()
    reference.LoadFromSerializedProto(spm_model)
    tokenizer = AutoTokenizer.from_pretrained(llama2_converted)
    for text in [*TEXTS, *sample_text(7, lines=20).splitlines()]:
        ids = tokenizer(text).input_ids
        assert ids == [reference.bos_id(), *reference.encode(text)], text
        assert tokenizer.decode(ids, skip_special_tokens=True) == reference.decode(reference.encode(text))
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == ("<s>", "</s>", "<unk>")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert prompt == "<s>[INST] hi [/INST]"


@pytest.mark.parametrize(
    "options",
    [
        {"model_type": "unigram"},
        {"model_type": "unigram", "normalization_rule_name": "nmt_nfkc", "remove_extra_whitespaces": True},
        {"normalization_rule_name": "nmt_nfkc", "remove_extra_whitespaces": True},
    ],
)
def test_other_sentencepiece_settings_match_sentencepiece(tmp_path, options):
    """Not what Llama uses, but what a fine-tuned derivative might ship: still identical ids."""
    import sentencepiece

    model = train_sentencepiece(vocab_size=320, hard_vocab_limit=False, **options)
    (tmp_path / "tokenizer.model").write_bytes(model)
    tokenizer = meta_pth.build_tokenizer(tmp_path / "tokenizer.model", vocab_rows=400, llama31=False)
    reference = sentencepiece.SentencePieceProcessor()
    reference.LoadFromSerializedProto(model)
    for text in [*TEXTS, "  lead  and trail  ", "ｆｕｌｌwidth ①", *sample_text(9, lines=20).splitlines()]:
        ids = tokenizer(text).input_ids
        assert ids == [reference.bos_id(), *reference.encode(text)], text
        assert tokenizer.decode(ids, skip_special_tokens=True) == reference.decode(ids[1:])


def test_llama3_release_with_tied_output_and_scaled_rope(tmp_path, bpe_ranks, monkeypatch):
    """Llama 3.2-like: vocabulary-split embedding, output equal to the embedding, scaled rope;
    output files kept small so the converter writes several and an index."""
    vocab = len(bpe_ranks) + 256
    weights = random_weights(LLAMA3_PARAMS, vocab=vocab, seed=2, tied=True)
    src = write_release(
        tmp_path / "Llama3.2-tiny", LLAMA3_PARAMS, weights, ranks_file(bpe_ranks), ranks=2, embedding_split=0
    )
    monkeypatch.setattr(meta_pth, "MAX_OUTPUT_FILE_BYTES", 40_000)
    dest = tmp_path / "hf"
    dest.mkdir()
    convert_meta_checkpoint(src, dest, Progress())

    diff = _max_logit_diff(dest, weights, LLAMA3_PARAMS)
    print(f"llama3-style max |logit diff| = {diff:.2e}")
    assert diff < 1e-4
    config = json.loads((dest / "config.json").read_text())
    assert config["tie_word_embeddings"] is True
    assert config["rope_parameters"]["rope_type"] == "llama3"
    assert config["max_position_embeddings"] == 131072
    index = json.loads((dest / "model.safetensors.index.json").read_text())
    assert "lm_head.weight" not in index["weight_map"]
    assert len(set(index["weight_map"].values())) > 1


def test_tiktoken_tokenizer_matches_tiktoken(tmp_path, bpe_ranks):
    import tiktoken
    from transformers import AutoTokenizer

    vocab = len(bpe_ranks) + 256
    src = write_release(
        tmp_path / "Meta-Llama-3-tiny",
        {k: v for k, v in LLAMA3_PARAMS.items() if k != "use_scaled_rope"},
        random_weights(LLAMA3_PARAMS, vocab=vocab, seed=3),
        ranks_file(bpe_ranks),
        ranks=1,
        embedding_split=0,
    )
    dest = tmp_path / "hf"
    dest.mkdir()
    convert_meta_checkpoint(src, dest, Progress())

    specials = meta_pth.llama3_special_tokens(llama31=False)
    reference = tiktoken.Encoding(
        "tiny-llama3",
        pat_str=meta_pth._LLAMA3_PATTERN,
        mergeable_ranks=bpe_ranks,
        special_tokens={token: len(bpe_ranks) + i for i, token in enumerate(specials)},
    )
    tokenizer = AutoTokenizer.from_pretrained(dest)
    assert len(tokenizer) == vocab
    for text in [*TEXTS, *sample_text(8, lines=20).splitlines()]:
        ids = tokenizer(text).input_ids
        assert ids == [len(bpe_ranks), *reference.encode(text)], text
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") == len(bpe_ranks) + 9
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert tokenizer(prompt, add_special_tokens=False).input_ids.count(len(bpe_ranks)) == 1
    config = json.loads((dest / "config.json").read_text())
    assert config["max_position_embeddings"] == 8192
    generation = json.loads((dest / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [len(bpe_ranks) + 1, len(bpe_ranks) + 9]


def test_import_through_the_library(llama2_release):
    from llamadesk.core.library import import_model

    entry = import_model(llama2_release[0], "tiny-meta")
    assert entry.manifest["format"] == "meta_pth"
    assert entry.manifest["has_chat_template"] is True


def test_progress_is_reported_and_cancel_stops_the_conversion(tmp_path, llama2_release):
    seen: list[float] = []
    dest = tmp_path / "hf"
    dest.mkdir()
    convert_meta_checkpoint(llama2_release[0], dest, Progress(lambda f, _m: seen.append(f)))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10

    cancel = threading.Event()
    calls = []

    def cancel_midway(fraction: float, _message: str) -> None:
        calls.append(fraction)
        if fraction > 0.3:
            cancel.set()

    with pytest.raises(Cancelled):
        convert_meta_checkpoint(llama2_release[0], tmp_path, Progress(cancel_midway, cancel))


def test_is_meta_checkpoint(llama2_release, tiny_model_dir, tmp_path):
    assert is_meta_checkpoint(llama2_release[0])
    assert not is_meta_checkpoint(tiny_model_dir)
    assert not is_meta_checkpoint(tmp_path)
    assert not is_meta_checkpoint(llama2_release[0] / "params.json")


def _convert(src: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    convert_meta_checkpoint(src, dest, Progress())


def test_missing_params_json(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    (src / "params.json").unlink()
    with pytest.raises(InvalidModelError, match="no params.json"):
        _convert(src, tmp_path)


def test_gap_in_shard_numbering(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    (src / "consolidated.01.pth").rename(src / "consolidated.02.pth")
    with pytest.raises(InvalidModelError, match=r"consolidated\.01\.pth is missing"):
        _convert(src, tmp_path)


def test_last_shard_missing(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    (src / "consolidated.01.pth").unlink()
    with pytest.raises(InvalidModelError, match=r"consolidated\.01\.pth is missing.*split into 2 files"):
        _convert(src, tmp_path)


def test_truncated_shard(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    data = (src / "consolidated.01.pth").read_bytes()
    (src / "consolidated.01.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError, match=r"consolidated\.01\.pth is damaged or incomplete"):
        _convert(src, tmp_path)


def test_missing_tokenizer(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    (src / "tokenizer.model").unlink()
    with pytest.raises(InvalidModelError, match=r"no tokenizer\.model"):
        _convert(src, tmp_path)


def test_garbage_tokenizer(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    (src / "tokenizer.model").write_bytes(b"\x00\x01 not a tokenizer \xff" * 50)
    with pytest.raises(InvalidModelError, match="neither a SentencePiece model nor a tiktoken"):
        _convert(src, tmp_path)


def test_unknown_tensor(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    state = torch.load(src / "consolidated.00.pth", weights_only=True)
    state["vision_model.patch_embedding.weight"] = torch.zeros(2, 2)
    torch.save(state, src / "consolidated.00.pth")
    with pytest.raises(InvalidModelError, match="holds 'vision_model.patch_embedding.weight'"):
        _convert(src, tmp_path)


def test_shard_from_another_model(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    state = torch.load(src / "consolidated.01.pth", weights_only=True)
    state["layers.1.feed_forward.w1.weight"] = torch.zeros(96, 64)
    torch.save(state, src / "consolidated.01.pth")
    with pytest.raises(
        InvalidModelError, match=r"consolidated\.01\.pth does not match consolidated\.00\.pth"
    ):
        _convert(src, tmp_path)


def test_params_that_disagree_with_the_weights(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    (src / "params.json").write_text(json.dumps(LLAMA2_PARAMS | {"n_kv_heads": 4}))
    with pytest.raises(InvalidModelError, match="params.json implies"):
        _convert(src, tmp_path)


def test_quantized_release_is_refused(tmp_path, llama2_release):
    src = _copy_release(llama2_release[0], tmp_path / "release")
    (src / "params.json").write_text(json.dumps(LLAMA2_PARAMS | {"quantization_args": {"group_size": 32}}))
    with pytest.raises(InvalidModelError, match="quantized"):
        _convert(src, tmp_path)
