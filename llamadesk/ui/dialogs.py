"""Messages for the user: window-modal and non-blocking, so background work keeps flowing."""

from PySide6.QtWidgets import QMessageBox, QWidget

from llamadesk.core.paths import APP_NAME


def show_error(parent: QWidget, text: str, title: str | None = None) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Warning, title or APP_NAME, text, parent=parent)
    box.setObjectName("errorDialog")
    box.open()
    return box


def confirm(parent: QWidget, title: str, text: str) -> bool:
    """Ask before something that deletes the user's files."""
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes
