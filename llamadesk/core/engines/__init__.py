"""Two chat engines behind one interface, and the choice between them.

llama.cpp (`llamacpp_engine.LlamaCppEngine`) runs a GGUF file on the CPU as it is: the file is
mapped into memory, its quantised blocks run directly, adapters are GGUF LoRAs switched in
microseconds. It is what makes a 7B model fit a 16 GB laptop. The torch engine (`core.engine.
ChatEngine`) runs float models, every model on a GPU, adapters llama.cpp cannot take (added tokens,
modules_to_save), and everything when llama.cpp is not installed. `SwitchingEngine` is what the chat
panel, the CLI and the self-test hold: it picks the engine per model and per adapter, and otherwise
behaves as the engine it holds. Callers only learn which one answers from `info()["engine"]`."""

import functools
import logging
import sys
from pathlib import Path
from typing import Any

from llamadesk.core import adapters, library, runtime
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

log = logging.getLogger(__name__)

LLAMACPP = "llama.cpp"
TORCH = "torch"


@functools.cache
def llamacpp_problem() -> str | None:
    """Why llama.cpp cannot run here (one sentence), or None when it can. Asked once a process."""
    try:
        import llama_cpp  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: the shared library would not load
        log.info("llama.cpp is unavailable: %s", exc)
        return _(
            "llama.cpp is not installed ({exc}); models chat through the torch engine, "
            "which is slower and needs more memory."
        ).format(exc=exc)
    return None


def _gpu_chosen() -> bool:
    """Whether the torch runtime would put a model on a GPU. torch is imported only where a GPU
    can exist at all, so a CPU-only machine starts a llama.cpp chat without loading torch."""
    device = runtime.current().device
    if device == "cpu":
        return False
    if device == "auto" and not (Path("/proc/driver/nvidia").exists() or sys.platform == "darwin"):
        return False
    return len(runtime.available_devices()) > 2 if device == "auto" else device in runtime.available_devices()


def pick(entry: library.ModelEntry) -> tuple[str, str]:
    """The engine for `entry` and the reason, in words a status line can show.

    Where both can run a model, llama.cpp is the default: it needs a fraction of the memory (the
    file mapped as it is, against a dequantised copy) and decodes at least as fast on a CPU. The
    user's per-model choice (`models set --engine`) wins where it can be honoured."""
    if entry.manifest.get("engine") == TORCH:
        return TORCH, _("chosen for this model")
    if entry.gguf_path is None:
        return TORCH, _("a float model runs on the torch engine")
    if _gpu_chosen():
        return TORCH, _("a GPU runs the torch engine")
    problem = llamacpp_problem()
    if problem is not None:
        return TORCH, problem
    return LLAMACPP, _("llama.cpp runs the GGUF file as it is")


def _new(kind: str) -> Any:
    if kind == LLAMACPP:
        from llamadesk.core.engines.llamacpp_engine import LlamaCppEngine

        return LlamaCppEngine()
    from llamadesk.core.engine import ChatEngine

    return ChatEngine()


class SwitchingEngine:
    """One chat engine at a time, chosen per model: the interface of either engine.

    Everything not defined here (stream, last_stats, model_id, count_tokens, ...) is the held
    engine's own. An adapter that has no llama.cpp form moves the chat to the torch engine: the
    base is loaded there once and the adapter switched on, with the reason in `info()`."""

    def __init__(self) -> None:
        self._engine: Any = _new(TORCH)  # empty until load(): answers model_id None and the like
        self.kind = TORCH
        self.reason = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    @property
    def held(self) -> Any:
        """The engine answering now (what evaluation scores with)."""
        return self._engine

    def load(self, model_id: str, progress: Progress | None = None, quantization: str | None = None) -> None:
        kind, reason = pick(library.get_model(model_id))
        self._use(kind)
        self._engine.load(model_id, progress, quantization)
        self.reason = reason

    def _use(self, kind: str) -> None:
        """Hold an engine of `kind`, freeing the other's model first: two never coexist."""
        if kind != self.kind:
            self._engine.unload()
            self._engine, self.kind = _new(kind), kind

    def load_adapters(self, adapter_ids: list[str], progress: Progress | None = None) -> None:
        if self.kind == LLAMACPP and any(not _has_gguf_lora(a) for a in adapter_ids):
            self._move_to_torch(progress)
        self._engine.load_adapters(adapter_ids, progress)

    def set_adapter(self, adapter_id: str | None) -> None:
        if adapter_id is not None and self.kind == LLAMACPP and not _has_gguf_lora(adapter_id):
            self._move_to_torch(None, adapter_id)
        self._engine.set_adapter(adapter_id)

    def _move_to_torch(self, progress: Progress | None, adapter_id: str | None = None) -> None:
        model_id = self._engine.model_id
        why = adapters.get_adapter(adapter_id).manifest.get("gguf_lora_error") if adapter_id else None
        self._use(TORCH)
        self._engine.load(model_id, progress)
        self.reason = why or _("an adapter without a llama.cpp form runs on the torch engine")

    def unload(self) -> None:
        self._engine.unload()

    def info(self) -> dict[str, Any]:
        return self._engine.info() | {"engine": self.kind, "engine_reason": self.reason}


def _has_gguf_lora(adapter_id: str) -> bool:
    return (adapters.get_adapter(adapter_id).folder / adapters.GGUF_LORA).is_file()
