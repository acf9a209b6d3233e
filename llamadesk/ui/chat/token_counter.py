"""How much of the model's context the chat on screen takes with the message being typed, shown
beside the message box ("1,234 / 8,192 tokens"). Counting runs on the engine's thread, behind any
reply being written, so it waits until typing pauses; with no model loaded there is nothing to
count with."""

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from llamadesk.ui.chat.composer import Composer
from llamadesk.ui.chat.model_session import ModelSession
from llamadesk.ui.chat_worker import ChatController

# The counter recounts this long after the last key.
COUNT_DELAY_MS = 300


class TokenCounter(QObject):
    def __init__(
        self,
        controller: ChatController,
        model_session: ModelSession,
        composer: Composer,
        chat: Callable[[], list[dict]],
        parent: QObject | None = None,
    ) -> None:
        """`chat` gives the chat on screen as the engine reads it (system prompt and messages)."""
        super().__init__(parent)
        self._controller = controller
        self._model_session = model_session
        self._composer = composer
        self._chat = chat
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(COUNT_DELAY_MS)
        self._timer.timeout.connect(self._count)
        controller.tokens_counted.connect(self._on_tokens_counted)
        composer.draft_changed.connect(self.recount)
        model_session.model_loaded.connect(self.recount)

    def recount(self) -> None:
        """Count again shortly (the chat or the draft changed)."""
        self._timer.start()

    def stop(self) -> None:
        """The panel closes: no more counting."""
        self._stopped = True
        self._timer.stop()

    def _count(self) -> None:
        if self._model_session.loaded() is None or self._stopped:
            self._composer.show_tokens(None, None)
            return
        messages = self._chat()
        draft = self._composer.text()
        if draft.strip():
            messages.append({"role": "user", "content": draft})
        if messages:
            self._controller.count_tokens(messages)
        else:
            self._composer.show_tokens(0, self._model_session.context_length())

    def _on_tokens_counted(self, used: int, context: int) -> None:
        self._composer.show_tokens(used if used >= 0 else None, context)
