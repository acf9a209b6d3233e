"""What the user does to a conversation besides chatting in it: rename it, delete it (asked
first), export it as Markdown or JSON to a file of the user's choosing, rate its replies and note
why. The history is written here and the dialogs open over the chat panel; the panel follows the
signals.

Signals: conversations_changed() — the list of conversations is to be read again;
conversation_deleted(id); reply_rated(message id) — a rating was stored, to show; notice_given(text)
— what went wrong, for the chat's notice line (a busy history, an empty chat to export)."""

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.history import ChatHistory, write_export
from llamadesk.ui.chat.reply_cycle import ReplyCycle
from llamadesk.ui.dialogs import confirm, show_error


class ConversationActions(QObject):
    conversations_changed = Signal()
    conversation_deleted = Signal(int)
    reply_rated = Signal(int)
    notice_given = Signal(str)

    def __init__(self, history: ChatHistory, replies: ReplyCycle, panel: QWidget) -> None:
        super().__init__(panel)
        self._history = history
        self._replies = replies  # a reply still streaming into a deleted conversation is discarded
        self._panel = panel  # what the dialogs open over

    def rename(self, conversation_id: int, title: str) -> None:
        try:
            self._history.rename(conversation_id, title)
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
        self.conversations_changed.emit()  # the list shows the title kept, whichever it is

    def delete(self, conversation_id: int) -> None:
        self._replies.discard(conversation_id)
        try:
            self._history.delete(conversation_id)
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return
        self.conversation_deleted.emit(conversation_id)

    def export(self, conversation_id: int, path: Path, fmt: str) -> None:
        """Write a conversation as 'markdown' or 'json'."""
        write_export(self._history.get(conversation_id), path, fmt)

    def ask_delete(self, conversation_id: int) -> None:
        try:
            title = self._history.get(conversation_id).title
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return
        if confirm(
            self._panel,
            self.tr("Delete chat"),
            self.tr("Delete the chat “{0}”? This cannot be undone.").format(title),
        ):
            self.delete(conversation_id)

    def ask_export(self, conversation_id: int | None, fmt: str) -> None:
        """Ask where to write conversation `conversation_id` (None: the new chat, still empty)."""
        if conversation_id is None:
            self.notice_given.emit(self.tr("Send a message first: this chat is still empty."))
            return
        try:
            title = self._history.get(conversation_id).title
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return
        suffix, kind = (
            (".md", self.tr("Markdown (*.md)")) if fmt == "markdown" else (".json", "JSON (*.json)")
        )
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip() or "chat"
        path, _ = QFileDialog.getSaveFileName(self._panel, self.tr("Export chat"), safe + suffix, kind)
        if path:
            try:
                self.export(conversation_id, Path(path), fmt)
            except (OSError, LlamaDeskError) as exc:
                show_error(self._panel, self.tr("The chat could not be exported: {0}").format(exc))

    def rate(
        self, message_id: int, thumb: int | None = None, stars: int | None = None, note: str | None = None
    ) -> None:
        """Store a judgement of a reply at once (parts left None stay as they were)."""
        try:
            self._history.rate(message_id, thumb=thumb, stars=stars, note=note)
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return
        self.reply_rated.emit(message_id)

    def ask_note(self, message_id: int, current: str) -> None:
        """Ask for a note on reply `message_id`, which has `current` ("" for none)."""
        text, accepted = QInputDialog.getMultiLineText(
            self._panel,
            self.tr("Note on this reply"),
            self.tr("What is good or wrong about this reply? (Leave it empty to remove the note.)"),
            current,
        )
        if accepted:
            self.rate(message_id, note=text)
