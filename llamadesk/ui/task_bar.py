"""A strip that shows one background Task of a panel: what it is doing, how far, and Cancel.

Each panel runs at most one long operation at a time through its TaskBar; the bar hides itself
when the task ends, whatever the outcome."""

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from llamadesk.core.progress import Progress
from llamadesk.ui.dialogs import show_error
from llamadesk.ui.tasks import Task


class TaskBar(QWidget):
    """Signals: busy_changed(busy) when a task starts or ends; cancelled() when one stopped on request."""

    busy_changed = Signal(bool)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task: Task | None = None
        self._retired: list[Task] = []
        self.label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setAccessibleName(self.tr("Progress"))
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 2)
        layout.addWidget(self.progress_bar, 3)
        layout.addWidget(self.cancel_button)
        self.hide()

    def is_busy(self) -> bool:
        return self.task is not None

    def start(
        self, label: str, fn: Callable[[Progress], Any], on_success: Callable[[Any], None]
    ) -> Task | None:
        """Run `fn(progress)` in the background; errors go to a dialog. None if one already runs."""
        if self.task is not None:
            show_error(self, self.tr("Another operation is running; wait for it or cancel it."))
            return None
        # No Qt parent: Python owns the task, so it is freed only once nothing refers to it.
        task = Task(fn)
        task.progressed.connect(self._on_progressed)
        task.succeeded.connect(on_success)
        task.failed.connect(lambda message: show_error(self, message))
        task.cancelled.connect(self.cancelled)
        task.finished.connect(self._on_finished)
        self.task = task
        self.label.setText(label)
        self.progress_bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.show()
        self.busy_changed.emit(True)
        task.start()
        return task

    def _on_progressed(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))
        if message:
            self.label.setText(message)

    def _on_finished(self) -> None:
        # Released on the next turn of the event loop, not inside its own `finished` emission.
        finished, self.task = self.task, None
        QTimer.singleShot(0, lambda: self._retired.remove(finished))
        self._retired.append(finished)
        self.hide()
        self.busy_changed.emit(False)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(self.tr("Cancelling…"))

    def shutdown(self) -> None:
        """Cancel and wait: called when the window closes, so no thread outlives it."""
        if self.task is not None:
            task, self.task = self.task, None
            task.cancel()
            task.wait()
            # The task's last signals are still queued for this widget, which is about to go:
            # silence them, or Qt would deliver them to a deleted object.
            task.blockSignals(True)
