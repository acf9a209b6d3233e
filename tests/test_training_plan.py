"""The step plan: the effective batch follows the data, so a handful of examples gets enough optimizer
steps; warm-up stays small; jobs too short to learn or absurdly long are warned about, never clamped."""

import pytest

from llamadesk.core.training import plan
from llamadesk.core.training.spec import SpecError, TrainSpec

STARTER = {  # SmolLM2-135M's shape
    "vocab_size": 49152,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
}


def spec(**fields) -> TrainSpec:
    return TrainSpec(**({"kind": "sft", "base": "b", "data": ["d"], "out": "a"} | fields))


def test_a_small_set_gets_a_small_effective_batch_and_enough_steps():
    # The job: 8 Q&A pairs, 8 epochs. The recipe's 2 × 4 made one step per epoch.
    steps = plan.plan_steps(spec(epochs=8), 8)
    assert (steps.batch_size, steps.grad_accum, steps.effective_batch) == (2, 1, 2)
    assert steps.steps_per_epoch == 4 and steps.total_steps == 32
    assert steps.warnings == []
    single = plan.plan_steps(spec(epochs=2), 6)  # 6 examples: one per step
    assert (single.batch_size, single.grad_accum, single.total_steps) == (1, 1, 12)


def test_large_data_keeps_the_recipe_batch_and_a_fixed_batch_is_kept():
    steps = plan.plan_steps(spec(epochs=1), 1000)
    assert (steps.batch_size, steps.grad_accum, steps.effective_batch) == (2, 4, 8)
    assert steps.total_steps == 125 and steps.warmup_steps == 6  # 5 % of the steps
    fixed = plan.plan_steps(spec(epochs=1, batch_size=4, grad_accum=3), 8)
    assert (fixed.batch_size, fixed.grad_accum, fixed.effective_batch, fixed.total_steps) == (4, 3, 12, 1)
    shared = plan.plan_steps(spec(epochs=1), 1000, processes=2)  # the effective batch counts every process
    assert (shared.batch_size, shared.grad_accum, shared.effective_batch) == (2, 2, 8)
    assert plan.plan_steps(spec(max_steps=7), 1000).total_steps == 7


def test_warmup_is_capped_to_a_tenth_of_the_steps():
    assert plan.plan_steps(spec(epochs=5, warmup_ratio=0.5), 8).warmup_steps == 2  # 20 steps
    assert plan.plan_steps(spec(epochs=1), 8).warmup_steps == 0


def test_too_short_to_learn_is_said_with_the_epochs_that_would_do():
    (warning,) = plan.plan_steps(spec(epochs=2), 8).warnings
    assert warning.code == "too_short"
    assert warning.message == "Only 8 optimizer steps: too short to learn much; try 5 epochs or more."


def test_a_thousand_epochs_on_six_examples_warns_with_the_time_it_takes():
    per_example = plan.seconds_per_example(STARTER, 100)
    steps = plan.plan_steps(spec(epochs=1000), 6, seconds_per_example=per_example)
    assert steps.total_steps == 6000 and steps.eta_s == pytest.approx(6000 * per_example, rel=1e-3)
    (warning,) = steps.warnings
    assert warning.code == "too_long"
    assert "6000 optimizer steps pass over the 6 examples 1000 times and take about" in warning.message
    assert plan.duration(steps.eta_s) in warning.message
    without_speed = plan.plan_steps(spec(epochs=1000), 6)
    assert without_speed.eta_s is None and without_speed.warnings[0].code == "too_long"
    # A job of reasonable passes but many hours is worth a word too.
    slow = plan.plan_steps(spec(epochs=3), 100_000, seconds_per_example=1.0)
    assert [w.code for w in slow.warnings] == ["too_long"] and "3.5 days" in slow.warnings[0].message


def test_absurd_epochs_are_refused_not_clamped():
    with pytest.raises(SpecError, match="at most 1000"):
        spec(epochs=100_000)


def test_speed_from_a_measured_rate_or_the_model_size():
    assert plan.seconds_per_example(STARTER, 512, tokens_per_s=256) == 2.0
    guessed = plan.seconds_per_example(STARTER, 512)
    assert 0.5 < guessed < 50  # 6 FLOPs per parameter per token at CPU_TRAIN_FLOPS


def test_durations_read_as_a_person_says_them():
    assert [plan.duration(s) for s in (5, 600, 9000, 400_000)] == ["5 s", "10 min", "2.5 h", "4.6 days"]
    assert plan.plan_steps(spec(epochs=8), 8).to_json()["warnings"] == []
