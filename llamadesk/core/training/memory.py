"""Will a training job fit? Peak memory by formula from the model's config, checked before any
weights load, and a concrete change to suggest when it would not fit.

The estimate is deliberately simple and a little pessimistic: frozen weights, the trainable
parameters with their gradients and AdamW's two moments (all fp32), activations kept for the
backward pass, the logits and the loss's fp32 copies, and the runtime itself. A job refused here
would have been killed by the OS (or thrown an out-of-memory error) minutes into loading."""

import os
from dataclasses import asdict, dataclass, replace

from llamadesk.core.errors import ResourceError
from llamadesk.core.i18n import _
from llamadesk.core.params import breakdown_from_config
from llamadesk.core.training.spec import DEFAULT_BATCH, EMBEDDING_MODULES, TrainSpec

GIB = 1024**3
# Memory the process holds before any tensor: the interpreter, torch, transformers, peft
# and accelerate imported (about 0.6 GiB of RSS measured on Linux), or the CUDA context on a GPU.
RUNTIME_BYTES = {"cpu": 768 * 1024**2, "cuda": 1 * GIB}
SAFETY = 1.10  # allocator fragmentation and the odd temporary the formula does not count


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per process, by component."""

    device: str  # "cpu" or "cuda"
    weights: int  # the frozen base (plus the full copies of modules_to_save)
    trainable: int  # LoRA (and modules_to_save) parameters in fp32
    gradients: int
    optimizer: int  # AdamW: two fp32 moments per trainable parameter
    activations: int  # kept for backward, per layer, for batch × block tokens
    logits: int  # batch × block × vocab: compute dtype plus three fp32 copies in the loss and backward
    runtime: int
    available: int | None = None  # what the device has free, when measured

    @property
    def total(self) -> int:
        parts = self.weights + self.trainable + self.gradients + self.optimizer
        return int((parts + self.activations + self.logits) * SAFETY) + self.runtime

    @property
    def fits(self) -> bool:
        return self.available is None or self.total <= self.available

    def to_json(self) -> dict:
        return asdict(self) | {"total": self.total, "fits": self.fits}


def compute_device() -> str:
    """Where the job will run: the GPU when torch sees one, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def bytes_per_weight(spec: TrainSpec, device: str) -> int:
    """bf16 weights on a GPU (as the recipe's mixed precision), fp32 on CPU (bf16 there is slow)."""
    if spec.precision == "fp32":
        return 4
    if spec.precision == "bf16":
        return 2
    return 2 if device == "cuda" else 4


def lora_parameters(config: dict, target_modules: list[str], rank: int) -> int:
    """r × (fan_in + fan_out) per adapted projection per layer; names not in a Llama block add 0."""
    dims = breakdown_from_config(config).config_summary
    hidden, inter = dims["hidden"], dims["intermediate"]
    q_out = dims["heads"] * dims["head_dim"]
    kv_out = dims["kv_heads"] * dims["head_dim"]
    shapes = {
        "q_proj": (hidden, q_out),
        "k_proj": (hidden, kv_out),
        "v_proj": (hidden, kv_out),
        "o_proj": (q_out, hidden),
        "gate_proj": (hidden, inter),
        "up_proj": (hidden, inter),
        "down_proj": (inter, hidden),
    }
    per_layer = sum(rank * sum(shapes[name]) for name in target_modules if name in shapes)
    return per_layer * dims["layers"]


def estimate(
    spec: TrainSpec,
    config: dict,
    device: str = "cpu",
    *,
    batch: int | None = None,
    sequence: int | None = None,
) -> MemoryEstimate:
    """Peak bytes of one training process. `batch` (default: the spec's, else DEFAULT_BATCH, the
    most the step plan chooses) and `sequence` (default: the block) are what the runner knows once
    the data is tokenized: SFT examples are mostly far shorter than the block."""
    batch = batch or spec.batch_size or DEFAULT_BATCH
    sequence = min(sequence or spec.block_size, spec.block_size)
    dims = breakdown_from_config(config).config_summary
    hidden, inter, layers = dims["hidden"], dims["intermediate"], dims["layers"]
    heads, kv_dim = dims["heads"], dims["kv_heads"] * dims["head_dim"]
    vocab = dims["vocab"] + (spec.extend_vocab or 0)
    config = config | {"vocab_size": vocab}
    act = bytes_per_weight(spec, device)

    weights = breakdown_from_config(config).total * act
    full_copies = sum(vocab * hidden for name in spec.trained_modules_to_save if name in EMBEDDING_MODULES)
    weights += full_copies * act
    trainable = lora_parameters(config, spec.target_modules, spec.rank) + full_copies

    tokens = batch * sequence
    # Kept per token per layer: two norm inputs and outputs (4H), q/k/v after RoPE (H + 2 kv), the
    # attention output (H), the SwiGLU gate, up, activation and product (4I), and LoRA dropout's
    # copies of each adapted projection's input (6H + I) when dropout is on.
    per_token_layer = 6 * hidden + 2 * kv_dim + 4 * inter
    if spec.dropout > 0:
        per_token_layer += 6 * hidden + inter
    scores = batch * heads * sequence**2  # one attention matrix per layer
    if spec.gradient_checkpointing:
        # Only each layer's input is kept; one layer at a time is recomputed with everything.
        activations = (tokens * hidden * layers + tokens * per_token_layer + scores) * act
    else:
        activations = (tokens * per_token_layer + scores) * layers * act
    logits = tokens * vocab * (act + 12)
    return MemoryEstimate(
        device=device,
        weights=weights,
        trainable=trainable * 4,
        gradients=trainable * 4,
        optimizer=trainable * 8,
        activations=activations,
        logits=logits,
        runtime=RUNTIME_BYTES[device],
    )


def available_memory(device: str) -> int:
    """Free bytes now: the GPU's free memory, or RAM the OS can give without swapping."""
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def processes_per_machine() -> int:
    """Training processes sharing this machine's RAM (`accelerate launch` sets LOCAL_WORLD_SIZE)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


class MemoryRefusal(ResourceError):
    """The job would not fit; `suggestion` holds spec changes that would (empty when none do)."""

    def __init__(self, message: str, needed: MemoryEstimate, suggestion: dict) -> None:
        super().__init__(message)
        self.needed = needed
        self.suggestion = suggestion


def check_fits(
    spec: TrainSpec, config: dict, device: str | None = None, available: int | None = None
) -> MemoryEstimate:
    """The estimate with `available` filled in; MemoryRefusal, naming a change that fits, if not."""
    device = device or compute_device()
    share = processes_per_machine() if device == "cpu" else 1
    if available is None:
        available = available_memory(device) // share
    needed = replace(estimate(spec, config, device), available=available)
    if needed.fits:
        return needed
    head = (
        _("Training would need about {needed} of GPU memory but {free} is free.")
        if device == "cuda"
        else _("Training would need about {needed} of memory but {free} is free.")
    ).format(needed=_gib(needed.total), free=_gib(available))
    for changes in _candidates(spec):
        smaller = replace(spec, **changes)
        if estimate(smaller, config, device).total <= available:
            advice = _describe(changes)
            total = _gib(estimate(smaller, config, device).total)
            raise MemoryRefusal(
                _("{head} Try {advice} (about {total}).").format(head=head, advice=advice, total=total),
                needed,
                changes,
            )
    floor = replace(spec, **_floor(spec))
    raise MemoryRefusal(
        _(
            "{head} Even with batch 1, block {block_size}, rank {rank} and gradient "
            "checkpointing it needs {needed}: choose a smaller base model or a machine with "
            "more memory."
        ).format(
            head=head,
            block_size=floor.block_size,
            rank=floor.rank,
            needed=_gib(estimate(floor, config, device).total),
        ),
        needed,
        {},
    )


def _candidates(spec: TrainSpec) -> list[dict]:
    """Changes from least to most disruptive: checkpointing costs time only; a smaller per-pass
    batch with more accumulation keeps the effective batch; a shorter block or a lower rank
    changes what is learned."""
    out: list[dict] = []
    base: dict = {}
    if not spec.gradient_checkpointing:
        base = {"gradient_checkpointing": True}
        out.append(dict(base))
    first = batch = spec.batch_size or DEFAULT_BATCH
    while batch > 1:
        batch //= 2
        # An accumulation the data chooses (None) keeps the effective batch by itself.
        accum = {"grad_accum": spec.grad_accum * first // batch} if spec.grad_accum else {}
        base = base | {"batch_size": batch} | accum
        out.append(dict(base))
    block = spec.block_size
    while block > 128:
        block //= 2
        base = base | {"block_size": block}
        out.append(dict(base))
    rank = spec.rank
    while rank > 4:
        rank //= 2
        base = base | {"rank": rank, "alpha": 2 * rank}
        out.append(dict(base))
    return out


def _floor(spec: TrainSpec) -> dict:
    candidates = _candidates(spec)
    return candidates[-1] if candidates else {}


def _describe(changes: dict) -> str:
    """In words the GUI's fields and the CLI's flags both use."""
    words = {
        "gradient_checkpointing": _("gradient checkpointing (--gradient-checkpointing)"),
        "batch_size": _("batch {value} (--batch {value})"),
        "grad_accum": _("grad accumulation {value} to keep the effective batch (--grad-accum {value})"),
        "block_size": _("block {value} (--block {value})"),
        "rank": _("rank {value} (--rank {value})"),
    }
    return _(", ").join(words[k].format(value=v) for k, v in changes.items() if k in words)


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"
