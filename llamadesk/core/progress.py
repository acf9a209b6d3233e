"""Progress reporting with cooperative cancel, shared by every long operation.

A long operation takes a `Progress` and calls it now and then; the call raises `Cancelled` once the
user asked to stop, so the operation unwinds through its own cleanup (staging folders, temp files)."""

import threading
from collections.abc import Callable

from llamadesk.core.errors import Cancelled

ProgressCallback = Callable[[float, str], None]


class Progress:
    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        start: float = 0.0,
        end: float = 1.0,
    ) -> None:
        self._callback = callback
        self.cancel = cancel or threading.Event()
        self._start = start
        self._end = end

    def __call__(self, fraction: float, message: str = "") -> None:
        """Report `fraction` (0..1) of this operation done; raise Cancelled if the user stopped it."""
        self.check()
        if self._callback is not None:
            clamped = min(max(fraction, 0.0), 1.0)
            self._callback(self._start + (self._end - self._start) * clamped, message)

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def sub(self, start: float, end: float) -> "Progress":
        """A Progress for a step that covers [start, end] of this one."""
        span = self._end - self._start
        return Progress(self._callback, self.cancel, self._start + span * start, self._start + span * end)
