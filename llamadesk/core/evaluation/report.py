"""Score tables from stored runs: one row per variant (a base model, or a base with an adapter), one
column per data set and metric, and their export to CSV and Markdown.

A column holds only results that can be compared: the same data (by hash, not by name), the same
kind of run and the same settings that change the score (window and stride, shots, chat template,
reply length). Runs on other data or with other settings get a column of their own, labelled with
what differs, so a 5-shot accuracy is never ranked against a 0-shot one. A cell shows the latest
complete run; earlier ones stay as the cell's history, for the chart over time.

Generation runs grounded in documents are rows of their own ("starter + docs:notes.md"), not
columns: the documents are part of the answering system being compared, while the questions stay
the same, so base / base+docs / adapter / adapter+docs stand side by side in one column, and
`replies_by_question` lines up what each of them answered to every question."""

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from llamadesk.core import paths
from llamadesk.core.atomic import write_text
from llamadesk.core.corpus.store import UNIT_FILES
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.evaluation.data import CORPUS_PREFIX, SAMPLE_PREFIX, dataset_sha256, samples_root
from llamadesk.core.evaluation.generation_metrics import DOCS_K, read_qa_file
from llamadesk.core.evaluation.multiple_choice import load_mc_dataset
from llamadesk.core.evaluation.results import RunRecord, run_items
from llamadesk.core.i18n import _

KIND_ORDER = ("ppl", "mc", "gen")
# Stored with a run but not a property of the data or the question asked: fp32 on CPU and bf16 on
# a GPU, a GGUF's own blocks on llama.cpp and their int4 copy on torch, give the same score to
# within noise (0.2 % in perplexity on the starter), and a table split by them would be unreadable.
_INCIDENTAL_SETTINGS = ("dtype", "device", "engine", "quantization")
# What a run was grounded in makes it another variant (a row), not another question (a column).
_VARIANT_SETTINGS = ("docs", "docs_k")
EXPORT_SUFFIXES = (".csv", ".md", ".markdown")
_CORPUS_SPLITS = {name: split for split, name in UNIT_FILES["text"].items()}


@dataclass(frozen=True)
class Metric:
    key: str  # the key in a run's summary
    name: str  # the column header
    lower_is_better: bool = False
    percent: bool = False  # a fraction shown as a percentage

    def format(self, value: float) -> str:
        return f"{value:.1%}" if self.percent else f"{value:.3f}"


METRICS: dict[str, tuple[Metric, ...]] = {
    "ppl": (Metric("perplexity", "perplexity", lower_is_better=True),),
    "mc": (Metric("average_accuracy", "accuracy", percent=True),),
    "gen": (
        Metric("exact_match", "exact match", percent=True),
        Metric("rouge_l", "ROUGE-L"),
        Metric("contains", "contains answer", percent=True),
    ),
}


@dataclass(frozen=True)
class Variant:
    model_id: str
    adapter_id: str | None = None
    docs: str | None = None  # the documents its replies were grounded in, by name (documents_name)

    @property
    def label(self) -> str:
        """As the CLI's `eval runs` and the A/B votes name it: "model", "model+adapter", and
        " + docs:NAME" after either when it answered from documents."""
        label = f"{self.model_id}+{self.adapter_id}" if self.adapter_id else self.model_id
        return f"{label} + docs:{self.docs}" if self.docs else label

    def sort_key(self) -> tuple:
        """The base, the base with documents, then each adapter without and with them."""
        return (self.model_id, self.adapter_id is not None, self.adapter_id or "", self.docs or "")

    @classmethod
    def of(cls, run: RunRecord) -> "Variant":
        return cls(run.model_id, run.adapter_id, documents_name(run.settings))


def documents_name(settings: dict) -> str | None:
    """What a grounded run's documents go by: a corpus id, or the file's or folder's name (with
    the number of passages when not the usual); None for a run not grounded in any."""
    spec = settings.get("docs")
    if not spec:
        return None
    name = Path(spec).name or spec
    k = settings.get("docs_k", DOCS_K)
    return name if k == DOCS_K else f"{name}, k={k}"


@dataclass(frozen=True)
class Column:
    kind: str
    dataset: str  # what the user calls the data: sample:NAME, corpus:ID, or the file's name
    dataset_sha256: str
    settings_key: str  # the settings that change the score, as canonical JSON
    metric: Metric
    note: str = ""  # what tells this column from another of the same data set and metric

    @property
    def label(self) -> str:
        text = f"{self.dataset} · {self.metric.name}"
        return f"{text} ({self.note})" if self.note else text

    @property
    def identity(self) -> tuple[str, str, str, str, str]:
        return (self.kind, self.dataset, self.dataset_sha256, self.settings_key, self.metric.key)


@dataclass(frozen=True)
class Cell:
    value: float
    run_id: int
    created: str  # ISO 8601, UTC
    asked: int | None = None  # questions (or documents, for perplexity) the run scored
    right: int | None = None  # multiple choice: questions answered right


def _asked(kind: str, summary: dict) -> tuple[int | None, int | None]:
    """(items scored, items right) as each kind's summary records them."""
    if kind == "mc":
        return summary.get("questions"), summary.get("correct")
    return summary.get("items" if kind == "gen" else "documents"), None


@dataclass
class ScoreTable:
    variants: list[Variant] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    # Every complete run of a variant in a column, oldest first.
    cells: dict[tuple[Variant, Column], list[Cell]] = field(default_factory=dict)

    def latest(self, variant: Variant, column: Column) -> Cell | None:
        runs = self.cells.get((variant, column))
        return runs[-1] if runs else None

    def history(self, variant: Variant, column: Column) -> list[Cell]:
        return list(self.cells.get((variant, column), []))

    def best(self, column: Column) -> set[Variant]:
        """The variants with the column's best latest score (several on a tie for first); none when
        no score stands out: fewer than two, or all equal (a lone or shared number wins nothing)."""
        scored = {v: cell.value for v in self.variants if (cell := self.latest(v, column)) is not None}
        if len(set(scored.values())) < 2:
            return set()
        pick = min if column.metric.lower_is_better else max
        top = pick(scored.values())
        return {v for v, value in scored.items() if value == top}

    def is_empty(self) -> bool:
        return not self.columns

    def asked(self, column: Column) -> int | None:
        """How many questions (documents, for perplexity) the column's latest runs scored: the
        same for every variant, as they share data and settings; the largest if not."""
        counts = [c.asked for v in self.variants if (c := self.latest(v, column)) and c.asked is not None]
        return max(counts, default=None)


def dataset_label(dataset_path: str) -> str:
    """The short name a stored run's data goes by, as the user would type it for the CLI."""
    path = Path(dataset_path)
    for root, prefix in ((samples_root(), SAMPLE_PREFIX), (paths.corpora_dir(), CORPUS_PREFIX)):
        try:
            parts = path.resolve().relative_to(root.resolve()).parts
        except ValueError:
            continue
        if prefix == SAMPLE_PREFIX and parts:
            return prefix + parts[0]
        if len(parts) == 2 and parts[1] in _CORPUS_SPLITS:
            split = _CORPUS_SPLITS[parts[1]]
            return f"{prefix}{parts[0]}" + ("" if split == "validation" else f":{split}")
    return path.name or dataset_path


def _settings_key(settings: dict) -> str:
    kept = {k: v for k, v in settings.items() if k not in _INCIDENTAL_SETTINGS + _VARIANT_SETTINGS}
    return json.dumps(kept, sort_keys=True)


def describe_settings(kind: str, settings: dict) -> str:
    """The settings that change a score, in a few words: "window 512, stride 256", "5-shot, chat"."""
    if kind == "ppl":
        return f"window {settings.get('window')}, stride {settings.get('stride')}"
    chat = "chat" if settings.get("chat_template") else "raw"
    if kind == "mc":
        language = settings.get("language", "auto")
        return f"{settings.get('shots', 0)}-shot, {chat}" + ("" if language == "auto" else f", {language}")
    limit = settings.get("limit")
    return f"{settings.get('max_new_tokens')} tokens, {chat}" + (f", first {limit}" if limit else "")


def _disambiguate(columns: list[Column], settings: dict[Column, dict]) -> list[Column]:
    """Add a note to columns that would otherwise share a header, saying what differs."""
    groups: dict[tuple[str, str, str], list[Column]] = {}
    for column in columns:
        groups.setdefault((column.kind, column.dataset, column.metric.key), []).append(column)
    result = []
    for column in columns:
        group = groups[(column.kind, column.dataset, column.metric.key)]
        notes = []
        if len({c.settings_key for c in group}) > 1:
            notes.append(describe_settings(column.kind, settings[column]))
        if len({c.dataset_sha256 for c in group}) > 1:
            notes.append(f"data {column.dataset_sha256[:8]}")
        result.append(replace(column, note=", ".join(notes)))
    return result


def build_table(runs: Iterable[RunRecord]) -> ScoreTable:
    """The table of every complete run in `runs` (others are ignored: a stopped run is no score)."""
    cells: dict[tuple[Variant, tuple], list[Cell]] = {}
    columns: dict[tuple, Column] = {}
    column_settings: dict[tuple, dict] = {}
    variants: set[Variant] = set()
    for run in sorted(runs, key=lambda r: r.id):
        if run.status != "complete" or run.kind not in METRICS:
            continue
        variant = Variant.of(run)
        dataset = dataset_label(run.dataset_path)
        asked, right = _asked(run.kind, run.summary)
        for metric in METRICS[run.kind]:
            value = run.summary.get(metric.key)
            if not isinstance(value, (int, float)):
                continue
            column = Column(run.kind, dataset, run.dataset_sha256, _settings_key(run.settings), metric)
            columns.setdefault(column.identity, column)
            column_settings.setdefault(column.identity, run.settings)
            cell = Cell(float(value), run.id, run.created, asked, right)
            cells.setdefault((variant, column.identity), []).append(cell)
            variants.add(variant)

    def order(column: Column) -> tuple:
        metric_index = METRICS[column.kind].index(column.metric)
        return (KIND_ORDER.index(column.kind), column.dataset, column.settings_key, metric_index)

    plain = sorted(columns.values(), key=order)
    labelled = _disambiguate(plain, {c: column_settings[c.identity] for c in plain})
    by_identity = {c.identity: c for c in labelled}
    return ScoreTable(
        variants=sorted(variants, key=Variant.sort_key),
        columns=labelled,
        cells={(v, by_identity[identity]): runs for (v, identity), runs in cells.items()},
    )


# ---------------------------------------------------------------- reading the items


def _item_key(kind: str, item: dict) -> tuple:
    """What identifies a stored item in its data: the subject and id of a question, a pair's id."""
    return (item.get("subject"), item.get("id")) if kind == "mc" else (item.get("id"),)


def _questions_in_file(kind: str, path: Path) -> dict[tuple, dict]:
    if kind == "mc":
        return {
            _item_key(kind, {"subject": subject.key, "id": item.id}): {
                "question": item.question,
                "options": dict(zip("ABCD", item.options, strict=True)),
            }
            for subject in load_mc_dataset(path)
            for item in subject.items
        }
    return {_item_key(kind, {"id": qa.id}): {"question": qa.question} for qa in read_qa_file(path)}


def readable_items(record: RunRecord) -> list[dict]:
    """A run's per-item detail with the question text in every item. Runs stored before items
    carried their question get it from the data file, while that file is unchanged (same hash);
    otherwise the items are returned as stored."""
    items = run_items(record.id)
    if record.kind not in ("mc", "gen") or all("question" in item for item in items):
        return items
    path = Path(record.dataset_path)
    try:
        if dataset_sha256(path) != record.dataset_sha256:
            return items
        known = _questions_in_file(record.kind, path)
    except (LlamaDeskError, OSError):  # the file moved or no longer reads: show what was stored
        return items
    return [known.get(_item_key(record.kind, item), {}) | item for item in items]


@dataclass(frozen=True)
class QuestionReplies:
    """One question of a generation column, with what each variant replied to it."""

    id: str
    question: str
    answer: str
    replies: dict[Variant, dict]  # the variant's stored item: reply, scores, passages given


def replies_by_question(table: ScoreTable, column: Column) -> tuple[list[Variant], list[QuestionReplies]]:
    """The latest run of each variant in a generation column, question by question, in the
    order of the data: the four-way comparison's replies, readable side by side."""
    variants = [v for v in table.variants if table.latest(v, column) is not None]
    questions: dict[str, QuestionReplies] = {}
    for variant in variants:
        cell = table.latest(variant, column)
        assert cell is not None
        for item in run_items(cell.run_id):
            key = str(item.get("id"))
            entry = questions.setdefault(
                key, QuestionReplies(key, item.get("question", ""), item.get("answer", ""), {})
            )
            entry.replies[variant] = item
    return variants, list(questions.values())


# ---------------------------------------------------------------- export


def to_csv(table: ScoreTable) -> str:
    """Raw values at full precision, one row per variant: for a spreadsheet or a script."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "adapter", "documents", *(c.label for c in table.columns)])
    for variant in table.variants:
        values = [table.latest(variant, c) for c in table.columns]
        writer.writerow(
            [
                variant.model_id,
                variant.adapter_id or "",
                variant.docs or "",
                *("" if v is None else repr(v.value) for v in values),
            ]
        )
    return out.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(table: ScoreTable) -> str:
    """A table for a report or an issue, values as shown in the panel, the best of each column in
    bold with a star, and a line saying which way is better."""
    header = ["variant", *(c.label for c in table.columns)]
    lines = [
        "| " + " | ".join(_md_cell(h) for h in header) + " |",
        "|" + "---|" + "---:|" * len(table.columns),
    ]
    best = {c: table.best(c) for c in table.columns}
    for variant in table.variants:
        row = [variant.label]
        for column in table.columns:
            cell = table.latest(variant, column)
            text = "" if cell is None else column.metric.format(cell.value)
            row.append(f"**{text} ★**" if variant in best[column] else text)
        lines.append("| " + " | ".join(_md_cell(r) for r in row) + " |")
    lines.append("")
    lines.append("★ best in its column; perplexity: lower is better; other scores: higher is better.")
    return "\n".join(lines) + "\n"


def export_table(table: ScoreTable, path: Path) -> None:
    """Write the table as CSV or Markdown, chosen by the file's suffix; written atomically, so an
    existing report is replaced whole or not at all."""
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise LlamaDeskError(_("Export to a .csv or .md file, not '{path}'.").format(path=path.name))
    text = to_csv(table) if suffix == ".csv" else to_markdown(table)
    try:
        write_text(path, text)
    except OSError as exc:
        raise LlamaDeskError(
            _("{path} could not be written: {reason}.").format(path=path, reason=exc.strerror or exc)
        ) from exc
