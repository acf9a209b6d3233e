"""Sampling settings and the figures a finished reply reports.

Settings travel as JSON: they are stored with every conversation and every message, so a reply can
be reproduced later with exactly the settings that produced it."""

import logging
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import N_, _

log = logging.getLogger(__name__)


# JSON written by hand or by another tool may hold "0.7" or 1 where a float or int is meant.
_CASTS = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "repetition_penalty": float,
    "max_new_tokens": int,
    "seed": int,
}


class InvalidSettingsError(LlamaDeskError):
    """A sampling setting is out of its range."""


@dataclass(frozen=True)
class GenerationSettings:
    # 0 means greedy: the same prompt always gives the same reply, whatever the seed.
    temperature: float = 0.7
    # Nucleus sampling: keep the smallest set of tokens whose probabilities add up to top_p (1 = off).
    top_p: float = 0.9
    # Keep only the k likeliest tokens (0 = off).
    top_k: int = 50
    # >1 discourages repeating tokens already in the context; small models loop without it.
    repetition_penalty: float = 1.1
    max_new_tokens: int = 512
    # None draws a fresh seed per reply; a number makes sampled replies reproducible.
    seed: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.temperature <= 5.0, N_("Temperature must be between 0 (greedy) and 5.")),
            (0.0 < self.top_p <= 1.0, N_("Top-p must be above 0 and at most 1 (1 turns it off).")),
            (0 <= self.top_k <= 100_000, N_("Top-k must be 0 (off) or a positive number of tokens.")),
            (
                0.5 <= self.repetition_penalty <= 3.0,
                N_("Repetition penalty must be between 0.5 and 3 (1 turns it off)."),
            ),
            (1 <= self.max_new_tokens <= 1_000_000, N_("Max new tokens must be at least 1.")),
            (
                self.seed is None or 0 <= self.seed < 2**63,
                N_("The seed must be empty or a whole number ≥ 0."),
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidSettingsError(_(message))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "GenerationSettings":
        """Build from stored JSON; keys from a newer version are ignored (with a log line) so an old
        app still opens a database a newer one wrote."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            log.warning("ignoring unknown generation settings: %s", ", ".join(unknown))
        try:
            values = {
                k: v if k == "seed" and v is None else _CASTS[k](v) for k, v in data.items() if k in known
            }
        except (TypeError, ValueError) as exc:
            raise InvalidSettingsError(
                _("A sampling setting is not a number ({exc}).").format(exc=exc)
            ) from exc
        return cls(**values)


@dataclass(frozen=True)
class GenerationStats:
    new_tokens: int
    seconds: float  # from the call to the last token, prompt processing included
    # Decoding speed after the first token: prompt length does not distort it.
    tokens_per_s: float
    ttft_s: float  # time to first token: prompt processing plus one step
    truncated_turns: int = 0  # oldest messages left out so the prompt fits the context window
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose keys and values came from the previous turn
    finish_reason: str = "eos"  # "eos" | "length" | "stopped"
    seed: int | None = None  # the seed actually used, so a sampled reply can be reproduced

    @classmethod
    def timed(
        cls, new_tokens: int, started: float, first_at: float, last_at: float, **rest: Any
    ) -> "GenerationStats":
        """The figures of a reply from its clock readings (time.perf_counter): the call, the first
        token and the last one; decode speed counts the tokens after the first."""
        decode_time = last_at - first_at
        return cls(
            new_tokens=new_tokens,
            seconds=time.perf_counter() - started,
            tokens_per_s=(new_tokens - 1) / decode_time if new_tokens > 1 and decode_time > 0 else 0.0,
            ttft_s=first_at - started,
            **rest,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
