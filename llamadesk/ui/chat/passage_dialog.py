"""A passage a grounded reply was given, opened from the reply's Sources line: its text in full,
where it came from, and the file itself when it is still there."""

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget


def source_file(source: str) -> Path | None:
    """The file a passage's source names ("notes.txt", "data.jsonl:12", "report.pdf:page 3"), if it
    still exists."""
    for candidate in (source, source.rsplit(":", 1)[0]):
        path = Path(candidate)
        if path.is_file():
            return path
    return None


class PassageDialog(QDialog):
    def __init__(self, passage: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Passage [{0}]").format(passage["number"]))
        self.resize(560, 360)
        where = QLabel(self.tr("From {0}").format(passage["source"]))
        where.setWordWrap(True)
        self.text = QPlainTextEdit(passage["text"])
        self.text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.file = source_file(passage["source"])
        if self.file is not None:
            open_button = buttons.addButton(self.tr("Open the file"), QDialogButtonBox.ButtonRole.ActionRole)
            open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.file))))
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
