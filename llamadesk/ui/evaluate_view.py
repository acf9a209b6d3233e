"""The Evaluate panel: run perplexity, multiple-choice and generation scores on a model and its
adapters, compare them in one table, chart them, look into single items, and export the table;
and, on its second tab, blind A/B votes between two variants.

An evaluation runs as one background task: it reads the data first (a bad file fails before the
model loads), loads the model once, and scores each ticked variant in turn. Every run is stored
as it finishes, so a cancel keeps the variants already scored. The table reads only the store,
so it shows the same results as `llamadesk eval runs`, whichever of the two made them, and it
shows every model's results unless asked to narrow them to the chosen model: choosing a model to
run is not choosing what to look at, and results of a model no longer in the library stay visible.

Generation can be grounded in documents (a library corpus, or files chosen here): each ticked
variant then answers with and without passages from them, so ticking the base and an adapter gives
the four-way comparison of retrieval against training, as four rows of one column; "Replies…" lines
up what each of them answered, question by question (`evaluate.replies_dialog`).

Signals: status_message(text) for the status bar; scores_changed() after an evaluation stored
runs (adapters' recorded scores change with them)."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import adapters, library
from llamadesk.core.corpus.store import list_corpora
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.evaluation import GenSettings, MCSettings, PerplexitySettings, report, results
from llamadesk.core.evaluation.data import CORPUS_PREFIX, SAMPLE_PREFIX, sample_names, samples_root
from llamadesk.core.evaluation.results import RunRecord
from llamadesk.core.progress import Progress
from llamadesk.ui.ab_view import ABView
from llamadesk.ui.charts import BarChart, LineChart
from llamadesk.ui.dialogs import show_error
from llamadesk.ui.evaluate.replies_dialog import RepliesDialog
from llamadesk.ui.evaluate.run_details import RunDetailsDialog, local_time
from llamadesk.ui.headings import SectionTitle
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task

KINDS = ("ppl", "mc", "gen")
RUN_ROLE = Qt.ItemDataRole.UserRole
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
Settings = PerplexitySettings | MCSettings | GenSettings


def guess_kind(path: Path) -> str:
    """The evaluation a dropped file or folder most likely is for: questions in CSV are a
    benchmark, JSONL pairs a generation set, anything else text to score for perplexity."""
    if path.is_dir():
        return "mc" if next(path.rglob("*.csv"), None) is not None else "ppl"
    return {".csv": "mc", ".jsonl": "gen"}.get(path.suffix.lower(), "ppl")


def sample_kind(name: str) -> str:
    """Which evaluation a shipped sample set is for (folders are benchmarks of CSV subjects)."""
    path = samples_root() / name
    return "mc" if path.is_dir() else {".jsonl": "gen"}.get(path.suffix.lower(), "ppl")


def evaluate_variants(
    model_id: str,
    variants: list[str | None],
    kind: str,
    data: str,
    settings: Settings,
    progress: Progress,
) -> list[RunRecord]:
    """Score each variant (adapter id, None for the base) of `model_id` on `data`, each without and
    with documents when the settings name some; runs on a worker thread and stores every run. Each
    adapter's manifest records its latest score without documents (what the adapter itself does)."""
    from llamadesk.core import evaluation
    from llamadesk.core.evaluation.comparison import run_variants

    prepare = {
        "ppl": evaluation.prepare_perplexity,
        "mc": evaluation.prepare_multiple_choice,
        "gen": lambda path, settings: evaluation.prepare_generation(path, settings, progress.sub(0.0, 0.02)),
    }[kind]
    progress(0.0, QCoreApplication.translate("EvaluateView", "Reading the data…"))
    job = prepare(evaluation.resolve_data(data), settings)
    records = run_variants(model_id, variants, job, progress.sub(0.02, 1.0))
    for record in records:
        if record.adapter_id is not None and report.documents_name(record.settings) is None:
            metrics = {m.key: record.summary[m.key] for m in report.METRICS[kind]}
            key = f"{kind}:{report.dataset_label(record.dataset_path)}"
            adapters.update_scores(record.adapter_id, key, metrics | {"run": record.id})
    return records


def _days(created: str) -> float:
    """A run's time as days since the epoch: the line chart's x axis."""
    return dt.datetime.fromisoformat(created).timestamp() / 86400


def _time_format(span_days: float) -> Callable[[float], str]:
    """Labels precise enough that neighbouring ticks differ, and no more."""
    pattern = "%H:%M:%S" if span_days < 0.01 else "%m-%d %H:%M" if span_days < 3 else "%Y-%m-%d"
    return lambda days: dt.datetime.fromtimestamp(days * 86400).strftime(pattern)


class EvaluateView(QWidget):
    status_message = Signal(str)
    scores_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.table = report.ScoreTable()
        self._custom_data: list[str] = []  # files and folders chosen or dropped, newest last
        self._metric_names = {
            "perplexity": self.tr("perplexity"),
            "average_accuracy": self.tr("accuracy"),
            "exact_match": self.tr("exact match"),
            "rouge_l": self.tr("ROUGE-L"),
            "contains": self.tr("contains answer"),
        }
        self._kind_names = {
            "ppl": self.tr("Perplexity"),
            "mc": self.tr("Multiple choice"),
            "gen": self.tr("Generation"),
        }

        self.task_bar = TaskBar()
        self.task_bar.busy_changed.connect(self._on_busy_changed)
        self.task_bar.cancelled.connect(
            lambda: self.status_message.emit(
                self.tr("Evaluation cancelled; the variants already scored are kept.")
            )
        )
        self.ab_view = ABView()
        self.ab_view.status_message.connect(self.status_message)

        self.tabs = QTabWidget()
        # Without a drawn pane, as the window's own tabs: the panel keeps the other panels' background.
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_scores_page(), self.tr("Scores"))
        self.tabs.addTab(self.ab_view, self.tr("Blind A/B"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)
        self.refresh()

    # -- building ---------------------------------------------------------------------------------

    def _build_scores_page(self) -> QWidget:
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Base model"))
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.variant_list = QListWidget()
        self.variant_list.setAccessibleName(self.tr("Variants to evaluate"))
        self.variant_list.setMaximumHeight(110)
        self.kind_combo = QComboBox()
        self.kind_combo.setAccessibleName(self.tr("Metric"))
        for kind in KINDS:
            self.kind_combo.addItem(self._kind_names[kind], kind)
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)
        self.data_combo = QComboBox()
        self.data_combo.setAccessibleName(self.tr("Data set"))
        self.data_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.data_combo.setMinimumContentsLength(16)
        file_button = QPushButton(self.tr("File…"))
        file_button.clicked.connect(self._on_choose_file)
        folder_button = QPushButton(self.tr("Folder…"))
        folder_button.clicked.connect(self._on_choose_folder)
        data_row = QHBoxLayout()
        data_row.addWidget(file_button)
        data_row.addWidget(folder_button)
        hint = QLabel(self.tr("Or drop a file or folder on this panel."))
        hint.setObjectName("hint")
        hint.setWordWrap(True)

        self.settings_stack = QStackedWidget()
        self.settings_stack.addWidget(self._build_ppl_settings())
        self.settings_stack.addWidget(self._build_mc_settings())
        self.settings_stack.addWidget(self._build_gen_settings())
        self.run_button = QPushButton(self.tr("Run evaluation"))
        self.run_button.clicked.connect(self.run_evaluation)

        setup = QGroupBox(self.tr("Run an evaluation"))
        form = QFormLayout(setup)
        form.addRow(self.tr("Model:"), self.model_combo)
        form.addRow(self.tr("Variants:"), self.variant_list)
        form.addRow(self.tr("Metric:"), self.kind_combo)
        form.addRow(self.tr("Data:"), self.data_combo)
        form.addRow("", data_row)
        form.addRow("", hint)
        form.addRow(self.settings_stack)
        form.addRow(self.run_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(setup)
        left_layout.addStretch(1)

        self.only_model_check = QCheckBox(self.tr("Only the chosen model"))
        self.only_model_check.setToolTip(
            self.tr("Show only the results of the model chosen on the left; otherwise every model's")
        )
        self.only_model_check.toggled.connect(self.refresh_scores)
        self.details_button = QPushButton(self.tr("Details…"))
        self.details_button.setToolTip(
            self.tr("Each question of the selected cell, readable one by one (or double-click the cell)")
        )
        self.details_button.clicked.connect(self._on_details_clicked)
        self.replies_button = QPushButton(self.tr("Replies…"))
        self.replies_button.setToolTip(
            self.tr("Every variant's reply to each question of the selected generation column, side by side")
        )
        self.replies_button.clicked.connect(self._on_replies_clicked)
        export_csv = QPushButton(self.tr("Export CSV…"))
        export_csv.clicked.connect(lambda: self._on_export_clicked(".csv"))
        export_md = QPushButton(self.tr("Export Markdown…"))
        export_md.clicked.connect(lambda: self._on_export_clicked(".md"))
        self.export_buttons = (export_csv, export_md)
        bar = QHBoxLayout()
        bar.addWidget(SectionTitle(self.tr("Scores")))
        bar.addStretch(1)
        bar.addWidget(self.only_model_check)
        bar.addWidget(self.details_button)
        bar.addWidget(self.replies_button)
        bar.addWidget(export_csv)
        bar.addWidget(export_md)

        self.scores_table = QTableWidget()
        self.scores_table.setAccessibleName(self.tr("Scores"))
        self.scores_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.scores_table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.scores_table.cellDoubleClicked.connect(self.show_details)
        self.scores_table.currentCellChanged.connect(self._on_current_cell_changed)
        self.scores_table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label = QLabel(
            self.tr("No results yet: tick the variants, choose the data and press Run evaluation.")
        )
        self.empty_label.setWordWrap(True)
        self.legend_label = QLabel(
            self.tr("★ best in its column · perplexity: lower is better · others: higher")
        )
        self.legend_label.setObjectName("hint")

        self.chart_combo = QComboBox()
        self.chart_combo.setAccessibleName(self.tr("Chart column"))
        self.chart_combo.currentIndexChanged.connect(self._update_charts)
        self.bar_chart = BarChart(title=self.tr("Latest scores"))
        self.bar_chart.set_placeholder(self.tr("Scores appear here after an evaluation."))
        self.line_chart = LineChart(title=self.tr("Over time"), x_label=self.tr("run date"))
        self.line_chart.set_placeholder(self.tr("The history of a column appears here."))
        chart_bar = QHBoxLayout()
        chart_bar.addWidget(QLabel(self.tr("Chart:")))
        chart_bar.addWidget(self.chart_combo, 1)
        charts = QHBoxLayout()
        charts.addWidget(self.bar_chart, 1)
        charts.addWidget(self.line_chart, 1)

        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addLayout(bar)
        table_layout.addWidget(self.empty_label)
        table_layout.addWidget(self.scores_table, 1)
        table_layout.addWidget(self.legend_label)
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addLayout(chart_bar)
        chart_layout.addLayout(charts, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(table_box)
        right.addWidget(chart_box)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.addWidget(splitter, 1)
        page_layout.addWidget(self.task_bar)
        return page

    def _build_ppl_settings(self) -> QWidget:
        self.window_spin = QSpinBox()
        self.window_spin.setRange(0, 131072)
        self.window_spin.setSpecialValueText(self.tr("Automatic (context, ≤ 2048)"))
        self.window_spin.setAccessibleName(self.tr("Window"))
        self.window_spin.setToolTip(self.tr("Tokens the model reads at once"))
        self.stride_spin = QSpinBox()
        self.stride_spin.setRange(0, 131072)
        self.stride_spin.setSpecialValueText(self.tr("Half the window"))
        self.stride_spin.setAccessibleName(self.tr("Stride"))
        self.stride_spin.setToolTip(self.tr("Tokens each window moves on; the rest is re-read as context"))
        box = QGroupBox(self.tr("Perplexity settings"))
        form = QFormLayout(box)
        form.addRow(self.tr("Window:"), self.window_spin)
        form.addRow(self.tr("Stride:"), self.stride_spin)
        return box

    def _build_mc_settings(self) -> QWidget:
        self.shots_spin = QSpinBox()
        self.shots_spin.setRange(0, 10)
        self.shots_spin.setAccessibleName(self.tr("Shots"))
        self.shots_spin.setToolTip(
            self.tr("Worked examples from the subject's dev file before each question")
        )
        self.mc_chat_check = QCheckBox(self.tr("Wrap in the chat template"))
        self.language_combo = QComboBox()
        self.language_combo.setAccessibleName(self.tr("Prompt language"))
        for text, value in (
            (self.tr("Automatic"), "auto"),
            (self.tr("Chinese"), "zh"),
            (self.tr("English"), "en"),
        ):
            self.language_combo.addItem(text, value)
        box = QGroupBox(self.tr("Multiple-choice settings"))
        form = QFormLayout(box)
        form.addRow(self.tr("Shots:"), self.shots_spin)
        form.addRow("", self.mc_chat_check)
        form.addRow(self.tr("Prompt language:"), self.language_combo)
        return box

    def _build_gen_settings(self) -> QWidget:
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setRange(1, 8192)
        self.max_tokens_spin.setValue(128)
        self.max_tokens_spin.setAccessibleName(self.tr("Max new tokens"))
        self.gen_chat_combo = QComboBox()
        self.gen_chat_combo.setAccessibleName(self.tr("Chat template"))
        for text, value in (
            (self.tr("When the model has one"), None),
            (self.tr("Always"), True),
            (self.tr("Never"), False),
        ):
            self.gen_chat_combo.addItem(text, value)
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(0, 1_000_000)
        self.limit_spin.setSpecialValueText(self.tr("All"))
        self.limit_spin.setAccessibleName(self.tr("Questions"))
        self.docs_combo = QComboBox()
        self.docs_combo.setAccessibleName(self.tr("Documents"))
        self.docs_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.docs_combo.setMinimumContentsLength(12)
        self.docs_combo.setToolTip(
            self.tr(
                "Each ticked variant also answers with passages from these documents: with the base "
                "and an adapter ticked, retrieval and training are compared four ways"
            )
        )
        docs_button = QPushButton(self.tr("Choose…"))
        docs_button.setToolTip(self.tr("Ground the answers in a file or folder"))
        docs_button.clicked.connect(self._on_choose_documents)
        docs_row = QHBoxLayout()
        docs_row.addWidget(self.docs_combo, 1)
        docs_row.addWidget(docs_button)
        self._custom_docs: list[str] = []  # files and folders chosen as documents, newest last
        box = QGroupBox(self.tr("Generation settings"))
        form = QFormLayout(box)
        form.addRow(self.tr("Max new tokens:"), self.max_tokens_spin)
        form.addRow(self.tr("Chat template:"), self.gen_chat_combo)
        form.addRow(self.tr("Questions:"), self.limit_spin)
        form.addRow(self.tr("Documents:"), docs_row)
        return box

    # -- choices ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload models, adapters, corpora and scores: the library or the adapters changed."""
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for entry in library.list_models():
            self.model_combo.addItem(entry.id, entry.id)
        self.model_combo.setCurrentIndex(max(self.model_combo.findData(current), 0))
        self.model_combo.blockSignals(False)
        self._on_model_changed()
        self._fill_data_choices()
        self._fill_documents()
        self.ab_view.refresh()

    def _on_model_changed(self) -> None:
        model_id = self.model_combo.currentData()
        unticked = {
            item.data(RUN_ROLE)
            for item in map(self.variant_list.item, range(self.variant_list.count()))
            if item.checkState() != Qt.CheckState.Checked
        }
        self.variant_list.clear()
        if model_id:
            choices = [(self.tr("{0} (base)").format(model_id), None)]
            choices += [(entry.id, entry.id) for entry in adapters.list_adapters(model_id)]
            for text, adapter in choices:
                item = QListWidgetItem(text)
                item.setData(RUN_ROLE, adapter)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Unchecked if adapter in unticked else Qt.CheckState.Checked)
                self.variant_list.addItem(item)
        self.refresh_scores()

    def checked_variants(self) -> list[str | None]:
        """The ticked variants: adapter ids, None for the base model."""
        items = map(self.variant_list.item, range(self.variant_list.count()))
        return [item.data(RUN_ROLE) for item in items if item.checkState() == Qt.CheckState.Checked]

    def set_checked_variants(self, variants: list[str | None]) -> None:
        for item in map(self.variant_list.item, range(self.variant_list.count())):
            checked = item.data(RUN_ROLE) in variants
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def current_kind(self) -> str:
        return self.kind_combo.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))

    def _on_kind_changed(self) -> None:
        self.settings_stack.setCurrentIndex(KINDS.index(self.current_kind()))
        self._fill_data_choices()

    def _fill_data_choices(self, select: str | None = None) -> None:
        """Data sets that fit the chosen kind: shipped samples, library corpora (text for
        perplexity), and the user's own files and folders."""
        kind = self.current_kind()
        current = select or self.data_combo.currentData()
        self.data_combo.clear()
        for name in sample_names():
            if sample_kind(name) == kind:
                self.data_combo.addItem(self.tr("Sample: {0}").format(name), SAMPLE_PREFIX + name)
        if kind == "ppl":
            for corpus in list_corpora():
                self.data_combo.addItem(self.tr("Corpus: {0}").format(corpus.name), CORPUS_PREFIX + corpus.id)
        for path in self._custom_data:
            name = Path(path).name
            text = (
                self.tr("Folder: {0}").format(name)
                if Path(path).is_dir()
                else self.tr("File: {0}").format(name)
            )
            self.data_combo.addItem(text, path)
            self.data_combo.setItemData(self.data_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        index = self.data_combo.findData(current)
        self.data_combo.setCurrentIndex(max(index, 0))

    def add_data_path(self, path: Path) -> None:
        """Offer a chosen or dropped file or folder, switch to the evaluation it suits, select it."""
        text = str(path.resolve())
        if text not in self._custom_data:
            self._custom_data.append(text)
        self.kind_combo.blockSignals(True)
        self.set_kind(guess_kind(path))
        self.kind_combo.blockSignals(False)
        self.settings_stack.setCurrentIndex(KINDS.index(self.current_kind()))
        self._fill_data_choices(select=text)
        self.status_message.emit(
            self.tr("{0} will be evaluated for {1}.").format(path.name, self._kind_names[self.current_kind()])
        )

    def set_data(self, spec: str) -> None:
        """Select a data set by its spec (sample:NAME, corpus:ID or a path) for the current kind."""
        self._fill_data_choices(select=spec)

    def _fill_documents(self, select: str | None = None) -> None:
        """The documents a generation run can be grounded in: none, the library's corpora, and
        files or folders chosen here."""
        current = select or self.docs_combo.currentData()
        self.docs_combo.clear()
        self.docs_combo.addItem(self.tr("None"), None)
        for corpus in list_corpora():
            self.docs_combo.addItem(self.tr("Corpus: {0}").format(corpus.name), corpus.id)
        for path in self._custom_docs:
            self.docs_combo.addItem(Path(path).name, path)
            self.docs_combo.setItemData(self.docs_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        self.docs_combo.setCurrentIndex(max(self.docs_combo.findData(current), 0))

    def set_documents(self, spec: str | None) -> None:
        """Ground generation runs in a corpus id or a file or folder path (None: in nothing)."""
        if spec is not None and self.docs_combo.findData(spec) < 0:
            self._custom_docs.append(spec)
        self._fill_documents(select=spec)
        if spec is None:
            self.docs_combo.setCurrentIndex(0)

    def _on_choose_documents(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose the documents to answer from"))
        if path:
            self.set_documents(str(Path(path).resolve()))

    def _on_choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a data file"))
        if path:
            self.add_data_path(Path(path))

    def _on_choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Choose a data folder"))
        if path:
            self.add_data_path(Path(path))

    def _settings(self) -> Settings:
        kind = self.current_kind()
        if kind == "ppl":
            return PerplexitySettings(
                window=self.window_spin.value() or None, stride=self.stride_spin.value() or None
            )
        if kind == "mc":
            return MCSettings(
                shots=self.shots_spin.value(),
                chat_template=self.mc_chat_check.isChecked(),
                language=self.language_combo.currentData(),
            )
        return GenSettings(
            max_new_tokens=self.max_tokens_spin.value(),
            chat_template=self.gen_chat_combo.currentData(),
            limit=self.limit_spin.value() or None,
            docs=self.docs_combo.currentData(),
        )

    # -- running ----------------------------------------------------------------------------------

    def run_evaluation(self) -> Task | None:
        """Score the ticked variants on the chosen data in the background; None if nothing started."""
        model_id = self.model_combo.currentData()
        variants = self.checked_variants()
        data = self.data_combo.currentData()
        if not model_id:
            show_error(self, self.tr("Import a model first; there is nothing to evaluate."))
            return None
        if not variants:
            show_error(self, self.tr("Tick at least one variant to evaluate."))
            return None
        if not data:
            show_error(self, self.tr("Choose the data to evaluate on."))
            return None
        try:
            settings = self._settings()
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        kind = self.current_kind()
        runs = len(variants) * (2 if isinstance(settings, GenSettings) and settings.docs else 1)
        return self.task_bar.start(
            self.tr("Evaluating {0} variant(s) of {1}…").format(runs, model_id),
            lambda progress: evaluate_variants(model_id, variants, kind, data, settings, progress),
            self._on_evaluation_succeeded,
        )

    def _on_evaluation_succeeded(self, records: list[RunRecord]) -> None:
        headline = "; ".join(
            f"{report.Variant.of(r).label} "
            + ", ".join(
                f"{self._metric_names[m.key]} {m.format(r.summary[m.key])}" for m in report.METRICS[r.kind]
            )
            for r in records
        )
        self.status_message.emit(self.tr("Evaluation stored: {0}").format(headline))
        self.refresh_scores()
        if records:  # chart what was just measured
            first = records[0]
            label = report.dataset_label(first.dataset_path)
            for index, column in enumerate(self.table.columns):
                if column.identity[:3] == (first.kind, label, first.dataset_sha256):
                    self.chart_combo.setCurrentIndex(index)
                    break

    def _on_busy_changed(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.model_combo.setEnabled(not busy)
        if not busy:  # whatever the outcome: a cancelled run kept the variants it finished
            self.refresh_scores()
            self.scores_changed.emit()

    def shutdown(self) -> None:
        """Cancel and wait for this panel's tasks (the window is closing)."""
        self.task_bar.shutdown()
        self.ab_view.shutdown()

    # -- the table --------------------------------------------------------------------------------

    def _column_header(self, column: report.Column, counted: bool = False) -> str:
        """Data set, metric, what tells the column from its neighbours and, when `counted`, how
        many questions (documents) were scored: a percentage says little without it."""
        lines = [column.dataset, self._metric_names.get(column.metric.key, column.metric.name)]
        asked = self.table.asked(column)
        if counted and asked is not None:
            lines.append(
                self.tr("%n document(s)", "", asked)
                if column.kind == "ppl"
                else self.tr("%n question(s)", "", asked)
            )
        return "\n".join([*lines, column.note] if column.note else lines)

    def _cell_text(self, column: report.Column, cell: report.Cell) -> str:
        text = column.metric.format(cell.value)
        if cell.right is not None and cell.asked is not None:  # multiple choice: "25.0% (3/12)"
            text += f" ({cell.right}/{cell.asked})"
        return text

    def refresh_scores(self) -> None:
        """Rebuild the table from the store: the latest complete run of each variant per column,
        of every model unless narrowed to the chosen one."""
        model_id = self.model_combo.currentData()
        if self.only_model_check.isChecked():
            runs = results.list_runs(model_id=model_id, status="complete") if model_id else []
        else:
            runs = results.list_runs(status="complete")
        chart_column = self.chart_combo.currentIndex()
        self.table = table = report.build_table(runs)
        self.scores_table.clear()
        self.scores_table.setRowCount(len(table.variants))
        self.scores_table.setColumnCount(len(table.columns))
        self.scores_table.setHorizontalHeaderLabels([self._column_header(c, True) for c in table.columns])
        self.scores_table.setVerticalHeaderLabels([v.label for v in table.variants])
        bold = QFont(self.scores_table.font())
        bold.setBold(True)
        for col, column in enumerate(table.columns):
            best = table.best(column)
            better = (
                self.tr("lower is better") if column.metric.lower_is_better else self.tr("higher is better")
            )
            for row, variant in enumerate(table.variants):
                cell = table.latest(variant, column)
                if cell is None:
                    continue
                is_best = variant in best
                item = QTableWidgetItem(self._cell_text(column, cell) + (" ★" if is_best else ""))
                item.setTextAlignment(_RIGHT)
                item.setData(RUN_ROLE, cell.run_id)
                item.setToolTip(
                    self.tr("Run {0}, {1}; {2}. Double-click for each item.").format(
                        cell.run_id, local_time(cell.created), better
                    )
                )
                if is_best:
                    item.setFont(bold)
                self.scores_table.setItem(row, col, item)
        header = self.scores_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        empty = table.is_empty()
        self.empty_label.setVisible(empty)
        self.legend_label.setVisible(not empty)
        for button in self.export_buttons:
            button.setEnabled(not empty)
        self.details_button.setEnabled(False)
        self.replies_button.setEnabled(False)

        self.chart_combo.blockSignals(True)
        self.chart_combo.clear()
        for column in table.columns:
            self.chart_combo.addItem(self._column_header(column).replace("\n", " · "))
        self.chart_combo.setCurrentIndex(min(max(chart_column, 0), len(table.columns) - 1))
        self.chart_combo.blockSignals(False)
        self._update_charts()

    def _on_current_cell_changed(self, row: int, column: int, *_previous: int) -> None:
        item = self.scores_table.item(row, column) if row >= 0 and column >= 0 else None
        self.details_button.setEnabled(item is not None)
        self.replies_button.setEnabled(
            0 <= column < len(self.table.columns) and self.table.columns[column].kind == "gen"
        )
        if column >= 0 and column != self.chart_combo.currentIndex():
            self.chart_combo.setCurrentIndex(column)

    def _on_details_clicked(self) -> None:
        self.show_details(self.scores_table.currentRow(), self.scores_table.currentColumn())

    def show_details(self, row: int, col: int) -> RunDetailsDialog | None:
        """Open the per-item results of a cell, with the cell's earlier runs to choose from."""
        if not (0 <= row < len(self.table.variants) and 0 <= col < len(self.table.columns)):
            return None
        variant, column = self.table.variants[row], self.table.columns[col]
        history = self.table.history(variant, column)
        if not history:
            return None
        title = self.tr("{0} — {1}").format(variant.label, self._column_header(column).replace("\n", " · "))
        try:
            dialog = RunDetailsDialog([cell.run_id for cell in reversed(history)], title, self)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _on_replies_clicked(self) -> None:
        self.show_replies(self.scores_table.currentColumn())

    def show_replies(self, col: int) -> RepliesDialog | None:
        """Open every variant's replies to each question of a generation column, side by side."""
        if not (0 <= col < len(self.table.columns)) or self.table.columns[col].kind != "gen":
            return None
        column = self.table.columns[col]
        title = self.tr("Replies — {0}").format(column.dataset)
        try:
            dialog = RepliesDialog(self.table, column, title, self)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # -- charts -----------------------------------------------------------------------------------

    def _update_charts(self) -> None:
        index = self.chart_combo.currentIndex()
        table = self.table
        if not (0 <= index < len(table.columns)):
            self.bar_chart.clear()
            self.line_chart.clear()
            return
        selected = table.columns[index]
        # Bars share one axis, so only columns on the same scale stand side by side: perplexities
        # together, and scores from 0 to 1 together.
        family = [c for c in table.columns if c.metric.lower_is_better == selected.metric.lower_is_better]
        shown = [v for v in table.variants if any(table.latest(v, c) for c in family)]
        values = [[(cell.value if (cell := table.latest(v, c)) else None) for c in family] for v in shown]
        marked = [
            (s, g) for g, column in enumerate(family) for s, v in enumerate(shown) if v in table.best(column)
        ]
        self.bar_chart.set_data(
            [self._column_header(c).replace("\n", " · ") for c in family],
            [v.label for v in shown],
            values,
            marked,
        )
        if selected.metric.lower_is_better:
            self.bar_chart.set_y_format(lambda v: f"{v:.4g}")
        elif all(c.metric.percent for c in family):
            self.bar_chart.set_y_format(lambda v: f"{v:.0%}")
        else:
            self.bar_chart.set_y_format(lambda v: f"{v:.2f}")

        self.line_chart.clear()
        self.line_chart.set_title(
            self.tr("Over time: {0}").format(self._column_header(selected).replace("\n", " · "))
        )
        self.line_chart.set_y_format(selected.metric.format)
        days = []
        for variant in table.variants:
            history = table.history(variant, selected)
            if history:
                points = [(_days(cell.created), cell.value) for cell in history]
                days += [x for x, _ in points]
                self.line_chart.set_series(variant.label, points)
        self.line_chart.set_x_format(_time_format(max(days) - min(days) if days else 0.0))

    # -- export -----------------------------------------------------------------------------------

    def _on_export_clicked(self, suffix: str) -> None:
        filters = {".csv": self.tr("CSV (*.csv)"), ".md": self.tr("Markdown (*.md)")}
        path, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export scores"), f"scores{suffix}", filters[suffix]
        )
        if path:
            target = Path(path)
            self.export_scores(
                target if target.suffix.lower() in report.EXPORT_SUFFIXES else target.with_suffix(suffix)
            )

    def export_scores(self, path: Path) -> None:
        """Write the table as shown (CSV or Markdown by the file's suffix)."""
        try:
            report.export_table(self.table, path)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return
        self.status_message.emit(self.tr("Scores exported to {0}.").format(path))

    # -- drag and drop ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.tabs.setCurrentIndex(0)
                self.add_data_path(Path(url.toLocalFile()))
                break
        event.acceptProposedAction()
