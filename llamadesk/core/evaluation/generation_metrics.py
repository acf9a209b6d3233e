"""Generation metrics on held-out question/answer pairs: exact match, ROUGE-L, containment.

Replies are decoded greedily so a score is a property of the model, not of a sampling seed.
Comparisons run on normalised text (NFKC, lower case, no punctuation, no whitespace) so "Paris."
matches "paris". ROUGE-L counts Chinese, Japanese and Korean text per character, which is how
it is reported for Chinese (there are no spaces to split words at), and other text per word.

A run may be grounded in documents (`GenSettings.docs`): each question is then asked with the
passages retrieved for it put before it, as chat with documents does, so the same questions measure
whether retrieval, a trained adapter, or both answer the user's private questions best. Greedy
decoding has no repetition penalty, so a grounded reply may quote its passages freely."""

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from llamadesk.core.errors import CorpusError, LlamaDeskError
from llamadesk.core.evaluation.data import jsonl_records
from llamadesk.core.evaluation.prompting import encode_prompt
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

if TYPE_CHECKING:
    from llamadesk.core.evaluation.scorers import Scorer
    from llamadesk.core.grounding.index import DocumentIndex

QUESTION_KEYS = ("question", "instruction", "prompt")
ANSWER_KEYS = ("answer", "output", "response")
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_ROUGE_TOKEN = re.compile(rf"[{_CJK_CLASS}]|(?:(?![{_CJK_CLASS}])\w)+")
DOCS_K = 3  # passages per question, as `chat --docs` gives by default
MAX_DOCS_K = 20


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: str
    source: str  # "file line N"


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 128
    # Ask as a user turn. None: when the model has a chat template of its own; a base model
    # without one is asked with the raw question.
    chat_template: bool | None = None
    limit: int | None = None  # score only the first N pairs (a quick look at a big set)
    # Ground each question in this corpus id or file/folder path (None: ask the bare question),
    # giving the model up to docs_k retrieved passages, as `chat --docs` does.
    docs: str | None = None
    docs_k: int = DOCS_K

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise LlamaDeskError(_("max_new_tokens must be at least 1."))
        if self.limit is not None and self.limit < 1:
            raise LlamaDeskError(_("The item limit must be at least 1."))
        if not 1 <= self.docs_k <= MAX_DOCS_K:
            raise LlamaDeskError(
                _("The number of passages must be between 1 and {most}.").format(most=MAX_DOCS_K)
            )

    def resolve(self, tokenizer) -> "GenSettings":
        """These settings with the chat template choice made for this tokenizer (what is stored)."""
        if self.chat_template is not None:
            return self
        return replace(self, chat_template=bool(getattr(tokenizer, "chat_template", None)))

    def to_json(self) -> dict:
        """As stored with a run. An ungrounded run stores no docs fields, so its settings equal
        those of runs stored before grounding existed and it lands in the same score column."""
        data = asdict(self)
        if self.docs is None:
            del data["docs"], data["docs_k"]
        return data


def read_qa_file(path: Path) -> list[QAItem]:
    """Pairs from JSONL with question/instruction/prompt (plus an optional `input`) and
    answer/output/response fields."""
    if path.suffix.lower() != ".jsonl":
        raise CorpusError(_("{path} is not a .jsonl file of question/answer pairs.").format(path=path))
    items = []
    for where, record in jsonl_records(path):
        question = next((str(record[k]) for k in QUESTION_KEYS if record.get(k)), "")
        answer = next((str(record[k]) for k in ANSWER_KEYS if record.get(k)), "")
        if not question.strip():
            raise CorpusError(
                _("{where}: no question (expected one of {keys}).").format(
                    where=where, keys=", ".join(QUESTION_KEYS)
                )
            )
        if not normalize(answer):
            raise CorpusError(
                _("{where}: no reference answer (expected one of {keys}).").format(
                    where=where, keys=", ".join(ANSWER_KEYS)
                )
            )
        if record.get("input"):
            question = f"{question}\n\n{record['input']}"
        items.append(QAItem(str(record.get("id", len(items))), question.strip(), answer.strip(), where))
    if not items:
        raise CorpusError(_("{path} is empty.").format(path=path))
    return items


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def exact_match(prediction: str, reference: str) -> bool:
    return normalize(prediction) == normalize(reference)


def contains_answer(prediction: str, reference: str) -> bool:
    return normalize(reference) in normalize(prediction)


def rouge_tokens(text: str) -> list[str]:
    return _ROUGE_TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence by dynamic programming, one row at a time (O(len(b)) memory)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: the harmonic mean of LCS precision and recall over tokens."""
    pred, ref = rouge_tokens(prediction), rouge_tokens(reference)
    lcs = _lcs_length(pred, ref) if pred and ref else 0
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def greedy_reply(
    scorer: "Scorer", tokenizer, question: str, settings: GenSettings, cancel: threading.Event | None = None
) -> str:
    """The greedy reply to `question`; generation stops early once `cancel` is set."""
    ids = encode_prompt(tokenizer, question, bool(settings.resolve(tokenizer).chat_template))
    new = scorer.greedy(ids, settings.max_new_tokens, scorer.stop_ids(tokenizer), cancel)
    # A reply cut at max_new_tokens can end inside a character's bytes: that half is not text.
    return tokenizer.decode(new, skip_special_tokens=True).strip().rstrip("\ufffd")


def score_generation(
    scorer: "Scorer",
    tokenizer,
    items: Sequence[QAItem],
    settings: GenSettings,
    progress: Progress,
    detail: list[dict] | None = None,
    documents: "DocumentIndex | None" = None,
) -> dict:
    """Mean exact match, ROUGE-L F1 and containment; one `detail` entry per pair, with the question,
    the reply and, when `documents` are given, the passages the question was asked with."""
    from llamadesk.core.grounding.prompt import fit_passages, sources

    settings = settings.resolve(tokenizer)
    items = items[: settings.limit] if settings.limit else items
    totals = {"exact_match": 0.0, "rouge_l": 0.0, "contains": 0.0}
    context = scorer.context_length or 1 << 30
    budget = context - min(settings.max_new_tokens, context // 2)

    def count(messages: list[dict]) -> int:
        return len(encode_prompt(tokenizer, messages[-1]["content"], bool(settings.chat_template)))

    progress(0.0, _("Generation"))
    for done, item in enumerate(items, start=1):
        hits = documents.search(item.question, settings.docs_k) if documents is not None else []
        # As many passages as leave room for the reply, as the chat gives them.
        asked, hits = fit_passages([{"role": "user", "content": item.question}], hits, count, budget)
        prompt = asked[-1]["content"]
        reply = greedy_reply(scorer, tokenizer, prompt, settings, progress.cancel)
        progress.check()  # a reply cut short by Stop is not scored
        scores = {
            "exact_match": exact_match(reply, item.answer),
            "rouge_l": rouge_l(reply, item.answer),
            "contains": contains_answer(reply, item.answer),
        }
        for key, value in scores.items():
            totals[key] += float(value)
        if detail is not None:
            entry = {"id": item.id, "source": item.source, "question": item.question, "answer": item.answer}
            entry |= {"reply": reply} | scores
            if documents is not None:
                entry["passages"] = sources(hits)
            detail.append(entry)
        progress(done / len(items), _("Generation: {done}/{total}").format(done=done, total=len(items)))
    return {key: value / len(items) for key, value in totals.items()} | {
        "items": len(items),
        "max_new_tokens": settings.max_new_tokens,
        "chat_template": settings.chat_template,
    }
