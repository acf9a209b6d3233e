"""The chat engine: one loaded model, streaming replies, stop on request, LoRA adapters on top.

Generation is a plain decode loop over the model's KV cache, run in the caller's thread: the caller
(the CLI's main thread or the GUI's worker thread) pulls pieces of text from a generator, and a
stop request is checked before and after every forward pass, so at most the token being computed
when Stop was pressed is thrown away, and nothing is ever shown after it. No helper thread means
none can leak, and a private torch.Generator makes seeded replies reproducible without touching
the global RNG that training or another chat may be using."""

import contextlib
import gc
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llamadesk.core import attention, library, runtime
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

log = logging.getLogger(__name__)


def pick_device(parameters: int) -> tuple[str, Any]:
    """Where the model runs and in which dtype: the user's runtime choice, else the fastest place.

    On "auto", GPUs run bf16 (fp16 where bf16 is not supported); CPUs run fp32, which is faster
    there and exact, unless fp32 weights would take more than half the memory, then bf16. A choice
    this machine cannot honour (CUDA on a machine without one, a dtype the device cannot compute
    in) falls back to the automatic one with a logged reason: a settings file copied from another
    computer must never stop a model from loading."""
    import torch

    options = runtime.current()
    available = runtime.available_devices()  # "auto", "cpu", then any GPU
    device = options.device
    if device not in available:
        log.warning("Device %s was chosen but this machine has none; choosing automatically.", device)
        device = "auto"
    if device == "auto":
        device = available[2] if len(available) > 2 else "cpu"
    if options.dtype != "auto":
        dtype = getattr(torch, options.dtype)
        if _computes_in(device, dtype):
            return device, dtype
        log.warning("%s cannot compute in %s here; choosing the dtype automatically.", device, options.dtype)
    return device, _auto_dtype(device, parameters)


def _auto_dtype(device: str, parameters: int) -> Any:
    import psutil
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.bfloat16 if parameters * 4 > psutil.virtual_memory().total // 2 else torch.float32


def _computes_in(device: str, dtype: Any) -> bool:
    """Whether a small matrix product in `dtype` runs on `device`: the cheapest honest test, since
    support depends on the build and the hardware (bf16 on older GPUs and Macs, fp16 on old CPUs)."""
    import torch

    if device == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        return False
    try:
        probe = torch.ones(4, 4, dtype=dtype, device=device)
        return bool(torch.isfinite(probe @ probe).all())
    except (RuntimeError, TypeError):
        return False


@dataclass(frozen=True)
class _Vocabulary:
    """The tokenizer replies are written with, and what follows from it. The base model has one;
    an adapter that brings its own tokenizer (new tokens, another chat template) has another."""

    tokenizer: Any
    template: str  # "model" (the tokenizer's own), or the fallback used: "llama3", "chatml", "llama2"
    fallback_template: str | None  # the fallback's text; None with the tokenizer's own template
    stop_ids: frozenset[int]
    # Output rows this tokenizer can decode, where the model has more (an adapter's new tokens
    # without the tokenizer that names them); None: every row.
    logits_limit: int | None = None


@dataclass(frozen=True)
class _KeptCache:
    key: tuple  # ChatEngine._cache_key() when it was filled
    ids: list[int]  # the tokens it holds keys and values for
    cache: Any  # a transformers DynamicCache


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """transformers draws a progress bar on stderr while loading; the CLI's output must stay clean."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class ChatEngine(Engine):
    """One model in memory, answering one conversation at a time (a lock guards it)."""

    name = "torch"

    def __init__(self) -> None:
        super().__init__()
        self.entry: library.ModelEntry | None = None
        self.model: Any = None  # a transformers model, or a peft.PeftModel once adapters are loaded
        self.tokenizer: Any = None
        self.loaded_adapters: list[str] = []
        self._fallback_template: str | None = None
        self._stop_ids: frozenset[int] = frozenset()
        self._logits_limit: int | None = None
        # Keyed by adapter id, None for the base; adapters without their own tokenizer use the base's.
        self._vocabularies: dict[str | None, _Vocabulary] = {}
        self._base_rows = 0  # rows of the base's token embeddings: the vocabulary it was made with
        self._kept: _KeptCache | None = None  # the last reply's KV cache, for the next turn

    # -- loading ----------------------------------------------------------------------------------

    def load(self, model_id: str, progress: Progress | None = None, quantization: str | None = None) -> None:
        """Load a library model, replacing the one in memory (freed first, so two never coexist).

        `quantization` overrides the model's own setting for this load (the benchmark compares
        modes); it applies on a CPU only: a GPU runs its native 16-bit dtype, which is already
        faster than the CPU kernels would be there."""
        progress = progress or Progress()
        entry = library.get_model(model_id)
        from llamadesk.core.quantize import check_mode, quantize_model

        quantization = check_mode(entry.quantization if quantization is None else quantization)
        if not (entry.path / "config.json").is_file():
            raise NotFoundError(
                _(
                    "The files of '{model_id}' are missing from {path}; import the model "
                    "again or remove it from the library."
                ).format(model_id=model_id, path=entry.path)
            )
        progress(0.0, _("Loading {model_id}").format(model_id=model_id))
        from transformers import AutoTokenizer

        device, dtype = pick_device(int(entry.manifest.get("counted_parameters") or 0))
        with self._lock:
            self._release()
            try:
                with _quiet_loading():
                    tokenizer = AutoTokenizer.from_pretrained(entry.path)
                    progress(0.1, _("Loading {model_id} weights").format(model_id=model_id))
                    model = library.load_causal_lm(
                        entry, dtype, progress.sub(0.1, 0.8), attn_implementation=attention.register()
                    )
            except (OSError, ValueError, RuntimeError, KeyError) as exc:
                raise InvalidModelError(
                    _("'{model_id}' could not be loaded ({exc}).").format(model_id=model_id, exc=exc)
                ) from exc
            progress(0.8, _("Moving {model_id} to {device}").format(model_id=model_id, device=device))
            model.to(device).eval()
            if quantization != "none" and device != "cpu":
                log.info(
                    "%s quantisation is for CPUs; %s runs %s on %s.", quantization, model_id, dtype, device
                )
                quantization = "none"
            if quantization != "none":
                progress(
                    0.9,
                    _("Quantising {model_id} to {quantization}").format(
                        model_id=model_id, quantization=quantization
                    ),
                )
                quantize_model(model, quantization)
            self.model, self.tokenizer, self.entry, self.model_id = model, tokenizer, entry, model_id
            self.device, self.quantization = device, quantization
            self.dtype = str(dtype).removeprefix("torch.")
            self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
            self._base_rows = int(model.get_input_embeddings().weight.shape[0])
            self._vocabularies = {None: self._vocabulary(tokenizer)}
            self._use_vocabulary(None)
        progress(1.0, _("{model_id} is ready").format(model_id=model_id))

    def _vocabulary(self, tokenizer: Any, logits_limit: int | None = None) -> _Vocabulary:
        vocab = tokenizer.get_vocab()
        if getattr(tokenizer, "chat_template", None):
            template, fallback = "model", None
        else:
            template = fallback_template_name(vocab)
            fallback = FALLBACK_TEMPLATES[template]
        stop = {tokenizer.eos_token_id}
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        stop.update(eos if isinstance(eos, list) else [eos])
        stop.update(vocab[token] for token in END_OF_TURN_TOKENS if token in vocab)
        return _Vocabulary(
            tokenizer, template, fallback, frozenset(i for i in stop if i is not None), logits_limit
        )

    def _use_vocabulary(self, adapter_id: str | None) -> None:
        vocabulary = self._vocabularies.get(adapter_id, self._vocabularies[None])
        self.tokenizer = vocabulary.tokenizer
        self.template, self._fallback_template = vocabulary.template, vocabulary.fallback_template
        self._stop_ids, self._logits_limit = vocabulary.stop_ids, vocabulary.logits_limit

    def unload(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        had_model = self.model is not None
        self.model = self.tokenizer = self.entry = self.model_id = None
        self.active_adapter, self.loaded_adapters, self.last_stats = None, [], None
        self.device = self.dtype = self.template = ""
        self.quantization = "none"
        self._vocabularies, self._base_rows, self._kept = {}, 0, None
        if had_model:
            gc.collect()
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def memory_bytes(self) -> int:
        """GPU memory held by tensors on a GPU; the whole process's resident memory on a CPU."""
        if self.device == "cuda":
            import torch

            return int(torch.cuda.memory_allocated())
        return super().memory_bytes()

    # -- adapters ---------------------------------------------------------------------------------

    def load_adapters(self, adapter_ids: list[str], progress: Progress | None = None) -> None:
        """Put LoRA adapters beside the base weights (not merged), so switching is instant."""
        from llamadesk.core import adapters

        progress = progress or Progress()
        with self._lock:
            self._require_model()
            wanted = [a for a in adapter_ids if a not in self.loaded_adapters]
            entries = [adapters.get_adapter(a) for a in wanted]
            for entry in entries:  # every check before any change, so a bad one changes nothing
                adapters.check_compatible(entry, self.entry)
                adapters.check_intact(entry)
            for index, entry in enumerate(entries):
                progress(index / len(entries), _("Loading adapter {entry}").format(entry=entry.id))
                self._attach_adapter(entry)
        progress(1.0, _("Adapters ready"))

    def _attach_adapter(self, entry: Any) -> None:
        from peft import PeftModel

        tokenizer = self._adapter_tokenizer(entry)
        rows = int(entry.manifest.get("vocab_size") or 0)
        own_rows = rows if rows and rows != self._base_rows else None
        if tokenizer is not None and len(tokenizer) > (own_rows or self._base_rows):
            raise IncompatibleAdapterError(
                _(
                    "Adapter '{entry}' comes with a tokenizer of {tokens} tokens, "
                    "but its model has embeddings for {own_rows}; the adapter folder is "
                    "inconsistent."
                ).format(entry=entry.id, tokens=len(tokenizer), own_rows=own_rows or self._base_rows)
            )
        try:
            if own_rows is not None:
                self._attach_with_own_embeddings(entry, own_rows)
            elif isinstance(self.model, PeftModel):
                self.model.load_adapter(str(entry.path), adapter_name=entry.id)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(entry.path), adapter_name=entry.id)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            log.warning("adapter %s does not load", entry.id, exc_info=exc)
            # PEFT's own words can run to a line per tensor: the first line, the rest in the log.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IncompatibleAdapterError(
                _("Adapter '{entry}' could not be loaded ({exc}).").format(entry=entry.id, exc=first)
            ) from exc
        self.model.eval()
        self.loaded_adapters.append(entry.id)
        if tokenizer is not None:
            self._vocabularies[entry.id] = self._vocabulary(tokenizer)
        elif own_rows is not None:
            # New tokens with no tokenizer to name them: never write one.
            self._vocabularies[entry.id] = self._vocabulary(
                self._vocabularies[None].tokenizer, self._base_rows
            )
        # PEFT makes the adapter it just loaded the active one; ours stays as the user chose.
        if self.active_adapter is not None:
            self.model.set_adapter(self.active_adapter)

    @staticmethod
    def _adapter_tokenizer(entry: Any) -> Any:
        """The adapter's own tokenizer (one that added tokens travels with its adapter), or None."""
        if not any((entry.path / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
            return None
        from transformers import AutoTokenizer

        try:
            with _quiet_loading():
                return AutoTokenizer.from_pretrained(entry.path)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise IncompatibleAdapterError(
                _("The tokenizer of adapter '{entry}' could not be loaded ({exc}).").format(
                    entry=entry.id, exc=exc
                )
            ) from exc

    def _attach_with_own_embeddings(self, entry: Any, rows: int) -> None:
        """Load an adapter that grew the vocabulary to `rows` tokens, beside the others.

        Such an adapter carries whole copies of the token embeddings and the output layer
        (modules_to_save) with rows for its new tokens. Those copies take its size here and the
        base's own layers are never resized nor written to: with the adapter off, the base computes
        exactly what it computed before, and adapters that grew the vocabulary differently coexist.
        PEFT's own loading cannot do this: it would copy the adapter's saved (resized) base layers
        over the shared ones, or refuse them for their size."""
        from peft import LoraConfig, PeftModel, get_peft_model
        from peft.utils import ModulesToSaveWrapper, load_peft_weights, set_peft_model_state_dict

        config = LoraConfig.from_pretrained(str(entry.path))
        config.inference_mode = True
        weights = load_peft_weights(str(entry.path), device=self.device)
        bare = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
        names = {id(module): name for name, module in bare.named_modules()}
        saved = config.modules_to_save or []
        layers = []  # the model's names for its token embeddings and output layer
        for layer in (bare.get_input_embeddings(), bare.get_output_embeddings()):
            name = names.get(id(layer), "")
            shape = getattr(weights.get(f"base_model.model.{name}.weight"), "shape", None)
            own_copy = any(name == target or name.endswith("." + target) for target in saved)
            if not (name and own_copy and shape is not None and shape[0] == rows):
                raise IncompatibleAdapterError(
                    _(
                        "Adapter '{entry}' adds tokens but does not carry its own token "
                        "embeddings and output layer (modules_to_save), so it cannot be "
                        "switched on and off in a chat; merge it into a new model to use it."
                    ).format(entry=entry.id)
                )
            layers.append(f"base_model.model.{name}")
        # What an adapter saved of the base's layers (PEFT's save_embedding_layers) is the base's
        # business: never loaded over the weights every other adapter and the base share.
        weights = {
            key: value
            for key, value in weights.items()
            if not any(part in key for part in (".original_module.", ".base_layer.", ".modules_to_save."))
        }
        created = not isinstance(self.model, PeftModel)
        if created:
            self.model = get_peft_model(self.model, config, adapter_name=entry.id)
        else:
            self.model.add_adapter(entry.id, config)
        try:
            modules = dict(self.model.named_modules())
            for name in layers:
                _resize_rows(modules[name].modules_to_save[entry.id], rows)
            result = set_peft_model_state_dict(self.model, weights, adapter_name=entry.id)
            missing = [key for key in result.missing_keys if f".{entry.id}." in key]
            if missing:
                raise IncompatibleAdapterError(
                    _(
                        "Adapter '{entry}' is incomplete: {count} of its weights are "
                        "missing (for instance {missing})."
                    ).format(entry=entry.id, count=len(missing), missing=missing[0])
                )
        except BaseException:
            if created:
                # Unloading keeps whatever copy of a layer is active: the base's own must be.
                for module in self.model.modules():
                    if isinstance(module, ModulesToSaveWrapper):
                        module.set_adapter([])
                self.model = self.model.unload()
            else:
                self.model.delete_adapter(entry.id)
            raise

    def set_adapter(self, adapter_id: str | None) -> None:
        """Answer with `adapter_id` (loaded on first use), or with the bare base model for None."""
        if adapter_id is not None and adapter_id not in self.loaded_adapters:
            self.load_adapters([adapter_id])
        with self._lock:
            self._require_model()
            if adapter_id is not None:
                self.model.set_adapter(adapter_id)
            self.active_adapter = adapter_id
            self._use_vocabulary(adapter_id)

    def _adapter_context(self) -> contextlib.AbstractContextManager:
        """With adapters loaded but none chosen, switch them off for this reply: the base model's
        output, bit for bit, without reloading it."""
        if self.loaded_adapters and self.active_adapter is None:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    # -- generation -------------------------------------------------------------------------------

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self._encode(messages))

    def _encode(self, messages: list[dict]) -> list[int]:
        from jinja2 import TemplateError

        extra = {"chat_template": self._fallback_template} if self._fallback_template else {}
        try:
            ids = self.tokenizer.apply_chat_template(
                messages,
                add_generation_prompt=True,
                return_dict=False,
                # Text that looks like "<|im_end|>" in a message stays text, not a control token.
                sanitize_control_tokens=True,
                **extra,
            )
        except TemplateError as exc:
            raise LlamaDeskError(
                _("This model's chat template refused the conversation: {exc}").format(exc=exc)
            ) from exc
        return list(ids)

    def _prompt(self, request: list[dict] | str, budget: int) -> tuple[list[int], int]:
        """The prompt's tokens within `budget`, and how many of the oldest turns were left out."""
        if isinstance(request, str):
            ids = self.tokenizer(request, add_special_tokens=False)["input_ids"]
            bos = self.tokenizer.bos_token_id if getattr(self.tokenizer, "add_bos_token", False) else None
            return text_prompt(list(ids), bos, budget), 0
        kept, dropped = fit_history(request, self.count_tokens, budget)
        return self._encode(kept), dropped

    def _generate(
        self, request: list[dict] | str, settings: GenerationSettings, cancel: threading.Event
    ) -> Iterator[str]:
        import torch

        started = time.perf_counter()
        prompt, dropped = self._prompt(request, self.prompt_budget(settings.max_new_tokens))
        max_new = min(settings.max_new_tokens, self.context_length - len(prompt))
        seed = settings.seed if settings.seed is not None else secrets.randbits(63)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        processors = self._processors(settings)

        new: list[int] = []
        shown = ""
        first_at = last_at = started
        finish = "length"
        cache, reused = self._take_cache(prompt)
        fed = prompt[:reused]  # the tokens `cache` holds keys and values for
        consistent = True  # false only while a forward pass may be half-way through the cache
        try:
            with torch.inference_mode(), self._adapter_context(), runtime.decode_threads(self.device):
                context = torch.tensor([prompt], device=self.device)  # (1, seq): what the penalty looks at
                step_input = context[:, reused:]
                for _step in range(max_new):
                    if cancel.is_set():
                        finish = "stopped"
                        break
                    consistent = False
                    logits = self.model(
                        input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1
                    ).logits
                    fed.extend(step_input[0].tolist())
                    consistent = True
                    scores = processors(context, logits[:, -1, : self._logits_limit].float())  # (1, vocab)
                    if settings.greedy:
                        next_id = int(scores.argmax(dim=-1))
                    else:
                        probs = torch.softmax(scores, dim=-1)
                        next_id = int(torch.multinomial(probs, 1, generator=generator))
                    if cancel.is_set():  # Stop arrived during the forward pass: show nothing more
                        finish = "stopped"
                        break
                    last_at = time.perf_counter()
                    if not new:
                        first_at = last_at
                    if next_id in self._stop_ids:
                        finish = "eos"
                        break
                    new.append(next_id)
                    step_input = torch.tensor([[next_id]], device=self.device)
                    context = torch.cat([context, step_input], dim=1)
                    text = self.tokenizer.decode(new, skip_special_tokens=True)
                    # Hold back a half-decoded character (a multi-byte one split across tokens).
                    if not text.endswith("\ufffd") and text.startswith(shown) and len(text) > len(shown):
                        yield text[len(shown) :]
                        shown = text
                # A character cut off by the token limit decodes as "\ufffd": dropped, not shown.
                text = self.tokenizer.decode(new, skip_special_tokens=True).rstrip("\ufffd")
                if finish != "stopped" and text.startswith(shown) and len(text) > len(shown):
                    yield text[len(shown) :]
        finally:
            if consistent:  # also when the reader closed the stream early: the cache matches `fed`
                self._kept = _KeptCache(self._cache_key(), fed, cache)

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

    def _cache_key(self) -> tuple:
        """What the keys and values depend on besides the tokens: the weights in use."""
        return (id(self.model), self.model_id, tuple(self.loaded_adapters), self.active_adapter)

    def _take_cache(self, prompt: list[int]) -> tuple[Any, int]:
        """The previous reply's KV cache cut back to what it shares with `prompt`, and that length.

        The next turn of a conversation starts with the whole previous prompt and most of the
        reply, so only the new message is encoded and the time to first token stays flat as the
        conversation grows. Reusing by common prefix rather than by conversation also copes with
        edits, regenerations and dropped turns: whatever differs is simply encoded again. At least
        the last prompt token is always run, since its logits choose the first reply token."""
        from transformers import DynamicCache

        kept, self._kept = self._kept, None
        if kept is not None and kept.key == self._cache_key():
            shared = 0
            for a, b in zip(kept.ids, prompt, strict=False):
                if a != b:
                    break
                shared += 1
            reused = min(shared, len(prompt) - 1)
            if reused > 0:
                try:
                    kept.cache.crop(reused - len(kept.ids))
                    return kept.cache, reused
                except (RuntimeError, ValueError):  # a cache kind that cannot be cut back
                    log.debug("KV cache not reusable; encoding the whole prompt", exc_info=True)
        return DynamicCache(config=self.model.config), 0

    @staticmethod
    def _processors(settings: GenerationSettings) -> Any:
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        chain = LogitsProcessorList()
        if settings.repetition_penalty != 1.0:
            chain.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
        if not settings.greedy:
            chain.append(TemperatureLogitsWarper(settings.temperature))
            if settings.top_k > 0:
                chain.append(TopKLogitsWarper(settings.top_k))
            if settings.top_p < 1.0:
                chain.append(TopPLogitsWarper(settings.top_p))
        return chain


def _resize_rows(layer: Any, rows: int) -> None:
    """Give an embedding or output layer `rows` token rows, left uninitialised: the adapter's saved
    weights fill them all (a missing one is an error, checked after loading)."""
    import torch

    for name, parameter in list(layer.named_parameters(recurse=False)):
        if parameter.shape[0] != rows:
            empty = torch.empty((rows, *parameter.shape[1:]), dtype=parameter.dtype, device=parameter.device)
            setattr(layer, name, torch.nn.Parameter(empty, requires_grad=False))
    if hasattr(layer, "num_embeddings"):
        layer.num_embeddings = rows
    if hasattr(layer, "out_features"):
        layer.out_features = rows
