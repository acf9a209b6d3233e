"""Where a message is written: the message box, Send, Stop, Regenerate, and how much of the model's
context the chat takes with it.

Ctrl+Enter sends; Esc (a shortcut of the whole panel) stops or cancels an edit.

Signals: send_requested(); stop_requested(); regenerate_requested(); draft_changed() — the text
changed, for the token count."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class Composer(QWidget):
    send_requested = Signal()
    stop_requested = Signal()
    regenerate_requested = Signal()
    draft_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input = QPlainTextEdit()
        self.input.setAccessibleName(self.tr("Message"))
        self.input.setPlaceholderText(self.tr("Type a message — Ctrl+Enter sends, Esc stops"))
        self.input.setMaximumHeight(120)
        self.input.textChanged.connect(self.draft_changed)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(
                QKeySequence(keys),
                self.input,
                self.send_requested.emit,
                context=Qt.ShortcutContext.WidgetShortcut,
            )
        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send_requested)
        self.stop_button = QPushButton(self.tr("Stop"))
        self.stop_button.clicked.connect(self.stop_requested)
        self.regenerate_button = QPushButton(self.tr("Regenerate"))
        self.regenerate_button.setToolTip(self.tr("Write the last reply again; the earlier one is kept"))
        self.regenerate_button.clicked.connect(self.regenerate_requested)
        self.token_label = QLabel()
        self.token_label.setObjectName("tokenCounter")
        self.token_label.setAccessibleName(self.tr("Context used"))
        self.token_label.setToolTip(
            self.tr("Tokens this chat takes of the model's context, with the message being typed")
        )
        self.token_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.regenerate_button)
        buttons.addStretch(1)
        buttons.addWidget(self.token_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.input, 1)
        layout.addLayout(buttons)

    def text(self) -> str:
        return self.input.toPlainText()

    def set_busy(self, busy: bool, can_regenerate: bool) -> None:
        """A reply is being written (Stop on) or not (Regenerate on where there is a reply)."""
        self.stop_button.setEnabled(busy)
        self.regenerate_button.setEnabled(not busy and can_regenerate)

    def show_tokens(self, used: int | None, context: int | None) -> None:
        """'1,234 / 8,192 tokens'; empty while no model can count them."""
        if used is None or not context:
            self.token_label.clear()
            return
        text = self.tr("{0} / {1} tokens").format(f"{used:,}", f"{context:,}")
        self.token_label.setText(text)
        # Near the end of the context the count stands out: older messages will soon be left out.
        self.token_label.setStyleSheet("color: palette(link);" if used > context * 0.9 else "")
