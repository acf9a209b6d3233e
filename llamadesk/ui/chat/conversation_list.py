"""The sidebar of the Chat panel: search, the conversations, New chat and Delete.

It shows what the chat view gives it and says what the user did; the history stays with the view.

Signals: search_changed(text) — the search box settled (150 ms after the last key);
conversation_chosen(id); rename_requested(id, title) — edited in place; new_requested();
delete_requested(id); export_requested(id, "markdown" or "json")."""

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core.history import Conversation


class ConversationList(QWidget):
    search_changed = Signal(str)
    conversation_chosen = Signal(int)
    rename_requested = Signal(int, str)
    new_requested = Signal()
    delete_requested = Signal(int)
    export_requested = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(lambda: self.search_changed.emit(self.search_edit.text()))
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(self.tr("Search chats (Ctrl+K)"))
        self.search_edit.setAccessibleName(self.tr("Search chats"))
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._search_timer.start)
        self.list = QListWidget()
        self.list.setAccessibleName(self.tr("Conversations"))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._on_menu_requested)
        self.new_button = QPushButton(self.tr("New chat"))
        self.new_button.clicked.connect(self.new_requested)
        self.delete_button = QPushButton(self.tr("Delete"))
        self.delete_button.clicked.connect(self._on_delete_clicked)
        QShortcut(
            QKeySequence.StandardKey.Delete,
            self.list,
            self._on_delete_clicked,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)

    def stop(self) -> None:
        """No search fires after the panel closed."""
        self._search_timer.stop()

    def show_conversations(self, conversations: list[Conversation], current: int | None) -> None:
        """List `conversations`, top to bottom, with `current` selected (without saying so)."""
        self.list.blockSignals(True)
        self.list.clear()
        for conversation in conversations:
            item = QListWidgetItem(conversation.title)
            item.setData(Qt.ItemDataRole.UserRole, conversation.id)
            item.setToolTip(conversation.updated[:16].replace("T", " "))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if conversation.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def select(self, conversation_id: int | None) -> None:
        """Mark `conversation_id` as the one on screen (None: none), without saying so."""
        self.list.blockSignals(True)
        ids = self.ids()
        self.list.setCurrentRow(ids.index(conversation_id) if conversation_id in ids else -1)
        self.list.blockSignals(False)

    def ids(self) -> list[int]:
        items = (self.list.item(i) for i in range(self.list.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items]

    def set_current_enabled(self, enabled: bool) -> None:
        """Delete acts on the conversation on screen: off while that is an empty new chat."""
        self.delete_button.setEnabled(enabled)

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def _current_id(self) -> int | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        if current is not None:
            self.conversation_chosen.emit(current.data(Qt.ItemDataRole.UserRole))

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        self.rename_requested.emit(item.data(Qt.ItemDataRole.UserRole), item.text())

    def _on_delete_clicked(self) -> None:
        conversation_id = self._current_id()
        if conversation_id is not None and self.delete_button.isEnabled():
            self.delete_requested.emit(conversation_id)

    def _on_menu_requested(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        conversation_id = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction(self.tr("Rename"), lambda: self.list.editItem(item))
        menu.addAction(
            self.tr("Export as Markdown…"), lambda: self.export_requested.emit(conversation_id, "markdown")
        )
        menu.addAction(
            self.tr("Export as JSON…"), lambda: self.export_requested.emit(conversation_id, "json")
        )
        menu.addAction(self.tr("Delete"), lambda: self.delete_requested.emit(conversation_id))
        menu.exec(self.list.mapToGlobal(pos))
