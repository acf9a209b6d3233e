import threading
from pathlib import Path

import pytest

from llamadesk.core import adapters, library, paths
from llamadesk.core.errors import AlreadyExistsError, Cancelled, IncompatibleAdapterError
from llamadesk.core.merge import merge_adapter
from llamadesk.core.progress import Progress
from tests.test_adapters import make_adapter, make_llama2_7b_lora

PROMPT = "北京是中国的首都。 The capital of France is Paris."


def _logits(
    model_path: Path, adapter_path: Path | None = None, extra_tokens: int = 0, dtype: str = "float32"
):
    """Logits (1, seq, vocab) of a model folder, with a PEFT adapter on top if given."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
    if extra_tokens:
        model.resize_token_embeddings(model.config.vocab_size + extra_tokens, mean_resizing=False)
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, str(adapter_path))
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.inference_mode():
        return model.eval()(ids).logits


@pytest.fixture
def tiny(tiny_model_dir) -> library.ModelEntry:
    return library.import_model(tiny_model_dir, "tiny", in_place=True)


def test_merged_model_reproduces_adapter_logits(tiny, tiny_model_dir, tmp_path):
    entry = adapters.import_adapter(make_adapter(tiny_model_dir, tmp_path / "zh"), "tiny")
    seen: list[float] = []
    merged = merge_adapter("zh", "tiny-zh", Progress(lambda f, _m: seen.append(f)))

    assert merged.folder == paths.models_dir() / "tiny-zh"
    assert library.get_model("tiny-zh") == merged
    m = merged.manifest
    assert m["format"] == "merged" and m["dtype"] == "float32"
    assert m["lineage"] == {
        "base": "tiny",
        "base_sha256": tiny.manifest["sha256"],
        "adapter": "zh",
        "adapter_kind": "imported",
        "adapter_data_summary": None,
        "base_lineage": None,
    }
    assert m["sha256"] != tiny.manifest["sha256"]
    assert (merged.folder / "tokenizer.json").is_file() and (
        merged.folder / "generation_config.json"
    ).is_file()
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)

    expected = _logits(tiny_model_dir, entry.path)
    got = _logits(merged.path)
    base = _logits(tiny_model_dir)
    diff = float((got - expected).abs().max())
    print(f"merge: max |logit diff| vs PeftModel = {diff:.2e}")
    assert diff < 1e-4
    assert float((base - expected).abs().max()) > 1e-2  # the adapter does change the model


@pytest.mark.parametrize(
    "kwargs",
    [
        {"modules_to_save": ["lm_head"]},
        {"targets": ("q_proj", "embed_tokens", "lm_head")},  # LoRA on the resized embeddings themselves
    ],
)
def test_merge_with_new_tokens(tiny, tiny_model_dir, tmp_path, kwargs):
    from tests.tiny import make_tokenizer

    lora = make_adapter(tiny_model_dir, tmp_path / "new-tokens", new_tokens=8, **kwargs)
    tokenizer = make_tokenizer()
    tokenizer.add_tokens([f"<new{i}>" for i in range(8)])
    tokenizer.save_pretrained(lora)
    entry = adapters.import_adapter(lora, "tiny")
    merged = merge_adapter(entry.id, "tiny-new-tokens")

    assert merged.config["vocab_size"] == tiny.config["vocab_size"] + 8
    from transformers import AutoTokenizer

    assert len(AutoTokenizer.from_pretrained(merged.path)) == tiny.config["vocab_size"] + 8
    expected = _logits(tiny_model_dir, entry.path, extra_tokens=8)
    diff = float((_logits(merged.path) - expected).abs().max())
    print(f"merge with new tokens {kwargs}: max |logit diff| = {diff:.2e}")
    assert diff < 1e-4


def test_stacking_an_adapter_on_a_merged_model(tiny, tiny_model_dir, tmp_path):
    adapters.import_adapter(make_adapter(tiny_model_dir, tmp_path / "pt"), "tiny")
    merged = merge_adapter("pt", "tiny-pt")
    sft_dir = make_adapter(merged.path, tmp_path / "sft", seed=5, targets=("q_proj", "down_proj"))
    sft = adapters.import_adapter(sft_dir, "tiny-pt")
    assert sft.manifest["base_sha256"] == merged.manifest["sha256"]
    with pytest.raises(IncompatibleAdapterError, match="made for 'tiny-pt'.*'tiny' has other weights"):
        adapters.check_compatible(sft, tiny)

    final = merge_adapter("sft", "tiny-pt-sft")
    lineage = final.manifest["lineage"]
    assert (lineage["base"], lineage["adapter"]) == ("tiny-pt", "sft")
    assert lineage["base_lineage"]["adapter"] == "pt" and lineage["base_lineage"]["base"] == "tiny"
    diff = float((_logits(final.path) - _logits(merged.path, sft.path)).abs().max())
    assert diff < 1e-4


def test_merge_refusals_leave_the_library_unchanged(tiny, tiny_model_dir, tmp_path):
    adapters.import_adapter(make_adapter(tiny_model_dir, tmp_path / "zh"), "tiny")
    with pytest.raises(AlreadyExistsError, match="'tiny' already exists"):
        merge_adapter("zh", "tiny")

    cancel = threading.Event()

    def stop_while_saving(fraction: float, message: str) -> None:
        if message.startswith("Saving"):
            cancel.set()

    with pytest.raises(Cancelled):
        merge_adapter("zh", "cancelled", Progress(stop_while_saving, cancel))
    assert [m.id for m in library.list_models()] == ["tiny"]
    assert sorted(p.name for p in paths.models_dir().iterdir()) == ["tiny"]


def test_merge_on_a_model_with_tied_embeddings(tmp_path):
    """SmolLM2 ties lm_head to embed_tokens: an adapter that retrains lm_head must untie them."""
    from tests.tiny import make_tiny_model

    tied_dir = make_tiny_model(tmp_path / "tied", seed=2, tie=True)
    library.import_model(tied_dir, "tied", in_place=True)
    lora = make_adapter(tied_dir, tmp_path / "head", modules_to_save=["lm_head"])
    entry = adapters.import_adapter(lora, "tied")
    merged = merge_adapter(entry.id, "tied-head")
    diff = float((_logits(merged.path) - _logits(tied_dir, entry.path)).abs().max())
    assert diff < 1e-4


@pytest.mark.slow
def test_starter_model_merge_and_refusal_of_a_7b_adapter(starter_hf_dir, tmp_path):
    """The issue's own example on the real SmolLM2-135M-Instruct (hidden 576, tied embeddings).

    Logits here reach ~35 and 30 layers of float32 arithmetic differ by ~7e-5 between two runs of the
    very same PeftModel at batch size 1 and 2, so the merged weights are compared in float64, which
    measures the merge itself; float32 is held to that noise floor's order of magnitude."""
    base = library.import_model(starter_hf_dir, "SmolLM2-135M-Instruct", in_place=True)
    lora = make_adapter(starter_hf_dir, tmp_path / "smol-zh", targets=("q_proj", "v_proj", "down_proj"))
    entry = adapters.import_adapter(lora, base.id)
    merged = merge_adapter(entry.id, "SmolLM2-zh")
    diffs = {
        dtype: float(
            (_logits(merged.path, dtype=dtype) - _logits(starter_hf_dir, entry.path, dtype=dtype)).abs().max()
        )
        for dtype in ("float64", "float32")
    }
    print(f"starter merge: max |logit diff| vs PeftModel = {diffs}")
    assert diffs["float64"] < 1e-4 and diffs["float32"] < 1e-3

    with pytest.raises(IncompatibleAdapterError) as info:
        adapters.import_adapter(make_llama2_7b_lora(tmp_path / "llama2-lora"), base.id)
    assert str(info.value) == (
        "This adapter was made for a model with hidden size 4096 (meta-llama/Llama-2-7b-hf), "
        "but 'SmolLM2-135M-Instruct' has 576."
    )
