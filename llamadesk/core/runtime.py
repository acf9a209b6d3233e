"""Where and how models run in this process: the device, the dtype and the CPU threads the user chose.

The choices live here, apart from any model, because they are process-wide: torch has one thread
pool, and every model loaded afterwards (chat, evaluation) should land where the user asked. The
Settings dialog and the CLI call `configure`; `engine.pick_device` reads `current()` and falls back,
with a logged reason, when the machine cannot do what was chosen."""

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class RuntimeOptionsError(LlamaDeskError):
    """A runtime option outside the values LlamaDesk knows."""


@dataclass(frozen=True)
class RuntimeOptions:
    device: str = "auto"  # "auto": the fastest this machine has (engine.pick_device's own choice)
    dtype: str = "auto"  # "auto": what suits the device (bf16/fp16 on GPUs, fp32 on CPUs)
    threads: int = 0  # CPU threads for torch; 0 = torch's default (one per physical core)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise RuntimeOptionsError(
                _("Unknown device '{device}'; choose one of: {choices}.").format(
                    device=self.device, choices=", ".join(DEVICES)
                )
            )
        if self.dtype not in DTYPES:
            raise RuntimeOptionsError(
                _("Unknown dtype '{dtype}'; choose one of: {choices}.").format(
                    dtype=self.dtype, choices=", ".join(DTYPES)
                )
            )
        if not isinstance(self.threads, int) or self.threads < 0:
            raise RuntimeOptionsError(
                _("CPU threads must be a whole number, 0 or more (0 = automatic), not {threads!r}.").format(
                    threads=self.threads
                )
            )


_lock = threading.Lock()
_current = RuntimeOptions()
_default_threads: int | None = None  # torch's own thread count, read before we first change it


def configure(options: RuntimeOptions) -> None:
    """Keep `options` for every later model load and apply the thread count now.

    Threads apply at once because torch's pool is global; device and dtype only take effect on the
    next load (moving a loaded model would double its memory for a moment)."""
    global _current, _default_threads
    import torch

    with _lock:
        if _default_threads is None:
            _default_threads = torch.get_num_threads()
        wanted = options.threads or _default_threads
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        _current = options
    log.info("Runtime options: device=%s dtype=%s threads=%s", options.device, options.dtype, wanted)


def current() -> RuntimeOptions:
    """The options in force (the defaults until `configure` is called)."""
    with _lock:
        return _current


def available_devices() -> list[str]:
    """The device choices this machine can honour: "auto", "cpu", and any GPU torch can see."""
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


@contextlib.contextmanager
def decode_threads(device: str) -> Iterator[None]:
    """Decode on one CPU thread while a training process shares the CPU, then give the pool back.

    Decoding a token is hundreds of small matrix products, each ending in a barrier where torch's
    threads wait for one another. Beside a training job a waiting thread's partner is often
    descheduled, so every barrier costs a time slice; one thread has no barriers. On the 2-core
    machine, int4 starter beside a training run: 10 tokens/s on two threads, 30 on one (alone,
    two threads give 41-44)."""
    import torch

    from llamadesk.core.training.runs import live_runs

    if device != "cpu" or torch.get_num_threads() == 1 or not live_runs():
        yield
        return
    threads = torch.get_num_threads()
    log.info("A training run shares the CPU: decoding on one thread instead of %d", threads)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
