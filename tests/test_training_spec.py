"""TrainSpec: defaults by kind, validation a user can act on, JSON round trip, CLI flags."""

import argparse
import json

import pytest

from llamadesk.cli import build_parser
from llamadesk.cli.train import spec_from_args
from llamadesk.core.training.spec import LINEAR_PROJECTIONS, SpecError, TrainSpec


def make(**fields) -> TrainSpec:
    return TrainSpec(**({"kind": "pt", "base": "tiny", "data": ["notes"], "out": "a"} | fields))


def test_defaults_follow_the_recipe_by_kind():
    pt, sft = make(), make(kind="sft")
    assert (pt.lr, sft.lr) == (2e-4, 1e-4)
    assert pt.alpha == 2 * pt.rank and pt.dropout == 0.05
    assert pt.target_modules == list(LINEAR_PROJECTIONS)
    assert pt.block_size == 512
    assert pt.batch_size is None and pt.grad_accum is None  # chosen from the data (plan.py)
    assert make(rank=16).alpha == 32
    assert make(lr=3e-4).lr == 3e-4


def test_json_round_trip_and_unknown_fields(tmp_path, caplog):
    spec = make(kind="sft", epochs=3, rank=4)
    path = tmp_path / "spec.json"
    spec.save(path)
    assert TrainSpec.load(path) == spec
    data = json.loads(path.read_text()) | {"from_the_future": 1}
    assert TrainSpec.from_json(data) == spec
    assert "from_the_future" in caplog.text


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "dpo"}, "Kind must be 'pt'"),
        ({"rank": "8"}, "'rank' must be a whole number"),
        ({"lr": 5}, "learning rate"),
        ({"block_size": 4}, "block size"),
        ({"out": "my adapter"}, "cannot be an adapter name"),
        ({"data": []}, "Choose training data"),
        ({"kind": "sft", "extend_vocab": 1000}, "only for pre-training"),
        ({"gradient_checkpointing": "yes"}, "true or false"),
        ({"batch_size": 0}, "batch size"),
        ({"epochs": 100000}, "at most 1000"),  # refused, not clamped
        ({"epochs": 0}, "Epochs must be above 0"),
    ],
)
def test_invalid_values_name_the_field(fields, words):
    with pytest.raises(SpecError, match=words):
        make(**fields)


def test_missing_required_fields():
    with pytest.raises(SpecError, match="lacks 'base', 'out'"):
        TrainSpec.from_json({"kind": "pt", "data": ["x"]})
    with pytest.raises(SpecError, match="not a readable JSON"):
        TrainSpec.load(__import__("pathlib").Path(__file__))


def test_vocabulary_extension_trains_the_embeddings():
    assert make(extend_vocab=500).trained_modules_to_save == ["embed_tokens", "lm_head"]
    assert make(modules_to_save=["lm_head"]).trained_modules_to_save == ["lm_head"]


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def test_cli_flags_build_and_override_a_spec(tmp_path):
    args = parse(["--base", "tiny", "--kind", "sft", "--data", "a.jsonl", "b", "--out", "x", "--rank", "4"])
    spec = spec_from_args(args)
    assert (spec.kind, spec.data, spec.rank, spec.alpha, spec.lr) == ("sft", ["a.jsonl", "b"], 4, 8, 1e-4)
    path = tmp_path / "spec.json"
    make(epochs=2).save(path)
    spec = spec_from_args(parse([str(path), "--block", "64", "--gradient-checkpointing"]))
    assert (spec.block_size, spec.epochs, spec.gradient_checkpointing) == (64, 2.0, True)
    with pytest.raises(Exception, match="--base, --kind"):
        spec_from_args(parse(["--data", "x", "--out", "y"]))
