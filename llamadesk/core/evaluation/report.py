"""Score tables from stored runs: one row per variant (a base model, or a base with an adapter), one
column per data set and metric, and their export to CSV and Markdown.

A column holds only results that can be compared: the same data (by hash, not by name), the same
kind of run and the same settings that change the score (window and stride, shots, chat template,
reply length). Runs on other data or with other settings get a column of their own, labelled with
what differs, so a 5-shot accuracy is never ranked against a 0-shot one. A cell shows the latest
complete run; earlier ones stay as the cell's history, for the chart over time."""

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
from llamadesk.core.evaluation.data import CORPUS_PREFIX, SAMPLE_PREFIX, samples_root
from llamadesk.core.evaluation.results import RunRecord
from llamadesk.core.i18n import _

KIND_ORDER = ("ppl", "mc", "gen")
# Stored with a run but not a property of the data or the question asked: fp32 on CPU and bf16 on
# a GPU give the same score to within noise, and a table split by them would be unreadable.
_INCIDENTAL_SETTINGS = ("dtype", "device")
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

    @property
    def label(self) -> str:
        """As the CLI's `eval runs` and the A/B votes name it: "model" or "model+adapter"."""
        return f"{self.model_id}+{self.adapter_id}" if self.adapter_id else self.model_id

    def sort_key(self) -> tuple:
        return (self.model_id, self.adapter_id is not None, self.adapter_id or "")


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
    kept = {k: v for k, v in settings.items() if k not in _INCIDENTAL_SETTINGS}
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
        variant = Variant(run.model_id, run.adapter_id)
        dataset = dataset_label(run.dataset_path)
        for metric in METRICS[run.kind]:
            value = run.summary.get(metric.key)
            if not isinstance(value, (int, float)):
                continue
            column = Column(run.kind, dataset, run.dataset_sha256, _settings_key(run.settings), metric)
            columns.setdefault(column.identity, column)
            column_settings.setdefault(column.identity, run.settings)
            cells.setdefault((variant, column.identity), []).append(Cell(float(value), run.id, run.created))
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


# ---------------------------------------------------------------- export


def to_csv(table: ScoreTable) -> str:
    """Raw values at full precision, one row per variant: for a spreadsheet or a script."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "adapter", *(c.label for c in table.columns)])
    for variant in table.variants:
        values = [table.latest(variant, c) for c in table.columns]
        writer.writerow(
            [
                variant.model_id,
                variant.adapter_id or "",
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
