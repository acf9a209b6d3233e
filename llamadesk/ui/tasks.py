"""Background tasks for the GUI: a function runs on a QThread, reports progress, can be cancelled.

The function receives a core `Progress`; calling it from the worker thread emits `progressed`,
which Qt delivers to the GUI thread through a queued connection. The GUI never touches the
function's data until `succeeded` hands it the result."""

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from llamadesk.core.disk import full_disk_error, is_disk_full
from llamadesk.core.errors import Cancelled, LlamaDeskError
from llamadesk.core.logs import setup_logging
from llamadesk.core.paths import data_home
from llamadesk.core.progress import Progress

log = logging.getLogger("llamadesk.ui")


class _Worker(QObject):
    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, fn: Callable[[Progress], Any], cancel: threading.Event) -> None:
        super().__init__()
        self._fn = fn
        self._cancel = cancel

    @Slot()
    def run(self) -> None:
        progress = Progress(lambda f, m: self.progressed.emit(f, m), self._cancel)
        try:
            result = self._fn(progress)
        except Cancelled:
            self.cancelled.emit()
        except LlamaDeskError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # shown to the user with the log path, never swallowed
            if is_disk_full(exc):  # a write no core function foresaw: still said as a full disk
                log.warning("background task met a full disk", exc_info=True)
                self.failed.emit(str(full_disk_error(data_home())))
            else:
                log.exception("background task failed")
                text = QCoreApplication.translate("tasks", "Unexpected error: {0}. Details are in {1}.")
                self.failed.emit(text.format(exc, setup_logging()))
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()


class Task(QObject):
    """One background run of `fn(progress)`.

    Signals: progressed(fraction, message), succeeded(result), failed(message), cancelled(), finished().
    """

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[[Progress], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread = QThread(self)
        self._worker = _Worker(fn, self._cancel)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progressed.connect(self.progressed)
        self._worker.succeeded.connect(self.succeeded)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)
        # Direct: the thread must end even while the GUI thread is blocked in `wait()` (shutdown);
        # a queued call to quit() would wait for the GUI thread and deadlock.
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self.finished)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the thread ends (used on shutdown, after `cancel`)."""
        return self._thread.wait() if msecs < 0 else self._thread.wait(msecs)
