"""The training job as data: one JSON file says everything a run needs, so the same job runs from
the GUI, the CLI, or unchanged under `accelerate launch` on a cluster.

Defaults follow the Chinese-LLaMA-Alpaca-2 LoRA recipe (alpha = 2 × rank, dropout 0.05, every
linear projection, cosine schedule with 5 % warm-up, lr 2e-4 for pre-training and 1e-4 for SFT,
block 512, an effective batch of 8), scaled down for a desktop: rank 8 instead of 64, and at most 2
sequences per forward pass. The effective batch shrinks with small data (see `plan.plan_steps`), so a
handful of examples still gets enough optimizer steps to be learnt."""

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, get_args, get_origin

from llamadesk.core.atomic import write_json
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import N_, _
from llamadesk.core.names import is_valid_name, shown

log = logging.getLogger(__name__)

FORMAT = 1
KINDS = ("pt", "sft")
PRECISIONS = ("auto", "fp32", "bf16")
# Every linear projection of a Llama block: attention q/k/v/o and the SwiGLU MLP.
LINEAR_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Trained in full (not LoRA) when asked, as in the recipe's pre-training: new vocabulary needs them.
EMBEDDING_MODULES = ("embed_tokens", "lm_head")
DEFAULT_BATCH = 2  # sequences per forward pass when the spec leaves it to the data
# More passes than this over the same data cannot be meant: refused, not clamped (plan.py warns from
# MANY_EPOCHS on).
MAX_EPOCHS = 1000
_KIND_DEFAULTS = {"pt": {"lr": 2e-4, "epochs": 1.0}, "sft": {"lr": 1e-4, "epochs": 2.0}}


_TYPE_WORDS = {
    bool: N_("true or false"),
    int: N_("a whole number"),
    float: N_("a number"),
    str: N_("text"),
    list: N_("a list of names"),
}


def _has_type(value: Any, expected: Any) -> bool:
    if get_origin(expected) is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


class SpecError(LlamaDeskError):
    """A training spec with a value that cannot work; the message names the field to change."""


@dataclass
class TrainSpec:
    kind: str  # "pt" = continued pre-training on raw text, "sft" = instruction tuning on conversations
    base: str  # library model id (any model, a merged one included)
    data: list[str]  # corpus ids; raw file/folder paths are turned into a corpus when the run is made
    out: str  # the adapter's id in the library: it lands in adapters/<out>/
    epochs: float | None = None  # passes over the training split (None: 1 for pt, 2 for sft)
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    rank: int = 8
    alpha: int | None = None  # LoRA scaling numerator (None: 2 × rank, as in the recipe)
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LINEAR_PROJECTIONS))
    modules_to_save: list[str] = field(default_factory=list)  # fully trained modules, e.g. embed_tokens
    lr: float | None = None  # peak learning rate (None: 2e-4 for pt, 1e-4 for sft)
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    block_size: int = 512  # tokens per pre-training block, and the longest SFT example
    # Sequences per forward pass on each process, and forward passes per optimizer step (effective
    # batch = batch × accum × processes); None: chosen from the data by plan.plan_steps.
    batch_size: int | None = None
    grad_accum: int | None = None
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30 % slower
    precision: str = "auto"  # "auto": bf16 on a GPU that has it, fp32 on CPU
    seed: int = 42  # LoRA init, data order and dropout: the same seed gives the same run
    eval_every: int = 50  # steps between validation passes
    save_every: int = 100  # steps between checkpoints (one is also written on cancel and at the end)
    keep_checkpoints: int = 2
    max_eval_examples: int = 200  # validation examples per pass, so evaluation stays short
    extend_vocab: int | None = None  # pt only: train a SentencePiece model of this size on the corpus
    format: int = FORMAT

    def __post_init__(self) -> None:
        self._check_types()
        if self.kind not in KINDS:
            raise SpecError(
                _("Kind must be 'pt' (pre-training on text) or 'sft' (instructions), not {kind!r}.").format(
                    kind=self.kind
                )
            )
        defaults = _KIND_DEFAULTS[self.kind]
        if self.lr is None:
            self.lr = defaults["lr"]
        if self.epochs is None:
            self.epochs = defaults["epochs"]
        if self.alpha is None:
            self.alpha = 2 * self.rank
        if not self.base.strip():
            raise SpecError(_("Choose a base model to train."))
        if not self.data or not all(isinstance(d, str) and d.strip() for d in self.data):
            raise SpecError(_("Choose training data: one or more corpora or files."))
        if not is_valid_name(self.out):
            raise SpecError(
                _(
                    "'{out}' cannot be an adapter name: use letters, digits, '.', '-' or '_' (at most 100)."
                ).format(out=shown(self.out))
            )
        self._check_ranges()
        if self.extend_vocab is not None and self.kind != "pt":
            raise SpecError(_("Vocabulary extension (extend_vocab) is only for pre-training (kind 'pt')."))

    def _check_types(self) -> None:
        """Reject wrong JSON types with the field's name (a string rank would fail deep in PEFT)."""
        for f in fields(self):
            value = getattr(self, f.name)
            allowed = get_args(f.type) if isinstance(f.type, UnionType) else (f.type,)
            if value is None and NoneType in allowed:
                continue
            expected = allowed[0]
            if not _has_type(value, expected):
                word = _(_TYPE_WORDS[get_origin(expected) or expected])
                raise SpecError(
                    _("Field '{field}' must be {word}, not {value!r}.").format(
                        field=f.name, word=word, value=value
                    )
                )
            if expected is float:
                setattr(self, f.name, float(value))

    def _check_ranges(self) -> None:
        checks = [
            (1 <= self.rank <= 1024, N_("Rank must be between 1 and 1024 (try 8, 16 or 64).")),
            (self.alpha > 0, N_("Alpha must be positive (the recipe uses 2 × rank).")),
            (0 <= self.dropout < 1, N_("Dropout must be at least 0 and below 1 (try 0.05).")),
            (0 < self.lr < 1, N_("The learning rate must be above 0 and below 1 (try 2e-4).")),
            (0 <= self.warmup_ratio < 1, N_("Warmup_ratio must be at least 0 and below 1 (try 0.05).")),
            (self.weight_decay >= 0, N_("Weight_decay cannot be negative.")),
            (self.max_grad_norm > 0, N_("Max_grad_norm must be positive (try 1.0).")),
            (8 <= self.block_size <= 1_048_576, N_("The block size must be between 8 and 1048576 tokens.")),
            (self.batch_size is None or self.batch_size >= 1, N_("The batch size must be at least 1.")),
            (self.grad_accum is None or self.grad_accum >= 1, N_("Grad_accum must be at least 1.")),
            (0 < self.epochs <= MAX_EPOCHS, N_("Epochs must be above 0 and at most 1000.")),
            (self.max_steps is None or self.max_steps >= 1, N_("Max_steps must be at least 1.")),
            (self.eval_every >= 1, N_("Eval_every must be at least 1.")),
            (self.save_every >= 1, N_("Save_every must be at least 1.")),
            (self.keep_checkpoints >= 1, N_("Keep_checkpoints must be at least 1.")),
            (self.max_eval_examples >= 1, N_("Max_eval_examples must be at least 1.")),
            (self.precision in PRECISIONS, N_("Precision must be 'auto', 'fp32' or 'bf16'.")),
            (bool(self.target_modules), N_("Target_modules needs at least one module name.")),
            (
                self.extend_vocab is None or self.extend_vocab >= 100,
                N_("Extend_vocab must be at least 100 pieces."),
            ),
            (self.format <= FORMAT, N_("This spec was written by a newer LlamaDesk; update to run it.")),
        ]
        for ok, message in checks:
            if not ok:
                raise SpecError(_(message))

    @property
    def trained_modules_to_save(self) -> list[str]:
        """Fully trained modules: a grown vocabulary needs new embedding and output rows trained."""
        extra = list(EMBEDDING_MODULES) if self.extend_vocab else []
        return list(dict.fromkeys([*self.modules_to_save, *extra]))

    def hyperparameters(self) -> dict[str, Any]:
        """What the adapter's manifest records about how it was trained."""
        skip = {"base", "data", "out", "format"}
        return {k: v for k, v in self.to_json().items() if k not in skip}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainSpec":
        """Build from a dict; unknown keys (from a newer version, or a typo) are logged and ignored."""
        if not isinstance(data, dict):
            raise SpecError(_("A training spec must be a JSON object."))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            log.warning("ignoring unknown training spec fields: %s", ", ".join(unknown))
        missing = [name for name in ("kind", "base", "data", "out") if name not in data]
        if missing:
            raise SpecError(
                _("The training spec lacks {names}.").format(names=", ".join(repr(m) for m in missing))
            )
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: Path) -> "TrainSpec":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SpecError(_("There is no training spec at {path}.").format(path=path)) from exc
        except (OSError, ValueError) as exc:
            raise SpecError(
                _("{path} is not a readable JSON training spec ({exc}).").format(path=path, exc=exc)
            ) from exc
        return cls.from_json(data)

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())
