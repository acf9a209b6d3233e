"""The main window: one tab per verb (Chat, Models, …) and a status bar.

It owns the panels and wires them together (a library change refreshes every panel that lists
models); the panels themselves know nothing of each other."""

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget

from llamadesk import __version__
from llamadesk.core import starter
from llamadesk.ui.models_view import ModelsView


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(self.tr("LlamaDesk"))
        self.resize(1200, 780)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.models_view = ModelsView()
        self.tabs.addTab(self.models_view, self.tr("Models"))
        self.setCentralWidget(self.tabs)
        self.status_label = QLabel(
            self.tr("LlamaDesk {0} · everything stays on this computer").format(__version__)
        )
        self.statusBar().addPermanentWidget(self.status_label)
        self.models_view.status_message.connect(self._on_status_message)

    def _on_status_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def import_starter_if_needed(self) -> bool:
        """First run: bring in the starter model from its package, with progress on the Models tab."""
        if not starter.starter_needs_import():
            return False
        self.tabs.setCurrentWidget(self.models_view)
        self.statusBar().showMessage(self.tr("Preparing the starter model for first use…"))
        task = self.models_view.start_import(starter.find_starter_gguf(), starter.STARTER_ID)
        return task is not None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.models_view.shutdown()
        super().closeEvent(event)
