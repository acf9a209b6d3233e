"""The Chat panel: conversations in a sidebar, the transcript, the message box, model, adapter and
sampling settings. Each of those is its own widget (`ui/chat/`); this one composes them, keeps which
conversation is on screen, draws it, and hands the rest to the parts that hold it: `ModelSession`
the model, its loading and the status line; `ReplyCycle` sending, regenerating, editing and the
reply being written; `ConversationActions` renaming, deleting, exporting and rating;
`TokenCounter` the context the chat takes.

Model work never runs here: a `ChatController` queues it to its own thread and its signals bring
the results back, so typing, scrolling and switching conversations stay smooth while a reply
streams into its own conversation, shown or not. Each message is committed to the history the
moment it is complete: the question when sent, the reply when it ends (or is stopped). While the
first model is being prepared, a message sent is kept and answered once the model is ready.

Signals: status_changed(text) — the status-bar line (model, device, dtype, memory, speed);
reply_finished(conversation id) — a reply was saved; reply_failed(message) — no reply came."""

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import ChatHistory, Message
from llamadesk.ui.chat.composer import Composer
from llamadesk.ui.chat.conversation_actions import ConversationActions
from llamadesk.ui.chat.conversation_list import ConversationList
from llamadesk.ui.chat.model_bar import ModelBar
from llamadesk.ui.chat.model_session import ModelSession
from llamadesk.ui.chat.preparation_banner import PreparationBanner
from llamadesk.ui.chat.reply_cycle import ReplyCycle, prompt_messages
from llamadesk.ui.chat.sampling_panel import SamplingPanel
from llamadesk.ui.chat.token_counter import TokenCounter
from llamadesk.ui.chat.transcript import Transcript
from llamadesk.ui.chat_worker import ChatController
from llamadesk.ui.dialogs import show_error
from llamadesk.ui.settings import AppSettings

# How long a history read or write waits for another process's write (the CLI, a second window):
# the wait happens on the GUI thread, so it is kept short, then said as busy in the notice line.
HISTORY_WAIT_S = 2.0


class ChatView(QWidget):
    status_changed = Signal(str)
    reply_finished = Signal(int)
    reply_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._conversation_id: int | None = None
        self._messages: list[Message] = []
        self._closed = False

        self.history = self._open_history()
        self.controller = ChatController(self)
        self._build_ui()
        self.model_session = ModelSession(self.controller, self.model_bar, self.history, self)
        self.model_session.status_changed.connect(self.status_changed)
        self.model_session.load_failed.connect(self._on_load_failed)
        self.model_session.notice_given.connect(self._notify)
        self.token_counter = TokenCounter(
            self.controller,
            self.model_session,
            self.composer,
            lambda: prompt_messages(self.settings_panel.system_prompt(), self._messages),
            self,
        )
        self.replies = ReplyCycle(
            self.history, self.controller, self.model_session, self.composer, self.settings_panel, self
        )
        self.replies.notice_given.connect(self._notify)
        self.replies.conversation_created.connect(self._on_conversation_created)
        self.replies.reply_started.connect(self._on_reply_started)
        self.replies.text_grew.connect(self._on_text_grew)
        self.replies.reply_ended.connect(self._update_buttons)
        self.replies.reply_finished.connect(self._on_reply_finished)
        self.replies.reply_failed.connect(self._on_reply_failed)
        self.replies.conversation_dropped.connect(self._on_conversation_dropped)
        QShortcut(
            QKeySequence(Qt.Key.Key_Escape),
            self,
            self.replies.cancel,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self.conversation_actions = ConversationActions(self.history, self.replies, self)
        self.conversation_actions.conversations_changed.connect(self.refresh_conversations)
        self.conversation_actions.conversation_deleted.connect(self._on_conversation_deleted)
        self.conversation_actions.reply_rated.connect(self._on_reply_rated)
        self.conversation_actions.notice_given.connect(self._notify)
        self.transcript.rated.connect(self.conversation_actions.rate)
        self.transcript.note_requested.connect(self._ask_note)
        self.sidebar.rename_requested.connect(self.conversation_actions.rename)
        self.sidebar.delete_requested.connect(self.conversation_actions.ask_delete)
        self.sidebar.export_requested.connect(self.conversation_actions.ask_export)
        self.model_bar.export_requested.connect(
            lambda fmt: self.conversation_actions.ask_export(self._conversation_id, fmt)
        )
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.refresh_models()
        self.refresh_conversations()
        self.open_conversation(self._last_conversation())
        self.model_session.update_status()

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
        self.sidebar = ConversationList()
        self.sidebar.search_changed.connect(self.refresh_conversations)
        self.sidebar.conversation_chosen.connect(self.open_conversation)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.model_bar = ModelBar()
        self.settings_panel = SamplingPanel()
        self.settings_panel.hide()
        self.model_bar.settings_toggled.connect(self.settings_panel.setVisible)
        self.banner = PreparationBanner()
        self.transcript = Transcript()
        self.transcript.action_requested.connect(self._on_message_action)
        self.notice = QLabel()
        self.notice.setObjectName("chatNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.composer = Composer()
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        self.composer.regenerate_requested.connect(self.regenerate)

        # The parts' controls, by the names the main window, the tests and tools use.
        self.search_edit = self.sidebar.search_edit
        self.conversation_list = self.sidebar.list
        self.model_combo, self.adapter_combo = self.model_bar.model_combo, self.model_bar.adapter_combo
        self.settings_button = self.model_bar.settings_button
        self.rating_bar = self.transcript.rating_bar
        self.input = self.composer.input
        self.stop_button, self.regenerate_button = self.composer.stop_button, self.composer.regenerate_button

        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.addWidget(self.model_bar)
        main_layout.addWidget(self.settings_panel)
        main_layout.addWidget(self.banner)
        main_layout.addWidget(self.transcript, 1)
        main_layout.addWidget(self.notice)
        main_layout.addWidget(self.composer)
        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([240, 760])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # -- settings -------------------------------------------------------------------------------

    def settings(self) -> GenerationSettings:
        return self.settings_panel.settings()

    def set_settings(self, settings: GenerationSettings, system_prompt: str | None = None) -> None:
        """Fill the settings panel (they apply from the next message on)."""
        self.settings_panel.show_settings(
            settings, self.settings_panel.system_prompt() if system_prompt is None else system_prompt
        )

    # -- first run ------------------------------------------------------------------------------

    def begin_preparation(self, title: str) -> None:
        """The first model is being prepared: show its progress here, and keep a message sent
        meanwhile to answer once the model is ready."""
        self.replies.begin_preparation()
        self.banner.start(title)

    def show_preparation(self, fraction: float, message: str) -> None:
        self.banner.show_progress(fraction, message)

    def end_preparation(self, problem: str | None = None) -> None:
        """The preparation ended: with the model in the library (`problem` None; `refresh_models`
        follows and a kept message is answered once it loads), or not, said here."""
        self.banner.hide()
        self.replies.end_preparation(problem)

    # -- the model ------------------------------------------------------------------------------

    def refresh_models(self) -> None:
        """Re-read the library (after an import or removal). A loaded model that left the library
        stays listed, marked, and keeps answering from memory until another is chosen."""
        self.model_session.refresh()

    def loaded_model(self) -> str | None:
        """The model in memory, ready to answer."""
        return self.model_session.loaded()

    def _on_load_failed(self, message: str) -> None:
        self._notify(message)
        show_error(self, self.tr("The model could not be loaded: {0}").format(message))

    def _notify(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # -- conversations --------------------------------------------------------------------------

    def refresh_conversations(self, *_search: object) -> None:
        try:
            found = self.history.search(self.search_edit.text())
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        self.sidebar.show_conversations(found, self._conversation_id)

    def conversation_ids(self) -> list[int]:
        """The conversations listed in the sidebar, top to bottom."""
        return self.sidebar.ids()

    def _last_conversation(self) -> int | None:
        """The conversation on screen when the app last closed, where it is still there."""
        last = AppSettings().last_conversation
        try:
            return (
                last if last is not None and any(c.id == last for c in self.history.conversations()) else None
            )
        except LlamaDeskError:
            return None

    def open_conversation(self, conversation_id: int | None) -> None:
        """Show a conversation (None: an empty new chat, created when its first message is sent)."""
        self.replies.editing = None
        self._conversation_id = conversation_id
        if conversation_id is None:
            self._messages = []
            self.settings_panel.show_settings(
                AppSettings().sampling, ""
            )  # a new chat starts from the defaults
            self.sidebar.select(None)
        else:
            try:
                conversation = self.history.get(conversation_id)
            except LlamaDeskError as exc:
                self._history_failed(exc)
                return
            self._messages = conversation.messages
            self.settings_panel.show_settings(conversation.settings, conversation.system_prompt)
        if not self._closed:
            AppSettings().last_conversation = conversation_id
        self._notify("")
        self._render(scroll_to_end=True)
        self._update_buttons()
        self.token_counter.recount()

    def current_conversation(self) -> int | None:
        return self._conversation_id

    def apply_defaults(self) -> None:
        """The default sampling settings changed: an empty new chat shows them at once; open
        conversations keep their own."""
        if self._conversation_id is None:
            self.settings_panel.show_settings(AppSettings().sampling, self.settings_panel.system_prompt())

    def focus_search(self) -> None:
        self.sidebar.focus_search()

    def new_conversation(self) -> None:
        self.open_conversation(None)
        self.input.setFocus()

    def _on_conversation_deleted(self, conversation_id: int) -> None:
        if conversation_id == self._conversation_id:
            self.open_conversation(None)
        self.refresh_conversations()

    # -- sending --------------------------------------------------------------------------------

    def send(self) -> bool:
        """Send the message box's text (replacing the message being edited, if any). While the first
        model is being prepared it is kept and answered once the model is ready."""
        question = self.replies.send(self._conversation_id)
        if question is None:
            return False
        if question is self.replies.held:  # the first model is being prepared
            self._messages = self.history.messages(self._conversation_id)
            self._render(scroll_to_end=True)
            self._notify(self.tr("Your message will be answered as soon as the model is ready."))
        self.refresh_conversations()
        return True

    def regenerate(self) -> bool:
        """Write the last reply again (with the settings now in the panel); the earlier reply stays
        as another version of it (‹ 1/2 ›)."""
        return self.replies.regenerate(self._conversation_id, self._messages)

    def copy_message(self, message_id: int) -> None:
        message = next((m for m in self._messages if m.id == message_id), None)
        if message is not None:
            QGuiApplication.clipboard().setText(message.content)

    def show_version(self, message_id: int, step: int) -> None:
        """Show the version of reply `message_id` `step` places away (-1 the one before); it is what
        the model reads from then on."""
        if self.replies.writing_in(self._conversation_id) is not None:
            self.replies.say_busy()
            return
        try:
            chosen = self.replies.choose_version(message_id, step)
            if chosen is None:
                return
            self._messages = self.history.messages(self._conversation_id) if self._conversation_id else []
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        self.transcript.aim_rating_bar(chosen)
        self._render(scroll_to_end=False)
        self.token_counter.recount()

    def stop(self) -> None:
        self.replies.stop()

    def is_generating(self) -> bool:
        return self.replies.reply is not None

    def _on_conversation_created(self, conversation_id: int) -> None:
        self._conversation_id = conversation_id
        AppSettings().last_conversation = conversation_id

    def _on_reply_started(self, conversation_id: int, messages: list[Message]) -> None:
        if conversation_id == self._conversation_id:
            self._messages = messages
        self._render(scroll_to_end=True)
        self._update_buttons()

    def _on_text_grew(self, conversation_id: int, text: str) -> None:
        """Paint the reply so far, as Markdown that reads as it does now (a code fence opened three
        tokens ago already shows as code)."""
        if conversation_id == self._conversation_id:
            self.transcript.update_stream(text)

    def _on_reply_finished(self, conversation_id: int, note: str, figures: dict) -> None:
        self._after_reply(conversation_id, note)
        self.model_session.note_reply(figures)
        self.reply_finished.emit(conversation_id)

    def _on_reply_failed(self, conversation_id: int, message: str) -> None:
        self._after_reply(conversation_id, message)
        self.reply_failed.emit(message)

    def _on_conversation_dropped(self, conversation_id: int) -> None:
        if self._conversation_id == conversation_id:
            self._conversation_id = None

    def _after_reply(self, conversation_id: int, note: str) -> None:
        if conversation_id == self._conversation_id or self._conversation_id is None:
            try:
                self._messages = self.history.messages(self._conversation_id) if self._conversation_id else []
            except LlamaDeskError as exc:
                note = f"{note} {exc}".strip()
            self.transcript.aim_rating_bar(None)  # the new reply can be rated at once
            self._render(scroll_to_end=False)
            self._notify(note)
        self.refresh_conversations()
        self._update_buttons()
        self.token_counter.recount()

    def _update_buttons(self) -> None:
        self.composer.set_busy(self.replies.reply is not None, bool(self._messages))
        self.sidebar.set_current_enabled(self._conversation_id is not None)
        self.model_bar.export_button.setEnabled(self._conversation_id is not None)

    # -- transcript -----------------------------------------------------------------------------

    def _render(self, scroll_to_end: bool) -> None:
        try:
            ratings = self.history.ratings(self._conversation_id) if self._conversation_id else {}
        except LlamaDeskError as exc:  # the transcript still shows, without its ratings
            ratings = {}
            self._history_failed(exc)
        reply = self.replies.writing_in(self._conversation_id)
        shown = [m for m in self._messages if not (reply is not None and m.id == reply.replacing)]
        speaker = reply.speaker if reply is not None else None
        self.transcript.show_messages(shown, ratings, self.replies.versions(shown), speaker, scroll_to_end)
        if reply is not None:
            self.transcript.update_stream(reply.text)

    def _on_message_action(self, action: str, message_id: int) -> None:
        if action == "copy":
            self.copy_message(message_id)
        elif action == "edit":
            self.replies.edit(message_id, self._messages)
        elif action == "regenerate":
            self.regenerate()
        elif action in ("previous", "next"):
            self.show_version(message_id, -1 if action == "previous" else 1)

    # -- ratings --------------------------------------------------------------------------------

    def _on_reply_rated(self, message_id: int) -> None:
        self.transcript.aim_rating_bar(message_id)
        self._render(scroll_to_end=False)

    def _ask_note(self, message_id: int) -> None:
        current = self.transcript.ratings.get(message_id)
        self.conversation_actions.ask_note(message_id, (current.note if current else None) or "")

    # -- lifetime -------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        # The transcript's colours (links, muted text, code blocks) come from the palette when it is
        # drawn: a theme switch draws it again so dark mode stays legible.
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "replies") and not self._closed:
            self._render(scroll_to_end=False)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.model_session.begin()  # the model loads (on its thread) after the first paint

    def shutdown(self) -> None:
        """Stop the reply being written (keeping what it wrote), end the engine thread, close the
        history. Called by the main window on close; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.token_counter.stop()
        self.sidebar.stop()
        self.replies.shutdown(self.controller.shutdown())
        self.history.close()
