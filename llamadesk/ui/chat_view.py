"""The Chat panel: conversations in a sidebar, the transcript, the message box, model, adapter and
sampling settings.

Model work never runs here: a `ChatController` queues it to its own thread and its signals bring
the results back. Tokens are buffered as they arrive and painted every 40 ms, so a fast model
cannot flood the event loop; typing, scrolling and switching conversations stay smooth while a
reply streams into its own conversation, shown or not. Each message is committed to the history
the moment it is complete: the question when sent, the reply when it ends (or is stopped).
Replies are rated in place (thumbs, stars, a note) through a `RatingBar` under the reply the
pointer is over, and each rating is committed at once.

Signals: status_changed(text) — the status-bar line (model, device, dtype, memory, speed);
reply_finished(conversation id) — a reply was saved; reply_failed(message) — no reply came."""

import contextlib
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QFont,
    QGuiApplication,
    QKeySequence,
    QPalette,
    QShortcut,
    QShowEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import library
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import ChatHistory, Message, Rating, write_export
from llamadesk.ui.chat_worker import ChatController
from llamadesk.ui.dialogs import confirm, show_error
from llamadesk.ui.markdown import MarkdownStream, insert_markdown
from llamadesk.ui.rating_bar import RatingBar, rating_summary
from llamadesk.ui.settings import AppSettings

FLUSH_MS = 40
# How long a history read or write waits for another process's write (the CLI, a second window):
# the wait happens on the GUI thread, so it is kept short, then said as busy in the notice line.
HISTORY_WAIT_S = 2.0


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


@dataclass
class _Reply:
    """The reply being written. It belongs to its conversation, whichever one is on screen."""

    request: int
    conversation_id: int
    settings: GenerationSettings
    speaker: str  # model (+ adapter) shown above it while it streams
    text: str = ""  # painted so far
    pending: str = ""  # arrived since the last paint
    # A question sent just now: if no reply comes at all, it goes back into the message box.
    question: Message | None = None
    discarded: bool = False  # its conversation was deleted while it streamed


@dataclass(frozen=True)
class _ReplySpan:
    """Where a saved reply lies in the transcript's document: from its header to the end of the
    line under it that the rating bar covers."""

    message_id: int
    start: int
    rating_line: int  # position of the line the bar lies on
    end: int


class ChatView(QWidget):
    status_changed = Signal(str)
    reply_finished = Signal(int)
    reply_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._conversation_id: int | None = None
        self._messages: list[Message] = []
        self._reply: _Reply | None = None
        self._stream: MarkdownStream | None = None  # paints the reply on screen as it grows
        self._editing: int | None = None  # id of the user message being edited
        self._requested_model: str | None = None
        self._engine_info: dict | None = None
        self._adapter: str | None = None
        self._speed: float | None = None
        self._ttft: float | None = None  # the last reply's time to first token, in seconds
        self._told_engine = False  # whether the user was told llama.cpp is missing
        self._ratings: dict[int, Rating] = {}  # of the conversation on screen, by message id
        self._reply_spans: list[_ReplySpan] = []
        self._rating_target: int | None = None  # the reply the rating bar is under (None: the last)
        self._closed = False
        self._shown = False
        self.status_text = ""

        self.history = self._open_history()
        self.controller = ChatController(self)
        self.controller.model_loaded.connect(self._on_model_loaded)
        self.controller.load_failed.connect(self._on_load_failed)
        self.controller.load_progressed.connect(self._on_load_progressed)
        self.controller.token_received.connect(self._on_token_received)
        self.controller.generation_finished.connect(self._on_generation_finished)
        self.controller.generation_failed.connect(self._on_generation_failed)
        self.controller.adapter_changed.connect(self._on_adapter_changed)
        self.controller.adapter_failed.connect(self._on_adapter_failed)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(self.refresh_conversations)

        self._build_ui()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.refresh_models()
        self.refresh_conversations()
        self.open_conversation(None)
        self._update_status()

    def _open_history(self) -> ChatHistory:
        """The chat history; where it was damaged, the dialog says what was recovered and where the
        damaged file is kept; where it cannot be opened (busy, a full disk, a newer version's),
        chats are kept in memory and the dialog says why."""
        try:
            history = ChatHistory(wait=HISTORY_WAIT_S)
        except LlamaDeskError as exc:
            # Chatting still works; nothing is written over the file the user may want to rescue.
            message = self.tr("{0}\n\nChats are kept only until LlamaDesk closes.").format(exc)
            QTimer.singleShot(0, lambda: show_error(self, message))
            return ChatHistory(Path(":memory:"))
        if history.recovered:
            recovered = history.recovered
            QTimer.singleShot(0, lambda: show_error(self, recovered))
        return history

    def _history_failed(self, exc: LlamaDeskError) -> None:
        """A history read or write that failed (another process writing, a full disk, damage met
        while open): said in the notice line; the transcript on screen stays as it was."""
        self._notify(str(exc))

    # -- layout ---------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(self.tr("Search chats (Ctrl+K)"))
        self.search_edit.setAccessibleName(self.tr("Search chats"))
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._search_timer.start)
        self.conversation_list = QListWidget()
        self.conversation_list.setAccessibleName(self.tr("Conversations"))
        self.conversation_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversation_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversation_list.currentItemChanged.connect(self._on_conversation_selected)
        self.conversation_list.itemChanged.connect(self._on_conversation_renamed)
        self.conversation_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversation_list.customContextMenuRequested.connect(self._on_conversation_menu)
        self.new_button = QPushButton(self.tr("New chat"))
        self.new_button.clicked.connect(self.new_conversation)
        self.delete_button = QPushButton(self.tr("Delete"))
        self.delete_button.clicked.connect(self._on_delete_clicked)
        QShortcut(
            QKeySequence.StandardKey.Delete,
            self.conversation_list,
            self._on_delete_clicked,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        sidebar = QWidget()
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.search_edit)
        side.addWidget(self.conversation_list, 1)
        side_buttons = QHBoxLayout()
        side_buttons.addWidget(self.new_button)
        side_buttons.addWidget(self.delete_button)
        side.addLayout(side_buttons)

        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Model"))
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.adapter_combo = QComboBox()
        self.adapter_combo.setAccessibleName(self.tr("Adapter"))
        self.adapter_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.adapter_combo.currentIndexChanged.connect(self._on_adapter_chosen)
        self.settings_button = QToolButton()
        self.settings_button.setText(self.tr("Settings"))
        self.settings_button.setCheckable(True)
        self.settings_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.settings_button.setArrowType(Qt.ArrowType.RightArrow)
        self.settings_button.toggled.connect(self._on_settings_toggled)
        self.export_button = QToolButton()
        self.export_button.setText(self.tr("Export"))
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction(
            self.tr("As Markdown…"), lambda: self._ask_export(self._conversation_id, "markdown")
        )
        export_menu.addAction(self.tr("As JSON…"), lambda: self._ask_export(self._conversation_id, "json"))
        self.export_button.setMenu(export_menu)
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Model:")))
        top.addWidget(self.model_combo)
        top.addWidget(QLabel(self.tr("Adapter:")))
        top.addWidget(self.adapter_combo)
        top.addStretch(1)
        top.addWidget(self.settings_button)
        top.addWidget(self.export_button)

        self.settings_panel = self._build_settings_panel()
        self.settings_panel.hide()

        self.transcript = QTextBrowser()
        self.transcript.setAccessibleName(self.tr("Transcript"))
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._on_anchor_clicked)
        self.rating_bar = RatingBar(self.transcript.viewport())
        self.rating_bar.rated.connect(self._on_rated)
        self.rating_bar.note_requested.connect(self._ask_note)
        self.rating_bar.hide()
        self.transcript.viewport().setMouseTracking(True)
        self.transcript.viewport().installEventFilter(self)
        self.transcript.verticalScrollBar().valueChanged.connect(self._place_rating_bar)
        self.transcript.horizontalScrollBar().valueChanged.connect(self._place_rating_bar)

        self.notice = QLabel()
        self.notice.setObjectName("chatNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()

        self.input = QPlainTextEdit()
        self.input.setAccessibleName(self.tr("Message"))
        self.input.setPlaceholderText(self.tr("Type a message — Ctrl+Enter sends, Esc stops"))
        self.input.setMaximumHeight(120)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self.input, self.send, context=Qt.ShortcutContext.WidgetShortcut)
        QShortcut(
            QKeySequence(Qt.Key.Key_Escape),
            self,
            self._on_escape,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton(self.tr("Stop"))
        self.stop_button.clicked.connect(self.stop)
        self.regenerate_button = QPushButton(self.tr("Regenerate"))
        self.regenerate_button.setToolTip(self.tr("Write the last reply again"))
        self.regenerate_button.clicked.connect(self.regenerate)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.regenerate_button)
        buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        input_row.addLayout(buttons)

        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.addLayout(top)
        main_layout.addWidget(self.settings_panel)
        main_layout.addWidget(self.transcript, 1)
        main_layout.addWidget(self.notice)
        main_layout.addLayout(input_row)

        splitter = QSplitter()
        splitter.addWidget(sidebar)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([240, 760])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _build_settings_panel(self) -> QWidget:
        defaults = GenerationSettings()
        self.system_edit = QPlainTextEdit()
        self.system_edit.setAccessibleName(self.tr("System prompt"))
        self.system_edit.setPlaceholderText(self.tr("Optional: how the assistant should behave"))
        self.system_edit.setMaximumHeight(70)
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, 5.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setToolTip(self.tr("0 always picks the likeliest token (greedy)"))
        self.temperature_spin.setAccessibleName(self.tr("Temperature"))
        self.top_p_spin = QDoubleSpinBox()
        self.top_p_spin.setRange(0.01, 1.0)
        self.top_p_spin.setSingleStep(0.05)
        self.top_p_spin.setAccessibleName(self.tr("Top-p"))
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setRange(0, 100_000)
        self.top_k_spin.setSpecialValueText(self.tr("off"))
        self.top_k_spin.setAccessibleName(self.tr("Top-k"))
        self.repetition_spin = QDoubleSpinBox()
        self.repetition_spin.setRange(0.5, 3.0)
        self.repetition_spin.setSingleStep(0.05)
        self.repetition_spin.setAccessibleName(self.tr("Repetition penalty"))
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setRange(1, 1_000_000)
        self.max_tokens_spin.setAccessibleName(self.tr("Max new tokens"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(-1, 2**31 - 1)
        self.seed_spin.setSpecialValueText(self.tr("random"))
        self.seed_spin.setAccessibleName(self.tr("Seed"))
        self._show_settings(defaults, "")

        panel = QWidget()
        form = QFormLayout(panel)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("System prompt:"), self.system_edit)
        row = QHBoxLayout()
        for label, spin in (
            (self.tr("Temperature"), self.temperature_spin),
            (self.tr("Top-p"), self.top_p_spin),
            (self.tr("Top-k"), self.top_k_spin),
            (self.tr("Repetition penalty"), self.repetition_spin),
            (self.tr("Max new tokens"), self.max_tokens_spin),
            (self.tr("Seed"), self.seed_spin),
        ):
            row.addWidget(QLabel(label))
            row.addWidget(spin)
        row.addStretch(1)
        form.addRow(self.tr("Sampling:"), row)
        return panel

    def _on_settings_toggled(self, shown: bool) -> None:
        self.settings_panel.setVisible(shown)
        self.settings_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def settings(self) -> GenerationSettings:
        seed = self.seed_spin.value()
        return GenerationSettings(
            temperature=round(self.temperature_spin.value(), 4),
            top_p=round(self.top_p_spin.value(), 4),
            top_k=self.top_k_spin.value(),
            repetition_penalty=round(self.repetition_spin.value(), 4),
            max_new_tokens=self.max_tokens_spin.value(),
            seed=None if seed < 0 else seed,
        )

    def _show_settings(self, settings: GenerationSettings, system_prompt: str) -> None:
        self.temperature_spin.setValue(settings.temperature)
        self.top_p_spin.setValue(settings.top_p)
        self.top_k_spin.setValue(settings.top_k)
        self.repetition_spin.setValue(settings.repetition_penalty)
        self.max_tokens_spin.setValue(settings.max_new_tokens)
        self.seed_spin.setValue(-1 if settings.seed is None else min(settings.seed, 2**31 - 1))
        self.system_edit.setPlainText(system_prompt)

    def set_settings(self, settings: GenerationSettings, system_prompt: str | None = None) -> None:
        """Fill the settings panel (they apply from the next message on)."""
        self._show_settings(
            settings, self.system_edit.toPlainText() if system_prompt is None else system_prompt
        )

    # -- models and adapters --------------------------------------------------------------------

    def refresh_models(self) -> None:
        """Re-read the library (after an import or removal). A loaded model that left the library
        stays listed, marked, and keeps answering from memory until another is chosen."""
        current = self.model_combo.currentData()
        loaded = self._engine_info["model_id"] if self._engine_info else None
        ids = [entry.id for entry in library.list_models()]
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model_id in ids:
            self.model_combo.addItem(model_id, model_id)
        if loaded and loaded not in ids:
            self.model_combo.addItem(self.tr("{0} (removed from the library)").format(loaded), loaded)
        wanted = current or loaded or self._default_model(ids)
        index = self.model_combo.findData(wanted)
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.blockSignals(False)
        self._refresh_adapters()
        if self.model_combo.currentData() != current:
            self._on_model_chosen()

    def _default_model(self, ids: list[str]) -> str | None:
        """The default model chosen in Settings, else the model of the latest conversation, else the
        starter model, else the first one."""
        from llamadesk.core.starter import STARTER_ID

        chosen = AppSettings().default_model
        if chosen in ids:
            return chosen
        try:
            latest = self.history.conversations()[:1]
        except LlamaDeskError as exc:
            self._history_failed(exc)
            latest = []
        for conversation in latest:
            if conversation.model_id in ids:
                return conversation.model_id
        if STARTER_ID in ids:
            return STARTER_ID
        return ids[0] if ids else None

    def current_model(self) -> str | None:
        """The model chosen in the picker (it may still be loading)."""
        return self.model_combo.currentData()

    def loaded_model(self) -> str | None:
        """The model in memory, ready to answer."""
        return self._engine_info["model_id"] if self._engine_info else None

    def _on_model_chosen(self) -> None:
        self._refresh_adapters()
        if self._shown:
            self._ensure_model()

    def _ensure_model(self) -> None:
        """Queue loading the chosen model unless it is loaded or on its way."""
        model_id = self.current_model()
        if model_id is None or model_id == self._requested_model:
            return
        self._requested_model = model_id
        self._adapter = None
        self.controller.load(model_id)
        self._update_status()

    def _on_load_progressed(self, _fraction: float, message: str) -> None:
        self._emit_status(message)

    def _on_model_loaded(self, info: dict) -> None:
        self._engine_info = info
        self._adapter = None
        from llamadesk.core.engines import llamacpp_problem

        problem = llamacpp_problem()
        if problem and not self._told_engine:  # said once a session, not at every load
            self._told_engine = True
            self._notify(problem)
        self._refresh_adapters()
        self._update_status()

    def _on_load_failed(self, message: str) -> None:
        self._requested_model = None
        self._engine_info = None
        self._notify(message)
        show_error(self, self.tr("The model could not be loaded: {0}").format(message))
        self._update_status()

    def _refresh_adapters(self) -> None:
        from llamadesk.core import adapters

        model_id = self.current_model()
        entries = adapters.list_adapters(base_id=model_id) if model_id else []
        self.adapter_combo.blockSignals(True)
        self.adapter_combo.clear()
        self.adapter_combo.addItem(self.tr("Base model (no adapter)"), None)
        for entry in entries:
            self.adapter_combo.addItem(entry.id, entry.id)
        self.adapter_combo.setCurrentIndex(max(self.adapter_combo.findData(self._adapter), 0))
        self.adapter_combo.blockSignals(False)

    def _on_adapter_chosen(self) -> None:
        adapter_id = self.adapter_combo.currentData()
        if adapter_id != self._adapter:
            self._ensure_model()
            self.controller.set_adapter(adapter_id)
            self._emit_status(self.tr("Switching to {0}…").format(adapter_id or self.tr("the base model")))

    def _on_adapter_changed(self, adapter_id: str | None, info: dict) -> None:
        self._adapter = adapter_id
        if self._engine_info is not None:
            self._engine_info = info
        self._refresh_adapters()  # a switch asked for while the model loaded lands here, after it
        self._update_status()

    def _on_adapter_failed(self, message: str) -> None:
        self._notify(message)
        self._refresh_adapters()  # back to the adapter actually in use
        self._update_status()

    # -- status ---------------------------------------------------------------------------------

    def _update_status(self) -> None:
        info = self._engine_info
        if self._requested_model and (info is None or info["model_id"] != self._requested_model):
            text = self.tr("Loading {0}…").format(self._requested_model)
        elif info is None:
            text = self.tr("No model loaded")
        else:
            name = info["model_id"] + (f" + {self._adapter}" if self._adapter else "")
            parts = [name, info["engine"], info["device"], info["dtype"]]
            if info["engine"] == "torch" and info["quantization"] != "none":
                parts.append(self.tr("{0} weights").format(info["quantization"]))
            parts.append(_human_bytes(info["memory_bytes"]))
            if self._speed is not None:
                parts.append(self.tr("{0} tokens/s").format(f"{self._speed:.1f}"))
            if self._ttft is not None:
                parts.append(self.tr("first token {0} s").format(f"{self._ttft:.2f}"))
            text = " · ".join(parts)
        self._emit_status(text)

    def _emit_status(self, text: str) -> None:
        self.status_text = text
        self.status_changed.emit(text)

    def _notify(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # -- conversations --------------------------------------------------------------------------

    def refresh_conversations(self) -> None:
        try:
            found = self.history.search(self.search_edit.text())
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        self.conversation_list.blockSignals(True)
        self.conversation_list.clear()
        for conversation in found:
            item = QListWidgetItem(conversation.title)
            item.setData(Qt.ItemDataRole.UserRole, conversation.id)
            item.setToolTip(conversation.updated[:16].replace("T", " "))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.conversation_list.addItem(item)
            if conversation.id == self._conversation_id:
                self.conversation_list.setCurrentItem(item)
        self.conversation_list.blockSignals(False)

    def conversation_ids(self) -> list[int]:
        """The conversations listed in the sidebar, top to bottom."""
        items = (self.conversation_list.item(i) for i in range(self.conversation_list.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items]

    def _on_conversation_selected(self, current: QListWidgetItem | None, _previous: object) -> None:
        if current is not None:
            self.open_conversation(current.data(Qt.ItemDataRole.UserRole))

    def open_conversation(self, conversation_id: int | None) -> None:
        """Show a conversation (None: an empty new chat, created when its first message is sent)."""
        self._editing = None
        self._conversation_id = conversation_id
        if conversation_id is None:
            self._messages = []
            self._show_settings(AppSettings().sampling, "")  # a new chat starts from the defaults
            self.conversation_list.blockSignals(True)
            self.conversation_list.setCurrentItem(None)
            self.conversation_list.blockSignals(False)
        else:
            try:
                conversation = self.history.get(conversation_id)
            except LlamaDeskError as exc:
                self._history_failed(exc)
                return
            self._messages = conversation.messages
            self._show_settings(conversation.settings, conversation.system_prompt)
        self._notify("")
        self._render(scroll_to_end=True)
        self._update_buttons()

    def current_conversation(self) -> int | None:
        return self._conversation_id

    def apply_defaults(self) -> None:
        """The default sampling settings changed: an empty new chat shows them at once; open
        conversations keep their own."""
        if self._conversation_id is None:
            self._show_settings(AppSettings().sampling, self.system_edit.toPlainText())

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def new_conversation(self) -> None:
        self.open_conversation(None)
        self.input.setFocus()

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        try:
            self.history.rename(conversation_id, title)
        except LlamaDeskError as exc:
            self._history_failed(exc)
        self.refresh_conversations()  # the list shows the title kept, whichever it is

    def delete_conversation(self, conversation_id: int) -> None:
        if self._reply is not None and self._reply.conversation_id == conversation_id:
            self._reply.discarded = True
            self.controller.stop()
        try:
            self.history.delete(conversation_id)
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        if conversation_id == self._conversation_id:
            self.open_conversation(None)
        self.refresh_conversations()

    def export_conversation(self, conversation_id: int, path: Path, fmt: str) -> None:
        """Write a conversation as 'markdown' or 'json'."""
        write_export(self.history.get(conversation_id), path, fmt)

    def _on_conversation_renamed(self, item: QListWidgetItem) -> None:
        self.rename_conversation(item.data(Qt.ItemDataRole.UserRole), item.text())

    def _on_conversation_menu(self, pos) -> None:
        item = self.conversation_list.itemAt(pos)
        if item is None:
            return
        conversation_id = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction(self.tr("Rename"), lambda: self.conversation_list.editItem(item))
        menu.addAction(self.tr("Export as Markdown…"), lambda: self._ask_export(conversation_id, "markdown"))
        menu.addAction(self.tr("Export as JSON…"), lambda: self._ask_export(conversation_id, "json"))
        menu.addAction(self.tr("Delete"), lambda: self._ask_delete(conversation_id))
        menu.exec(self.conversation_list.mapToGlobal(pos))

    def _on_delete_clicked(self) -> None:
        if self._conversation_id is not None:
            self._ask_delete(self._conversation_id)

    def _ask_delete(self, conversation_id: int) -> None:
        try:
            title = self.history.get(conversation_id).title
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        if confirm(
            self,
            self.tr("Delete chat"),
            self.tr("Delete the chat “{0}”? This cannot be undone.").format(title),
        ):
            self.delete_conversation(conversation_id)

    def _ask_export(self, conversation_id: int | None, fmt: str) -> None:
        if conversation_id is None:
            self._notify(self.tr("Send a message first: this chat is still empty."))
            return
        try:
            title = self.history.get(conversation_id).title
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        suffix, kind = (
            (".md", self.tr("Markdown (*.md)")) if fmt == "markdown" else (".json", "JSON (*.json)")
        )
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip() or "chat"
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export chat"), safe + suffix, kind)
        if path:
            try:
                self.export_conversation(conversation_id, Path(path), fmt)
            except (OSError, LlamaDeskError) as exc:
                show_error(self, self.tr("The chat could not be exported: {0}").format(exc))

    # -- sending --------------------------------------------------------------------------------

    def _settings_if_ready(self) -> GenerationSettings | None:
        """The settings for a new reply, or None (the reason shown) when one cannot start now."""
        if self._reply is not None:
            self._notify(self.tr("A reply is still being written; wait for it or press Stop (Esc)."))
            return None
        if self.current_model() is None:
            self._notify(self.tr("There is no model to answer: import one in the Models tab."))
            return None
        try:
            return self.settings()
        except LlamaDeskError as exc:
            self._notify(str(exc))
            return None

    def send(self) -> bool:
        """Send the message box's text (replacing the message being edited, if any)."""
        text = self.input.toPlainText()
        settings = self._settings_if_ready()
        if settings is None:
            return False
        if not text.strip():
            self._notify(self.tr("Type a message first."))
            return False
        model_id = self.current_model()
        system_prompt = self.system_edit.toPlainText()
        try:
            if self._conversation_id is None:
                conversation = self.history.create(
                    system_prompt=system_prompt, settings=settings, model_id=model_id
                )
                self._conversation_id = conversation.id
            else:
                self.history.update(self._conversation_id, system_prompt=system_prompt, settings=settings)
            if self._editing is not None:
                self.history.delete_from(self._editing)
                self._editing = None
            question = self.history.add_message(self._conversation_id, "user", text)
        except LlamaDeskError as exc:  # the message stays in the box, to send again
            self._history_failed(exc)
            return False
        self.input.clear()
        self._notify(self._missing_files_warning(model_id))
        self._start_reply(settings, question)
        self.refresh_conversations()
        return True

    def _missing_files_warning(self, model_id: str) -> str:
        try:
            present = (library.get_model(model_id).path / "config.json").is_file()
        except LlamaDeskError:
            present = False
        if present:
            return ""
        return self.tr(
            "The files of {0} are gone; it keeps answering from memory until you choose another model."
        ).format(model_id)

    def regenerate(self) -> bool:
        """Write the last reply again (with the settings now in the panel)."""
        settings = self._settings_if_ready()
        if settings is None or self._conversation_id is None or not self._messages:
            return False
        try:
            if self._messages[-1].role == "assistant":
                self.history.delete_from(self._messages[-1].id)
            self.history.update(
                self._conversation_id, system_prompt=self.system_edit.toPlainText(), settings=settings
            )
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return False
        self._notify("")
        self._start_reply(settings, None)
        return True

    def edit_message(self, message_id: int) -> None:
        """Put a question of ours back into the message box; sending replaces it and what followed."""
        if self._reply is not None:
            self._notify(self.tr("A reply is still being written; wait for it or press Stop (Esc)."))
            return
        message = next((m for m in self._messages if m.id == message_id and m.role == "user"), None)
        if message is None:
            return
        self._editing = message.id
        self.input.setPlainText(message.content)
        self.input.setFocus()
        self._notify(self.tr("Editing your message: Send replaces it and the replies after it; Esc cancels."))

    def copy_message(self, message_id: int) -> None:
        message = next((m for m in self._messages if m.id == message_id), None)
        if message is not None:
            QGuiApplication.clipboard().setText(message.content)

    def stop(self) -> None:
        if self._reply is not None:
            self.controller.stop()

    def _on_escape(self) -> None:
        if self._reply is not None:
            self.stop()
        elif self._editing is not None:
            self._editing = None
            self.input.clear()
            self._notify("")

    def is_generating(self) -> bool:
        return self._reply is not None

    def _start_reply(self, settings: GenerationSettings, question: Message | None) -> None:
        self._ensure_model()
        try:
            conversation = self.history.get(self._conversation_id)
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        messages = (
            [{"role": "system", "content": conversation.system_prompt}]
            if conversation.system_prompt.strip()
            else []
        )
        messages += [{"role": m.role, "content": m.content} for m in conversation.messages]
        request = self.controller.generate(messages, settings)
        speaker = self.current_model() + (f" + {self._adapter}" if self._adapter else "")
        self._reply = _Reply(request, conversation.id, settings, speaker, question=question)
        self._messages = conversation.messages
        self._render(scroll_to_end=True)
        self._flush_timer.start()
        self._update_buttons()

    def _on_token_received(self, request: int, piece: str) -> None:
        if self._reply is not None and request == self._reply.request:
            self._reply.pending += piece

    def _flush(self) -> None:
        """Paint what arrived since the last paint, as Markdown that reads as it does now (a code
        fence opened three tokens ago already shows as code). Follow the end only if the reader
        was at the end: someone scrolled up to read stays where they are."""
        reply = self._reply
        if reply is None or not reply.pending:
            return
        reply.text += reply.pending
        reply.pending = ""
        if self._stream is None:
            return
        bar = self.transcript.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 4
        self._stream.update(reply.text)
        if follow:
            bar.setValue(bar.maximum())

    def _on_generation_finished(self, request: int, text: str, figures: dict) -> None:
        reply = self._reply
        if reply is None or request != reply.request:
            return
        self._end_reply()
        if reply.discarded:
            return
        notes = []
        if text or figures["finish_reason"] != "stopped":
            try:
                self._save_reply(reply, text, figures)
            except LlamaDeskError as exc:
                notes.append(str(exc))
        if figures["truncated_turns"]:
            notes.append(
                self.tr("{0} older messages did not fit the context window and were left out.").format(
                    figures["truncated_turns"]
                )
            )
        if figures["finish_reason"] == "length":
            notes.append(self.tr("The reply reached the max new tokens limit."))
        self._speed = figures["tokens_per_s"] or self._speed
        self._ttft = figures["ttft_s"] if figures["new_tokens"] else self._ttft
        if self._engine_info is not None:
            self._engine_info["memory_bytes"] = figures["memory_bytes"]
        self._after_reply(reply, " ".join(notes))
        self._update_status()
        self.reply_finished.emit(reply.conversation_id)

    def _on_generation_failed(self, request: int, message: str, partial: str) -> None:
        reply = self._reply
        if reply is None or request != reply.request:
            return
        self._end_reply()
        if reply.discarded:
            return
        try:
            if partial:
                self._save_reply(reply, partial, None)
            elif reply.question is not None:
                # Nothing came back: the question returns to the message box instead of lingering
                # unanswered in the conversation.
                self.history.delete_from(reply.question.id)
                if not self.history.messages(reply.conversation_id):
                    self.history.delete(reply.conversation_id)
                    if self._conversation_id == reply.conversation_id:
                        self._conversation_id = None
        except LlamaDeskError as exc:
            message = f"{message} {exc}"
        if not partial and reply.question is not None and not self.input.toPlainText().strip():
            self.input.setPlainText(reply.question.content)
        self._after_reply(reply, message)
        self.reply_failed.emit(message)

    def _end_reply(self) -> None:
        self._flush_timer.stop()
        self._reply = None
        self._stream = None
        self._update_buttons()

    def _after_reply(self, reply: _Reply, note: str) -> None:
        if reply.conversation_id == self._conversation_id or self._conversation_id is None:
            try:
                self._messages = self.history.messages(self._conversation_id) if self._conversation_id else []
            except LlamaDeskError as exc:
                note = f"{note} {exc}".strip()
            self._render(scroll_to_end=False)
            self._notify(note)
        self.refresh_conversations()
        self._update_buttons()

    def _save_reply(self, reply: _Reply, text: str, figures: dict | None) -> None:
        info = self._engine_info or {}
        figures = figures or {}
        self.history.add_message(
            reply.conversation_id,
            "assistant",
            text,
            model_id=figures.get("model_id") or info.get("model_id") or self._requested_model,
            adapter_id=figures.get("adapter_id", self._adapter),
            settings=reply.settings,
            tokens=figures.get("new_tokens"),
            tokens_per_s=figures.get("tokens_per_s"),
            ttft_s=figures.get("ttft_s"),
            finish_reason=figures.get("finish_reason", "stopped"),
        )

    def _update_buttons(self) -> None:
        busy = self._reply is not None
        self.stop_button.setEnabled(busy)
        self.regenerate_button.setEnabled(not busy and bool(self._messages))
        self.delete_button.setEnabled(self._conversation_id is not None)
        self.export_button.setEnabled(self._conversation_id is not None)

    # -- transcript -----------------------------------------------------------------------------

    def _code_background(self):
        return self.palette().color(QPalette.ColorRole.AlternateBase)

    def _render(self, scroll_to_end: bool) -> None:
        bar = self.transcript.verticalScrollBar()
        position = bar.value()
        document = self.transcript.document()
        document.clear()
        cursor = QTextCursor(document)
        try:
            self._ratings = self.history.ratings(self._conversation_id) if self._conversation_id else {}
        except LlamaDeskError as exc:  # the transcript still shows, without its ratings
            self._ratings = {}
            self._history_failed(exc)
        self._reply_spans = []
        last_reply = next((m.id for m in reversed(self._messages) if m.role == "assistant"), None)
        for index, message in enumerate(self._messages):
            start = cursor.position()
            self._insert_header(cursor, message, first=index == 0, last_reply=message.id == last_reply)
            if message.role == "assistant":
                insert_markdown(cursor, message.content, self._code_background())
                self._insert_rating_line(cursor, message.id, start)
            else:
                cursor.insertText(message.content, QTextCharFormat())
        reply = self._reply
        self._stream = None
        if reply is not None and reply.conversation_id == self._conversation_id:
            self._insert_header(cursor, None, first=not self._messages, last_reply=False)
            self._stream = MarkdownStream(document, cursor.position(), self._code_background())
            self._stream.update(reply.text)
        if not self._messages and reply is None:
            hint = QTextCharFormat()
            hint.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
            cursor.insertText(self.tr("Ask anything. Everything stays on this computer."), hint)
        bar.setValue(bar.maximum() if scroll_to_end else position)
        self._place_rating_bar()

    def _insert_rating_line(self, cursor: QTextCursor, message_id: int, start: int) -> None:
        """The line under a reply: its rating in brief, and room for the rating bar to lie on."""
        line = QTextBlockFormat()
        line.setTopMargin(2)
        line.setLineHeight(
            self.rating_bar.sizeHint().height(), QTextBlockFormat.LineHeightTypes.FixedHeight.value
        )
        cursor.insertBlock(line, QTextCharFormat())
        rating_line = cursor.position()
        muted = QTextCharFormat()
        muted.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
        cursor.insertText(rating_summary(self._ratings.get(message_id), self.tr("note")), muted)
        self._reply_spans.append(_ReplySpan(message_id, start, rating_line, cursor.position()))

    def _insert_header(
        self, cursor: QTextCursor, message: Message | None, first: bool, last_reply: bool
    ) -> None:
        """A line naming who speaks, with its actions as links (copy, edit, regenerate)."""
        block = QTextBlockFormat()
        block.setTopMargin(0 if first else 14)
        if first:
            cursor.setBlockFormat(block)
        else:
            cursor.insertBlock(block, QTextCharFormat())
        bold = QTextCharFormat()
        bold.setFontWeight(QFont.Weight.Bold)
        if message is None:
            cursor.insertText(self._reply.speaker, bold)
        elif message.role == "assistant":
            adapter = f" + {message.adapter_id}" if message.adapter_id else ""
            cursor.insertText((message.model_id or "") + adapter, bold)
        else:
            cursor.insertText(self.tr("You"), bold)
        plain = QTextCharFormat()
        if message is None:
            cursor.insertText("  " + self.tr("writing…"), plain)
        else:
            actions = [("copy", self.tr("Copy"))]
            if message.role == "user":
                actions.append(("edit", self.tr("Edit")))
            else:
                actions.append(("rate", self.tr("Rate")))
            if last_reply:
                actions.append(("regenerate", self.tr("Regenerate")))
            for action, label in actions:
                cursor.insertText("   ", plain)
                link = QTextCharFormat()
                link.setAnchor(True)
                link.setAnchorHref(f"{action}:{message.id}")
                link.setForeground(self.palette().color(QPalette.ColorRole.Link))
                cursor.insertText(label, link)
            if message.role == "assistant" and message.tokens_per_s:
                muted = QTextCharFormat()
                muted.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
                stopped = self.tr(" · stopped") if message.finish_reason == "stopped" else ""
                cursor.insertText(
                    "   " + self.tr("{0} tokens/s").format(f"{message.tokens_per_s:.1f}") + stopped, muted
                )
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())

    def _on_anchor_clicked(self, url: QUrl) -> None:
        action, _, target = url.toString().partition(":")
        if action == "copy":
            self.copy_message(int(target))
        elif action == "edit":
            self.edit_message(int(target))
        elif action == "regenerate":
            self.regenerate()
        elif action == "rate":
            self.show_rating_bar(int(target), focus=True)
        elif url.scheme() in ("http", "https"):
            QDesktopServices.openUrl(url)

    # -- ratings --------------------------------------------------------------------------------

    def rate_reply(
        self, message_id: int, thumb: int | None = None, stars: int | None = None, note: str | None = None
    ) -> None:
        """Store a judgement of a reply at once (parts left None stay as they were) and show it."""
        try:
            self.history.rate(message_id, thumb=thumb, stars=stars, note=note)
        except LlamaDeskError as exc:
            self._notify(str(exc))
            return
        self._rating_target = message_id
        self._render(scroll_to_end=False)

    def _on_rated(self, message_id: int, thumb: int | None, stars: int | None) -> None:
        self.rate_reply(message_id, thumb=thumb, stars=stars)

    def _ask_note(self, message_id: int) -> None:
        current = self._ratings.get(message_id)
        text, accepted = QInputDialog.getMultiLineText(
            self,
            self.tr("Note on this reply"),
            self.tr("What is good or wrong about this reply? (Leave it empty to remove the note.)"),
            (current.note if current else None) or "",
        )
        if accepted:
            self.rate_reply(message_id, note=text)

    def show_rating_bar(self, message_id: int, focus: bool = False) -> None:
        """Put the rating bar under reply `message_id`, scrolled into view (from its Rate link)."""
        if all(span.message_id != message_id for span in self._reply_spans):
            return
        self._rating_target = message_id
        self._place_rating_bar(reveal=True)
        if focus:
            self.rating_bar.up_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def _place_rating_bar(self, *_args: object, reveal: bool = False) -> None:
        """Lay the bar on the line under its reply; hidden while no saved reply is on screen."""
        spans = {span.message_id: span for span in self._reply_spans}
        target = self._rating_target if self._rating_target in spans else None
        span = spans.get(target) or (self._reply_spans[-1] if self._reply_spans else None)
        if span is None:
            self.rating_bar.hide()
            return
        document = self.transcript.document()
        block = document.findBlock(span.rating_line)
        rect = document.documentLayout().blockBoundingRect(block)
        top = rect.top() + block.blockFormat().topMargin()
        vertical = self.transcript.verticalScrollBar()
        if reveal:
            height = self.transcript.viewport().height()
            if top < vertical.value() or top + self.rating_bar.height() > vertical.value() + height:
                vertical.setValue(int(top - height / 2))
        self.rating_bar.show_rating(span.message_id, self._ratings.get(span.message_id))
        x = rect.left() + block.blockFormat().leftMargin() - self.transcript.horizontalScrollBar().value()
        self.rating_bar.move(int(x), int(top - vertical.value()))
        self.rating_bar.show()
        self.rating_bar.raise_()

    def rating_bar_target(self) -> int | None:
        """The reply the rating bar is under, or None when it is hidden."""
        return self.rating_bar.message_id if self.rating_bar.isVisible() else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.transcript.viewport():
            if event.type() == QEvent.Type.MouseMove:
                self._on_pointer_moved(event.position().toPoint())
            elif event.type() == QEvent.Type.Resize:
                # The transcript lays its text out again after this event: place the bar then.
                QTimer.singleShot(0, self._place_rating_bar)
        return super().eventFilter(watched, event)

    def _on_pointer_moved(self, point) -> None:
        position = self.transcript.cursorForPosition(point).position()
        for span in self._reply_spans:
            if span.start <= position <= span.end:
                if span.message_id != self.rating_bar_target():
                    self._rating_target = span.message_id
                    self._place_rating_bar()
                return

    # -- lifetime -------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        # The transcript's colours (links, muted text, code blocks) come from the palette when it is
        # drawn: a theme switch draws it again so dark mode stays legible.
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "transcript") and not self._closed:
            self._render(scroll_to_end=False)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            # After the first paint: the model loads (on its thread) once the panel is on screen.
            QTimer.singleShot(0, self._ensure_model)

    def shutdown(self) -> None:
        """Stop the reply being written (keeping what it wrote), end the engine thread, close the
        history. Called by the main window on close; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._flush_timer.stop()
        self._search_timer.stop()
        undelivered = self.controller.shutdown()
        reply, self._reply = self._reply, None
        if reply is not None and not reply.discarded and undelivered and undelivered[0] == reply.request:
            _request, text, figures = undelivered
            if text:
                # The window is closing: a failure here has no one to be shown to; what was saved
                # before stays.
                with contextlib.suppress(LlamaDeskError):
                    self._save_reply(reply, text, figures)
        self.history.close()
