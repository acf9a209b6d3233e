"""One cell's runs, newest first: what was run and how, a table of its items, and the selected item
in words (`item_html`): for multiple choice the question, its choices, the model's pick and the
right answer; for generation the question, the expected answer, the reply and the passages given.

The table shows the fields a person compares at a glance; everything else about an item (the
per-letter scores, the passages, its source line) is in the readable view below it, not as JSON."""

import datetime as dt
from html import escape

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core.evaluation import report, results
from llamadesk.ui.evaluate.item_html import item_html
from llamadesk.ui.headings import facts_table

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTRE = Qt.AlignmentFlag.AlignCenter
# The fields in the table, per kind; perplexity items have only figures, so all of theirs show.
# The text a person reads (the question, a reply) takes the width the figures leave.
TABLE_FIELDS = {
    "ppl": ("document", "tokens", "perplexity", "nll_sum"),
    "mc": ("subject", "id", "question", "prediction", "answer", "correct"),
    "gen": ("id", "question", "answer", "reply", "exact_match", "rouge_l", "contains"),
}
WIDE_FIELD = {"mc": "question", "gen": "reply"}


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "✔" if value else "✘"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else " ".join(str(value).split())  # one line in a table row


def local_time(created: str) -> str:
    return dt.datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")


class ItemsModel(QAbstractTableModel):
    """A run's per-item detail as a table; a model, not widgets, so 14,000 MMLU questions open at
    once (the view asks only for the rows on screen)."""

    def __init__(
        self, kind: str, items: list[dict], headers: dict[str, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        fields = [f for f in TABLE_FIELDS.get(kind, ()) if any(f in item for item in items)]
        if kind == "ppl":  # figures only: any others a run recorded are figures too
            for item in items:
                fields += [key for key in item if key not in fields]
        self.fields = fields
        self.items = items
        self._headers = headers

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.fields)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        value = self.items[index.row()].get(self.fields[index.column()])
        if role == Qt.ItemDataRole.DisplayRole:
            text = format_value(value)
            return text if len(text) <= 80 else text[:80] + "…"
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str) and len(value) > 40:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, bool):
            return _CENTRE
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return _RIGHT
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        field = self.fields[section]
        return self._headers.get(field, field)


class RunDetailsDialog(QDialog):
    """One cell's runs, newest first: what was run and how, and each item's result."""

    def __init__(self, run_ids: list[int], title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runDetailsDialog")
        self.setWindowTitle(title)
        self.resize(960, 680)
        self.headers = {
            "document": self.tr("Document"),
            "tokens": self.tr("Tokens"),
            "perplexity": self.tr("Perplexity"),
            "nll_sum": self.tr("NLL sum"),
            "subject": self.tr("Subject"),
            "id": self.tr("Id"),
            "question": self.tr("Question"),
            "prediction": self.tr("Model's pick"),
            "answer": self.tr("Right answer"),
            "correct": self.tr("Right"),
            "reply": self.tr("Reply"),
            "exact_match": self.tr("Exact"),
            "rouge_l": self.tr("ROUGE-L"),
            "contains": self.tr("Contains"),
        }
        self.run_combo = QComboBox()
        self.run_combo.setAccessibleName(self.tr("Run"))
        for run_id in run_ids:
            record = results.get_run(run_id)
            self.run_combo.addItem(
                self.tr("Run {0} · {1}").format(run_id, local_time(record.created)), run_id
            )
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.items_view = QTableView()
        self.items_view.setAccessibleName(self.tr("Items"))
        self.items_view.setWordWrap(False)
        self.items_view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.items_view.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.items_view.horizontalHeader().setStretchLastSection(False)
        self.item_text = QTextBrowser()
        self.item_text.setAccessibleName(self.tr("The selected item"))
        self.item_text.setPlaceholderText(self.tr("Select a row to read it in full."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.items_view)
        split.addWidget(self.item_text)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Run:")))
        top.addWidget(self.run_combo, 1)
        layout.addLayout(top)
        layout.addWidget(self.facts)
        layout.addWidget(split, 1)
        layout.addWidget(buttons)
        self.run_combo.currentIndexChanged.connect(self._show_run)
        self._show_run()

    def _show_run(self) -> None:
        record = results.get_run(self.run_combo.currentData())
        self.kind = record.kind
        shown = {k: v for k, v in record.summary.items() if not isinstance(v, dict)}
        rows = [
            (self.tr("Variant"), report.Variant.of(record).label),
            (self.tr("Data"), f"{record.dataset_path} (sha256 {record.dataset_sha256[:12]}…)"),
            (self.tr("Settings"), ", ".join(f"{k}={v}" for k, v in record.settings.items())),
            (self.tr("Result"), ", ".join(f"{k}={format_value(v)}" for k, v in shown.items())),
        ]
        self.facts.setText(facts_table([(k, escape(v)) for k, v in rows]))
        headers = self.headers | ({"answer": self.tr("Expected")} if record.kind == "gen" else {})
        self.items_model = ItemsModel(record.kind, report.readable_items(record), headers, self)
        self.items_view.setModel(self.items_model)
        self.items_view.resizeColumnsToContents()
        fields = self.items_model.fields
        wide = (
            fields.index(WIDE_FIELD[record.kind])
            if WIDE_FIELD.get(record.kind) in fields
            else len(fields) - 1
        )
        if wide >= 0:
            self.items_view.horizontalHeader().setSectionResizeMode(wide, QHeaderView.ResizeMode.Stretch)
        self.items_view.selectionModel().currentRowChanged.connect(self._show_item)
        if self.items_model.rowCount():
            self.items_view.selectRow(0)
        else:
            self.item_text.clear()

    def _show_item(self, current: QModelIndex) -> None:
        if current.isValid():
            self.item_text.setHtml(item_html(self.kind, self.items_model.items[current.row()]))
