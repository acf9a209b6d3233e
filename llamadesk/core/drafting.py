"""Instruction data drafted from the user's documents by a chat model, and edited sets saved as corpora.

A model asked for question/answer pairs answers in many spellings ("Q:", "**Question 1:**",
"问：", numbered lists, answers running over several lines), so the parser reads markers, not
layout, and drops what it cannot pair. Nothing drafted is used unreviewed: the pairs go to the
dataset editor, and only the ones the user keeps are written out."""

import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadesk.core.corpus.reading import read_instruction_file
from llamadesk.core.corpus.scan import LanguageMix, iter_paragraphs, iter_passages
from llamadesk.core.errors import CorpusError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

# Short enough that the prompt and a few answers fit a 2k-token context; long enough to ask about.
CHUNK_CHARS = 1500
PAIRS_PER_CHUNK = 3
MIN_PASSAGE_TOKENS = 16  # below this there is nothing to ask about
# Low temperature: questions should stay close to the text rather than wander.
DRAFT_SETTINGS = GenerationSettings(temperature=0.3, top_p=0.9, max_new_tokens=512)

_SYSTEM_EN = "You write question-and-answer pairs that teach an assistant what a document says."
_ASK_EN = (
    "Read the text below and write {count} questions a reader might ask about it, each followed by "
    "an answer based only on the text. Use exactly this format, one pair after another:\n"
    'Q: <question>\nA: <answer>\n\nText:\n"""\n{chunk}\n"""'
)
_SYSTEM_ZH = "你负责根据文档编写问答对，用来教会助手文档中的内容。"
_ASK_ZH = (
    "阅读下面的文字，提出 {count} 个读者可能会问的问题，每个问题后面给出只依据这段文字的回答。"
    '请严格使用以下格式，一问一答依次排列：\n问：<问题>\n答：<回答>\n\n文字：\n"""\n{chunk}\n"""'
)

_DECORATION = r"(?:\*\*|__|\*)?"
_QUESTION_WORDS = r"(?:q|question|问题|问|提问)"
_ANSWER_WORDS = r"(?:a|answer|答案|答|回答)"


def _marker(words: str) -> re.Pattern:
    """A line that starts a field: optional list number or bullet, bold, the word, an optional
    number, and a colon (ASCII or full-width) - the colon is what keeps "A model..." a sentence."""
    return re.compile(
        rf"^\s*(?:[-*•]\s+|\d+\s*[.)、]\s*)?{_DECORATION}\s*{words}\s*\d*\s*{_DECORATION}\s*[:：]\s*"
        rf"{_DECORATION}\s*",
        re.IGNORECASE,
    )


_QUESTION = _marker(_QUESTION_WORDS)
_ANSWER = _marker(_ANSWER_WORDS)


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    source: str | None = None  # where a drafted pair came from (a file or corpus), for the review

    def record(self) -> dict[str, str]:
        """The JSONL line: Alpaca's keys, which the corpus reader recognises by shape."""
        return {"instruction": self.question, "output": self.answer}


def document_chunks(
    texts: Iterable[str], max_chars: int = CHUNK_CHARS, limit: int | None = None
) -> list[str]:
    """Texts cut into passages of at most `max_chars` at paragraph boundaries (the corpus scan's
    own cutting), the first `limit` of them."""
    chunks: list[str] = []
    for text in texts:
        for passage in iter_passages(iter_paragraphs([text], max_chars), max_chars):
            chunks.append(passage)
            if limit is not None and len(chunks) >= limit:
                return chunks
    return chunks


def draft_messages(chunk: str, count: int = PAIRS_PER_CHUNK) -> list[dict[str, str]]:
    """The conversation asking for `count` pairs about `chunk`, in Chinese when the chunk is
    mostly Chinese: small models answer in the language they are asked in."""
    mix = LanguageMix()
    mix.add_text(chunk)
    chinese = mix.share("cjk") > 0.5
    system, ask = (_SYSTEM_ZH, _ASK_ZH) if chinese else (_SYSTEM_EN, _ASK_EN)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": ask.format(count=count, chunk=chunk.strip())},
    ]


def fitting_messages(engine: Any, chunk: str, count: int, settings: GenerationSettings) -> list[dict]:
    """The request for `chunk`, its passage shortened where the whole would not leave the model
    room for its reply (a small context, or a script that costs many tokens a character)."""
    messages = draft_messages(chunk, count)
    budget = engine.prompt_budget(settings.max_new_tokens)
    used = engine.count_tokens(messages)
    if used <= budget:
        return messages
    overhead = engine.count_tokens(draft_messages("", count))
    room = budget - overhead
    if room < MIN_PASSAGE_TOKENS:
        raise CorpusError(
            _(
                "This model's context is too short to draft questions: the request alone "
                "takes {overhead} of its {budget} tokens."
            ).format(overhead=overhead, budget=budget)
        )
    keep = int(len(chunk) * room / (used - overhead) * 0.9)  # 10 % spare: tokens per character vary
    return draft_messages(chunk[:keep], count)


def parse_pairs(text: str, source: str | None = None) -> list[QAPair]:
    """Question/answer pairs in a model's reply. A field runs until the next marker, so answers may
    span lines; a question without an answer, an empty field or a repeated question is dropped."""
    pairs: list[QAPair] = []
    seen: set[str] = set()
    question: list[str] | None = None
    answer: list[str] | None = None

    def flush() -> None:
        if question is None or answer is None:
            return
        q, a = _field(question), _field(answer)
        if q and a and q.casefold() not in seen:
            seen.add(q.casefold())
            pairs.append(QAPair(q, a, source))

    for line in text.splitlines():
        if match := _QUESTION.match(line):
            flush()
            question, answer = [line[match.end() :]], None
        elif question is not None and answer is None and (match := _ANSWER.match(line)):
            answer = [line[match.end() :]]
        elif answer is not None:
            answer.append(line)
        elif question is not None:
            question.append(line)
    flush()
    return pairs


def _field(lines: list[str]) -> str:
    text = "\n".join(lines).strip()
    return re.sub(r"^(?:\*\*|__)|(?:\*\*|__)$", "", text).strip()


def draft_pairs(
    engine: Any,
    chunks: Sequence[str],
    *,
    per_chunk: int = PAIRS_PER_CHUNK,
    settings: GenerationSettings = DRAFT_SETTINGS,
    source: str | None = None,
    progress: Progress | None = None,
) -> list[QAPair]:
    """Ask `engine` (a loaded ChatEngine) for pairs about each chunk, one chunk at a time.
    Cancel through `progress`: the reply being written stops within a token."""
    progress = progress or Progress()
    if not chunks:
        raise CorpusError(_("There is no text to draft questions from."))
    pairs: list[QAPair] = []
    seen: set[str] = set()
    for index, chunk in enumerate(chunks):
        progress(
            index / len(chunks),
            _("Drafting from passage {number} of {count}").format(number=index + 1, count=len(chunks)),
        )
        messages = fitting_messages(engine, chunk, per_chunk, settings)
        reply = "".join(engine.stream(messages, settings, progress.cancel))
        progress.check()
        for pair in parse_pairs(reply, source)[:per_chunk]:
            if pair.question.casefold() not in seen:
                seen.add(pair.question.casefold())
                pairs.append(pair)
    progress(1.0, _("Drafted {count} pairs").format(count=len(pairs)))
    return pairs


def write_pairs(pairs: Iterable[QAPair], path: Path) -> int:
    """Write the pairs as JSONL (UTF-8, one record a line); returns how many were written.
    Blank rows of the editor are left out rather than failing the whole file later."""
    kept = [p for p in pairs if p.question.strip() and p.answer.strip()]
    if not kept:
        raise CorpusError(_("The dataset is empty: add at least one instruction with its response."))
    lines = [json.dumps(p.record(), ensure_ascii=False) for p in kept]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(kept)


def read_pairs(path: Path) -> tuple[list[QAPair], int]:
    """The single-turn pairs of an instruction file (any recognised shape), and how many
    conversations were left out because two columns cannot show them (several turns)."""
    return pairs_of(read_instruction_file(path, on_error="skip"))


def pairs_of(conversations: Iterable[list[dict]]) -> tuple[list[QAPair], int]:
    """The single-turn pairs among `conversations`, and how many have several turns (left out)."""
    pairs: list[QAPair] = []
    left_out = 0
    for conversation in conversations:
        turns = [m for m in conversation if m["role"] != "system"]
        if [m["role"] for m in turns] == ["user", "assistant"]:
            pairs.append(QAPair(turns[0]["content"], turns[1]["content"]))
        else:
            left_out += 1
    return pairs, left_out


def add_pairs_corpus(
    pairs: Iterable[QAPair],
    name: str,
    progress: Progress | None = None,
    *,
    seed: int = 0,
    tokenizer: Any = None,
) -> Any:
    """Store the pairs as a new instructions corpus named `name` (its train/validation split fixed
    by `seed`); returns the CorpusEntry. The JSONL is written to a temporary folder: the corpus
    keeps its own copy."""
    from llamadesk.core.corpus import store

    with tempfile.TemporaryDirectory(prefix="llamadesk-dataset-") as folder:
        path = Path(folder) / f"{name}.jsonl"
        write_pairs(pairs, path)
        return store.add_corpus([path], name, progress, seed=seed, tokenizer=tokenizer)
