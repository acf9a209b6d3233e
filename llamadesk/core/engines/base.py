"""What both chat engines share: one reply at a time, the room a prompt may take, the refusals.

The torch engine (`core.engine.ChatEngine`) and llama.cpp's (`engines.llamacpp_engine`) differ in
how they load and decode, not in the contract the chat panel, the CLI and the self-test rely on:
`stream()` holds the engine's lock for the whole reply, a second reply is refused in words, and an
empty message or a missing model is a sentence, never a crash."""

import threading
from collections.abc import Iterator
from typing import Any

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings, GenerationStats
from llamadesk.core.i18n import _


class GenerationBusyError(LlamaDeskError):
    """A second reply was requested while one is still being written."""


class EmptyPromptError(LlamaDeskError):
    """The message to answer has no text."""


class NoModelError(LlamaDeskError):
    """Generation was asked for before any model was loaded."""


class Engine:
    """The shared half of a chat engine. A subclass loads a model (setting `model_id` and
    `context_length`) and writes replies in `_generate`, a generator of text pieces."""

    def __init__(self) -> None:
        self.model_id: str | None = None
        self.device: str = ""  # "cpu", "cuda", "mps"
        self.dtype: str = ""  # torch's dtype, or the GGUF file's main weight type ("Q4_1")
        self.quantization: str = "none"  # the torch engine's CPU weights: "none", "int8", "int4"
        self.context_length: int = 0
        self.template: str = ""  # "model" (its own template), or a fallback: "llama3", "chatml", "llama2"
        self.active_adapter: str | None = None
        self.last_stats: GenerationStats | None = None  # the figures of the latest reply
        self._lock = threading.Lock()

    name = ""  # "torch" or "llama.cpp": what the status line calls the engine

    def memory_bytes(self) -> int:
        """The process's resident memory (a mapped file's pages count once they are read)."""
        import psutil

        return int(psutil.Process().memory_info().rss)

    def info(self) -> dict[str, Any]:
        """What the status bar and `chat --verbose` show about the loaded model."""
        return {
            "model_id": self.model_id,
            "device": self.device,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "context_length": self.context_length,
            "template": self.template,
            "adapter": self.active_adapter,
            "memory_bytes": self.memory_bytes(),
            "engine": self.name,
        }

    def _require_model(self) -> None:
        if self.model_id is None:
            raise NoModelError(_("No model is loaded; choose a model first."))

    def prompt_budget(self, max_new_tokens: int) -> int:
        """Tokens the prompt may use: the context minus room for the reply (at most half of it)."""
        return self.context_length - min(max_new_tokens, self.context_length // 2)

    def stream(
        self, messages: list[dict], settings: GenerationSettings, cancel: threading.Event
    ) -> Iterator[str]:
        """Yield the reply to `messages` piece by piece; `self.last_stats` is set when it ends.

        Close the generator (or run it out) to free the engine: until then it holds the lock."""
        if not self._lock.acquire(blocking=False):
            raise GenerationBusyError(_("A reply is still being written; stop it or wait for it to finish."))
        try:
            self.last_stats = None
            self._require_model()
            if not messages or messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
                raise EmptyPromptError(_("The message is empty; type something to send."))
            yield from self._generate(messages, settings, cancel)
        finally:
            self._lock.release()

    def stream_text(self, text: str, settings: GenerationSettings, cancel: threading.Event) -> Iterator[str]:
        """Continue `text` as it is written, without the chat template: what OpenAI's completions
        endpoint asks for, and the way to use a base model never taught to chat. A text longer than
        the prompt may take keeps its end, where the continuation starts."""
        if not self._lock.acquire(blocking=False):
            raise GenerationBusyError(_("A reply is still being written; stop it or wait for it to finish."))
        try:
            self.last_stats = None
            self._require_model()
            if not text:
                raise EmptyPromptError(_("The prompt is empty; give some text to continue."))
            yield from self._generate(text, settings, cancel)
        finally:
            self._lock.release()

    def _generate(
        self, request: list[dict] | str, settings: GenerationSettings, cancel: threading.Event
    ) -> Iterator[str]:
        """Write the reply to `request`: a conversation (through the chat template), or plain text
        to continue."""
        raise NotImplementedError


def text_prompt(ids: list[int], bos: int | None, budget: int) -> list[int]:
    """A plain-text prompt's tokens within `budget`: BOS (where the model wants one) and the text's
    last tokens."""
    head = [bos] if bos is not None else []
    room = budget - len(head)
    return head + (ids[-room:] if len(ids) > room else ids)
