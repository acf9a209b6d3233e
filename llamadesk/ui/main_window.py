"""The main window: one tab per verb (Chat, Models, Adapters, …) and a status bar.

It owns the panels and wires them together (a library or adapter change refreshes every panel
that lists them); the panels themselves know nothing of each other."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QTabWidget, QToolButton

from llamadesk import __version__
from llamadesk.core import library, runtime, starter
from llamadesk.ui.adapters_view import AdaptersView
from llamadesk.ui.chat_view import ChatView
from llamadesk.ui.evaluate_view import EvaluateView
from llamadesk.ui.models_view import ModelsView
from llamadesk.ui.server_dialog import ServerDialog
from llamadesk.ui.settings import AppSettings
from llamadesk.ui.settings_dialog import SettingsDialog
from llamadesk.ui.theme import apply_theme
from llamadesk.ui.train_view import TrainView
from llamadesk.ui.welcome import WelcomeDialog


class MainWindow(QMainWindow):
    """The window. Window-wide shortcuts live on its menu actions: Ctrl+N new chat, Ctrl+K search
    chats, Ctrl+, settings; Ctrl+Enter (send) and Esc (stop) belong to the Chat panel."""

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
        self.server = None  # the local server (core.serving.server.LocalServer) while it runs
        self.server_button = QToolButton()
        self.server_button.setAutoRaise(True)
        self.server_button.clicked.connect(self.open_server)
        self.statusBar().addPermanentWidget(self.server_button)
        self._show_server(None)
        self.chat_view.status_changed.connect(self.status_label.setText)
        for view in (self.models_view, self.adapters_view, self.train_view, self.evaluate_view):
            view.status_message.connect(self._on_status_message)
        self.models_view.library_changed.connect(self._on_library_changed)
        self.adapters_view.library_changed.connect(self._on_library_changed)
        self.train_view.library_changed.connect(self._on_library_changed)
        self.train_view.adapters_changed.connect(self._on_adapters_changed)
        self.adapters_view.adapters_changed.connect(self._on_adapters_changed)
        self.evaluate_view.scores_changed.connect(self.adapters_view.refresh)
        self._build_menus()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        self.new_chat_action = self._action(self.tr("&New chat"), "Ctrl+N", self.new_chat)
        self.search_action = self._action(self.tr("&Search chats"), "Ctrl+K", self.search_chats)
        self.settings_action = self._action(self.tr("Se&ttings…"), "Ctrl+,", self.open_settings)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        quit_action = self._action(self.tr("&Quit"), QKeySequence.StandardKey.Quit, self.close)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file_menu.addActions([self.new_chat_action, self.search_action])
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        self.server_action = self._action(self.tr("&Local server…"), None, self.open_server)
        file_menu.insertAction(self.settings_action, self.server_action)
        self.welcome_action = self._action(self.tr("&Welcome guide"), None, self.show_welcome)
        help_menu.addAction(self.welcome_action)
        about = self._action(self.tr("&About LlamaDesk"), None, self._show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    def _action(self, text: str, keys, slot) -> QAction:  # noqa: ANN001 (str or QKeySequence.StandardKey)
        action = QAction(text, self)
        if keys is not None:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work with the menu bar hidden too (some desktops hide it)
        return action

    # -- actions ----------------------------------------------------------------------------------

    def new_chat(self) -> None:
        self.tabs.setCurrentWidget(self.chat_view)
        self.chat_view.new_conversation()

    def search_chats(self) -> None:
        self.tabs.setCurrentWidget(self.chat_view)
        self.chat_view.focus_search()

    def open_settings(self) -> SettingsDialog:
        """Show the Settings dialog (window-modal, so background work keeps flowing); OK applies it."""
        dialog = SettingsDialog(AppSettings(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        language = AppSettings().language
        dialog.accepted.connect(lambda: self._apply_settings(language))
        dialog.open()
        return dialog

    def open_server(self) -> ServerDialog:
        """The Local server dialog, which starts and stops the server this window holds."""
        dialog = ServerDialog(self.server, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.server_changed.connect(self._show_server)
        dialog.open()
        return dialog

    def _show_server(self, server) -> None:  # noqa: ANN001 (LocalServer or None)
        self.server = server
        if server is None:
            self.server_button.setText(self.tr("Local server: off"))
        else:
            self.server_button.setText(self.tr("Local server: {0}").format(server.address))

    def _apply_settings(self, language_before: str) -> None:
        """What can change in a running app changes now: theme, CPU threads (device and dtype from
        the next model load), the chat panel's defaults. The language waits for a restart: every
        panel builds its texts once."""
        settings = AppSettings()
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, settings.theme)
        if settings.runtime_options != runtime.current():
            runtime.configure(settings.runtime_options)
        self.chat_view.apply_defaults()
        if settings.language != language_before:
            self.statusBar().showMessage(self.tr("The new language shows after LlamaDesk restarts."), 15000)

    def show_welcome(self) -> WelcomeDialog:
        dialog = WelcomeDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.prompt_chosen.connect(self._on_prompt_chosen)
        dialog.destination_chosen.connect(self._on_destination_chosen)
        dialog.open()
        return dialog

    def show_welcome_if_needed(self) -> WelcomeDialog | None:
        """The first time the starter model is in the library, greet the user once."""
        settings = AppSettings()
        if settings.welcome_shown or all(m.id != starter.STARTER_ID for m in library.list_models()):
            return None
        settings.welcome_shown = True
        settings.sync()
        return self.show_welcome()

    def _on_prompt_chosen(self, text: str) -> None:
        self.tabs.setCurrentWidget(self.chat_view)
        self.chat_view.new_conversation()
        self.chat_view.input.setPlainText(text)

    def _on_destination_chosen(self, name: str) -> None:
        views = {
            "models": self.models_view,
            "adapters": self.adapters_view,
            "train": self.train_view,
            "evaluate": self.evaluate_view,
        }
        self.tabs.setCurrentWidget(views[name])

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            self.tr("About LlamaDesk"),
            self.tr(
                "LlamaDesk {0}\n\nRun, customise and evaluate Llama-family models on this computer."
            ).format(__version__),
        )

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

    def start(self) -> None:
        """After the first paint: bring in the starter model if needed, then greet a new user."""
        if not self.import_starter_if_needed():
            self.show_welcome_if_needed()

    def import_starter_if_needed(self) -> bool:
        """First run: bring in the starter model from its package. The Chat tab, where a new user
        starts, shows the progress (the Models tab too, with Cancel) and keeps a message sent
        meanwhile, answered once the model is ready."""
        if not starter.starter_needs_import():
            return False
        title = self.tr("Preparing the starter model for first use…")
        self.statusBar().showMessage(title)
        task = self.models_view.start_import(starter.find_starter_gguf(), starter.STARTER_ID)
        if task is None:
            return False
        self.tabs.setCurrentWidget(self.chat_view)
        self.chat_view.begin_preparation(title)
        task.progressed.connect(self.chat_view.show_preparation)
        # The library-changed refresh (which loads the model) runs first: connected earlier.
        task.succeeded.connect(lambda _entry: self.chat_view.end_preparation())
        task.succeeded.connect(lambda _entry: self.statusBar().clearMessage())
        task.succeeded.connect(lambda _entry: self.show_welcome_if_needed())
        task.failed.connect(self.chat_view.end_preparation)
        task.failed.connect(lambda _message: self.statusBar().clearMessage())
        task.cancelled.connect(
            lambda: self.chat_view.end_preparation(self.tr("Preparing the starter model was cancelled."))
        )
        task.cancelled.connect(self.statusBar().clearMessage)
        return True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        # Every panel stops and joins its threads before the widgets go away.
        self.chat_view.shutdown()
        self.models_view.shutdown()
        self.adapters_view.shutdown()
        self.train_view.shutdown()  # stops following jobs; a running job carries on
        self.evaluate_view.shutdown()
        if self.server is not None:
            self.server.stop()
        super().closeEvent(event)
