"""Multiple-choice benchmarks (C-Eval, MMLU and their look-alikes): reading, prompts, scoring.

Files come in three forms: C-Eval's CSV with a header (id,question,A,B,C,D,answer[,explanation]),
MMLU's headerless CSV (question,A,B,C,D,answer) and JSONL. A folder of files is a benchmark whose
files are subjects; `<subject>_dev` files (beside them or in a sibling `dev/` folder, as both
benchmarks ship) hold the worked examples for few-shot prompts.

A question is scored the way both benchmarks' reference code does: the prompt ends with the
answer cue and the prediction is the option letter with the highest next-token logit. Tokenizers
spell a letter after "答案：" or "Answer:" either bare or space-prefixed, so each letter takes the
higher of its two tokens' logits."""

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llamadesk.core.errors import CorpusError, LlamaDeskError
from llamadesk.core.evaluation.data import decode_file, jsonl_records
from llamadesk.core.evaluation.prompting import encode_prompt
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

if TYPE_CHECKING:
    from llamadesk.core.evaluation.scorers import Scorer

LETTERS = ("A", "B", "C", "D")
HEADERS = {
    "zh": "以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。",
    "en": "The following are multiple choice questions (with answers) about {subject}.",
}
ANSWER_CUE = {"zh": "答案：", "en": "Answer:"}
CEVAL_COLUMNS = ("question", "A", "B", "C", "D", "answer")  # plus optional id and explanation
SUFFIXES = (".csv", ".jsonl")
SPLIT_SUFFIXES = ("_dev", "_val", "_test")
SUBJECT_MAPPING = "subject_mapping.json"  # C-Eval's {subject: [English name, Chinese name, group]}
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class MCItem:
    id: str
    question: str
    options: tuple[str, str, str, str]
    answer: str  # one of LETTERS
    source: str  # "file line N", so any later complaint can point at the row


@dataclass
class Subject:
    key: str  # the file's stem without its split suffix: "computer_network"
    name: str  # what the prompt header calls it: "计算机网络"
    language: str  # "zh" or "en": which header and answer cue
    items: list[MCItem]
    dev: list[MCItem] = field(default_factory=list)


@dataclass(frozen=True)
class MCSettings:
    shots: int = 0  # worked examples from the subject's dev file before each question
    chat_template: bool = False  # wrap the prompt as a user turn; the benchmarks' own numbers use raw text
    language: str = "auto"  # "zh", "en", or "auto": Chinese when the questions contain Chinese

    def __post_init__(self) -> None:
        if self.shots < 0:
            raise LlamaDeskError(_("The number of shots cannot be negative."))
        if self.language not in ("auto", "zh", "en"):
            raise LlamaDeskError(
                _("Unknown prompt language '{language}'; use auto, zh or en.").format(language=self.language)
            )

    def to_json(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- reading


def _answer(raw: object, where: str) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(LETTERS):
        return LETTERS[raw]
    letter = str(raw).strip().upper() if raw is not None else ""
    if letter not in LETTERS:
        raise CorpusError(
            _("{where}: the answer '{raw}' is not one of A, B, C, D.").format(where=where, raw=raw)
        )
    return letter


def _item(item_id: str, question: str, options: Sequence[str], answer: object, where: str) -> MCItem:
    if not str(question).strip():
        raise CorpusError(_("{where}: the question is empty.").format(where=where))
    return MCItem(
        str(item_id),
        str(question).strip(),
        tuple(str(o).strip() for o in options),
        _answer(answer, where),
        where,
    )


def _read_csv(path: Path) -> list[MCItem]:
    text, _encoding = decode_file(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CorpusError(
                _("{path} line {line}: not readable as CSV ({exc}).").format(path=path, line=line, exc=exc)
            ) from exc
        if any(cell.strip() for cell in row):
            rows.append((line, row))
    if not rows:
        raise CorpusError(_("{path} is empty.").format(path=path))
    first = [cell.strip() for cell in rows[0][1]]
    if {"question", "answer"} <= {c.lower() for c in first}:
        return _read_ceval_rows(path, first, rows[1:])
    return _read_mmlu_rows(path, rows)


def _read_ceval_rows(path: Path, header: list[str], rows: list[tuple[int, list[str]]]) -> list[MCItem]:
    index = {}
    for i, name in enumerate(header):
        key = name.upper() if name.upper() in LETTERS else name.lower()
        index.setdefault(key, i)
    missing = [c for c in CEVAL_COLUMNS if c not in index]
    if missing:
        raise CorpusError(
            _(
                "{path} line 1: the header has no {names} column (expected id,question,A,B,C,D,answer)."
            ).format(path=path, names=", ".join(repr(m) for m in missing))
        )
    needed = max(index[c] for c in CEVAL_COLUMNS) + 1
    items = []
    for number, (line, row) in enumerate(rows):
        where = _("{path} line {line}").format(path=path, line=line)
        if len(row) < needed:
            raise CorpusError(
                _("{where}: expected {header_count} columns as in the header, found {row_count}.").format(
                    where=where, header_count=len(header), row_count=len(row)
                )
            )
        item_id = row[index["id"]].strip() if "id" in index and index["id"] < len(row) else str(number)
        options = [row[index[letter]] for letter in LETTERS]
        items.append(_item(item_id, row[index["question"]], options, row[index["answer"]], where))
    return items


def _read_mmlu_rows(path: Path, rows: list[tuple[int, list[str]]]) -> list[MCItem]:
    items = []
    for number, (line, row) in enumerate(rows):
        where = _("{path} line {line}").format(path=path, line=line)
        if len(row) != 6:
            raise CorpusError(
                _("{where}: expected 6 columns (question, A, B, C, D, answer), found {row_count}.").format(
                    where=where, row_count=len(row)
                )
            )
        items.append(_item(str(number), row[0], row[1:5], row[5], where))
    return items


def _json_options(record: dict, where: str) -> list[str]:
    if all(letter in record for letter in LETTERS):
        return [record[letter] for letter in LETTERS]
    choices = record.get("choices", record.get("options"))
    if isinstance(choices, dict) and all(letter in choices for letter in LETTERS):
        return [choices[letter] for letter in LETTERS]
    if isinstance(choices, list) and len(choices) == len(LETTERS):
        return choices
    raise CorpusError(
        _("{where}: expected the options as keys A, B, C, D or a 'choices' list of four.").format(where=where)
    )


def _read_jsonl(path: Path) -> list[MCItem]:
    items = []
    for where, record in jsonl_records(path):
        for key in ("question", "answer"):
            if key not in record:
                raise CorpusError(_("{where}: the '{key}' field is missing.").format(where=where, key=key))
        options = _json_options(record, where)
        items.append(
            _item(record.get("id", len(items)), record["question"], options, record["answer"], where)
        )
    if not items:
        raise CorpusError(_("{path} is empty.").format(path=path))
    return items


def read_mc_file(path: Path) -> list[MCItem]:
    """Every question of one file, or a CorpusError naming the file and line of the first bad row."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".jsonl":
        return _read_jsonl(path)
    raise CorpusError(_("{path} is not a .csv or .jsonl file of questions.").format(path=path))


def subject_key(path: Path) -> str:
    stem = path.stem
    for suffix in SPLIT_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _question_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.stem.endswith("_dev")
    )


def _find_dev(key: str, places: Sequence[Path]) -> Path | None:
    for place in places:
        if place.is_file():
            return place
        for suffix in SUFFIXES:
            for name in (f"{key}_dev{suffix}", f"{key}{suffix}" if place.name == "dev" else None):
                if name and (place / name).is_file():
                    return place / name
    return None


def _subject_names(places: Sequence[Path]) -> dict:
    for place in places:
        mapping = place / SUBJECT_MAPPING
        if mapping.is_file():
            try:
                return json.loads(decode_file(mapping)[0])
            except json.JSONDecodeError as exc:
                raise CorpusError(
                    _("{mapping} is not valid JSON ({reason}).").format(mapping=mapping, reason=exc.msg)
                ) from exc
    return {}


def _language(items: Sequence[MCItem], wanted: str) -> str:
    if wanted != "auto":
        return wanted
    return "zh" if any(_CJK.search(item.question) for item in items) else "en"


def load_mc_dataset(
    path: Path, dev: Path | None = None, shots: int = 0, language: str = "auto"
) -> list[Subject]:
    """The subjects of a benchmark file or folder, checked completely before any model work.

    A folder with `val/` or `test/` inside (C-Eval and MMLU as released) is read from `val/` when
    present, else `test/`; point at `test/` itself to score that split. Dev files are looked up in
    `dev` (a file or folder), beside the questions, and in a sibling `dev/` folder."""
    if path.is_dir():
        split = next((path / s for s in ("val", "test") if (path / s).is_dir()), path)
        files = _question_files(split)
        if not files:
            raise CorpusError(_("{split} holds no .csv or .jsonl question files.").format(split=split))
    else:
        split, files = path.parent, [path]
    places = [p for p in (dev, split, split.parent / "dev", split / "dev") if p is not None]
    names = _subject_names([path, split, split.parent] if path.is_dir() else [split, split.parent])
    subjects = []
    for file in files:
        key = subject_key(file)
        items = read_mc_file(file)
        dev_items: list[MCItem] = []
        if shots:
            dev_file = _find_dev(key, places)
            if dev_file is None:
                raise CorpusError(
                    _("{shots}-shot prompts need a dev file for '{key}' ({key}_dev.csv); none found.").format(
                        shots=shots, key=key
                    )
                )
            dev_items = read_mc_file(dev_file)
            if len(dev_items) < shots:
                raise CorpusError(
                    _("{dev_file} has {count} examples, fewer than the {shots} shots asked.").format(
                        dev_file=dev_file, count=len(dev_items), shots=shots
                    )
                )
        lang = _language(items, language)
        mapped = names.get(key)
        name = mapped[1 if lang == "zh" else 0] if isinstance(mapped, list) and len(mapped) > 1 else None
        subjects.append(Subject(key, name or key.replace("_", " "), lang, items, dev_items))
    return subjects


# ---------------------------------------------------------------- prompts


def format_question(item: MCItem, language: str, with_answer: bool) -> str:
    lines = [
        item.question,
        *(f"{letter}. {option}" for letter, option in zip(LETTERS, item.options, strict=True)),
    ]
    cue = ANSWER_CUE[language]
    if with_answer:
        cue += item.answer if language == "zh" else f" {item.answer}"
    return "\n".join([*lines, cue])


def build_prompt(subject: Subject, item: MCItem, shots: int) -> str:
    """The benchmark's standard prompt: header, `shots` worked examples, the question, the cue."""
    blocks = [HEADERS[subject.language].format(subject=subject.name)]
    blocks += [format_question(example, subject.language, True) for example in subject.dev[:shots]]
    blocks.append(format_question(item, subject.language, False))
    return "\n\n".join(blocks)


def letter_token_ids(tokenizer) -> dict[str, list[int]]:
    """For each letter, the ids of its bare and space-prefixed tokens (one id where they coincide)."""
    result = {}
    for letter in LETTERS:
        ids = []
        for variant in (letter, f" {letter}"):
            encoded = tokenizer.encode(variant, add_special_tokens=False)
            if encoded and tokenizer.decode([encoded[-1]]).strip() == letter and encoded[-1] not in ids:
                ids.append(encoded[-1])
        if not ids:
            raise LlamaDeskError(
                _("This model's tokenizer has no token for the letter {letter}; it cannot be scored.").format(
                    letter=letter
                )
            )
        result[letter] = ids
    return result


# ---------------------------------------------------------------- scoring


def score_multiple_choice(
    scorer: "Scorer",
    tokenizer,
    subjects: Sequence[Subject],
    settings: MCSettings,
    progress: Progress,
    detail: list[dict] | None = None,
) -> dict:
    """Per-subject and average accuracy; one `detail` entry per question, appended as scored.

    A prompt longer than the model's context drops worked examples until it fits (the item
    records how many it kept); a single question longer than that keeps its last tokens."""
    letter_ids = letter_token_ids(tokenizer)
    context = scorer.context_length
    total = sum(len(s.items) for s in subjects) or 1
    done = 0
    per_subject = {}
    progress(0.0, _("Multiple choice"))
    for subject in subjects:
        correct = 0
        for item in subject.items:
            shots = settings.shots
            ids = encode_prompt(tokenizer, build_prompt(subject, item, shots), settings.chat_template)
            while context and len(ids) > context and shots > 0:
                shots -= 1
                ids = encode_prompt(tokenizer, build_prompt(subject, item, shots), settings.chat_template)
            truncated = bool(context and len(ids) > context)
            if truncated:
                ids = ids[-context:]
            logits = scorer.logits(ids, 1)[0]  # (vocab,)
            scores = {letter: max(float(logits[i]) for i in letter_ids[letter]) for letter in LETTERS}
            prediction = max(LETTERS, key=lambda letter: scores[letter])
            correct += prediction == item.answer
            if detail is not None:
                detail.append(
                    {
                        "subject": subject.key,
                        "id": item.id,
                        "source": item.source,
                        # the question as asked, so a result can be read without the data file
                        "question": item.question,
                        "options": dict(zip(LETTERS, item.options, strict=True)),
                        "answer": item.answer,
                        "prediction": prediction,
                        "correct": prediction == item.answer,
                        "scores": scores,
                        "shots": shots,
                        "truncated": truncated,
                    }
                )
            done += 1
            progress(
                done / total,
                f"{subject.name}: {done}/{total}",
            )
        per_subject[subject.key] = {
            "name": subject.name,
            "language": subject.language,
            "correct": correct,
            "total": len(subject.items),
            "accuracy": correct / len(subject.items),
        }
    all_correct = sum(s["correct"] for s in per_subject.values())
    all_total = sum(s["total"] for s in per_subject.values())
    return {
        "average_accuracy": sum(s["accuracy"] for s in per_subject.values()) / len(per_subject),
        "accuracy": all_correct / all_total,
        "correct": all_correct,
        "questions": all_total,
        "subjects": per_subject,
        "shots": settings.shots,
        "chat_template": settings.chat_template,
    }
