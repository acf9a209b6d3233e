"""Perplexity: exp of the mean next-token negative log-likelihood (NLL) over a corpus.

A text longer than the window is read with a sliding window, as Hugging Face's perplexity guide
does: each window starts `stride` tokens after the previous one and re-reads the overlap only as
context, so every token is scored once, with as much left context as the window allows. Unlike
the guide, the NLL is summed per scored token rather than taken as a window mean times an
approximate count, so the figure is exactly exp(mean NLL) over the scored tokens — the same as
`model(ids, labels=ids).loss` when the text fits in one window. A window's first token has no
context inside it; it is scored only when it was context of an earlier window (stride < window),
which is why a text's very first token is never scored.

Documents are scored separately (no window spans two files) and pooled token-weighted."""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from llamadesk.core.corpus.reading import Document
from llamadesk.core.errors import CorpusError, LlamaDeskError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

if TYPE_CHECKING:
    from llamadesk.core.evaluation.scorers import Scorer

# The default window when the user sets none: a model's full context (128k for Llama 3.1) would
# need far more memory than scoring gains from it.
DEFAULT_WINDOW_CAP = 2048


@dataclass(frozen=True)
class PerplexitySettings:
    window: int | None = None  # tokens per forward pass; None: the model's context, at most 2048
    stride: int | None = None  # tokens each window advances; None: half the window

    def __post_init__(self) -> None:
        if self.window is not None and self.window < 2:
            raise LlamaDeskError(_("The perplexity window must be at least 2 tokens."))
        if self.stride is not None and self.stride < 1:
            raise LlamaDeskError(_("The perplexity stride must be at least 1 token."))

    def resolve(self, context_length: int | None) -> tuple[int, int]:
        """(window, stride) for a model with this context length."""
        window = self.window or min(context_length or DEFAULT_WINDOW_CAP, DEFAULT_WINDOW_CAP)
        if context_length and window > context_length:
            raise LlamaDeskError(
                _(
                    "A window of {window} tokens is longer than the model's context ({context_length})."
                ).format(window=window, context_length=context_length)
            )
        stride = self.stride or max(window // 2, 1)
        if stride > window:
            raise LlamaDeskError(
                _("The stride ({stride}) cannot be longer than the window ({window}).").format(
                    stride=stride, window=window
                )
            )
        return window, stride

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TokenizedDocument:
    name: str
    ids: list[int]


@dataclass(frozen=True)
class Window:
    """Tokens [begin, end) go through the model; tokens [first_scored, end) are scored."""

    begin: int
    end: int
    first_scored: int


def tokenize_documents(tokenizer, documents: Sequence[Document]) -> list[TokenizedDocument]:
    """Tokenise as a plain `tokenizer(text)` does (with the model's BOS where it adds one), refusing
    texts too short to predict anything before any model work starts."""
    result = []
    for doc in documents:
        ids = tokenizer(doc.text)["input_ids"]
        if len(ids) < 2:
            raise CorpusError(
                _(
                    "{source} is shorter than two tokens; perplexity needs at least one token to predict."
                ).format(source=doc.source)
            )
        result.append(TokenizedDocument(doc.source, list(ids)))
    return result


def windows(length: int, window: int, stride: int) -> list[Window]:
    """The passes over a text of `length` tokens, each scoring only tokens no earlier pass scored."""
    result = []
    prev_end = 0
    for begin in range(0, length, stride):
        end = min(begin + window, length)
        first = max(prev_end, begin + 1)
        if first < end:
            result.append(Window(begin, end, first))
        prev_end = end
        if end == length:
            break
    return result


def perplexity(
    scorer: "Scorer",
    documents: Sequence[TokenizedDocument],
    settings: PerplexitySettings,
    progress: Progress,
    detail: list[dict] | None = None,
) -> dict:
    """The corpus perplexity with the token count and window settings it was measured with.

    Appends one entry per document to `detail` as it is finished, so a caller that is stopped
    midway still has what was done."""
    import numpy as np

    if not documents:
        raise CorpusError(_("There is no text to score."))
    window, stride = settings.resolve(scorer.context_length)
    plans = [(doc, windows(len(doc.ids), window, stride)) for doc in documents]
    total_windows = sum(len(w) for _doc, w in plans) or 1
    nll_total = 0.0
    tokens_total = 0
    done = 0
    progress(0.0, _("Perplexity"))
    for doc, doc_windows in plans:
        doc_nll = 0.0
        doc_tokens = 0
        for w in doc_windows:
            scored = w.end - w.first_scored
            # Logits only where they predict scored tokens: position t predicts token t + 1.
            logits = scorer.logits(doc.ids[w.begin : w.end], scored + 1)[:-1]  # (scored, vocab)
            targets = np.asarray(doc.ids[w.first_scored : w.end])
            # Cross-entropy: log-sum-exp of each row (shifted by its maximum) minus the target's logit.
            top = logits.max(axis=1)
            log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
            doc_nll += float((log_norm - logits[np.arange(scored), targets]).sum(dtype=np.float64))
            doc_tokens += scored
            done += 1
            progress(done / total_windows, _("Perplexity: {doc}").format(doc=doc.name))
        nll_total += doc_nll
        tokens_total += doc_tokens
        if detail is not None:
            detail.append(
                {
                    "document": doc.name,
                    "tokens": doc_tokens,
                    "nll_sum": doc_nll,
                    "perplexity": math.exp(doc_nll / doc_tokens),
                }
            )
    mean_nll = nll_total / tokens_total
    return {
        "perplexity": math.exp(mean_nll),
        "mean_nll": mean_nll,
        "tokens": tokens_total,
        "documents": len(documents),
        "windows": sum(len(w) for _doc, w in plans),
        "window": window,
        "stride": stride,
    }
