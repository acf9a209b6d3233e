"""Past and present training runs, newest first: kind, status, steps done, the adapter made.

Signals: run_selected(run id) when the user picks a run."""

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from llamadesk.core.training import runs
from llamadesk.ui.kinds import kind_label

RUN_ROLE = Qt.ItemDataRole.UserRole


def status_word(status: str) -> str:
    """A run's status as the panel says it (a cancelled run reads "stopped", as its Cancel said)."""
    words = {
        "created": QCoreApplication.translate("RunList", "created"),
        "running": QCoreApplication.translate("RunList", "running"),
        "cancelled": QCoreApplication.translate("RunList", "stopped"),
        "done": QCoreApplication.translate("RunList", "done"),
        "failed": QCoreApplication.translate("RunList", "failed"),
        "interrupted": QCoreApplication.translate("RunList", "interrupted"),
    }
    return words.get(status, status)


class RunList(QTreeWidget):
    run_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(
            [self.tr("Run"), self.tr("Kind"), self.tr("Status"), self.tr("Steps"), self.tr("Adapter")]
        )
        self.setRootIsDecorated(False)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, 5):
            self.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.setAccessibleName(self.tr("Past runs"))
        self.currentItemChanged.connect(self._on_current_changed)

    def refresh(self) -> None:
        """Re-read every run; the selected one stays selected (without a run_selected signal)."""
        selected = self.selected_run()
        self.blockSignals(True)
        self.clear()
        for run in runs.list_runs():
            summary = run.summary()
            steps = f"{summary['step'] or 0}/{summary['total_steps'] or '?'}"
            item = QTreeWidgetItem(
                [
                    run.id,
                    kind_label(summary["kind"]),
                    status_word(summary["status"]),
                    steps,
                    summary["adapter_id"] or "",
                ]
            )
            item.setData(0, RUN_ROLE, run.id)
            self.addTopLevelItem(item)
            if run.id == selected:
                self.setCurrentItem(item)
        self.blockSignals(False)

    def selected_run(self) -> str | None:
        item = self.currentItem()
        return item.data(0, RUN_ROLE) if item else None

    def _item(self, run_id: str) -> QTreeWidgetItem | None:
        for index in range(self.topLevelItemCount()):
            item = self.topLevelItem(index)
            if item.data(0, RUN_ROLE) == run_id:
                return item
        return None

    def select_run(self, run_id: str) -> None:
        """Select a run without announcing it (the panel already shows it)."""
        item = self._item(run_id)
        if item is not None:
            self.blockSignals(True)
            self.setCurrentItem(item)
            self.blockSignals(False)

    def update_row(self, run_id: str, status: str, steps: str) -> None:
        """The followed run's row, kept current from its events rather than re-reading every run."""
        item = self._item(run_id)
        if item is not None:
            item.setText(2, status_word(status))
            item.setText(3, steps)

    def _on_current_changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if current is not None:
            self.run_selected.emit(current.data(0, RUN_ROLE))
