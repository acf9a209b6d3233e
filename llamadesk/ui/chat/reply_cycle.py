"""The send/reply cycle: the message box's text becomes a question in the history, the engine's
thread writes the reply, its tokens are buffered as they arrive and handed on every 40 ms (a fast
model cannot flood the event loop), and the reply is committed to the history the moment it ends,
or is stopped. A reply belongs to its conversation, whichever one is on screen. Regenerate writes
the last reply again and keeps the earlier one among its versions (‹ 1/2 ›); Edit puts a question
back into the message box, and sending it replaces it and what followed. Where nothing came back
at all, the question is taken out of the history and put back into the message box. While the
first model is being prepared, a message sent is held and answered once the model is ready.

The chat panel keeps which conversation is on screen and passes it in; the cycle reads the message
box and the sampling settings and says what happened through its signals.

Signals: notice_given(text) — for the chat's notice line ("" clears it); conversation_created(id)
— a new chat's first message created its conversation; reply_started(conversation id, messages)
— a reply is being written into that conversation, which holds `messages`; text_grew(conversation
id, text) — the reply so far, every 40 ms while it grows; reply_ended() — no reply is being written
any more (finished, failed, or its conversation deleted); reply_finished(conversation id, note,
figures) — saved (or, as `note` says, not), with what else to tell: older turns left out, the
length limit reached; reply_failed(conversation id, message) — no reply came, or only part of one
(kept); conversation_dropped(id) — the question that got nothing back was all its conversation
held, so the conversation went too."""

import contextlib
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import ChatHistory, Message
from llamadesk.ui.chat.composer import Composer
from llamadesk.ui.chat.model_session import ModelSession
from llamadesk.ui.chat.sampling_panel import SamplingPanel
from llamadesk.ui.chat.transcript import Versions
from llamadesk.ui.chat_worker import ChatController

FLUSH_MS = 40


def prompt_messages(system_prompt: str, messages: list[Message]) -> list[dict]:
    """A conversation as the engine reads it: the system prompt (if any), then every message."""
    prompt = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    return prompt + [{"role": m.role, "content": m.content} for m in messages]


@dataclass
class Reply:
    """The reply being written. It belongs to its conversation, whichever one is on screen."""

    request: int
    conversation_id: int
    settings: GenerationSettings
    speaker: str  # model (+ adapter) shown above it while it streams
    text: str = ""  # passed on by text_grew so far
    pending: str = ""  # arrived since the last text_grew
    # A question sent just now: if no reply comes at all, it goes back into the message box.
    question: Message | None = None
    replacing: int | None = None  # the reply Regenerate writes again, kept as a version of this one
    discarded: bool = False  # its conversation was deleted while it streamed


class ReplyCycle(QObject):
    notice_given = Signal(str)
    conversation_created = Signal(int)
    reply_started = Signal(int, object)
    text_grew = Signal(int, str)
    reply_ended = Signal()
    reply_finished = Signal(int, str, object)
    reply_failed = Signal(int, str)
    conversation_dropped = Signal(int)

    def __init__(
        self,
        history: ChatHistory,
        controller: ChatController,
        model_session: ModelSession,
        composer: Composer,
        sampling_panel: SamplingPanel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._history = history
        self._controller = controller
        self._model_session = model_session
        self._composer = composer  # the message box: read when sending, refilled when no reply came
        self._panel = sampling_panel  # the settings a reply is written with
        self.reply: Reply | None = None
        self.editing: int | None = None  # id of the question being edited
        self.held: Message | None = None  # a question sent before any model was ready
        self._preparing = False  # the first model is being prepared (the starter's import)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        controller.token_received.connect(self._on_token_received)
        controller.generation_finished.connect(self._on_generation_finished)
        controller.generation_failed.connect(self._on_generation_failed)
        model_session.model_loaded.connect(self._answer_held)

    def writing_in(self, conversation_id: int | None) -> Reply | None:
        """The reply being written into this conversation, if one is."""
        reply = self.reply
        return reply if reply is not None and reply.conversation_id == conversation_id else None

    # -- asking ---------------------------------------------------------------------------------

    def say_busy(self) -> None:
        """Why nothing else can start now: the one reply at a time is being written."""
        self.notice_given.emit(self.tr("A reply is still being written; wait for it or press Stop (Esc)."))

    def _settings_if_ready(self) -> GenerationSettings | None:
        """The settings for a new reply, or None (the reason said) when one cannot start now."""
        if self.reply is not None:
            self.say_busy()
            return None
        if self._model_session.chosen() is None and not self._preparing:
            self.notice_given.emit(self.tr("There is no model to answer: import one in the Models tab."))
            return None
        try:
            return self._panel.settings()
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return None

    def send(self, conversation_id: int | None) -> Message | None:
        """Send the message box's text to conversation `conversation_id` (None: a new one),
        replacing the question being edited, if any; returns the question stored (None: it was not,
        the reason said). While the first model is being prepared it is held (`held`) and answered
        once the model is ready."""
        text = self._composer.text()
        settings = self._settings_if_ready()
        if settings is None:
            return None
        if not text.strip():
            self.notice_given.emit(self.tr("Type a message first."))
            return None
        if self.held is not None:
            self.notice_given.emit(
                self.tr("Your first message is still waiting for the model; send this one after it.")
            )
            return None
        model_id = self._model_session.chosen()
        system_prompt = self._panel.system_prompt()
        try:
            if conversation_id is None:  # one commit for the conversation and its first question
                conversation, question = self._history.start(
                    text, system_prompt=system_prompt, settings=settings, model_id=model_id
                )
                conversation_id = conversation.id
                self.conversation_created.emit(conversation_id)
            else:
                self._history.update(conversation_id, system_prompt=system_prompt, settings=settings)
                if self.editing is not None:
                    self._history.delete_from(self.editing)
                    self.editing = None
                question = self._history.add_message(conversation_id, "user", text)
        except LlamaDeskError as exc:  # the message stays in the box, to send again
            self.notice_given.emit(str(exc))
            return None
        self._composer.input.clear()
        if model_id is None:  # the first model is being prepared
            self.held = question
        else:
            self.notice_given.emit(self._model_session.files_gone_warning(model_id))
            self._start(settings, conversation_id, question=question)
        return question

    def regenerate(self, conversation_id: int | None, messages: list[Message]) -> bool:
        """Write the last reply of the conversation, which holds `messages`, again (with the
        settings now in the panel); the earlier reply stays as another version of it (‹ 1/2 ›)."""
        settings = self._settings_if_ready()
        if settings is None or conversation_id is None or not messages:
            return False
        if self._model_session.chosen() is None:
            self.notice_given.emit(self.tr("The model is not ready yet; your message will be answered then."))
            return False
        last = messages[-1]
        try:
            self._history.update(
                conversation_id, system_prompt=self._panel.system_prompt(), settings=settings
            )
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return False
        self.notice_given.emit("")
        self._start(settings, conversation_id, replacing=last.id if last.role == "assistant" else None)
        return True

    def edit(self, message_id: int, messages: list[Message]) -> None:
        """Put question `message_id` (among `messages`, the chat on screen) back into the message box;
        sending replaces it and what followed."""
        if self.reply is not None:
            self.say_busy()
            return
        message = next((m for m in messages if m.id == message_id and m.role == "user"), None)
        if message is None:
            return
        self.editing = message.id
        self._composer.input.setPlainText(message.content)
        self._composer.input.setFocus()
        self.notice_given.emit(
            self.tr("Editing your message: Send replaces it and the replies after it; Esc cancels.")
        )

    def cancel(self) -> None:
        """Esc: stop the reply being written, else leave the message being edited."""
        if self.reply is not None:
            self.stop()
        elif self.editing is not None:
            self.editing = None
            self._composer.input.clear()
            self.notice_given.emit("")

    def begin_preparation(self) -> None:
        """The first model is being prepared: a message sent meanwhile is held until it is ready."""
        self._preparing = True

    def end_preparation(self, problem: str | None) -> None:
        """The preparation ended: with the model in the library (`problem` None; the held question
        is answered once the model loads), or not, said with what became of the held question."""
        self._preparing = False
        if problem is not None:
            if self.held is not None:
                problem = self.tr(
                    "{0} Your message is kept: import a model in the Models tab, then press Regenerate."
                ).format(problem)
                self.held = None
            self.notice_given.emit(problem)

    def _answer_held(self) -> None:
        """A model is loaded: answer the question kept while none was ready."""
        held, self.held = self.held, None
        if held is None or self.reply is not None:
            return
        try:
            settings = self._panel.settings()
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return
        self.notice_given.emit("")
        self._start(settings, held.conversation_id, question=held)

    # -- the reply ------------------------------------------------------------------------------

    def _start(
        self,
        settings: GenerationSettings,
        conversation_id: int,
        question: Message | None = None,
        replacing: int | None = None,
    ) -> None:
        """Ask for a reply to the conversation as the history holds it (to what came before reply
        `replacing`, which it writes again)."""
        self._model_session.ensure()
        try:
            conversation = self._history.get(conversation_id)
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            return
        before = [m for m in conversation.messages if m.id != replacing]
        prompt = prompt_messages(conversation.system_prompt, before)
        request = self._controller.generate(prompt, settings, self._model_session.docs)
        self.reply = Reply(
            request,
            conversation.id,
            settings,
            self._model_session.speaker(),
            question=question,
            replacing=replacing,
        )
        self._flush_timer.start()
        self.reply_started.emit(conversation.id, conversation.messages)

    def stop(self) -> None:
        if self.reply is not None:
            self._controller.stop()

    def discard(self, conversation_id: int) -> None:
        """The conversation is being deleted: stop its reply, and save nothing of it."""
        reply = self.writing_in(conversation_id)
        if reply is not None:
            reply.discarded = True
            self._controller.stop()

    # -- versions -------------------------------------------------------------------------------

    def choose_version(self, message_id: int, step: int) -> int | None:
        """Make the version of reply `message_id` `step` places away (-1 the one before) the one the
        model reads from now on; returns its id, None where there is none. LlamaDeskError where the
        history cannot be read or written."""
        versions = [m.id for m in self._history.alternatives(message_id)]
        index = versions.index(message_id) + step
        if not 0 <= index < len(versions):
            return None
        self._history.choose_alternative(versions[index])
        return versions[index]

    def versions(self, messages: list[Message]) -> dict[int, Versions]:
        """Which version each reply among `messages` is, for those Regenerate wrote more than once."""
        versions = {}
        for message in messages:
            if message.role != "assistant":
                continue
            try:
                ids = [m.id for m in self._history.alternatives(message.id)]
            except LlamaDeskError:
                continue
            if len(ids) > 1:
                versions[message.id] = Versions(ids.index(message.id) + 1, len(ids))
        return versions

    # -- streaming and saving -------------------------------------------------------------------

    def _on_token_received(self, request: int, piece: str) -> None:
        if self.reply is not None and request == self.reply.request:
            self.reply.pending += piece

    def _flush(self) -> None:
        """Pass on what arrived since the last time, all at once."""
        reply = self.reply
        if reply is None or not reply.pending:
            return
        reply.text += reply.pending
        reply.pending = ""
        self.text_grew.emit(reply.conversation_id, reply.text)

    def _ended(self, request: int) -> Reply | None:
        """The reply `request` ended, now over; None where it is not the one being written, or was
        discarded with its conversation."""
        reply = self.reply
        if reply is None or request != reply.request:
            return None
        self._end()
        return None if reply.discarded else reply

    def _on_generation_finished(self, request: int, text: str, figures: dict) -> None:
        reply = self._ended(request)
        if reply is None:
            return
        notes = []
        if text or figures["finish_reason"] != "stopped":
            try:
                self._save(reply, text, figures)
            except LlamaDeskError as exc:
                notes.append(str(exc))
        if figures["truncated_turns"]:
            notes.append(
                self.tr("{0} older messages did not fit the context window and were left out.").format(
                    figures["truncated_turns"]
                )
            )
        if figures.get("passages_left_out"):
            notes.append(
                self.tr("{0} of the passages found did not fit the context window and were left out.").format(
                    figures["passages_left_out"]
                )
            )
        if figures["finish_reason"] == "length":
            notes.append(self.tr("The reply reached the max new tokens limit."))
        self.reply_finished.emit(reply.conversation_id, " ".join(notes), figures)

    def _on_generation_failed(self, request: int, message: str, partial: str) -> None:
        reply = self._ended(request)
        if reply is None:
            return
        try:
            if partial:
                self._save(reply, partial, None)
            elif reply.question is not None:
                # Nothing came back: the question returns to the message box instead of lingering
                # unanswered in the conversation.
                self._history.delete_from(reply.question.id)
                if not self._history.messages(reply.conversation_id):
                    self._history.delete(reply.conversation_id)
                    self.conversation_dropped.emit(reply.conversation_id)
        except LlamaDeskError as exc:
            message = f"{message} {exc}"
        if not partial and reply.question is not None and not self._composer.text().strip():
            self._composer.input.setPlainText(reply.question.content)
        self.reply_failed.emit(reply.conversation_id, message)

    def _end(self) -> None:
        self._flush_timer.stop()
        self.reply = None
        self.reply_ended.emit()

    def _save(self, reply: Reply, text: str, figures: dict | None) -> None:
        model_id, adapter_id = self._model_session.answering()
        figures = figures or {}
        self._history.add_message(
            reply.conversation_id,
            "assistant",
            text,
            model_id=figures.get("model_id") or model_id,
            adapter_id=figures.get("adapter_id", adapter_id),
            settings=reply.settings,
            tokens=figures.get("new_tokens"),
            tokens_per_s=figures.get("tokens_per_s"),
            ttft_s=figures.get("ttft_s"),
            finish_reason=figures.get("finish_reason", "stopped"),
            replacing=reply.replacing,
            sources=figures.get("sources"),
        )

    def shutdown(self, undelivered: tuple[int, str, dict | None] | None) -> None:
        """The window closes and the engine's thread has ended: keep what the reply being written
        wrote, `undelivered` being what the thread wrote that never arrived here."""
        self._flush_timer.stop()
        reply, self.reply = self.reply, None
        if reply is not None and not reply.discarded and undelivered and undelivered[0] == reply.request:
            _request, text, figures = undelivered
            if text:
                # A failure here has no one to be shown to; what was saved before stays.
                with contextlib.suppress(LlamaDeskError):
                    self._save(reply, text, figures)
