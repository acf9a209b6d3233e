"""Peak memory estimate and refusal with a concrete suggestion, before any weights load."""

import json

import pytest

from llamadesk.cli import main
from llamadesk.core import paths
from llamadesk.core.training import memory
from llamadesk.core.training.spec import TrainSpec
from tests.training_fixtures import import_tiny, write_text_records

GIB = 1024**3
# A Llama-2-7B-shaped config: the sizes people actually run out of memory with.
LLAMA_7B = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
}


def spec(**fields) -> TrainSpec:
    return TrainSpec(**({"kind": "pt", "base": "llama", "data": ["x"], "out": "a"} | fields))


def test_lora_parameters_by_formula():
    # r × (in + out) for each of q, k, v, o (4096 → 4096) and gate, up, down (4096 ↔ 11008), 32 layers
    per_layer = 8 * (4 * (4096 + 4096) + 3 * (4096 + 11008))
    assert memory.lora_parameters(LLAMA_7B, list(spec().target_modules), 8) == per_layer * 32
    assert memory.lora_parameters(LLAMA_7B, ["q_proj", "v_proj"], 8) == 8 * 2 * 8192 * 32


def test_estimate_components_move_the_right_way():
    base = memory.estimate(spec(), LLAMA_7B, "cuda")
    assert base.weights == pytest.approx(6.74e9 * 2, rel=0.01)  # bf16 on a GPU
    assert base.optimizer == 2 * base.trainable
    assert memory.estimate(spec(), LLAMA_7B, "cpu").weights == 2 * base.weights  # fp32 on CPU
    checkpointed = memory.estimate(spec(gradient_checkpointing=True), LLAMA_7B, "cuda")
    assert checkpointed.activations < base.activations / 4
    bigger = memory.estimate(spec(batch_size=4, block_size=1024), LLAMA_7B, "cuda")
    assert bigger.activations > 4 * base.activations  # the attention matrix grows with block²
    embeddings = memory.estimate(spec(modules_to_save=["embed_tokens", "lm_head"]), LLAMA_7B, "cuda")
    assert embeddings.trainable - base.trainable == 2 * 32000 * 4096 * 4


def test_fits_when_enough_memory():
    needed = memory.check_fits(spec(), LLAMA_7B, "cuda", available=80 * GIB)
    assert needed.fits and needed.available == 80 * GIB


def test_refusal_suggests_the_least_disruptive_change_that_fits():
    total = memory.estimate(spec(), LLAMA_7B, "cuda").total
    checkpointed = memory.estimate(spec(gradient_checkpointing=True), LLAMA_7B, "cuda").total
    with pytest.raises(memory.MemoryRefusal) as caught:
        memory.check_fits(spec(), LLAMA_7B, "cuda", available=(total + checkpointed) // 2)
    assert caught.value.suggestion == {"gradient_checkpointing": True}
    assert "Try gradient checkpointing (--gradient-checkpointing)" in str(caught.value)
    assert "GPU memory" in str(caught.value)

    small = memory.estimate(spec(gradient_checkpointing=True, batch_size=1, grad_accum=8), LLAMA_7B, "cuda")
    with pytest.raises(memory.MemoryRefusal) as caught:
        memory.check_fits(spec(batch_size=2, grad_accum=4), LLAMA_7B, "cuda", available=small.total + 1)
    assert caught.value.suggestion == {"gradient_checkpointing": True, "batch_size": 1, "grad_accum": 8}
    assert "--batch 1" in str(caught.value) and "--grad-accum 8" in str(caught.value)
    # An accumulation left to the data keeps the effective batch by itself: only the batch changes.
    with pytest.raises(memory.MemoryRefusal) as caught:
        memory.check_fits(spec(), LLAMA_7B, "cuda", available=small.total + 1)
    assert caught.value.suggestion == {"gradient_checkpointing": True, "batch_size": 1}


def test_refusal_when_nothing_fits_says_so():
    with pytest.raises(memory.MemoryRefusal, match="choose a smaller base model") as caught:
        memory.check_fits(spec(), LLAMA_7B, "cpu", available=4 * GIB)
    assert caught.value.suggestion == {}


def test_cli_refuses_a_job_too_big_and_creates_no_run(tiny_model_dir, tmp_path, capsys):
    import_tiny(tiny_model_dir)
    data = write_text_records(tmp_path / "notes.jsonl")
    argv = ["train", "--base", "tiny", "--kind", "pt", "--data", str(data), "--out", "huge"]
    code = main([*argv, "--block", "256", "--batch", "65536"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Training would need about" in err and "Try " in err and "--batch " in err
    assert list(paths.runs_dir().iterdir()) == []

    code = main([*argv, "--block", "4096", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and "at most 256" in captured.err
    event = json.loads(captured.out)  # the GUI reads why from the JSON lines too
    assert event["event"] == "error" and "at most 256" in event["message"]


def test_cli_estimate_only(tiny_model_dir, capsys):
    import_tiny(tiny_model_dir)
    argv = ["train", "--base", "tiny", "--kind", "sft", "--data", "x", "--out", "y", "--block", "64"]
    assert main([*argv, "--estimate", "--json"]) == 0
    estimate = json.loads(capsys.readouterr().out)
    assert estimate["fits"] and estimate["total"] > estimate["runtime"] and estimate["available"] > 0
    assert list(paths.runs_dir().iterdir()) == []
