import json
import os
import shutil
from pathlib import Path

import pytest

from llamadesk.core import adapters, library, paths
from llamadesk.core.adapters import InvalidAdapterError
from llamadesk.core.errors import AlreadyExistsError, IncompatibleAdapterError, NotFoundError
from tests.tiny import make_tokenizer


def make_adapter(
    base_dir: Path,
    out: Path,
    *,
    seed: int = 1,
    targets: tuple[str, ...] = ("q_proj", "v_proj"),
    modules_to_save: list[str] | None = None,
    new_tokens: int = 0,
    rank: int = 4,
) -> Path:
    """A PEFT LoRA for the model in `base_dir`, with random lora_B so that it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    if new_tokens:
        model.resize_token_embeddings(model.config.vocab_size + new_tokens, mean_resizing=False)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=list(targets),
        modules_to_save=modules_to_save,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.2)
            elif "modules_to_save" in name:
                param.add_(torch.randn_like(param) * 0.1)
    peft_model.save_pretrained(out)
    return out


def make_model(directory: Path, *, hidden: int = 64, layers: int = 3, seed: int = 0) -> Path:
    """A tiny Llama of another shape than the `tiny_model_dir` one (hidden 32, 2 layers)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory.mkdir(parents=True)
    tokenizer = make_tokenizer(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@pytest.fixture
def tiny(tiny_model_dir) -> library.ModelEntry:
    return library.import_model(tiny_model_dir, "tiny", in_place=True)


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("lora") / "zh-lora")


def test_import_lists_and_records_manifest(tiny, lora_dir, tiny_model_dir):
    before = sorted(p.name for p in tiny_model_dir.iterdir())
    entry = adapters.import_adapter(lora_dir, "tiny")
    assert entry.id == "zh-lora" and entry.path == paths.adapters_dir() / "zh-lora"
    assert sorted(p.name for p in entry.folder.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "llamadesk.json",
    ]
    m = json.loads((entry.folder / "llamadesk.json").read_text())
    assert m == entry.manifest
    assert (m["id"], m["base_id"], m["base_sha256"], m["kind"]) == (
        "zh-lora",
        "tiny",
        tiny.manifest["sha256"],
        "imported",
    )
    assert m["base_config"] == {
        "architecture": "LlamaForCausalLM",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "vocab_size": tiny.config["vocab_size"],
    }
    assert (m["rank"], m["alpha"], m["dropout"], m["target_modules"]) == (4, 8, 0.0, ["q_proj", "v_proj"])
    assert m["modules_to_save"] is None and m["vocab_size"] is None
    assert m["scores"] == {} and m["data_summary"] is None and m["source"] == str(lora_dir)
    assert m["created"]
    assert [a.id for a in adapters.list_adapters()] == ["zh-lora"]
    assert [a.id for a in adapters.list_adapters("tiny")] == ["zh-lora"]
    assert adapters.list_adapters("other") == []
    assert adapters.get_adapter("zh-lora") == entry
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == before
    adapters.check_compatible(entry, tiny)


def test_named_import_duplicate_and_remove(tiny, lora_dir):
    adapters.import_adapter(lora_dir / "adapter_config.json", "tiny", name="first")  # a dropped file
    with pytest.raises(AlreadyExistsError, match="'first' already exists"):
        adapters.import_adapter(lora_dir, "tiny", name="first")
    assert [a.id for a in adapters.list_adapters()] == ["first"]
    adapters.remove_adapter("first")
    assert adapters.list_adapters() == []
    assert sorted(p.name for p in paths.adapters_dir().iterdir()) == []
    with pytest.raises(NotFoundError, match="no adapter 'first'"):
        adapters.get_adapter("first")
    with pytest.raises(NotFoundError, match="no model 'nope'"):
        adapters.import_adapter(lora_dir, "nope")
    with pytest.raises(NotFoundError, match="does not exist"):
        adapters.import_adapter(lora_dir / "missing", "tiny")


def test_pickled_training_state_is_not_copied(tiny, lora_dir, tmp_path):
    folder = tmp_path / "llama-factory-out"
    shutil.copytree(lora_dir, folder)
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "checkpoint-10").mkdir()
    make_tokenizer(folder)
    entry = adapters.import_adapter(folder, "tiny")
    names = {p.name for p in entry.folder.iterdir()}
    assert "training_args.bin" not in names and "checkpoint-10" not in names
    assert {"tokenizer.json", "tokenizer_config.json"} <= names


def test_adapter_for_a_bigger_model_is_refused_naming_both(tiny, tmp_path):
    other = make_model(tmp_path / "other-base", hidden=64, layers=3)
    lora = make_adapter(other, tmp_path / "big-lora")
    with pytest.raises(IncompatibleAdapterError) as info:
        adapters.import_adapter(lora, "tiny")
    message = str(info.value)
    assert "hidden size 64" in message and str(other) in message and "'tiny' has 32" in message
    assert adapters.list_adapters() == []
    assert not any(paths.adapters_dir().iterdir())


def make_llama2_7b_lora(folder: Path) -> Path:
    """A one-layer LoRA with Llama-2-7B's shapes: refusal reads only headers, so no 7B model is needed."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir()
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 8, "lora_alpha": 16}
    config |= {"target_modules": ["q_proj"], "base_model_name_or_path": "meta-llama/Llama-2-7b-hf"}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    tensors = {
        f"{prefix}.lora_A.weight": torch.zeros(8, 4096),
        f"{prefix}.lora_B.weight": torch.zeros(4096, 8),
    }
    save_file(tensors, folder / "adapter_model.safetensors")
    return folder


def test_llama2_7b_lora_onto_a_small_model_names_both(tiny, tmp_path):
    with pytest.raises(IncompatibleAdapterError) as info:
        adapters.import_adapter(make_llama2_7b_lora(tmp_path / "llama2-chinese-lora"), "tiny")
    assert str(info.value) == (
        "This adapter was made for a model with hidden size 4096 (meta-llama/Llama-2-7b-hf), "
        "but 'tiny' has 32."
    )


def test_adapter_for_a_deeper_model_is_refused(tiny, tmp_path):
    other = make_model(tmp_path / "deep", hidden=32, layers=3)
    lora = make_adapter(other, tmp_path / "deep-lora")
    with pytest.raises(IncompatibleAdapterError, match=r"3 or more layers .*'tiny' has 2"):
        adapters.import_adapter(lora, "tiny")


def test_adapter_with_foreign_module_names_is_refused(tiny, lora_dir, tmp_path):
    folder = tmp_path / "falcon-lora"
    shutil.copytree(lora_dir, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["target_modules"] = ["query_key_value"]
    (folder / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(IncompatibleAdapterError, match="query_key_value.*'tiny' has no such modules"):
        adapters.import_adapter(folder, "tiny")


def test_same_shapes_other_weights_refused_by_hash(tiny, lora_dir, tmp_path):
    from tests.tiny import make_tiny_model

    sibling = library.import_model(make_tiny_model(tmp_path / "sibling", seed=7), "sibling", in_place=True)
    entry = adapters.import_adapter(lora_dir, "tiny")
    assert sibling.manifest["sha256"] != tiny.manifest["sha256"]
    with pytest.raises(IncompatibleAdapterError) as info:
        adapters.check_compatible(entry, sibling)
    assert "'tiny'" in str(info.value) and "'sibling'" in str(info.value)
    # The same weights under another name are the same base.
    twin = library.import_model(tiny.path, "twin", in_place=True)
    adapters.check_compatible(entry, twin)


def test_base_replaced_under_the_same_name_is_refused(tiny, lora_dir, tmp_path):
    from tests.tiny import make_tiny_model

    entry = adapters.import_adapter(lora_dir, "tiny")
    library.remove_model("tiny")
    replaced = library.import_model(make_tiny_model(tmp_path / "new", seed=3), "tiny", in_place=True)
    with pytest.raises(IncompatibleAdapterError, match="earlier 'tiny'"):
        adapters.check_compatible(entry, replaced)


def test_check_names_config_differences(tiny, lora_dir, tmp_path):
    entry = adapters.import_adapter(lora_dir, "tiny")
    big = library.import_model(make_model(tmp_path / "big", hidden=64, layers=3), "big", in_place=True)
    with pytest.raises(
        IncompatibleAdapterError, match=r"made for 'tiny' \(hidden size 32 where 'big' has 64"
    ):
        adapters.check_compatible(entry, big)


def _truncate(folder: Path) -> None:
    weights = folder / "adapter_model.safetensors"
    os.truncate(weights, weights.stat().st_size - 100)


def _rewrite_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "adapter_config.json").read_text()) | changes
    (folder / "adapter_config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "adapter_config.json").unlink(), "no adapter_config.json"),
        (lambda d: (d / "adapter_config.json").write_text("{not json"), "not valid JSON"),
        (_truncate, "truncated"),
        (lambda d: (d / "adapter_model.safetensors").write_bytes(b"\x01"), "damaged"),
        (
            lambda d: (d / "adapter_model.safetensors").rename(d / "adapter_model.bin"),
            "only adapter_model.bin",
        ),
        (lambda d: _rewrite_config(d, peft_type="IA3"), "LoRA adapters only"),
        (lambda d: _rewrite_config(d, task_type="SEQ_CLS"), "CAUSAL_LM"),
    ],
)
def test_corrupt_adapter_folder_refused(tiny, lora_dir, tmp_path, damage, message):
    folder = tmp_path / "broken"
    shutil.copytree(lora_dir, folder)
    damage(folder)
    with pytest.raises(InvalidAdapterError, match=message):
        adapters.import_adapter(folder, "tiny")
    assert not any(paths.adapters_dir().iterdir())


def test_register_adapter_for_training(tiny, lora_dir):
    def build(folder: Path, progress) -> None:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy(lora_dir / name, folder / name)

    summary = {"corpus": "zh-wiki", "tokens": 12345}
    entry = adapters.register_adapter(
        "trained",
        build,
        {"kind": "pt", "source": "run-1", "data_summary": summary, "hyperparameters": {"lr": 2e-4}},
        tiny,
        None,
    )
    m = entry.manifest
    assert (m["kind"], m["data_summary"], m["hyperparameters"], m["rank"]) == ("pt", summary, {"lr": 2e-4}, 4)
    adapters.update_scores("trained", "ppl_zh", 12.5)
    adapters.update_scores("trained", "mmlu", 0.31)
    assert adapters.get_adapter("trained").manifest["scores"] == {"ppl_zh": 12.5, "mmlu": 0.31}


def test_register_adapter_that_does_not_fit_leaves_nothing(tiny, lora_dir):
    def build(folder: Path, progress) -> None:
        shutil.copy(lora_dir / "adapter_config.json", folder / "adapter_config.json")

    with pytest.raises(InvalidAdapterError, match="no adapter_model.safetensors"):
        adapters.register_adapter("half", build, {"kind": "sft"}, tiny, None)
    assert not any(paths.adapters_dir().iterdir())


def test_resized_vocabulary_and_modules_to_save_accepted(tiny, tiny_model_dir, tmp_path):
    lora = make_adapter(tiny_model_dir, tmp_path / "new-tokens", new_tokens=8, modules_to_save=["lm_head"])
    entry = adapters.import_adapter(lora, "tiny")
    assert entry.manifest["vocab_size"] == tiny.config["vocab_size"] + 8
    assert entry.manifest["modules_to_save"] == ["lm_head"]
