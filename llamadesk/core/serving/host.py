"""One model loaded for every client of the local server, and turns for them in arrival order.

A request names `MODEL` or `MODEL@ADAPTER`. The host loads MODEL when it is not the one loaded (one
model at a time: two would double the memory), and switches the adapter inside the loaded engine,
which both engines do without reloading. Requests wait their turn first come, first served; past
`max_waiting` waiting requests a new one is refused as busy rather than queued without end. A
request whose client has gone (its cancel event set) leaves the queue, or stops its reply within
a token."""

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llamadesk.core import adapters, library
from llamadesk.core.errors import BusyError, Cancelled, NotFoundError
from llamadesk.core.generation import GenerationSettings, GenerationStats
from llamadesk.core.i18n import _
from llamadesk.core.serving.stop_strings import StopScanner

if TYPE_CHECKING:
    from llamadesk.core.grounding.index import Hit

ADAPTER_MARK = "@"


@dataclass(frozen=True)
class Served:
    """A name the server answers to: a library model, alone or with one of its adapters."""

    model_id: str
    adapter_id: str | None = None

    @property
    def name(self) -> str:
        return self.model_id + (ADAPTER_MARK + self.adapter_id if self.adapter_id else "")


def served_names() -> list[Served]:
    """Every model in the library and, after each, each of its adapters."""
    names: list[Served] = []
    for entry in library.list_models():
        names.append(Served(entry.id))
        names.extend(Served(entry.id, a.id) for a in adapters.list_adapters(entry.id))
    return names


def resolve(name: str) -> Served:
    """The model (and adapter) a request names, or NotFoundError in the words a client shows."""
    model_id, _mark, adapter_id = name.partition(ADAPTER_MARK)
    if not any(m.id == model_id for m in library.list_models()):
        raise NotFoundError(
            _("There is no model '{name}' in the library; GET /v1/models lists them.").format(name=model_id)
        )
    if adapter_id and not any(a.id == adapter_id for a in adapters.list_adapters(model_id)):
        raise NotFoundError(
            _("Model '{model_id}' has no adapter '{adapter_id}'; GET /v1/models lists them.").format(
                model_id=model_id, adapter_id=adapter_id
            )
        )
    return Served(model_id, adapter_id or None)


@dataclass
class Reply:
    """The outcome of one request, filled in as its pieces are written."""

    finish_reason: str = "stop"  # OpenAI's words: "stop" (the model ended or a stop sequence), "length"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    passages: list["Hit"] = field(default_factory=list)  # those the model was given (as many as fit)


class ModelHost:
    def __init__(self, engine_factory: Callable[[], Any] | None = None, max_waiting: int = 8) -> None:
        if engine_factory is None:
            from llamadesk.core.engines import SwitchingEngine

            engine_factory = SwitchingEngine
        self._engine = engine_factory()
        self.max_waiting = max_waiting
        self._queue: collections.deque[object] = collections.deque()
        self._turns = threading.Condition()

    def waiting(self) -> int:
        with self._turns:
            return max(len(self._queue) - 1, 0)

    def check_room(self) -> None:
        """Refuse a request up front (before a response starts) when the queue is full."""
        if self.waiting() >= self.max_waiting:
            raise BusyError(
                _("The server is busy: {count} requests are waiting; try again shortly.").format(
                    count=self.waiting()
                )
            )

    @contextlib.contextmanager
    def _turn(self, cancel: threading.Event) -> Iterator[None]:
        ticket = object()
        with self._turns:
            self.check_room()
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket:
                    if cancel.is_set():
                        raise Cancelled()
                    self._turns.wait(timeout=0.2)
            except BaseException:
                self._queue.remove(ticket)
                self._turns.notify_all()
                raise
        try:
            yield
        finally:
            with self._turns:
                self._queue.popleft()
                self._turns.notify_all()

    def preload(self, served: Served) -> None:
        """Load a model (and adapter) before any request, so the first one does not wait for it."""
        with self._turn(threading.Event()):
            self._prepare(served)

    def _prepare(self, served: Served) -> None:
        if self._engine.model_id != served.model_id:
            self._engine.load(served.model_id)
        if self._engine.active_adapter != served.adapter_id:
            self._engine.set_adapter(served.adapter_id)

    def generate(
        self,
        served: Served,
        request: list[dict] | str,
        settings: GenerationSettings,
        stops: list[str],
        cancel: threading.Event,
        reply: Reply,
        passages: list["Hit"] | None = None,
    ) -> Iterator[str]:
        """The reply to `request` (a conversation, or plain text to continue) piece by piece, cut
        before any stop sequence; `reply` holds its figures once the generator is exhausted. A
        conversation is given as many of `passages` as fit the model's context before its question."""
        with self._turn(cancel):
            self._prepare(served)
            scanner = StopScanner(stops)
            engine = self._engine
            if passages and isinstance(request, list):
                from llamadesk.core.grounding.prompt import fit_for

                request, reply.passages = fit_for(engine, request, passages, settings)
            stream = engine.stream_text if isinstance(request, str) else engine.stream
            with contextlib.closing(stream(request, settings, cancel)) as pieces:
                for piece in pieces:
                    if text := scanner.feed(piece):
                        yield text
                    if scanner.stopped:
                        cancel.set()  # the engine stops within a token; the rest is drained unsent
            if rest := scanner.finish():
                yield rest
            self._account(self._engine.last_stats, scanner.stopped, reply)

    @staticmethod
    def _account(stats: GenerationStats | None, stopped_by_sequence: bool, reply: Reply) -> None:
        if stats is None:
            return
        reply.prompt_tokens, reply.completion_tokens = stats.prompt_tokens, stats.new_tokens
        length = stats.finish_reason == "length" and not stopped_by_sequence
        reply.finish_reason = "length" if length else "stop"

    def close(self) -> None:
        self._engine.unload()
