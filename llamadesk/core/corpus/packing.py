"""Token ids for training: packed blocks of plain text, and chat examples whose labels cover only
what the assistant says.

The tokenizer is a Hugging Face tokenizer (fast, as every Llama-family one is under transformers
v5); it is passed in, so this module imports nothing heavy itself."""

from collections.abc import Iterable, Iterator
from typing import Any

from llamadesk.core.corpus.instructions import Conversation
from llamadesk.core.errors import CorpusError, InvalidModelError
from llamadesk.core.i18n import _

IGNORE_INDEX = -100  # label value the loss skips (PyTorch cross_entropy's default ignore_index)
TOKENIZE_BATCH_CHARS = 1_000_000


def pack_texts(
    texts: Iterable[str], tokenizer: Any, block_size: int, *, keep_tail: bool = False
) -> Iterator[list[int]]:
    """Blocks of exactly `block_size` token ids: each text tokenized without special tokens and
    followed by EOS, all concatenated (a block may span documents; EOS marks where one ends).

    The final partial block is dropped by default, so every block is full and batches need no
    padding; at most `block_size - 1` tokens are lost. `keep_tail=True` yields it, shorter."""
    if block_size < 1:
        raise ValueError("block_size must be positive")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise InvalidModelError(
            _("The model's tokenizer has no end-of-text token, so documents cannot be packed.")
        )
    buffer: list[int] = []
    for batch in _batches(texts):
        for ids in tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"]:
            buffer.extend(ids)
            buffer.append(eos)
        full = len(buffer) - len(buffer) % block_size
        for start in range(0, full, block_size):
            yield buffer[start : start + block_size]
        del buffer[:full]
    if keep_tail and buffer:
        yield buffer


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    """Texts grouped into about TOKENIZE_BATCH_CHARS each (one tokenizer call per group)."""
    batch: list[str] = []
    size = 0
    for text in texts:
        if not text:
            continue
        batch.append(text)
        size += len(text)
        if size >= TOKENIZE_BATCH_CHARS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def sft_example(conversation: Conversation, tokenizer: Any, max_len: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one conversation in the model's own chat template, the labels
    IGNORE_INDEX everywhere but the assistant's replies (each with the end-of-turn markup the
    template puts after it, so the model learns to stop).

    Replies are located by rendering the template incrementally: the text up to the generation
    prompt before reply i ends where the reply starts; the text of turns 0..i ends where it ends.
    The whole text is then tokenized once, exactly as at inference, and each token is labelled by
    where its characters start. Both are truncated to `max_len`; when the prompt alone fills it,
    every label is IGNORE_INDEX and the caller should drop the example."""
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidModelError(
            _("The model has no chat template, so it cannot be trained on conversations.")
        )
    if not tokenizer.is_fast:
        raise InvalidModelError(
            _("The model's tokenizer cannot report token positions (it is not a 'fast' tokenizer).")
        )
    text = _render(tokenizer, conversation, generation_prompt=False)
    spans = []
    for index, message in enumerate(conversation):
        if message["role"] != "assistant":
            continue
        start = _render(tokenizer, conversation[:index], generation_prompt=True)
        end = _render(tokenizer, conversation[: index + 1], generation_prompt=False)
        if not (text.startswith(end) and end.startswith(start)):
            raise InvalidModelError(
                _(
                    "The model's chat template renders earlier turns differently once later "
                    "turns follow, so its replies cannot be located for training."
                )
            )
        spans.append((len(start), len(end)))
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    input_ids = list(encoding["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    span = 0
    for position, (token_start, _token_end) in enumerate(encoding["offset_mapping"]):
        while span < len(spans) and token_start >= spans[span][1]:
            span += 1
        if span < len(spans) and token_start >= spans[span][0]:
            labels[position] = input_ids[position]
    return input_ids[:max_len], labels[:max_len]


def _render(tokenizer: Any, messages: Conversation, *, generation_prompt: bool) -> str:
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    except TemplateError as exc:
        raise CorpusError(
            _("The model's chat template rejects this conversation: {exc}").format(exc=exc)
        ) from exc
