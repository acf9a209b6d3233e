"""The llama.cpp chat engine: a GGUF file run as it is, on the CPU, through llama-cpp-python.

The file is mapped into memory (never copied), its quantised blocks run directly, and LoRA adapters
are GGUF files loaded once beside it and switched per reply with `llama_set_adapters_lora`, without
touching the base weights. The interface is ChatEngine's (core/engine.py), so the chat panel, the
CLI and the self-test use either without knowing which.

The decode loop is ours, not `Llama.generate`: it evaluates with `Llama.eval` (batched prompt
processing, the same bookkeeping of evaluated tokens the library keeps), samples with a llama.cpp
sampler chain built per reply (all in C: no logits ever reach Python), and checks a stop request
before and after every decode step. Per token, Python does only that check, one sampler call, one
piece lookup and an incremental UTF-8 decode, so the app streams at the library's own speed.

Prompt-prefix reuse: the context keeps the keys and values of every token it evaluated (the last
prompt and the reply so far); the next call keeps the longest common prefix and evaluates only
what follows it. Switching adapters changes what those keys and values would be, so it drops them."""

import codecs
import ctypes
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llamadesk.core import library, runtime
from llamadesk.core.chat_templates import (
    END_OF_TURN_TOKENS,
    FALLBACK_TEMPLATES,
    fallback_template_name,
    fit_history,
)
from llamadesk.core.engines.base import Engine, text_prompt
from llamadesk.core.errors import IncompatibleAdapterError, InvalidModelError, LlamaDeskError, NotFoundError
from llamadesk.core.generation import GenerationSettings, GenerationStats
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# The largest context we allocate: keys and values for 8k tokens fit a laptop for the models a
# laptop runs, where a model's full trained context (128k for Llama 3.1) would not.
MAX_CONTEXT = 8192
# Tokens evaluated per llama_decode call while reading a prompt.
PROMPT_BATCH = 512
# Around a message's text while the template renders, so its span can be found afterwards:
# Unicode noncharacters, which no text needs (any found in a message are dropped).
_OPEN, _CLOSE = "\ufdd0", "\ufdd1"
_MARKS = re.compile(f"[{_OPEN}{_CLOSE}]")
_PIECE_BUFFER = 256  # bytes; longer pieces (rare) get a buffer of their own


@dataclass(frozen=True)
class _SpecialToken:
    id: int
    lstrip: bool  # llama.cpp removes whitespace on its left...
    rstrip: bool  # ...or on its right, when it parses the token out of text


@dataclass(frozen=True)
class _Vocabulary:
    """What the model's tokenizer means for prompts and replies, read once per load."""

    template: Any  # a compiled jinja2 Template
    template_name: str  # "model" (the file's own), or the fallback used: "llama3", "chatml", "llama2"
    bos_id: int  # -1: none
    add_bos: bool  # whether the model expects BOS in front of every prompt
    bos_text: str
    eos_text: str
    specials: dict[str, _SpecialToken]  # control tokens by text: what parse_special would match
    special_pattern: re.Pattern | None  # any of them, longest first (None: the model has none)
    stop_ids: frozenset[int]  # end-of-turn tokens besides the model's own end-of-generation set


def _threads() -> int:
    """CPU threads for this reply: the user's choice (else one per physical core), but one while a
    training run shares the CPU, as the torch engine does (runtime.decode_threads says why)."""
    import psutil

    from llamadesk.core.training.runs import live_runs

    threads = runtime.current().threads or psutil.cpu_count(logical=False) or os.cpu_count() or 1
    if threads > 1 and live_runs():
        log.info("A training run shares the CPU: decoding on one thread instead of %d", threads)
        return 1
    return threads


def _weight_type(llm: Any) -> str:
    """The file's main weight type as llama.cpp names it ("Q4_1", "Q4_K" for "Q4_K - Medium")."""
    import llama_cpp

    buffer = ctypes.create_string_buffer(256)
    llama_cpp.llama_model_desc(llm.model, buffer, len(buffer))
    parts = buffer.value.decode("utf-8", errors="replace").split(" ", 2)  # "llama 135M Q4_1"
    name = parts[2] if len(parts) == 3 else ""
    return name.removeprefix("all ").split(" - ")[0].split(" (")[0] or "?"


def _side_context(entry: library.ModelEntry) -> int | None:
    """The trained context from the model's side files, before llama.cpp has read the file."""
    try:
        value = entry.context_length
    except (LlamaDeskError, OSError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


def _compile_template(source: str) -> Any:
    """A sandboxed jinja2 template with what chat templates expect besides their variables."""
    import json
    from datetime import datetime

    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)


def _guard(content: str) -> str:
    """`content` with its text between marks; whitespace stays outside, so `| trim` still trims it."""
    content = _MARKS.sub("", content)
    core = content.strip()
    if not core:
        return content
    start = content.find(core)
    return f"{content[:start]}{_OPEN}{core}{_CLOSE}{content[start + len(core) :]}"


class LlamaCppEngine(Engine):
    """One GGUF model in memory, answering one conversation at a time (a lock guards it)."""

    name = "llama.cpp"

    def __init__(self) -> None:
        super().__init__()
        self.entry: library.ModelEntry | None = None
        self.llm: Any = None  # the llama_cpp.Llama in use
        self.loaded_adapters: list[str] = []
        self._vocab: _Vocabulary | None = None
        self._adapters: dict[str, Any] = {}  # adapter id -> llama_adapter_lora pointer
        self._piece = ctypes.create_string_buffer(_PIECE_BUFFER)

    # -- loading ----------------------------------------------------------------------------------

    def load(self, model_id: str, progress: Progress | None = None, quantization: str | None = None) -> None:
        """Load a library model's GGUF file, replacing the model in memory (freed first, so two
        never coexist). `quantization` is ignored: llama.cpp runs the file's own types."""
        del quantization
        progress = progress or Progress()
        entry = library.get_model(model_id)
        path = entry.gguf_path
        if path is None:
            raise InvalidModelError(
                _(
                    "'{model_id}' has no GGUF file, so llama.cpp cannot run it; "
                    "it chats through the torch engine."
                ).format(model_id=model_id)
            )
        if not path.is_file():
            raise NotFoundError(
                _(
                    "The file of '{model_id}' is missing ({path}); import the model again "
                    "or remove it from the library."
                ).format(model_id=model_id, path=path)
            )
        library.check_intact(entry)  # llama.cpp's own refusal names no cause
        progress(0.0, _("Loading {model_id}").format(model_id=model_id))
        import llama_cpp

        n_ctx = min(_side_context(entry) or MAX_CONTEXT, MAX_CONTEXT)
        threads = _threads()
        with self._lock:
            self._release()
            try:
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_gpu_layers=0,
                    use_mmap=True,
                    n_ctx=n_ctx,
                    n_batch=min(PROMPT_BATCH, n_ctx),
                    n_threads=threads,
                    n_threads_batch=threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise InvalidModelError(
                    _("'{model_id}' could not be loaded ({exc}).").format(model_id=model_id, exc=exc)
                ) from exc
            try:
                progress(0.8, _("Reading the tokenizer of {model_id}").format(model_id=model_id))
                vocab = self._read_vocabulary(llm)
            except BaseException:
                llm.close()
                raise
            trained = int(llama_cpp.llama_model_n_ctx_train(llm.model)) or n_ctx
            self.llm, self.entry, self.model_id, self._vocab = llm, entry, model_id, vocab
            self.device, self.dtype, self.quantization = "cpu", _weight_type(llm), entry.quantization
            self.context_length = min(n_ctx, trained)
            self.template = vocab.template_name
        progress(1.0, _("{model_id} is ready").format(model_id=model_id))

    @staticmethod
    def _read_vocabulary(llm: Any) -> _Vocabulary:
        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        # Control tokens are what llama.cpp's tokenizer parses out of text only when asked to
        # (parse_special); user-defined ones it parses always. Both name markers such as <|im_end|>.
        control = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        named_kinds = control | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        specials: dict[str, _SpecialToken] = {}
        named: dict[str, int] = {}
        for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
            attr = llama_cpp.llama_vocab_get_attr(vocab, token)
            if not attr & named_kinds:
                continue
            text = (llama_cpp.llama_vocab_get_text(vocab, token) or b"").decode("utf-8", errors="replace")
            if not text or text in named:
                continue
            named[text] = token
            if attr & control:
                specials[text] = _SpecialToken(
                    token,
                    bool(attr & llama_cpp.LLAMA_TOKEN_ATTR_LSTRIP),
                    bool(attr & llama_cpp.LLAMA_TOKEN_ATTR_RSTRIP),
                )
        pattern = None
        if specials:
            pattern = re.compile("|".join(re.escape(t) for t in sorted(specials, key=len, reverse=True)))

        def text_of(token: int) -> str:
            if token < 0:
                return ""
            return (llama_cpp.llama_vocab_get_text(vocab, token) or b"").decode("utf-8", errors="replace")

        bos, eos = int(llama_cpp.llama_vocab_bos(vocab)), int(llama_cpp.llama_vocab_eos(vocab))
        own = llm.metadata.get("tokenizer.chat_template")
        template, name = None, "model"
        if own:
            from jinja2 import TemplateError

            try:
                template = _compile_template(own)
            except TemplateError as exc:
                log.warning("The model's chat template does not compile (%s); using a fallback.", exc)
        if template is None:
            name = fallback_template_name(named)
            template = _compile_template(FALLBACK_TEMPLATES[name])
        stop = {named[t] for t in END_OF_TURN_TOKENS if t in named}
        stop.update(t for t in (eos, int(llama_cpp.llama_vocab_eot(vocab))) if t >= 0)
        return _Vocabulary(
            template=template,
            template_name=name,
            bos_id=bos,
            add_bos=bool(llama_cpp.llama_vocab_get_add_bos(vocab)) and bos >= 0,
            bos_text=text_of(bos),
            eos_text=text_of(eos),
            specials=specials,
            special_pattern=pattern,
            stop_ids=frozenset(stop),
        )

    def unload(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self.llm is not None:
            import llama_cpp

            llama_cpp.llama_set_adapters_lora(self.llm.ctx, None, 0, None)
            for adapter in self._adapters.values():  # before the model they belong to
                llama_cpp.llama_adapter_lora_free(adapter)
            self.llm.close()
        self.llm = self.entry = self.model_id = self._vocab = None
        self.active_adapter, self.loaded_adapters, self.last_stats = None, [], None
        self._adapters = {}
        self.device = self.dtype = self.template = ""
        self.quantization = "none"
        self.context_length = 0

    # -- scoring (evaluation) -----------------------------------------------------------------------
    # Evaluation reads a model's logits and greedy replies on the file as it is mapped, so a 7B
    # model is scored in about its file's memory, not in a dequantised float copy. Both start from an
    # empty cache and leave one, so the chat's kept prompt prefix is never mixed with scored text.

    def _clear(self) -> None:
        import llama_cpp

        self.llm.reset()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.llm.ctx), True)

    def logits(self, ids: list[int], keep: int) -> "np.ndarray":
        """The logits (keep, vocab) at the last `keep` positions of `ids`, read in one pass."""
        import llama_cpp
        import numpy as np

        if not 0 < keep <= len(ids) <= self.context_length:
            raise ValueError(f"{len(ids)} tokens keeping {keep} in a context of {self.context_length}")
        with self._lock:
            llm, first = self.llm, len(ids) - keep
            n_vocab, step = llm.n_vocab(), llm.n_batch
            threads = _threads()
            llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
            out = np.empty((keep, n_vocab), dtype=np.float32)
            batch = llama_cpp.llama_batch_init(step, 0, 1)
            self._clear()
            try:
                for start in range(0, len(ids), step):
                    chunk = ids[start : start + step]
                    batch.n_tokens = len(chunk)
                    for i, token in enumerate(chunk):
                        batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, start + i, 1
                        batch.seq_id[i][0] = 0
                        batch.logits[i] = start + i >= first  # only the rows asked for are kept
                    if llama_cpp.llama_decode(llm.ctx, batch) != 0:
                        raise LlamaDeskError(_("llama.cpp could not evaluate the text."))
                    for i in range(max(first - start, 0), len(chunk)):
                        row = llama_cpp.llama_get_logits_ith(llm.ctx, i)
                        out[start + i - first] = np.ctypeslib.as_array(row, shape=(n_vocab,))
            finally:
                llama_cpp.llama_batch_free(batch)
                self._clear()
        return out

    def greedy(
        self, ids: list[int], max_new_tokens: int, stop_ids: frozenset[int], cancel: threading.Event | None
    ) -> list[int]:
        """The greedy continuation of `ids` (token ids), ending at a stop token, the limit, the end
        of the context or a set `cancel`."""
        import llama_cpp

        with self._lock:
            llm = self.llm
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            threads = _threads()
            llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
            stops = stop_ids | self._vocab.stop_ids
            sampler = llama_cpp.llama_sampler_init_greedy()
            self._clear()
            new: list[int] = []
            try:
                pending = list(ids)
                for _step in range(min(max_new_tokens, self.context_length - len(ids))):
                    if cancel is not None and cancel.is_set():
                        break
                    llm.eval(pending)
                    token = llama_cpp.llama_sampler_sample(sampler, llm.ctx, -1)
                    if token in stops or llama_cpp.llama_vocab_is_eog(vocab, token):
                        break
                    new.append(token)
                    pending = [token]
            finally:
                llama_cpp.llama_sampler_free(sampler)
                self._clear()
        return new

    # -- adapters ---------------------------------------------------------------------------------

    def load_adapters(self, adapter_ids: list[str], progress: Progress | None = None) -> None:
        """Load GGUF LoRAs beside the base weights (each once), so switching is instant."""
        import llama_cpp

        from llamadesk.core import adapters

        progress = progress or Progress()
        with self._lock:
            self._require_model()
            wanted = list(dict.fromkeys(a for a in adapter_ids if a not in self._adapters))
            entries = [adapters.get_adapter(a) for a in wanted]
            for entry in entries:  # every check before any change, so a bad one changes nothing
                # Only the GGUF LoRA is read here: a damaged one is refused by llama.cpp below, in
                # one sentence; the PEFT files' own check belongs to the torch engine and merging.
                adapters.check_compatible(entry, self.entry)
                if not (entry.folder / adapters.GGUF_LORA).is_file():
                    raise IncompatibleAdapterError(
                        _(
                            "Adapter '{adapter}' has no llama.cpp form ({file} is missing), so the "
                            "llama.cpp engine cannot use it."
                        ).format(adapter=entry.id, file=adapters.GGUF_LORA)
                    )
            for index, entry in enumerate(entries):
                progress(index / len(entries), _("Loading adapter {entry}").format(entry=entry.id))
                path = entry.folder / adapters.GGUF_LORA
                pointer = llama_cpp.llama_adapter_lora_init(self.llm.model, str(path).encode("utf-8"))
                if not pointer:
                    raise IncompatibleAdapterError(
                        _(
                            "Adapter '{adapter}' could not be loaded by llama.cpp: {file} does not fit "
                            "'{model_id}'."
                        ).format(adapter=entry.id, file=path, model_id=self.model_id)
                    )
                self._adapters[entry.id] = pointer
                self.loaded_adapters.append(entry.id)
        progress(1.0, _("Adapters ready"))

    def set_adapter(self, adapter_id: str | None) -> None:
        """Answer with `adapter_id` (loaded on first use), or with the bare base model for None."""
        import llama_cpp

        if adapter_id is not None and adapter_id not in self._adapters:
            self.load_adapters([adapter_id])
        with self._lock:
            self._require_model()
            ctx = self.llm.ctx
            if adapter_id is None:
                llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
            else:
                pointers = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._adapters[adapter_id])
                scales = (ctypes.c_float * 1)(1.0)  # the file's alpha / rank is applied by llama.cpp
                llama_cpp.llama_set_adapters_lora(ctx, pointers, 1, scales)
            if adapter_id != self.active_adapter:
                self.llm.reset()  # the kept keys and values came from other weights
            self.active_adapter = adapter_id

    # -- prompts ----------------------------------------------------------------------------------

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self._encode(messages))

    def _render(self, messages: list[dict]) -> str:
        from jinja2 import TemplateError

        vocab = self._vocab
        try:
            return vocab.template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=vocab.bos_text,
                eos_token=vocab.eos_text,
            )
        except TemplateError as exc:
            raise LlamaDeskError(
                _("This model's chat template refused the conversation: {exc}").format(exc=exc)
            ) from exc

    def _encode(self, messages: list[dict]) -> list[int]:
        """The prompt's tokens: the template's own text may hold control tokens, message text never
        does. A user typing "<|im_end|>" gets those characters, not an end of turn."""
        self._require_model()
        vocab = self._vocab
        pattern = vocab.special_pattern

        def risky(message: dict) -> bool:
            content = message.get("content")
            return isinstance(content, str) and pattern is not None and pattern.search(content) is not None

        if not any(risky(m) for m in messages):
            ids = self._tokenize(self._render(messages), special=True)
        else:
            guarded = [m | {"content": _guard(m["content"])} if risky(m) else m for m in messages]
            ids = self._tokenize_guarded(self._render(guarded))
        if vocab.add_bos and (not ids or ids[0] != vocab.bos_id):  # unless the template wrote it
            ids.insert(0, vocab.bos_id)
        return ids

    def _tokenize(self, text: str, special: bool) -> list[int]:
        if not text:
            return []
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def _tokenize_guarded(self, rendered: str) -> list[int]:
        """Tokenise as llama.cpp does with parse_special, but find control tokens only outside the
        marked message spans: control tokens become their ids, the text between them is tokenised
        as plain text (llama.cpp does the same with the fragments it cuts out)."""
        vocab = self._vocab
        parts: list[str | int] = [""]  # text and token ids, alternating as they come
        strip_next = False  # the last control token eats the whitespace after it (rstrip)
        inside = False
        pos = 0
        marks = [(m.start(), m.group()) for m in _MARKS.finditer(rendered)] + [(len(rendered), None)]
        for at, mark in marks:
            chunk = rendered[pos:at]
            pos = at + 1
            if inside:
                if strip_next:
                    chunk, strip_next = chunk.lstrip(), False
                parts[-1] += chunk
            else:
                last = 0
                for found in vocab.special_pattern.finditer(chunk):
                    token = vocab.specials[found.group()]
                    text = chunk[last : found.start()]
                    if strip_next:
                        text, strip_next = text.lstrip(), False
                    parts[-1] += text
                    if token.lstrip:
                        parts[-1] = parts[-1].rstrip()
                    parts += [token.id, ""]
                    strip_next = token.rstrip
                    last = found.end()
                text = chunk[last:]
                if strip_next and text:
                    text, strip_next = text.lstrip(), False
                parts[-1] += text
            if inside if mark is None else (mark == _OPEN) == inside:
                # The template cut or moved message text (marks unpaired): guard nothing.
                log.warning("The chat template reorders message text; control-token guard skipped.")
                return self._tokenize(_MARKS.sub("", rendered), special=True)
            inside = not inside
        ids: list[int] = []
        for part in parts:
            if isinstance(part, int):
                ids.append(part)
            else:
                ids.extend(self._tokenize(part, special=False))
        return ids

    # -- generation -------------------------------------------------------------------------------

    def _prompt(self, request: list[dict] | str, budget: int) -> tuple[list[int], int]:
        """The prompt's tokens within `budget`, and how many of the oldest turns were left out."""
        if isinstance(request, str):
            vocab = self._vocab
            return text_prompt(
                self._tokenize(request, special=False), vocab.bos_id if vocab.add_bos else None, budget
            ), 0
        encoded: dict[tuple[int, ...], list[int]] = {}  # by the message objects in it

        def count(candidate: list[dict]) -> int:
            encoded[tuple(map(id, candidate))] = ids = self._encode(candidate)
            return len(ids)

        kept, dropped = fit_history(request, count, budget)
        return encoded.get(tuple(map(id, kept))) or self._encode(kept), dropped  # fit_history's own, if any

    def _generate(
        self, request: list[dict] | str, settings: GenerationSettings, cancel: threading.Event
    ) -> Iterator[str]:
        import llama_cpp

        started = time.perf_counter()
        prompt, dropped = self._prompt(request, self.prompt_budget(settings.max_new_tokens))
        max_new = min(settings.max_new_tokens, self.context_length - len(prompt))
        seed = settings.seed if settings.seed is not None else secrets.randbits(63)

        llm, vocab = self.llm, self._vocab
        model_vocab = llama_cpp.llama_model_get_vocab(llm.model)
        threads = _threads()
        llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
        reused = self._keep_prefix(prompt)
        sampler = self._sampler(settings, seed, prompt)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

        # Bound once: the loop below runs per token.
        is_eog, sample, piece_of = (
            llama_cpp.llama_vocab_is_eog,
            llama_cpp.llama_sampler_sample,
            llama_cpp.llama_token_to_piece,
        )
        stop_ids, ctx, buffer, clock = vocab.stop_ids, llm.ctx, self._piece, time.perf_counter
        new: list[int] = []
        first_at = last_at = started
        finish = "length"
        pending: list[int] = prompt[reused:]
        try:
            for _step in range(max_new):
                if cancel.is_set():
                    finish = "stopped"
                    break
                llm.eval(pending)
                token = sample(sampler, ctx, -1)
                if cancel.is_set():  # Stop arrived during the decode: show nothing more
                    finish = "stopped"
                    break
                last_at = clock()
                if not new:
                    first_at = last_at
                if token in stop_ids or is_eog(model_vocab, token):
                    finish = "eos"
                    break
                new.append(token)
                pending = [token]
                size = piece_of(model_vocab, token, buffer, _PIECE_BUFFER, 0, False)
                raw = buffer.raw[:size] if size >= 0 else self._long_piece(token, -size)
                # The incremental decoder holds back a character split across tokens.
                text = decoder.decode(raw)
                if text:
                    yield text
            # Whatever the decoder still holds is a character cut off by the token limit (or by a
            # stop): dropped, where flushing it would show "\ufffd" at the end of the reply.
        except Exception:
            llm.reset()  # a failed decode leaves the kept keys and values in doubt
            raise
        finally:
            llama_cpp.llama_sampler_free(sampler)

        self.last_stats = GenerationStats.timed(
            len(new),
            started,
            first_at,
            last_at,
            truncated_turns=dropped,
            prompt_tokens=len(prompt),
            reused_tokens=reused,
            finish_reason=finish,
            seed=seed,
        )

    def _long_piece(self, token: int, size: int) -> bytes:
        import llama_cpp

        buffer = ctypes.create_string_buffer(size)
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        return buffer.raw[: llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, False)]

    def _keep_prefix(self, prompt: list[int]) -> int:
        """Keep the keys and values of the longest prefix `prompt` shares with what the context
        holds; return its length. Reusing by common prefix rather than by conversation also copes
        with edits, regenerations and dropped turns.

        At least the last two prompt tokens are evaluated again: the last one's logits choose the
        first reply token, and llama.cpp computes a batch of one token with other kernels than a
        batch of several (on the starter the logits differ by up to 0.8), while every batch of two
        or more gives the same logits bit for bit. Re-reading two keeps a regenerated reply with
        the same seed identical to the first, whose prompt was read in one batch."""
        import llama_cpp
        import numpy as np

        llm = self.llm
        held = llm.input_ids[: llm.n_tokens]
        n = min(len(held), len(prompt) - 2)
        if n <= 0:
            llm.reset()
            return 0
        differs = np.flatnonzero(held[:n] != np.asarray(prompt[:n], dtype=held.dtype))
        shared = int(differs[0]) if differs.size else n
        memory = llama_cpp.llama_get_memory(llm.ctx)
        if shared == 0 or not llama_cpp.llama_memory_seq_rm(memory, -1, shared, -1):
            llm.reset()  # nothing shared, or a memory that cannot be cut back (recurrent models)
            return 0
        llm.n_tokens = shared
        return shared

    def _sampler(self, settings: GenerationSettings, seed: int, prompt: list[int]) -> Any:
        """A llama.cpp sampler chain doing what the torch engine does: repetition penalty over the
        whole context, then greedy, or temperature, top-k, top-p and a seeded draw."""
        import llama_cpp

        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        add = llama_cpp.llama_sampler_chain_add
        if settings.repetition_penalty != 1.0:
            vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
            add(
                chain,
                llama_cpp.llama_sampler_init_penalties(
                    llama_cpp.llama_vocab_n_tokens(vocab),
                    self.context_length,
                    settings.repetition_penalty,
                    0.0,
                    0.0,
                ),
            )
        if settings.greedy:
            add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            add(chain, llama_cpp.llama_sampler_init_temp(settings.temperature))
            if settings.top_k > 0:
                add(chain, llama_cpp.llama_sampler_init_top_k(settings.top_k))
            if settings.top_p < 1.0:
                add(chain, llama_cpp.llama_sampler_init_top_p(settings.top_p, 1))
            # llama.cpp seeds are 32-bit and 0xFFFFFFFF means "random": fold ours below it.
            add(chain, llama_cpp.llama_sampler_init_dist(seed % 0xFFFFFFFF))
        if settings.repetition_penalty != 1.0:
            accept = llama_cpp.llama_sampler_accept
            for token in prompt:  # the penalty looks at the prompt too, as the torch engine's does
                accept(chain, token)
        return chain
