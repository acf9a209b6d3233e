"""Starting the GUI: the window shows first; torch and the models load afterwards, off the GUI thread."""

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from llamadesk import __version__
from llamadesk.core.logs import setup_logging
from llamadesk.core.paths import APP_NAME
from llamadesk.ui.translations import install_translator

log = logging.getLogger("llamadesk.ui")


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
    # Before any widget exists: texts are translated when widgets are built.
    language = install_translator(app)
    log.info("interface language: %s", language)
    return app


def run_app(argv: list[str] | None = None) -> int:
    app = create_application(argv)
    _install_excepthook()
    from llamadesk.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    # After the first paint, so the window is on screen before any heavy work is queued.
    QTimer.singleShot(0, window.import_starter_if_needed)
    return app.exec()
