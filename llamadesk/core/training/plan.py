"""How many optimizer steps a job makes, chosen from how much data it has.

The recipe's effective batch of 8 (2 sequences × 4 accumulated) suits thousands of examples; on
the handful a person drops in (8 Q&A pairs) it makes one optimizer step per epoch, and 8 epochs
barely move the answers. So, unless the spec fixes them, the effective batch is at most a quarter
of the training examples (at least 4 optimizer steps per epoch), the per-pass batch never exceeds
what that batch needs (no accumulation beyond it), and warm-up is capped to a tenth of the steps.

The window's job form, the CLI and the runner all read the same `plan_steps`, so the "N optimizer
steps" a person is shown before Start is the number the run makes. The plan refuses nothing (the
spec refuses values that cannot work, such as 100000 epochs); it warns about jobs that will not
learn or that run for hours to no purpose, with the time they would take when it can be told."""

import math
from dataclasses import asdict, dataclass, field

from llamadesk.core.i18n import _
from llamadesk.core.params import breakdown_from_config
from llamadesk.core.training.spec import DEFAULT_BATCH, TrainSpec

RECIPE_EFFECTIVE_BATCH = 8  # examples per optimizer step in the recipe, for data large enough
MIN_STEPS_PER_EPOCH = 4  # the effective batch is at most a quarter of the training examples
MAX_WARMUP_SHARE = 0.1  # warm-up never takes more than a tenth of the optimizer steps
# Fewer optimizer steps than this leave a LoRA close to its zero start: the answers barely change.
MIN_LEARNING_STEPS = 20
# More passes than this over the same examples only memorise them harder (the Alpaca-style recipes
# use 1-3 on large sets; a handful of facts is learnt in 10-30).
MANY_EPOCHS = 100
LONG_SECONDS = 12 * 3600  # a job longer than this is worth a warning on its own
# Training throughput of a CPU when this machine has no run of the model to go by: about 6 FLOPs per
# parameter per token (forward and backward), at the rate measured on the starter model here.
CPU_TRAIN_FLOPS = 20e9


@dataclass(frozen=True)
class PlanWarning:
    """A job that runs but probably not as the person hopes; `message` is one sentence to show."""

    code: str  # "too_short" or "too_long"
    message: str


@dataclass(frozen=True)
class StepPlan:
    """What a job does with its examples. Batches are per process; `effective_batch` counts all."""

    examples: int  # training examples (SFT pairs, or pre-training blocks)
    batch_size: int  # sequences per forward pass on each process
    grad_accum: int  # forward passes per optimizer step
    effective_batch: int  # examples per optimizer step: batch × accumulation × processes
    steps_per_epoch: int
    total_steps: int  # optimizer steps in all (max_steps when the spec sets it)
    warmup_steps: int
    eta_s: float | None  # the whole job, when a speed was given
    warnings: list[PlanWarning] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def plan_steps(
    spec: TrainSpec, n_examples: int, *, processes: int = 1, seconds_per_example: float | None = None
) -> StepPlan:
    """The step plan for `spec` on `n_examples` training examples over `processes` processes.

    A spec's batch_size or grad_accum of None is chosen here from the data; a value the spec sets is
    kept as it is. `seconds_per_example` (see `seconds_per_example`) gives the plan its ETA; without
    it the warnings go by the number of passes alone. A pure function of its arguments: a resumed
    run, or the same job on the window's form, gets the same plan."""
    n = max(1, n_examples)
    target = max(1, min(RECIPE_EFFECTIVE_BATCH, n // MIN_STEPS_PER_EPOCH))
    per_process = max(1, target // processes)
    batch = spec.batch_size or min(DEFAULT_BATCH, per_process)
    accum = spec.grad_accum or max(1, per_process // batch)
    effective = batch * accum * processes
    steps_per_epoch = max(1, math.ceil(n / effective))
    total = spec.max_steps or max(1, math.ceil(spec.epochs * steps_per_epoch))
    warmup = min(round(spec.warmup_ratio * total), int(MAX_WARMUP_SHARE * total))
    eta = total * effective / processes * seconds_per_example if seconds_per_example else None
    epochs = total * effective / n
    warnings = []
    if total < MIN_LEARNING_STEPS:
        needed = math.ceil(MIN_LEARNING_STEPS / steps_per_epoch)
        warnings.append(
            PlanWarning(
                "too_short",
                _(
                    "Only {steps} optimizer steps: too short to learn much; try {epochs} epochs or more."
                ).format(steps=total, epochs=needed),
            )
        )
    if epochs > MANY_EPOCHS or (eta is not None and eta > LONG_SECONDS):
        warnings.append(PlanWarning("too_long", _too_long(total, epochs, n, eta)))
    return StepPlan(
        examples=n_examples,
        batch_size=batch,
        grad_accum=accum,
        effective_batch=effective,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=warmup,
        eta_s=round(eta, 1) if eta is not None else None,
        warnings=warnings,
    )


def _too_long(total: int, epochs: float, n: int, eta: float | None) -> str:
    if eta is None:
        return _(
            "{steps} optimizer steps pass over the {n} examples {epochs:g} times: they are learnt long "
            "before the end; 10 to 30 passes usually suffice."
        ).format(steps=total, n=n, epochs=round(epochs))
    return _(
        "{steps} optimizer steps pass over the {n} examples {epochs:g} times and take about {eta}: "
        "they are learnt long before the end; 10 to 30 passes usually suffice."
    ).format(steps=total, n=n, epochs=round(epochs), eta=duration(eta))


def seconds_per_example(config: dict, tokens_per_example: float, tokens_per_s: float | None = None) -> float:
    """Seconds one example takes to train on: from a measured training speed (`tokens_per_s`, as a
    run's step events report it) when there is one, else from the model's size at CPU_TRAIN_FLOPS."""
    if tokens_per_s:
        return tokens_per_example / tokens_per_s
    parameters = breakdown_from_config(config).total
    return 6 * parameters * tokens_per_example / CPU_TRAIN_FLOPS


def duration(seconds: float) -> str:
    """A job's length as a person reads it: "3 min", "2.5 h", "4 days"."""
    if seconds < 90:
        return _("{n} s").format(n=max(1, round(seconds)))
    if seconds < 90 * 60:
        return _("{n} min").format(n=round(seconds / 60))
    if seconds < 48 * 3600:
        return _("{n:g} h").format(n=round(seconds / 3600, 1))
    return _("{n:g} days").format(n=round(seconds / 86400, 1))
