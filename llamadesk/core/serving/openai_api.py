"""The HTTP side of the local server: the parts of OpenAI's API that chat clients use, on starlette.

Errors are OpenAI-shaped JSON (`{"error": {"message", "type", "code"}}`) with the status codes
clients act on: 400 bad parameters, 401 a wrong key, 404 an unknown model or path, 429 busy, 500
a model that fails to load. The message is the same one sentence the CLI would print; a stack trace
never leaves the process (it goes to the log)."""

import json
import logging
import queue
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llamadesk.core.errors import BusyError, LlamaDeskError, NotFoundError
from llamadesk.core.generation import GenerationSettings, InvalidSettingsError
from llamadesk.core.grounding.index import Hit, corpus_index
from llamadesk.core.grounding.prompt import quoting_allowed, sources
from llamadesk.core.i18n import _
from llamadesk.core.serving.host import ModelHost, Reply, Served, resolve, served_names

log = logging.getLogger(__name__)

MAX_STOPS = 4  # as OpenAI's API
COMPLETION_TOKENS = 16  # OpenAI's default max_tokens for text completions
# Per kind of completion: the id's prefix, the object of a whole answer, the object of a streamed part.
_OBJECTS = {
    "chat": ("chatcmpl", "chat.completion", "chat.completion.chunk"),
    "text": ("cmpl", "text_completion", "text_completion"),
}
_ROLES = ("system", "user", "assistant")
_END = object()


class BadRequest(LlamaDeskError):
    """A request the API cannot take as it is (HTTP 400)."""


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status)


def error_response(exc: BaseException) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return _error(404, str(exc), "invalid_request_error", "model_not_found")
    if isinstance(exc, BusyError):
        return _error(429, str(exc), "rate_limit_error", "busy")
    if isinstance(exc, (BadRequest, InvalidSettingsError)):
        return _error(400, str(exc), "invalid_request_error", "invalid_parameter")
    if isinstance(exc, LlamaDeskError):
        return _error(500, str(exc), "server_error", "model_error")
    log.error("unexpected error while serving", exc_info=exc)
    return _error(500, _("Unexpected error in LlamaDesk; the details are in its log."), "server_error")


# -- reading a request ------------------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(_("The request body is not JSON ({exc}).").format(exc=exc)) from exc
    if not isinstance(body, dict):
        raise BadRequest(_("The request body must be a JSON object."))
    return body


def _field(body: dict[str, Any], name: str, kinds: tuple[type, ...], default: Any = None) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise BadRequest(_("'{name}' has the wrong type.").format(name=name))
    return value


def _text_of(content: Any) -> str:
    """A message's content: a string, or OpenAI's list of parts of which the text ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        if any(p.get("type") != "text" for p in content):
            raise BadRequest(_("Only text message parts are supported; images and audio are not."))
        return "".join(str(p.get("text", "")) for p in content)
    raise BadRequest(_("A message's 'content' must be text."))


def _messages(body: dict[str, Any]) -> list[dict]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest(_("'messages' must be a non-empty list of {role, content} objects."))
    messages = []
    for item in raw:
        role = item.get("role") if isinstance(item, dict) else None
        if role == "developer":  # OpenAI's newer name for the system message
            role = "system"
        if role not in _ROLES:
            raise BadRequest(
                _("Each message needs a 'role' of system, user or assistant (got {role}).").format(role=role)
            )
        messages.append({"role": role, "content": _text_of(item.get("content"))})
    if messages[-1]["role"] != "user":
        raise BadRequest(_("The last message must be the user's: it is what the model answers."))
    return messages


def _settings(body: dict[str, Any], defaults: GenerationSettings) -> GenerationSettings:
    """OpenAI's sampling fields (and top_k and repetition_penalty, as llama.cpp's server takes them)
    over `defaults`, the app's own."""
    if _field(body, "n", (int,), 1) != 1:
        raise BadRequest(_("Only one choice per request is supported ('n' must be 1)."))
    numbers = (int, float)
    return GenerationSettings(
        temperature=float(_field(body, "temperature", numbers, defaults.temperature)),
        top_p=float(_field(body, "top_p", numbers, defaults.top_p)),
        top_k=_field(body, "top_k", (int,), defaults.top_k),
        repetition_penalty=float(_field(body, "repetition_penalty", numbers, defaults.repetition_penalty)),
        max_new_tokens=_field(
            body, "max_completion_tokens", (int,), _field(body, "max_tokens", (int,), defaults.max_new_tokens)
        ),
        seed=_field(body, "seed", (int,)),
    )


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > MAX_STOPS:
        raise BadRequest(_("'stop' must be a string or a list of at most 4 strings."))
    return stops


def _retrieve(body: dict[str, Any], messages: list[dict]) -> list[Hit]:
    """Passages for the question from the corpus the request names in LlamaDesk's own field,
    `"llamadesk": {"docs": CORPUS, "k": 3}`; none when it names none. Only the library's corpora:
    a client never gets the server to read a file by its path."""
    extra = body.get("llamadesk") or {}
    if not isinstance(extra, dict):
        raise BadRequest(_('\'llamadesk\' must be an object such as {"docs": "my-notes"}.'))
    docs = extra.get("docs")
    if docs is None:
        return []
    k = extra.get("k", 3)
    if not isinstance(docs, str) or not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20:
        raise BadRequest(_("'llamadesk.docs' must name a corpus, and 'llamadesk.k' be 1 to 20."))
    return corpus_index(docs).search(messages[-1]["content"], k)


# -- running a reply off the event loop -------------------------------------------------------------


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _produce(pieces: Callable[[], Iterator[str]], out: queue.Queue) -> None:
    try:
        for piece in pieces():
            out.put(piece)
    except BaseException as exc:  # handed to the request's own task, which answers with it
        out.put(_Failure(exc))
    finally:
        out.put(_END)


async def _pieces(pieces: Callable[[], Iterator[str]], cancel: threading.Event) -> AsyncIterator[str]:
    """The reply's pieces, written on a thread of its own so the event loop serves other clients
    meanwhile. Leaving early (the client went away) sets `cancel`: the reply stops within a token
    and the next request's turn comes."""
    out: queue.Queue = queue.Queue()
    threading.Thread(target=_produce, args=(pieces, out), name="llamadesk-serve", daemon=True).start()
    try:
        while (item := await anyio.to_thread.run_sync(out.get, abandon_on_cancel=True)) is not _END:
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        cancel.set()


async def _whole_reply(request: Request, pieces: Callable[[], Iterator[str]], cancel: threading.Event) -> str:
    """The reply in one string, stopped early if the client disconnects while it waits."""

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(0.2)
        cancel.set()

    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            parts = [piece async for piece in _pieces(pieces, cancel)]
        except Exception as exc:  # raised after the group, not wrapped in an exception group
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return "".join(parts)


# -- the endpoints ----------------------------------------------------------------------------------


def _model_card(served: Served) -> dict[str, Any]:
    return {"id": served.name, "object": "model", "created": 0, "owned_by": "llamadesk"}


async def list_models(request: Request) -> Response:
    names = await anyio.to_thread.run_sync(served_names)
    return JSONResponse({"object": "list", "data": [_model_card(s) for s in names]})


async def get_model(request: Request) -> Response:
    served = await anyio.to_thread.run_sync(resolve, request.path_params["name"])
    return JSONResponse(_model_card(served))


async def chat_completions(request: Request) -> Response:
    body = await _body(request)
    served = await anyio.to_thread.run_sync(resolve, _field(body, "model", (str,), ""))
    messages, settings = _messages(body), _settings(body, GenerationSettings())
    hits = await anyio.to_thread.run_sync(_retrieve, body, messages)
    if hits and "repetition_penalty" not in body:
        settings = quoting_allowed(settings)
    return await _answer(request, body, served, messages, settings, "chat", hits)


async def completions(request: Request) -> Response:
    """Plain text continued, without the chat template (base models, code completion)."""
    body = await _body(request)
    served = await anyio.to_thread.run_sync(resolve, _field(body, "model", (str,), ""))
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest(_("'prompt' must be one non-empty string."))
    if body.get("echo") or body.get("suffix"):
        raise BadRequest(_("'echo' and 'suffix' are not supported."))
    # OpenAI's completions default to 16 new tokens; clients that want more say so.
    settings = _settings(body, GenerationSettings(max_new_tokens=COMPLETION_TOKENS))
    return await _answer(request, body, served, prompt, settings, "text", [])


async def _answer(
    request: Request,
    body: dict[str, Any],
    served: Served,
    prompt: list[dict] | str,
    settings: GenerationSettings,
    kind: str,
    hits: list[Hit],
) -> Response:
    """Generate for a chat or text completion, whole or streamed as server-sent events; a chat
    grounded in `hits` is given as many as fit, and its answer names those as its sources."""
    host: ModelHost = request.app.state.host
    stops = _stops(body)
    stream = bool(body.get("stream"))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    host.check_room()
    cancel, reply = threading.Event(), Reply()
    prefix, whole, part = _OBJECTS[kind]
    completion_id, created = f"{prefix}-{uuid.uuid4().hex}", int(time.time())

    def pieces() -> Iterator[str]:
        return host.generate(served, prompt, settings, stops, cancel, reply, hits)

    def cited() -> dict[str, Any]:  # read once the reply has finished
        return {"llamadesk": {"sources": sources(reply.passages)}} if hits else {}

    def usage() -> dict[str, int]:  # read once the reply has finished
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    def envelope(choices: list[dict], obj: str) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": obj,
            "created": created,
            "model": served.name,
            "choices": choices,
        }

    def choice(text: str | None, finish: str | None, first: bool = False) -> dict[str, Any]:
        if kind == "text":
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
        if not stream:
            message = {"role": "assistant", "content": text}
            return {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        delta = {"role": "assistant", "content": ""} if first else {"content": text} if text else {}
        return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}

    if not stream:
        text = await _whole_reply(request, pieces, cancel)
        answer = envelope([choice(text, reply.finish_reason)], whole) | {"usage": usage()} | cited()
        return JSONResponse(answer)

    def event(data: dict[str, Any]) -> str:
        return json.dumps(data, ensure_ascii=False)

    async def events() -> AsyncIterator[str]:
        if kind == "chat":
            yield event(envelope([choice(None, None, first=True)], part))
        try:
            async for piece in _pieces(pieces, cancel):
                yield event(envelope([choice(piece, None)], part))
        except Exception as exc:  # the response has begun: the error travels as an event
            yield json.dumps(json.loads(error_response(exc).body))
            return
        yield event(envelope([choice(None, reply.finish_reason)], part) | cited())
        if include_usage:
            yield event(envelope([], part) | {"usage": usage()})
        yield "[DONE]"

    return EventSourceResponse(events(), ping=15)


# -- the application --------------------------------------------------------------------------------


async def _no_such_path(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    message = _("There is no {method} {path} here.").format(method=request.method, path=request.url.path)
    return _error(status, message, "invalid_request_error")


def _answering(endpoint: Callable, api_key: str | None) -> Callable:
    """The checks and answers every endpoint shares: the API key, when one is set, and every error
    turned into an OpenAI-shaped answer here, before starlette's own handling would print a stack
    trace."""

    async def answer(request: Request) -> Response:
        if api_key is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(given.encode(), api_key.encode()):
                message = _("A wrong or missing API key.")
                return _error(401, message, "invalid_request_error", "invalid_api_key")
        try:
            return await endpoint(request)
        except Exception as exc:
            return error_response(exc)

    return answer


def create_app(host: ModelHost, api_key: str | None = None) -> Starlette:
    """The server's application; every request must carry `api_key` (as a bearer token) when one is
    set."""
    app = Starlette(
        routes=[
            Route("/v1/models", _answering(list_models, api_key), methods=["GET"]),
            Route("/v1/models/{name:path}", _answering(get_model, api_key), methods=["GET"]),
            Route("/v1/chat/completions", _answering(chat_completions, api_key), methods=["POST"]),
            Route("/v1/completions", _answering(completions, api_key), methods=["POST"]),
        ],
        exception_handlers={HTTPException: _no_such_path},
    )
    app.state.host = host
    return app
