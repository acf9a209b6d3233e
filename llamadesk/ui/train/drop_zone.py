"""Where documents come into the Train panel: a marked area to drop files or folders on, and
buttons that choose them with a file dialog.

Signals: paths_chosen(list of paths) for a drop or a choice."""

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

_STYLE = "#dropZone {{ border: 2px dashed {0}; border-radius: 6px; }}"


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders a drag carries (web links are not documents on this machine)."""
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]


class DropZone(QFrame):
    paths_chosen = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAcceptDrops(True)
        self._set_highlight(False)
        hint = QLabel(
            self.tr(
                "Drop files or folders here\ntext: .txt .md .pdf .docx .html\ninstructions: .jsonl .json .csv"
            )
        )
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        self.add_files_button = QPushButton(self.tr("Add files…"))
        self.add_files_button.clicked.connect(self._on_add_files_clicked)
        self.add_folder_button = QPushButton(self.tr("Add folder…"))
        self.add_folder_button.clicked.connect(self._on_add_folder_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.add_files_button)
        buttons.addWidget(self.add_folder_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(buttons)

    def _set_highlight(self, on: bool) -> None:
        # The palette's own colours, so the border reads in the dark theme as in the light one.
        self.setStyleSheet(_STYLE.format("palette(highlight)" if on else "palette(mid)"))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if local_paths(event.mimeData()):
            self._set_highlight(True)
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 (Qt override)
        self._set_highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        self._set_highlight(False)
        found = local_paths(event.mimeData())
        if found:
            self.paths_chosen.emit(found)
        event.acceptProposedAction()

    def _on_add_files_clicked(self) -> None:
        chosen, _ = QFileDialog.getOpenFileNames(
            self,
            self.tr("Add training documents"),
            "",
            self.tr("Documents and data (*.txt *.md *.pdf *.docx *.html *.htm *.jsonl *.json *.csv)"),
        )
        if chosen:
            self.paths_chosen.emit(chosen)

    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Add a folder of documents"))
        if folder:
            self.paths_chosen.emit([folder])
