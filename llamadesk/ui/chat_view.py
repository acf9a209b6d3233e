"""The Chat panel: conversations in a sidebar, the transcript, the message box, model, adapter and
sampling settings. Each of those is its own widget (`ui/chat/`); this one composes them and holds
what they share: the history, the engine's controller and the reply being written.

Model work never runs here: a `ChatController` queues it to its own thread and its signals bring
the results back. Tokens are buffered as they arrive and painted every 40 ms, so a fast model
cannot flood the event loop; typing, scrolling and switching conversations stay smooth while a
reply streams into its own conversation, shown or not. Each message is committed to the history
the moment it is complete: the question when sent, the reply when it ends (or is stopped).
Regenerate keeps the earlier reply among the new one's versions. While the first model is being
prepared, a message sent is kept and answered once the model is ready.

Signals: status_changed(text) — the status-bar line (model, device, dtype, memory, speed);
reply_finished(conversation id) — a reply was saved; reply_failed(message) — no reply came."""

import contextlib
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLabel, QSplitter, QVBoxLayout, QWidget

from llamadesk.core import library
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import ChatHistory, Message, write_export
from llamadesk.ui.chat.composer import Composer
from llamadesk.ui.chat.conversation_list import ConversationList
from llamadesk.ui.chat.model_bar import ModelBar
from llamadesk.ui.chat.preparation_banner import PreparationBanner
from llamadesk.ui.chat.sampling_panel import SamplingPanel
from llamadesk.ui.chat.transcript import Transcript, Versions
from llamadesk.ui.chat_worker import ChatController
from llamadesk.ui.dialogs import confirm, show_error
from llamadesk.ui.settings import AppSettings

FLUSH_MS = 40
# How long a history read or write waits for another process's write (the CLI, a second window):
# the wait happens on the GUI thread, so it is kept short, then said as busy in the notice line.
HISTORY_WAIT_S = 2.0
# The token counter recounts this long after the last key: counting runs on the engine's thread.
COUNT_DELAY_MS = 300


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
    replacing: int | None = None  # the reply Regenerate writes again, kept as a version of this one
    discarded: bool = False  # its conversation was deleted while it streamed


class ChatView(QWidget):
    status_changed = Signal(str)
    reply_finished = Signal(int)
    reply_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._conversation_id: int | None = None
        self._messages: list[Message] = []
        self._reply: _Reply | None = None
        self._editing: int | None = None  # id of the user message being edited
        self._requested_model: str | None = None
        self._engine_info: dict | None = None
        self._adapter: str | None = None
        self._docs: str | None = None  # the corpus replies are grounded in, if any
        self._speed: float | None = None
        self._ttft: float | None = None  # the last reply's time to first token, in seconds
        self._told_engine = False  # whether the user was told llama.cpp is missing
        self._preparing = False  # the first model is being prepared (the starter's import)
        self._held: Message | None = None  # a question sent before any model was ready
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
        self.controller.tokens_counted.connect(self._on_tokens_counted)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self._count_tokens)

        self._build_ui()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.refresh_models()
        self.refresh_conversations()
        self.open_conversation(self._last_conversation())
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
        self.sidebar = ConversationList()
        self.sidebar.search_changed.connect(self.refresh_conversations)
        self.sidebar.conversation_chosen.connect(self.open_conversation)
        self.sidebar.rename_requested.connect(self.rename_conversation)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.sidebar.delete_requested.connect(self._ask_delete)
        self.sidebar.export_requested.connect(self._ask_export)
        self.model_bar = ModelBar()
        self.model_bar.model_chosen.connect(self._on_model_chosen)
        self.model_bar.adapter_chosen.connect(self._on_adapter_chosen)
        self.model_bar.docs_chosen.connect(self._on_docs_chosen)
        self.model_bar.export_requested.connect(lambda fmt: self._ask_export(self._conversation_id, fmt))
        self.settings_panel = SamplingPanel()
        self.settings_panel.hide()
        self.model_bar.settings_toggled.connect(self.settings_panel.setVisible)
        self.banner = PreparationBanner()
        self.transcript = Transcript()
        self.transcript.action_requested.connect(self._on_message_action)
        self.transcript.rated.connect(self._on_rated)
        self.transcript.note_requested.connect(self._ask_note)
        self.notice = QLabel()
        self.notice.setObjectName("chatNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.composer = Composer()
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        self.composer.regenerate_requested.connect(self.regenerate)
        self.composer.draft_changed.connect(self._count_timer.start)
        QShortcut(
            QKeySequence(Qt.Key.Key_Escape),
            self,
            self._on_escape,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )

        # The parts' controls, by the names the main window, the tests and tools use.
        self.search_edit = self.sidebar.search_edit
        self.conversation_list = self.sidebar.list
        self.new_button, self.delete_button = self.sidebar.new_button, self.sidebar.delete_button
        self.model_combo, self.adapter_combo = self.model_bar.model_combo, self.model_bar.adapter_combo
        self.settings_button, self.export_button = (
            self.model_bar.settings_button,
            self.model_bar.export_button,
        )
        self.system_edit = self.settings_panel.system_edit
        self.rating_bar = self.transcript.rating_bar
        self.input = self.composer.input
        self.send_button, self.stop_button = self.composer.send_button, self.composer.stop_button
        self.regenerate_button = self.composer.regenerate_button

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
        self._preparing = True
        self.banner.start(title)

    def show_preparation(self, fraction: float, message: str) -> None:
        self.banner.show_progress(fraction, message)

    def end_preparation(self, problem: str | None = None) -> None:
        """The preparation ended: with the model in the library (`problem` None; `refresh_models`
        follows and a kept message is answered once it loads), or not, said here."""
        self._preparing = False
        self.banner.hide()
        if problem is not None:
            if self._held is not None:
                problem = self.tr(
                    "{0} Your message is kept: import a model in the Models tab, then press Regenerate."
                ).format(problem)
                self._held = None
            self._notify(problem)

    def _answer_held(self) -> None:
        """A model is loaded: answer the question kept while none was ready."""
        held, self._held = self._held, None
        if held is None or self._reply is not None:
            return
        try:
            settings = self.settings()
        except LlamaDeskError as exc:
            self._notify(str(exc))
            return
        self._notify("")
        self._start_reply(settings, held.conversation_id, question=held)

    # -- models and adapters --------------------------------------------------------------------

    def refresh_models(self) -> None:
        """Re-read the library (after an import or removal). A loaded model that left the library
        stays listed, marked, and keeps answering from memory until another is chosen."""
        current = self.model_combo.currentData()
        loaded = self._engine_info["model_id"] if self._engine_info else None
        ids = [entry.id for entry in library.list_models()]
        entries = [(model_id, model_id) for model_id in ids]
        if loaded and loaded not in ids:
            entries.append((self.tr("{0} (removed from the library)").format(loaded), loaded))
        self.model_bar.show_models(entries, current or loaded or self._default_model(ids))
        self._refresh_adapters()
        self._refresh_corpora()
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

    def _on_model_chosen(self, *_model: object) -> None:
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
        self._restore_adapter()
        self._update_status()
        self._answer_held()
        self._count_timer.start()

    def _restore_adapter(self) -> None:
        """The adapter chosen when the app last closed, where it belongs to the model now loaded."""
        wanted = AppSettings().last_adapter
        index = self.adapter_combo.findData(wanted) if wanted else -1
        if index > 0 and self._adapter != wanted:
            self.adapter_combo.setCurrentIndex(index)  # chooses it, as a click would

    def _on_load_failed(self, message: str) -> None:
        self._requested_model = None
        self._engine_info = None
        self._notify(message)
        show_error(self, self.tr("The model could not be loaded: {0}").format(message))
        self._update_status()

    def _refresh_corpora(self) -> None:
        from llamadesk.core.corpus import store

        corpora = [(entry.name, entry.id) for entry in store.list_corpora()]
        if self._docs not in {corpus_id for _name, corpus_id in corpora}:
            self._docs = None  # removed from the library meanwhile
        self.model_bar.show_corpora(corpora, self._docs)

    def _on_docs_chosen(self, corpus_id: str | None) -> None:
        """Replies from now on come from this corpus's passages (None: from the model alone)."""
        self._docs = corpus_id

    def _refresh_adapters(self) -> None:
        from llamadesk.core import adapters

        model_id = self.current_model()
        entries = adapters.list_adapters(base_id=model_id) if model_id else []
        self.model_bar.show_adapters([entry.id for entry in entries], self._adapter)

    def _on_adapter_chosen(self, *_adapter: object) -> None:
        adapter_id = self.adapter_combo.currentData()
        if adapter_id != self._adapter:
            AppSettings().last_adapter = adapter_id
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

    # -- the token counter ----------------------------------------------------------------------

    def _count_tokens(self) -> None:
        """Ask the engine how much of its context the chat on screen takes with the draft."""
        if self._engine_info is None or self._closed:
            self.composer.show_tokens(None, None)
            return
        messages = self._prompt(self.settings_panel.system_prompt(), self._messages)
        draft = self.composer.text()
        if draft.strip():
            messages.append({"role": "user", "content": draft})
        if messages:
            self.controller.count_tokens(messages)
        else:
            self.composer.show_tokens(0, self._engine_info.get("context_length"))

    def _on_tokens_counted(self, used: int, context: int) -> None:
        self.composer.show_tokens(used if used >= 0 else None, context)

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
        self._editing = None
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
        self._count_timer.start()

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
        if self.current_model() is None and not self._preparing:
            self._notify(self.tr("There is no model to answer: import one in the Models tab."))
            return None
        try:
            return self.settings()
        except LlamaDeskError as exc:
            self._notify(str(exc))
            return None

    def send(self) -> bool:
        """Send the message box's text (replacing the message being edited, if any). While the first
        model is being prepared it is kept and answered once the model is ready."""
        text = self.input.toPlainText()
        settings = self._settings_if_ready()
        if settings is None:
            return False
        if not text.strip():
            self._notify(self.tr("Type a message first."))
            return False
        if self._held is not None:
            self._notify(
                self.tr("Your first message is still waiting for the model; send this one after it.")
            )
            return False
        model_id = self.current_model()
        system_prompt = self.settings_panel.system_prompt()
        try:
            if self._conversation_id is None:
                conversation = self.history.create(
                    system_prompt=system_prompt, settings=settings, model_id=model_id
                )
                self._conversation_id = conversation.id
                AppSettings().last_conversation = conversation.id
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
        if model_id is None:  # the first model is being prepared
            self._held = question
            self._messages = self.history.messages(self._conversation_id)
            self._render(scroll_to_end=True)
            self._notify(self.tr("Your message will be answered as soon as the model is ready."))
        else:
            self._notify(self._missing_files_warning(model_id))
            self._start_reply(settings, self._conversation_id, question=question)
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
        """Write the last reply again (with the settings now in the panel); the earlier reply stays
        as another version of it (‹ 1/2 ›)."""
        settings = self._settings_if_ready()
        if settings is None or self._conversation_id is None or not self._messages:
            return False
        if self.current_model() is None:
            self._notify(self.tr("The model is not ready yet; your message will be answered then."))
            return False
        last = self._messages[-1]
        try:
            self.history.update(
                self._conversation_id, system_prompt=self.settings_panel.system_prompt(), settings=settings
            )
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return False
        self._notify("")
        self._start_reply(
            settings, self._conversation_id, replacing=last.id if last.role == "assistant" else None
        )
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

    def show_version(self, message_id: int, step: int) -> None:
        """Show the version of reply `message_id` `step` places away (-1 the one before); it is what
        the model reads from then on."""
        if self._reply is not None and self._reply.conversation_id == self._conversation_id:
            self._notify(self.tr("A reply is still being written; wait for it or press Stop (Esc)."))
            return
        try:
            versions = [m.id for m in self.history.alternatives(message_id)]
            index = versions.index(message_id) + step
            if not 0 <= index < len(versions):
                return
            self.history.choose_alternative(versions[index])
            self._messages = self.history.messages(self._conversation_id) if self._conversation_id else []
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        self.transcript.aim_rating_bar(versions[index])
        self._render(scroll_to_end=False)
        self._count_timer.start()

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

    @staticmethod
    def _prompt(system_prompt: str, messages: list[Message]) -> list[dict]:
        prompt = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
        return prompt + [{"role": m.role, "content": m.content} for m in messages]

    def _start_reply(
        self,
        settings: GenerationSettings,
        conversation_id: int,
        question: Message | None = None,
        replacing: int | None = None,
    ) -> None:
        self._ensure_model()
        try:
            conversation = self.history.get(conversation_id)
        except LlamaDeskError as exc:
            self._history_failed(exc)
            return
        # A reply written again is written to what came before it, not to itself.
        before = [m for m in conversation.messages if m.id != replacing]
        prompt = self._prompt(conversation.system_prompt, before)
        request = self.controller.generate(prompt, settings, self._docs)
        speaker = self.current_model() + (f" + {self._adapter}" if self._adapter else "")
        self._reply = _Reply(
            request, conversation.id, settings, speaker, question=question, replacing=replacing
        )
        if conversation.id == self._conversation_id:
            self._messages = conversation.messages
        self._render(scroll_to_end=True)
        self._flush_timer.start()
        self._update_buttons()

    def _on_token_received(self, request: int, piece: str) -> None:
        if self._reply is not None and request == self._reply.request:
            self._reply.pending += piece

    def _flush(self) -> None:
        """Paint what arrived since the last paint, as Markdown that reads as it does now (a code
        fence opened three tokens ago already shows as code)."""
        reply = self._reply
        if reply is None or not reply.pending:
            return
        reply.text += reply.pending
        reply.pending = ""
        if reply.conversation_id == self._conversation_id:
            self.transcript.update_stream(reply.text)

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
        self._update_buttons()

    def _after_reply(self, reply: _Reply, note: str) -> None:
        if reply.conversation_id == self._conversation_id or self._conversation_id is None:
            try:
                self._messages = self.history.messages(self._conversation_id) if self._conversation_id else []
            except LlamaDeskError as exc:
                note = f"{note} {exc}".strip()
            self.transcript.aim_rating_bar(None)  # the new reply can be rated at once
            self._render(scroll_to_end=False)
            self._notify(note)
        self.refresh_conversations()
        self._update_buttons()
        self._count_timer.start()

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
            replacing=reply.replacing,
            sources=figures.get("sources"),
        )

    def _update_buttons(self) -> None:
        self.composer.set_busy(self._reply is not None, bool(self._messages))
        self.sidebar.set_current_enabled(self._conversation_id is not None)
        self.export_button.setEnabled(self._conversation_id is not None)

    # -- transcript -----------------------------------------------------------------------------

    def _render(self, scroll_to_end: bool) -> None:
        try:
            ratings = self.history.ratings(self._conversation_id) if self._conversation_id else {}
        except LlamaDeskError as exc:  # the transcript still shows, without its ratings
            ratings = {}
            self._history_failed(exc)
        reply = self._reply
        writing = reply is not None and reply.conversation_id == self._conversation_id
        shown = [m for m in self._messages if not (writing and m.id == reply.replacing)]
        self.transcript.show_messages(
            shown, ratings, self._versions(shown), reply.speaker if writing else None, scroll_to_end
        )
        if writing:
            self.transcript.update_stream(reply.text)

    def _versions(self, messages: list[Message]) -> dict[int, Versions]:
        """Which version each reply on screen is, for those Regenerate wrote more than once."""
        versions = {}
        for message in messages:
            if message.role != "assistant":
                continue
            try:
                ids = [m.id for m in self.history.alternatives(message.id)]
            except LlamaDeskError:
                continue
            if len(ids) > 1:
                versions[message.id] = Versions(ids.index(message.id) + 1, len(ids))
        return versions

    def _on_anchor_clicked(self, url: QUrl) -> None:
        self.transcript.follow_link(url)

    def _on_message_action(self, action: str, message_id: int) -> None:
        if action == "copy":
            self.copy_message(message_id)
        elif action == "edit":
            self.edit_message(message_id)
        elif action == "regenerate":
            self.regenerate()
        elif action in ("previous", "next"):
            self.show_version(message_id, -1 if action == "previous" else 1)

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
        self.transcript.aim_rating_bar(message_id)
        self._render(scroll_to_end=False)

    def _on_rated(self, message_id: int, thumb: int | None, stars: int | None) -> None:
        self.rate_reply(message_id, thumb=thumb, stars=stars)

    def _ask_note(self, message_id: int) -> None:
        current = self.transcript.ratings.get(message_id)
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
        self.transcript.show_rating_bar(message_id, focus)

    def rating_bar_target(self) -> int | None:
        """The reply the rating bar is under, or None when it is hidden."""
        return self.transcript.rating_bar_target()

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
        self._count_timer.stop()
        self.sidebar.stop()
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
