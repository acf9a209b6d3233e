"""Starting the GUI: the window shows first; torch and the models load afterwards, off the GUI thread."""

import logging
import os
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from llamadesk import __version__
from llamadesk.core.atomic import clean_leftovers
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.logs import setup_logging
from llamadesk.core.paths import APP_NAME, data_home, pin_data_home
from llamadesk.core.resources import resource
from llamadesk.ui.settings import AppSettings
from llamadesk.ui.single_instance import SingleInstance, notify_running
from llamadesk.ui.theme import apply_theme
from llamadesk.ui.translations import install_translator

log = logging.getLogger("llamadesk.ui")

ICON = resource("icons", "llamadesk.svg")


def _install_excepthook() -> None:
    """An unexpected error is logged and shown with the log's path; the app keeps running, and
    conversations are safe because every message is committed as it completes."""
    log_file = setup_logging()

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.error("unhandled exception:\n%s", "".join(traceback.format_exception(kind, value, tb)))
        app = QApplication.instance()
        if app is not None:
            QMessageBox.critical(
                None,
                APP_NAME,
                app.translate("app", "Something went wrong: {0}\n\nDetails are in {1}.").format(
                    value, log_file
                ),
            )

    sys.excepthook = hook


def create_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(QIcon(str(ICON)))
    # Matches resources/desktop/llamadesk.desktop, so docks group the window under its launcher.
    app.setDesktopFileName("llamadesk")
    settings = AppSettings()
    settings.move_legacy_data_folder()
    pin_data_home()  # before anything reads a path; training runs inherit it
    apply_theme(app, settings.theme)
    # Before any widget exists: texts are translated when widgets are built. LLAMADESK_LANG, set
    # for one launch, wins over the saved choice.
    language = install_translator(app, os.environ.get("LLAMADESK_LANG") or settings.language or None)
    log.info("interface language: %s", language)
    _apply_runtime_options(settings)
    return app


def _apply_runtime_options(settings: AppSettings) -> None:
    """Device, dtype and threads, before any model loads. Only a changed choice is applied here:
    that costs torch's import (about 1.5 s) before the window shows, and the defaults need nothing."""
    from llamadesk.core import runtime

    options = settings.runtime_options
    if options != runtime.current():
        runtime.configure(options)


def bring_to_front(window: QWidget) -> None:
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()


def run_app(argv: list[str] | None = None) -> int:
    app = create_application(argv)
    try:
        data_home()  # the one place a window can say, before it is built, that the folder is unusable
    except LlamaDeskError as exc:
        QMessageBox.critical(None, APP_NAME, str(exc))
        return 2
    if notify_running():
        log.info("LlamaDesk is already open on this data folder; brought its window to the front")
        return 0
    instance = SingleInstance(parent=app)
    if not instance.listen():
        log.warning("single-instance guard unavailable; a second launch will open a second window")
    _install_excepthook()
    clean_leftovers(data_home())
    from llamadesk.ui.main_window import MainWindow

    window = MainWindow()
    instance.activation_requested.connect(lambda: bring_to_front(window))
    window.show()
    # After the first paint, so the window is on screen before any heavy work is queued.
    QTimer.singleShot(0, window.start)
    return app.exec()
