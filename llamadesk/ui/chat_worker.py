"""The chat engine off the GUI thread.

`EngineWorker` owns a `SwitchingEngine` (llama.cpp or torch, per model) and lives on its own
QThread: loading, adapter switches and replies all run there, one after another, in the order
asked. `ChatController`, on the GUI thread, is the view's handle on it: its methods queue requests
through signals (queued connections, since the worker lives in another thread) and its signals
bring results back the same way. Stop is the one thing that does not queue: it sets the reply's
`threading.Event`, which the decode loop checks before and after every token, so it takes effect
while the worker is still busy."""

import logging
import threading
from contextlib import closing

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from llamadesk.core.engines import SwitchingEngine
from llamadesk.core.engines.base import GenerationBusyError
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.logs import setup_logging
from llamadesk.core.progress import Progress

log = logging.getLogger("llamadesk.ui")


def _unexpected(exc: Exception) -> str:
    log.error("chat engine failed", exc_info=exc)
    return QCoreApplication.translate("tasks", "Unexpected error: {0}. Details are in {1}.").format(
        exc, setup_logging()
    )


class EngineWorker(QObject):
    """Signals: load_progressed(fraction, message), model_loaded(info), load_failed(message),
    token_received(request, text), generation_finished(request, text, figures),
    generation_failed(request, message, partial text), adapter_changed(adapter id or None, info:
    the engine may have changed, an adapter without a llama.cpp form runs on torch),
    adapter_failed(message), tokens_counted(tokens, context length)."""

    load_progressed = Signal(float, str)
    model_loaded = Signal(object)
    load_failed = Signal(str)
    token_received = Signal(int, str)
    generation_finished = Signal(int, str, object)
    generation_failed = Signal(int, str, str)
    adapter_changed = Signal(object, object)
    adapter_failed = Signal(str)
    tokens_counted = Signal(int, int)

    def __init__(self) -> None:
        super().__init__()
        self.engine = SwitchingEngine()
        # The latest reply as (request, text so far, figures once done). Read by the GUI thread
        # only after this thread has ended: what a window closed mid-reply saves.
        self.reply: tuple[int, str, dict | None] | None = None

    @Slot(str)
    def load(self, model_id: str) -> None:
        progress = Progress(lambda fraction, message: self.load_progressed.emit(fraction, message))
        try:
            self.engine.load(model_id, progress)
        except LlamaDeskError as exc:
            self.load_failed.emit(str(exc))
        except Exception as exc:
            self.load_failed.emit(_unexpected(exc))
        else:
            self.model_loaded.emit(self.engine.info())

    @Slot(object)
    def set_adapter(self, adapter_id: str | None) -> None:
        try:
            self.engine.set_adapter(adapter_id)
        except LlamaDeskError as exc:
            self.adapter_failed.emit(str(exc))
        except Exception as exc:
            self.adapter_failed.emit(_unexpected(exc))
        else:
            self.adapter_changed.emit(adapter_id, self.engine.info())

    @Slot(object)
    def count_tokens(self, messages: list[dict]) -> None:
        """How many tokens `messages` take, with the model's context: the chat's counter. -1 while
        no model is loaded or the text cannot be encoded (said when it is sent, not here)."""
        try:
            used = self.engine.count_tokens(messages) if self.engine.model_id else -1
        except Exception:  # a counter must never take the engine down; the send says what is wrong
            log.debug("counting tokens failed", exc_info=True)
            used = -1
        self.tokens_counted.emit(used, self.engine.context_length if self.engine.model_id else 0)

    @Slot(int, object, object, object, object)
    def generate(
        self,
        request: int,
        messages: list[dict],
        settings: GenerationSettings,
        cancel: threading.Event,
        docs: str | None,
    ) -> None:
        """Write the reply to `messages`; with `docs` (a corpus id), from the passages of that
        corpus that match the question, placed before it, without a repetition penalty (it would
        keep the model from quoting them). The passages travel with the figures as "sources"."""
        model_id, adapter_id = self.engine.model_id, self.engine.active_adapter
        text = ""
        cited: list[dict] | None = None
        left_out = 0  # passages found that did not fit the context
        self.reply = (request, text, None)
        try:
            if docs is not None:
                from llamadesk.core.grounding.index import open_index
                from llamadesk.core.grounding.prompt import fit_for, quoting_allowed, sources

                hits = open_index(docs).search(messages[-1]["content"], 3)
                settings = quoting_allowed(settings)
                messages, kept = fit_for(self.engine, messages, hits, settings)
                cited, left_out = sources(kept) or None, len(hits) - len(kept)
            with closing(self.engine.stream(messages, settings, cancel)) as stream:
                for piece in stream:
                    text += piece
                    self.reply = (request, text, None)
                    self.token_received.emit(request, piece)
        except LlamaDeskError as exc:
            self.generation_failed.emit(request, str(exc), text)
        except Exception as exc:
            self.generation_failed.emit(request, _unexpected(exc), text)
        else:
            stats = self.engine.last_stats
            figures = stats.to_json() | {
                "model_id": model_id,
                "adapter_id": adapter_id,
                "memory_bytes": self.engine.memory_bytes(),
                "engine": self.engine.kind,
                "sources": cited,
                "passages_left_out": left_out,
            }
            self.reply = (request, text, figures)
            self.generation_finished.emit(request, text, figures)


class ChatController(QObject):
    """The GUI thread's handle on an `EngineWorker` and its thread.

    Signals: the worker's, delivered on the GUI thread: load_progressed, model_loaded, load_failed,
    token_received, generation_finished, generation_failed, adapter_changed, adapter_failed,
    tokens_counted."""

    load_progressed = Signal(float, str)
    model_loaded = Signal(object)
    load_failed = Signal(str)
    token_received = Signal(int, str)
    generation_finished = Signal(int, str, object)
    generation_failed = Signal(int, str, str)
    adapter_changed = Signal(object, object)
    adapter_failed = Signal(str)
    tokens_counted = Signal(int, int)

    _load_requested = Signal(str)
    _adapter_requested = Signal(object)
    _generate_requested = Signal(int, object, object, object, object)
    _count_requested = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("chat-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self._thread)
        queued = Qt.ConnectionType.QueuedConnection
        self._load_requested.connect(self.worker.load, queued)
        self._adapter_requested.connect(self.worker.set_adapter, queued)
        self._generate_requested.connect(self.worker.generate, queued)
        self._count_requested.connect(self.worker.count_tokens, queued)
        self.worker.tokens_counted.connect(self._on_tokens_counted, queued)
        for name in (
            "load_progressed",
            "model_loaded",
            "load_failed",
            "token_received",
            "adapter_changed",
            "adapter_failed",
        ):
            getattr(self.worker, name).connect(getattr(self, name), queued)
        self.worker.generation_finished.connect(self._on_generation_finished, queued)
        self.worker.generation_failed.connect(self._on_generation_failed, queued)
        self._request = 0
        self._cancel: threading.Event | None = None
        # Counting as the user types: one count in flight at a time, the latest text counted next.
        self._counting = False
        self._next_count: list[dict] | None = None
        self._closed = False
        self._thread.start()

    @property
    def generating(self) -> bool:
        return self._cancel is not None

    def load(self, model_id: str) -> None:
        self._load_requested.emit(model_id)

    def set_adapter(self, adapter_id: str | None) -> None:
        self._adapter_requested.emit(adapter_id)

    def generate(self, messages: list[dict], settings: GenerationSettings, docs: str | None = None) -> int:
        """Queue a reply (grounded in corpus `docs` when given); returns its request number, which
        every signal about it carries."""
        if self.generating:
            raise GenerationBusyError("A reply is still being written; wait for it or press Stop.")
        self._request += 1
        self._cancel = threading.Event()
        self._generate_requested.emit(self._request, messages, settings, self._cancel, docs)
        return self._request

    def count_tokens(self, messages: list[dict]) -> None:
        """Queue counting `messages`; tokens_counted answers. While one count waits behind a reply
        or a load, later ones replace each other: only the latest text is worth counting."""
        if self._counting:
            self._next_count = messages
            return
        self._counting = True
        self._count_requested.emit(messages)

    def _on_tokens_counted(self, used: int, context: int) -> None:
        self._counting = False
        if self._next_count is not None:
            messages, self._next_count = self._next_count, None
            self.count_tokens(messages)
            return
        if not self._closed:
            self.tokens_counted.emit(used, context)

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _on_generation_finished(self, request: int, text: str, figures: dict) -> None:
        if self._closed:  # shutdown already handed this reply over
            return
        if request == self._request:
            self._cancel = None
        self.generation_finished.emit(request, text, figures)

    def _on_generation_failed(self, request: int, message: str, partial: str) -> None:
        if self._closed:
            return
        if request == self._request:
            self._cancel = None
        self.generation_failed.emit(request, message, partial)

    def shutdown(self) -> tuple[int, str, dict | None] | None:
        """Stop any reply, end the thread and free the model. Returns the reply whose result had not
        reached the GUI yet, as (request, text, figures or None), for the caller to keep; its
        signals are dropped from now on. Safe to call twice."""
        self.stop()
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()
        undelivered = self.worker.reply if self.generating and not self._closed else None
        self._closed = True
        self._cancel = None
        self.worker.engine.unload()
        return undelivered
