"""The Train panel: data in (drop files, preview, corpora, the instruction editor), a job form with a
live memory check, and the job itself: progress, a live loss chart, the log and past runs.

A job runs in a process of its own (see `train_process`), so the panel only ever reads files: it
starts the runner, tails the run's progress log, and on reopening re-attaches to a run still
going. Everything slower than a click (preview, adding a corpus, the memory estimate, creating a
run, merging) runs on a background thread.

Signals: adapters_changed() when a job's adapter enters the library; library_changed() after the
guided flow merges a model; status_message(text) for the status bar."""

import contextlib
import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import adapters, library, paths
from llamadesk.core.corpus import store
from llamadesk.core.errors import AlreadyExistsError, LlamaDeskError
from llamadesk.core.progress import Progress
from llamadesk.core.training import runs
from llamadesk.core.training.memory import MemoryEstimate, MemoryRefusal
from llamadesk.core.training.spec import KINDS, SpecError, TrainSpec
from llamadesk.ui.charts import LineChart
from llamadesk.ui.dataset_editor import DatasetEditor, EngineSource
from llamadesk.ui.dialogs import confirm, show_error
from llamadesk.ui.kinds import kind_label
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task
from llamadesk.ui.train_process import TrainProcess

ESTIMATE_DELAY_MS = 400  # after the last edit: one estimate per pause, not per keystroke
RESUMABLE = ("cancelled", "interrupted", "failed", "created")
KIND_DEFAULTS = {"pt": {"lr": 2e-4, "epochs": 1.0}, "sft": {"lr": 1e-4, "epochs": 2.0}}
RUN_ROLE = Qt.ItemDataRole.UserRole


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _safe_id(text: str) -> str:
    return re.sub(r"[^\w.\-]+", "-", text).strip("-.")[:90] or "adapter"


# -- background work (no Qt: runs on a Task's thread) --------------------------------------------------


def _tokenizer(base_id: str | None) -> Any:
    if not base_id:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(library.get_model(base_id).path)


def preview_paths(paths_: list[str], base_id: str | None, seed: int, progress: Progress) -> Any:
    """What adding these files would store, tokens counted with the chosen base's tokenizer."""
    from llamadesk.core.corpus import scan

    return scan.preview(paths_, tokenizer=_tokenizer(base_id), seed=seed, progress=progress)


def add_paths_corpus(paths_: list[str], name: str | None, base_id: str | None, seed: int, progress: Progress):
    return store.add_corpus(paths_, name, progress, seed=seed, tokenizer=_tokenizer(base_id))


def estimate_memory(spec: TrainSpec) -> MemoryEstimate | MemoryRefusal | LlamaDeskError:
    """The estimate, or the refusal with its suggestion; errors are returned to be shown inline."""
    from llamadesk.core.training import memory

    try:
        return memory.check_fits(spec, library.get_model(spec.base).config)
    except MemoryRefusal as refusal:
        return refusal
    except LlamaDeskError as exc:
        return exc


def prepare_run(spec: TrainSpec, progress: Progress) -> str | MemoryRefusal:
    """Everything refused before a process starts, then the run's folder: its id, or the refusal."""
    from llamadesk.core.training import memory

    base = library.get_model(spec.base)
    if (paths.adapters_dir() / spec.out).exists():
        text = QCoreApplication.translate(
            "train_view", "An adapter named '{0}' already exists; choose another name."
        )
        raise AlreadyExistsError(text.format(spec.out))
    try:
        memory.check_fits(spec, base.config)
    except MemoryRefusal as refusal:
        return refusal
    return runs.create_run(spec, progress).id


class _LatestTask(QObject):
    """One background function at a time; a request made meanwhile replaces the waiting one, so a
    burst of edits costs the running estimate plus one more, not one per keystroke."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._task: Task | None = None
        self._waiting: tuple[Callable, Callable] | None = None

    def request(self, fn: Callable[[Progress], Any], on_result: Callable[[Any], None]) -> None:
        if self._task is not None:
            self._waiting = (fn, on_result)
            return
        self._task = Task(fn, self)
        self._task.succeeded.connect(on_result)
        self._task.finished.connect(self._on_finished)
        self._task.start()

    def _on_finished(self) -> None:
        self._task.deleteLater()
        self._task = None
        if self._waiting is not None:
            fn, on_result = self._waiting
            self._waiting = None
            self.request(fn, on_result)

    def shutdown(self) -> None:
        self._waiting = None
        if self._task is not None:
            self._task.cancel()
            self._task.wait()


class PipelineGuide(QGroupBox):
    """The preset "Chinese incremental model → merge → private SFT" as three steps over the panel's
    own form and merge: each step fills the form (or merges) and then shows what it produced.

    Signals: setup_requested(kind) for step 1 ("pt") and step 3 ("sft"); merge_requested(adapter
    id, new model name) for step 2."""

    setup_requested = Signal(str)
    merge_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        intro = QLabel(
            self.tr(
                "Teach a model Chinese from plain text, bake that into a new model, then tune the new "
                "model on your own instructions. Each step fills in the form below; check it and press Start."
            )
        )
        intro.setWordWrap(True)
        self.pt_button = QPushButton(self.tr("Fill in step 1"))
        self.pt_button.clicked.connect(lambda: self.setup_requested.emit("pt"))
        self.pt_status = QLabel(self.tr("Continued pre-training on a Chinese text corpus."))
        self.adapter_combo = QComboBox()
        self.adapter_combo.setAccessibleName(self.tr("Pre-trained adapter to merge"))
        self.adapter_combo.currentTextChanged.connect(lambda text: self.merged_name.setText(f"{text}-merged"))
        self.merged_name = QLineEdit()
        self.merged_name.setAccessibleName(self.tr("Name of the merged model"))
        self.merge_button = QPushButton(self.tr("Merge"))
        self.merge_button.clicked.connect(self._on_merge_clicked)
        self.merge_status = QLabel(self.tr("Bake the adapter into a new complete model."))
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Merged model to tune"))
        self.sft_button = QPushButton(self.tr("Fill in step 3"))
        self.sft_button.clicked.connect(lambda: self.setup_requested.emit("sft"))
        self.sft_status = QLabel(
            self.tr("Instruction tuning on your private data, on top of the merged model.")
        )
        for label in (self.pt_status, self.merge_status, self.sft_status):
            label.setWordWrap(True)

        form = QFormLayout(self)
        form.addRow(intro)
        form.addRow(QLabel(self.tr("<b>1</b>")), self.pt_status)
        form.addRow("", self.pt_button)
        form.addRow(QLabel(self.tr("<b>2</b>")), self.merge_status)
        form.addRow("", self.adapter_combo)
        merge_row = QHBoxLayout()
        merge_row.addWidget(QLabel("→"))
        merge_row.addWidget(self.merged_name, 1)
        merge_row.addWidget(self.merge_button)
        form.addRow("", merge_row)
        form.addRow(QLabel(self.tr("<b>3</b>")), self.sft_status)
        sft_row = QHBoxLayout()
        sft_row.addWidget(self.model_combo, 1)
        sft_row.addWidget(self.sft_button)
        form.addRow("", sft_row)
        self.refresh()

    def refresh(self) -> None:
        adapter, model = self.adapter_combo.currentText(), self.model_combo.currentText()
        self.adapter_combo.clear()
        self.adapter_combo.addItems(
            [a.id for a in adapters.list_adapters() if a.manifest.get("kind") == "pt"]
        )
        self.model_combo.clear()
        self.model_combo.addItems(
            [m.id for m in library.list_models() if m.manifest.get("format") == "merged"]
        )
        for combo, previous in ((self.adapter_combo, adapter), (self.model_combo, model)):
            if previous and combo.findText(previous) >= 0:
                combo.setCurrentText(previous)
        self.merge_button.setEnabled(self.adapter_combo.count() > 0)
        self.sft_button.setEnabled(self.model_combo.count() > 0)

    def _on_merge_clicked(self) -> None:
        name = self.merged_name.text().strip()
        if self.adapter_combo.currentText() and name:
            self.merge_requested.emit(self.adapter_combo.currentText(), name)

    def mark_trained(self, kind: str, adapter_id: str) -> None:
        self.refresh()
        if kind == "pt":
            self.pt_status.setText(self.tr("✓ Trained the adapter {0}; merge it next.").format(adapter_id))
            self.adapter_combo.setCurrentText(adapter_id)
        elif kind == "sft":
            self.sft_status.setText(
                self.tr("✓ Trained {0}: choose it in the Chat panel's adapter list.").format(adapter_id)
            )

    def mark_merged(self, model_id: str) -> None:
        self.refresh()
        self.merge_status.setText(self.tr("✓ Created the model {0}; tune it in step 3.").format(model_id))
        self.model_combo.setCurrentText(model_id)


class TrainView(QWidget):
    adapters_changed = Signal()
    library_changed = Signal()
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None, engine_source: EngineSource | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._engine_source = engine_source
        self.job: TrainProcess | None = None
        self.pending_paths: list[str] = []
        self._name_edited = False
        self._suggestion: dict = {}
        self._shown_run: str | None = None  # the run whose curves the chart shows
        self._last_run: str | None = None  # the run most recently followed, for Resume
        self._live: dict[str, list[tuple[float, float]]] = {"loss": [], "eval": []}
        self._last_eval: float | None = None
        self._editor: DatasetEditor | None = None
        self._estimates = _LatestTask(self)
        self._curves = _LatestTask(self)
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(ESTIMATE_DELAY_MS)
        self._estimate_timer.timeout.connect(self.update_estimate)

        self.task_bar = TaskBar()
        self.task_bar.busy_changed.connect(lambda _busy: self._update_buttons())
        splitter = QSplitter()
        splitter.addWidget(self._build_data_column())
        splitter.addWidget(self._build_job_column())
        splitter.addWidget(self._build_progress_column())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 5)
        splitter.setSizes([310, 440, 650])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.task_bar)

        self.refresh()
        self._connect_form()
        self._on_kind_changed()
        self._attach_live()
        self._update_buttons()

    # -- layout ----------------------------------------------------------------------------------------

    def _build_data_column(self) -> QWidget:
        self.drop_zone = QLabel(
            self.tr(
                "Drop files or folders here\ntext: .txt .md .pdf .docx .html\ninstructions: .jsonl .json .csv"
            )
        )
        self.drop_zone.setObjectName("dropZone")
        self.drop_zone.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_zone.setWordWrap(True)
        self.drop_zone.setMinimumHeight(70)
        self.drop_zone.setFrameShape(QFrame.Shape.StyledPanel)
        self.drop_zone.setStyleSheet("#dropZone { border: 2px dashed palette(mid); border-radius: 6px; }")
        self.add_files_button = QPushButton(self.tr("Add files…"))
        self.add_files_button.clicked.connect(self._on_add_files_clicked)
        self.add_folder_button = QPushButton(self.tr("Add folder…"))
        self.add_folder_button.clicked.connect(self._on_add_folder_clicked)
        self.preview_view = QTextBrowser()
        self.preview_view.setAccessibleName(self.tr("Data preview"))
        self.preview_view.setPlaceholderText(
            self.tr("Drop documents to see what they hold before adding them.")
        )
        self.corpus_name_edit = QLineEdit()
        self.corpus_name_edit.setPlaceholderText(self.tr("corpus name (optional)"))
        self.corpus_name_edit.setAccessibleName(self.tr("Corpus name"))
        self.add_corpus_button = QPushButton(self.tr("Add as corpus"))
        self.add_corpus_button.clicked.connect(
            lambda: self.add_corpus(self.corpus_name_edit.text().strip() or None)
        )
        self.corpus_list = QListWidget()
        self.corpus_list.setAccessibleName(self.tr("Corpora"))
        self.corpus_list.currentItemChanged.connect(self._on_corpus_selected)
        self.edit_instructions_button = QPushButton(self.tr("Edit instructions…"))
        self.edit_instructions_button.setToolTip(
            self.tr("Write instruction/response pairs, or draft them from documents with the chat model")
        )
        self.edit_instructions_button.clicked.connect(self.open_dataset_editor)
        self.remove_corpus_button = QPushButton(self.tr("Remove"))
        self.remove_corpus_button.clicked.connect(self._on_remove_corpus_clicked)

        column = QWidget()
        layout = QVBoxLayout(column)
        layout.addWidget(QLabel(self.tr("<b>Training data</b>")))
        layout.addWidget(self.drop_zone)
        row = QHBoxLayout()
        row.addWidget(self.add_files_button)
        row.addWidget(self.add_folder_button)
        layout.addLayout(row)
        layout.addWidget(self.preview_view, 2)
        row = QHBoxLayout()
        row.addWidget(self.corpus_name_edit, 1)
        row.addWidget(self.add_corpus_button)
        layout.addLayout(row)
        layout.addWidget(QLabel(self.tr("<b>Corpora</b>")))
        layout.addWidget(self.corpus_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.edit_instructions_button)
        row.addWidget(self.remove_corpus_button)
        layout.addLayout(row)
        return column

    def _build_job_column(self) -> QWidget:
        self.guide_button = QPushButton(self.tr("Guided: Chinese model → merge → private SFT"))
        self.guide_button.setCheckable(True)
        self.guide = PipelineGuide()
        self.guide.hide()
        self.guide_button.toggled.connect(self.guide.setVisible)
        self.guide.setup_requested.connect(self._on_guide_setup)
        self.guide.merge_requested.connect(self.start_merge)

        self.base_combo = QComboBox()
        self.base_combo.setAccessibleName(self.tr("Base model"))
        self.kind_combo = QComboBox()
        self.kind_combo.setAccessibleName(self.tr("Kind of training"))
        self.kind_combo.addItem(self.tr("Continued pre-training (plain text)"), "pt")
        self.kind_combo.addItem(self.tr("Instruction tuning, SFT (pairs)"), "sft")
        self.corpus_combo = QComboBox()
        self.corpus_combo.setAccessibleName(self.tr("Training corpus"))
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName(self.tr("Adapter name"))
        self.name_edit.textEdited.connect(self._on_name_edited)
        self.epochs_spin = QDoubleSpinBox()
        self.epochs_spin.setRange(0.01, 1000)
        self.epochs_spin.setSingleStep(0.5)
        self.rank_spin = QSpinBox()
        self.rank_spin.setRange(1, 1024)
        self.rank_spin.setValue(8)
        self.lr_edit = QLineEdit()
        self.lr_edit.setValidator(QDoubleValidator(0.0, 1.0, 10))
        self.lr_edit.setAccessibleName(self.tr("Learning rate"))
        self.block_spin = QSpinBox()
        self.block_spin.setRange(8, 1_048_576)
        self.block_spin.setValue(512)
        self.block_spin.setToolTip(self.tr("Tokens per pre-training block, and the longest SFT example"))

        job_box = QGroupBox(self.tr("New training job"))
        form = QFormLayout(job_box)
        form.addRow(self.tr("Base model:"), self.base_combo)
        form.addRow(self.tr("Kind:"), self.kind_combo)
        form.addRow(self.tr("Data:"), self.corpus_combo)
        form.addRow(self.tr("Adapter name:"), self.name_edit)
        form.addRow(self.tr("Epochs:"), self.epochs_spin)
        form.addRow(self.tr("LoRA rank:"), self.rank_spin)
        form.addRow(self.tr("Learning rate:"), self.lr_edit)
        form.addRow(self.tr("Block (tokens):"), self.block_spin)
        self.advanced_button = QToolButton()
        self.advanced_button.setText(self.tr("Advanced"))
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_box = self._build_advanced()
        self.advanced_box.hide()
        self.advanced_button.toggled.connect(self._on_advanced_toggled)
        form.addRow(self.advanced_button)
        form.addRow(self.advanced_box)

        self.memory_label = QLabel()
        self.memory_label.setObjectName("memoryEstimate")
        self.memory_label.setWordWrap(True)
        self.memory_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.apply_button = QPushButton(self.tr("Apply suggestion"))
        self.apply_button.clicked.connect(self.apply_suggestion)
        self.apply_button.hide()
        self.start_button = QPushButton(self.tr("Start"))
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start_job)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Stop after the current step, keeping a checkpoint"))
        self.cancel_button.clicked.connect(self.cancel_job)
        self.resume_button = QPushButton(self.tr("Resume"))
        self.resume_button.setToolTip(self.tr("Continue the selected run from its last checkpoint"))
        self.resume_button.clicked.connect(self._on_resume_clicked)

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addWidget(self.guide_button)
        layout.addWidget(self.guide)
        layout.addWidget(job_box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(
            inner.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        # The verdict and the buttons stay in sight however far the form is scrolled.
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.addWidget(scroll, 1)
        column_layout.addWidget(self.memory_label)
        column_layout.addWidget(self.apply_button, 0, Qt.AlignmentFlag.AlignLeft)
        row = QHBoxLayout()
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.resume_button)
        column_layout.addLayout(row)
        return column

    def _build_advanced(self) -> QWidget:
        def spin(low: int, high: int, value: int, special: str | None = None) -> QSpinBox:
            box = QSpinBox()
            box.setRange(low, high)
            box.setValue(value)
            if special:
                box.setSpecialValueText(special)
            return box

        def fraction(value: float, step: float) -> QDoubleSpinBox:
            box = QDoubleSpinBox()
            box.setRange(0.0, 0.99)
            box.setDecimals(3)
            box.setSingleStep(step)
            box.setValue(value)
            return box

        self.alpha_spin = spin(0, 4096, 0, self.tr("2 × rank"))
        self.dropout_spin = fraction(0.05, 0.01)
        self.batch_spin = spin(1, 1024, 2)
        self.accum_spin = spin(1, 1024, 4)
        self.max_steps_spin = spin(0, 10_000_000, 0, self.tr("by epochs"))
        self.warmup_spin = fraction(0.05, 0.01)
        self.eval_every_spin = spin(1, 1_000_000, 50)
        self.save_every_spin = spin(1, 1_000_000, 100)
        self.checkpointing_check = QCheckBox(self.tr("Gradient checkpointing (less memory, ~30 % slower)"))
        self.modules_edit = QLineEdit()
        self.modules_edit.setPlaceholderText(self.tr("e.g. embed_tokens, lm_head"))
        self.modules_edit.setToolTip(self.tr("Modules trained in full rather than with LoRA"))
        self.extend_vocab_spin = spin(0, 1_000_000, 0, self.tr("off"))
        self.extend_vocab_spin.setSingleStep(1000)
        self.extend_vocab_spin.setToolTip(
            self.tr("Pre-training only: learn up to this many new tokens from the corpus")
        )
        self.seed_spin = spin(0, 2**31 - 1, 42)
        self.seed_spin.setToolTip(
            self.tr("Fixes the train/validation split, LoRA's start and the data order")
        )
        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(12, 0, 0, 0)
        form.addRow(self.tr("LoRA alpha:"), self.alpha_spin)
        form.addRow(self.tr("Dropout:"), self.dropout_spin)
        form.addRow(self.tr("Batch:"), self.batch_spin)
        form.addRow(self.tr("Grad accumulation:"), self.accum_spin)
        form.addRow(self.tr("Max steps:"), self.max_steps_spin)
        form.addRow(self.tr("Warm-up ratio:"), self.warmup_spin)
        form.addRow(self.tr("Evaluate every:"), self.eval_every_spin)
        form.addRow(self.tr("Save every:"), self.save_every_spin)
        form.addRow(self.checkpointing_check)
        form.addRow(self.tr("Modules to save:"), self.modules_edit)
        form.addRow(self.tr("Extend vocabulary:"), self.extend_vocab_spin)
        form.addRow(self.tr("Seed:"), self.seed_spin)
        return box

    def _build_progress_column(self) -> QWidget:
        self.run_title = QLabel(self.tr("<b>No job running</b>"))
        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName(self.tr("Training progress"))
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.stats_label = QLabel()
        self.stats_label.setObjectName("trainStats")
        self.stats_label.setWordWrap(True)
        self.chart = LineChart(title=self.tr("Loss"), x_label=self.tr("step"), y_label=self.tr("loss"))
        self.chart.set_placeholder(self.tr("Loss and evaluation loss appear here as the job runs."))
        self.chart.set_x_format(lambda v: f"{v:,.0f}", min_step=1)
        self.chart.set_y_format(lambda v: f"{v:.3g}")
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setAccessibleName(self.tr("Training log"))
        self.runs_tree = QTreeWidget()
        self.runs_tree.setHeaderLabels(
            [self.tr("Run"), self.tr("Kind"), self.tr("Status"), self.tr("Steps"), self.tr("Adapter")]
        )
        self.runs_tree.setRootIsDecorated(False)
        self.runs_tree.header().setStretchLastSection(False)
        self.runs_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, 5):
            self.runs_tree.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.runs_tree.setAccessibleName(self.tr("Past runs"))
        self.runs_tree.currentItemChanged.connect(self._on_run_selected)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.run_title)
        top_layout.addWidget(self.progress_bar)
        top_layout.addWidget(self.stats_label)
        top_layout.addWidget(self.chart, 1)
        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addWidget(QLabel(self.tr("<b>Runs</b> (select one to see its curves)")))
        runs_layout.addWidget(self.runs_tree)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.log_view)
        splitter.addWidget(runs_box)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 2)
        return splitter

    # -- lists -----------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read models, corpora and runs (after a change made elsewhere)."""
        self._fill_combo(
            self.base_combo,
            [
                (m.id + (self.tr(" (merged)") if m.manifest.get("format") == "merged" else ""), m.id)
                for m in library.list_models()
            ],
        )
        self.refresh_corpora()
        self.refresh_runs()
        self.guide.refresh()
        if self._editor is not None:
            self._editor.refresh_sources()

    @staticmethod
    def _fill_combo(combo: QComboBox, items: list[tuple[str, str]], select: str | None = None) -> None:
        previous = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        for label, data in items:
            combo.addItem(label, data)
        index = combo.findData(select or previous)
        combo.setCurrentIndex(index if index >= 0 else (0 if items else -1))
        combo.blockSignals(False)
        if combo.currentData() != previous:
            combo.currentIndexChanged.emit(combo.currentIndex())

    def refresh_corpora(self, select: str | None = None) -> None:
        corpora = store.list_corpora()
        kinds = {"text": self.tr("text"), "instructions": self.tr("instructions"), "mixed": self.tr("mixed")}
        self._fill_combo(self.corpus_combo, [(f"{c.id} ({kinds[c.kind]})", c.id) for c in corpora], select)
        self.corpus_list.blockSignals(True)
        self.corpus_list.clear()
        for entry in corpora:
            tokens = entry.manifest.get("tokens")
            amount = (
                self.tr("{0} tokens").format(f"{tokens:,}")
                if tokens
                else self.tr("{0} characters").format(f"{entry.manifest.get('characters', 0):,}")
            )
            item = QListWidgetItem(f"{entry.id} · {kinds[entry.kind]} · {amount}")
            item.setData(RUN_ROLE, entry.id)
            self.corpus_list.addItem(item)
        self.corpus_list.blockSignals(False)
        self.remove_corpus_button.setEnabled(False)

    def refresh_runs(self) -> None:
        selected = self._selected_run()
        self.runs_tree.blockSignals(True)
        self.runs_tree.clear()
        for run in runs.list_runs():
            summary = run.summary()
            steps = f"{summary['step'] or 0}/{summary['total_steps'] or '?'}"
            item = QTreeWidgetItem(
                [
                    run.id,
                    kind_label(summary["kind"]),
                    self._status_word(summary["status"]),
                    steps,
                    summary["adapter_id"] or "",
                ]
            )
            item.setData(0, RUN_ROLE, run.id)
            self.runs_tree.addTopLevelItem(item)
            if run.id == selected:
                self.runs_tree.setCurrentItem(item)
        self.runs_tree.blockSignals(False)
        self._update_buttons()

    def _status_word(self, status: str) -> str:
        words = {
            "created": self.tr("created"),
            "running": self.tr("running"),
            "cancelled": self.tr("cancelled"),
            "done": self.tr("done"),
            "failed": self.tr("failed"),
            "interrupted": self.tr("interrupted"),
        }
        return words.get(status, status)

    def _selected_run(self) -> str | None:
        item = self.runs_tree.currentItem()
        return item.data(0, RUN_ROLE) if item else None

    # -- data ------------------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        found = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if found:
            self.add_paths(found)
        event.acceptProposedAction()

    def _on_add_files_clicked(self) -> None:
        chosen, _ = QFileDialog.getOpenFileNames(
            self,
            self.tr("Add training documents"),
            "",
            self.tr("Documents and data (*.txt *.md *.pdf *.docx *.html *.htm *.jsonl *.json *.csv)"),
        )
        if chosen:
            self.add_paths(chosen)

    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Add a folder of documents"))
        if folder:
            self.add_paths([folder])

    def add_paths(self, chosen: list[str]) -> Task | None:
        """Files and folders to become a corpus: previewed first, added on "Add as corpus"."""
        self.pending_paths = list(dict.fromkeys([*self.pending_paths, *map(str, chosen)]))
        return self.start_preview()

    def start_preview(self) -> Task | None:
        chosen, base_id, seed = (
            list(self.pending_paths),
            self.base_combo.currentData(),
            self.seed_spin.value(),
        )
        self.preview_view.setHtml(self.tr("<p>Reading {0} item(s)…</p>").format(len(chosen)))
        return self.task_bar.start(
            self.tr("Reading documents…"),
            lambda progress: preview_paths(chosen, base_id, seed, progress),
            self._on_previewed,
        )

    def _on_previewed(self, summary: Any) -> None:
        names = ", ".join(Path(p).name for p in self.pending_paths[:4])
        more = (
            self.tr(" and {0} more").format(len(self.pending_paths) - 4)
            if len(self.pending_paths) > 4
            else ""
        )
        self.preview_view.setHtml(
            self.tr("<h3>Preview: {0}{1}</h3>").format(names, more) + self.summary_html(summary)
        )
        self.add_corpus_button.setEnabled(True)

    def summary_html(self, summary: Any) -> str:
        """What a corpus holds (or would): files, skipped ones and why, size, language, kind."""
        kinds = {
            "text": self.tr("plain text"),
            "instructions": self.tr("instructions"),
            "mixed": self.tr("mixed"),
        }
        encodings = ", ".join(f"{name} ×{count}" for name, count in summary.encodings.items()) or "—"
        tokens = f"{summary.tokens:,}" if summary.tokens is not None else self.tr("not counted")
        rows = [
            (self.tr("Kind"), kinds[summary.kind]),
            (self.tr("Files read"), f"{len(summary.files_read):,}"),
            (self.tr("Characters"), f"{summary.characters:,}"),
            (self.tr("Tokens"), tokens),
            (self.tr("Languages"), summary.language.describe()),
            (self.tr("Encodings"), encodings),
            (
                self.tr("Passages (train / validation)"),
                f"{summary.passages['train']:,} / {summary.passages['validation']:,}",
            ),
            (
                self.tr("Conversations (train / validation)"),
                f"{summary.conversations['train']:,} / {summary.conversations['validation']:,}",
            ),
            (self.tr("Duplicates dropped"), f"{summary.duplicates:,}"),
        ]
        body = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows)
        text = f"<table>{body}</table>"
        if summary.skipped:
            items = "".join(
                f"<li>{html.escape(Path(s.path).name)}: {html.escape(s.reason)}</li>"
                for s in summary.skipped[:20]
            )
            text += (
                self.tr("<p><b>Skipped {0} file(s):</b></p>").format(len(summary.skipped))
                + f"<ul>{items}</ul>"
            )
        if summary.warning_count:
            text += self.tr("<p>{0} record(s) left out, e.g. {1}</p>").format(
                summary.warning_count, html.escape(summary.warnings[0]) if summary.warnings else ""
            )
        return text

    def add_corpus(self, name: str | None = None) -> Task | None:
        if not self.pending_paths:
            show_error(self, self.tr("Drop or choose documents first."))
            return None
        chosen, base_id, seed = (
            list(self.pending_paths),
            self.base_combo.currentData(),
            self.seed_spin.value(),
        )
        return self.task_bar.start(
            self.tr("Adding the corpus…"),
            lambda progress: add_paths_corpus(chosen, name, base_id, seed, progress),
            self._on_corpus_added,
        )

    def _on_corpus_added(self, entry: store.CorpusEntry) -> None:
        self.pending_paths = []
        self.corpus_name_edit.clear()
        self.add_corpus_button.setEnabled(False)
        self.refresh_corpora(select=entry.id)
        self.status_message.emit(self.tr("Added the corpus {0}.").format(entry.id))
        if self._editor is not None:
            self._editor.refresh_sources()

    def _on_corpus_selected(self, current: QListWidgetItem | None, _previous: object) -> None:
        self.remove_corpus_button.setEnabled(current is not None)
        if current is None:
            return
        corpus_id = current.data(RUN_ROLE)
        try:
            entry = store.get_corpus(corpus_id)
        except LlamaDeskError as exc:
            self.preview_view.setPlainText(str(exc))
            return
        self.preview_view.setHtml(f"<h3>{html.escape(corpus_id)}</h3>" + self.summary_html(entry.summary()))
        index = self.corpus_combo.findData(corpus_id)
        if index >= 0:
            self.corpus_combo.setCurrentIndex(index)

    def _on_remove_corpus_clicked(self) -> None:
        item = self.corpus_list.currentItem()
        if item is None:
            return
        corpus_id = item.data(RUN_ROLE)
        if confirm(
            self,
            self.tr("Remove corpus"),
            self.tr("Remove the corpus '{0}'? Runs made from it keep their own token data.").format(
                corpus_id
            ),
        ):
            try:
                store.remove_corpus(corpus_id)
            except LlamaDeskError as exc:
                show_error(self, str(exc))
            self.refresh_corpora()

    def open_dataset_editor(self) -> DatasetEditor:
        """The instruction editor, non-modal; documents dropped here are offered for drafting."""
        if self._editor is None:
            self._editor = DatasetEditor(self, self._engine_source)
            self._editor.corpus_added.connect(lambda corpus_id: self.refresh_corpora(select=corpus_id))
            self._editor.status_message.connect(self.status_message)
        if self.pending_paths:
            self._editor.set_documents(self.pending_paths)
        self._editor.show()
        self._editor.raise_()
        return self._editor

    # -- the form --------------------------------------------------------------------------------------

    def _connect_form(self) -> None:
        for combo in (self.base_combo, self.corpus_combo):
            combo.currentIndexChanged.connect(self._on_form_changed)
        self.corpus_combo.currentIndexChanged.connect(self._on_corpus_chosen)
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)
        for box in (
            self.epochs_spin,
            self.rank_spin,
            self.block_spin,
            self.alpha_spin,
            self.dropout_spin,
            self.batch_spin,
            self.accum_spin,
            self.max_steps_spin,
            self.warmup_spin,
            self.eval_every_spin,
            self.save_every_spin,
            self.extend_vocab_spin,
            self.seed_spin,
        ):
            box.valueChanged.connect(self._on_form_changed)
        for edit in (self.lr_edit, self.name_edit, self.modules_edit):
            edit.textChanged.connect(self._on_form_changed)
        self.checkpointing_check.toggled.connect(self._on_form_changed)

    def _on_advanced_toggled(self, shown: bool) -> None:
        self.advanced_box.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _on_form_changed(self) -> None:
        if not self.name_edit.hasFocus():
            self._suggest_name()
        self._estimate_timer.start()

    def _on_name_edited(self, text: str) -> None:
        self._name_edited = bool(text)

    def _on_kind_changed(self) -> None:
        """Defaults follow the kind (the recipe's lr and epochs), unless the user changed them."""
        kind = self.kind_combo.currentData()
        for other in KINDS:
            if other == kind:
                continue
            if self._lr_value() in (None, KIND_DEFAULTS[other]["lr"]):
                self.lr_edit.setText(f"{KIND_DEFAULTS[kind]['lr']:g}")
            if self.epochs_spin.value() in (self.epochs_spin.minimum(), KIND_DEFAULTS[other]["epochs"]):
                self.epochs_spin.setValue(KIND_DEFAULTS[kind]["epochs"])
        self.extend_vocab_spin.setEnabled(kind == "pt")
        self._on_form_changed()

    def _on_corpus_chosen(self) -> None:
        """Instruction data is trained with SFT and plain text with pre-training: follow the data."""
        corpus_id = self.corpus_combo.currentData()
        if not corpus_id:
            return
        try:
            kind = store.get_corpus(corpus_id).kind
        except LlamaDeskError:
            return
        wanted = {"text": "pt", "instructions": "sft"}.get(kind)
        if wanted and wanted != self.kind_combo.currentData():
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(wanted))

    def _suggest_name(self) -> None:
        if self._name_edited:
            return
        base, corpus, kind = (
            self.base_combo.currentData(),
            self.corpus_combo.currentData(),
            self.kind_combo.currentData(),
        )
        if not base or not corpus:
            return
        stem = _safe_id(f"{base}-{corpus}-{kind}")
        taken = {a.id for a in adapters.list_adapters()}
        name, number = stem, 2
        while name in taken:
            name, number = f"{stem}-{number}", number + 1
        self.name_edit.blockSignals(True)
        self.name_edit.setText(name)
        self.name_edit.blockSignals(False)

    def _lr_value(self) -> float | None:
        try:
            return float(self.lr_edit.text())
        except ValueError:
            return None

    def spec_from_form(self) -> TrainSpec:
        """The job as the form describes it; SpecError names the field to fix."""
        lr = self._lr_value()
        if lr is None:
            raise SpecError(self.tr("The learning rate must be a number, such as 2e-4."))
        corpus = self.corpus_combo.currentData()
        modules = [m.strip() for m in self.modules_edit.text().replace(",", " ").split() if m.strip()]
        return TrainSpec(
            kind=self.kind_combo.currentData(),
            base=self.base_combo.currentData() or "",
            data=[corpus] if corpus else [],
            out=self.name_edit.text().strip(),
            epochs=self.epochs_spin.value(),
            max_steps=self.max_steps_spin.value() or None,
            rank=self.rank_spin.value(),
            alpha=self.alpha_spin.value() or None,
            dropout=self.dropout_spin.value(),
            modules_to_save=modules,
            lr=lr,
            warmup_ratio=self.warmup_spin.value(),
            block_size=self.block_spin.value(),
            batch_size=self.batch_spin.value(),
            grad_accum=self.accum_spin.value(),
            gradient_checkpointing=self.checkpointing_check.isChecked(),
            seed=self.seed_spin.value(),
            eval_every=self.eval_every_spin.value(),
            save_every=self.save_every_spin.value(),
            extend_vocab=(self.extend_vocab_spin.value() or None)
            if self.kind_combo.currentData() == "pt"
            else None,
        )

    def apply_values(self, values: dict[str, Any]) -> None:
        """Set form fields by spec field name (a memory suggestion, a guided step's preset)."""
        setters: dict[str, Callable[[Any], None]] = {
            "kind": lambda v: self.kind_combo.setCurrentIndex(self.kind_combo.findData(v)),
            "base": lambda v: self.base_combo.setCurrentIndex(self.base_combo.findData(v)),
            "data": lambda v: self.corpus_combo.setCurrentIndex(self.corpus_combo.findData(v[0])),
            "out": self._set_name,
            "epochs": self.epochs_spin.setValue,
            "max_steps": lambda v: self.max_steps_spin.setValue(v or 0),
            "rank": self.rank_spin.setValue,
            "alpha": lambda v: self.alpha_spin.setValue(v or 0),
            "dropout": self.dropout_spin.setValue,
            "lr": lambda v: self.lr_edit.setText(f"{v:g}"),
            "warmup_ratio": self.warmup_spin.setValue,
            "block_size": self.block_spin.setValue,
            "batch_size": self.batch_spin.setValue,
            "grad_accum": self.accum_spin.setValue,
            "gradient_checkpointing": self.checkpointing_check.setChecked,
            "modules_to_save": lambda v: self.modules_edit.setText(", ".join(v)),
            "extend_vocab": lambda v: self.extend_vocab_spin.setValue(v or 0),
            "seed": self.seed_spin.setValue,
            "eval_every": self.eval_every_spin.setValue,
            "save_every": self.save_every_spin.setValue,
        }
        for key, value in values.items():
            setters[key](value)

    def _set_name(self, name: str) -> None:
        self._name_edited = True
        self.name_edit.setText(name)

    # -- memory ----------------------------------------------------------------------------------------

    def update_estimate(self) -> None:
        """Estimate peak memory for the form's job in the background; the label says the outcome."""
        try:
            spec = self.spec_from_form()
        except LlamaDeskError as exc:
            self._show_estimate(exc)
            return
        self.memory_label.setText(self.tr("Estimating memory…"))
        self._estimates.request(lambda _progress: estimate_memory(spec), self._show_estimate)

    def _show_estimate(self, result: MemoryEstimate | MemoryRefusal | LlamaDeskError) -> None:
        self._suggestion = {}
        if isinstance(result, MemoryRefusal):
            self._suggestion = dict(result.suggestion)
            self.memory_label.setText("⚠ " + str(result))
        elif isinstance(result, LlamaDeskError):
            self.memory_label.setText("⚠ " + str(result))
        else:
            where = self.tr("GPU memory") if result.device == "cuda" else self.tr("memory")
            self.memory_label.setText(
                self.tr("Memory: about {0} of {1} needed, {2} free — fits.").format(
                    _human_bytes(result.total), where, _human_bytes(result.available or 0)
                )
            )
        self.apply_button.setVisible(bool(self._suggestion))

    def apply_suggestion(self) -> None:
        """Put the refusal's suggested changes into the form (and re-estimate)."""
        if self._suggestion:
            self.apply_values(self._suggestion)
            self.status_message.emit(self.tr("Applied the suggested settings."))

    # -- jobs ------------------------------------------------------------------------------------------

    def start_job(self) -> Task | None:
        """Check the job, make its run folder and start its process."""
        if self.job is not None:
            show_error(self, self.tr("A job is running; cancel it or wait for it to finish."))
            return None
        try:
            spec = self.spec_from_form()
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        return self.task_bar.start(
            self.tr("Preparing the job…"), lambda progress: prepare_run(spec, progress), self._on_run_prepared
        )

    def _on_run_prepared(self, result: str | MemoryRefusal) -> None:
        if isinstance(result, MemoryRefusal):
            self._show_estimate(result)
            self.status_message.emit(self.tr("The job would not fit in memory; see the suggestion."))
            return
        self._launch(result)

    def resume_run(self, run_id: str) -> TrainProcess | None:
        """Continue a cancelled or interrupted run from its last checkpoint; a run another process
        (the CLI, another window) is training now is refused with the sentence the CLI gives."""
        if self.job is not None:
            show_error(self, self.tr("A job is running; cancel it or wait for it to finish."))
            return None
        try:
            refusal = runs.running_elsewhere(runs.get_run(run_id))
        except LlamaDeskError as exc:
            refusal = exc
        if refusal is not None:
            show_error(self, str(refusal))
            self.refresh_runs()  # the list may still show the run as it was before that process began
            return None
        return self._launch(run_id)

    def _on_resume_clicked(self) -> None:
        # The selected run, even if it now reads as running: the user pressed Resume on it, and is
        # told why not, rather than seeing another run resume or nothing happen.
        selected = self._selected_run()
        with contextlib.suppress(LlamaDeskError):
            if selected is not None and runs.get_run(selected).status == "running":
                self.resume_run(selected)
                return
        run_id = self._resumable_run()
        if run_id is not None:
            self.resume_run(run_id)

    def _resumable_run(self) -> str | None:
        for run_id in (self._selected_run(), self._last_run):
            if run_id is None:
                continue
            try:
                if runs.get_run(run_id).status in RESUMABLE:
                    return run_id
            except LlamaDeskError:
                continue
        return None

    def _launch(self, run_id: str) -> TrainProcess | None:
        try:
            job = TrainProcess.start(run_id, self)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        self._follow(job)
        self.status_message.emit(self.tr("Training {0}…").format(run_id))
        return job

    def _attach_live(self) -> None:
        """A job still running from an earlier session (or the CLI) is followed again."""
        live = runs.live_runs()
        if live and self.job is None:
            job = TrainProcess.attach(live[0].id, self)
            self._follow(job)
            self.status_message.emit(self.tr("Re-attached to the running job {0}.").format(live[0].id))

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.stats_label.setText(self.tr("Stopping after the current step (a checkpoint is kept)…"))

    def _follow(self, job: TrainProcess) -> None:
        self.job = job
        self._last_run = job.run_id
        self._live = {"loss": [], "eval": []}
        self._last_eval = None
        self.log_view.clear()
        self.chart.clear()
        self._shown_run = job.run_id
        self.run_title.setText(self.tr("<b>{0}</b> — running").format(html.escape(job.run_id)))
        self.progress_bar.setRange(0, 0)  # busy until the runner reports its steps
        self.stats_label.setText(self.tr("Starting the training process…"))
        job.event_received.connect(self._on_job_event)
        job.finished.connect(self._on_job_finished)
        self.refresh_runs()
        self._select_run(job.run_id)

    def _update_run_row(self, run_id: str, status: str, steps: str) -> None:
        """The followed run's row, kept current from its events rather than re-reading every run."""
        for index in range(self.runs_tree.topLevelItemCount()):
            item = self.runs_tree.topLevelItem(index)
            if item.data(0, RUN_ROLE) == run_id:
                item.setText(2, self._status_word(status))
                item.setText(3, steps)

    def _select_run(self, run_id: str) -> None:
        for index in range(self.runs_tree.topLevelItemCount()):
            item = self.runs_tree.topLevelItem(index)
            if item.data(0, RUN_ROLE) == run_id:
                self.runs_tree.blockSignals(True)
                self.runs_tree.setCurrentItem(item)
                self.runs_tree.blockSignals(False)

    def _on_job_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "prepare":
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(event.get("fraction", 0) * 1000))
            self.progress_bar.setFormat("%p%")
            self.stats_label.setText(event.get("message", ""))
        elif kind == "start":
            self._on_start_event(event)
        elif kind == "step":
            self._on_step_event(event)
        elif kind == "eval":
            self._last_eval = event["eval_loss"]
            self._add_point("eval", event["step"], event["eval_loss"])
        line = self.describe_event(event)
        if line:
            self.log_view.appendPlainText(line)

    def _on_start_event(self, event: dict) -> None:
        # A resumed run logs again the steps after its checkpoint: the curve restarts there.
        start = event.get("start_step", 0)
        for name in self._live:
            self._live[name] = [p for p in self._live[name] if p[0] <= start]
        if self._shown_run == self.job.run_id:
            self._draw_live()
        self._update_run_row(event["run_id"], "running", f"{start}/{event['total_steps']}")
        self.progress_bar.setRange(0, event["total_steps"])
        self.progress_bar.setValue(start)
        self.progress_bar.setFormat(self.tr("step %v of %m"))
        self.stats_label.setText(
            self.tr("{0} steps on {1}; about {2} of memory.").format(
                event["total_steps"], event.get("device", "?"), _human_bytes(event["memory"]["total"])
            )
        )

    def _on_step_event(self, event: dict) -> None:
        self._add_point("loss", event["step"], event["loss"])
        self._update_run_row(event["run_id"], "running", f"{event['step']}/{event['total_steps']}")
        self.progress_bar.setRange(0, event["total_steps"])
        self.progress_bar.setValue(event["step"])
        parts = [self.tr("loss {0:.4f}").format(event["loss"])]
        if self._last_eval is not None:
            parts.append(self.tr("eval {0:.4f}").format(self._last_eval))
        if event.get("tokens_per_s"):
            parts.append(self.tr("{0:,.0f} tokens/s").format(event["tokens_per_s"]))
        parts.append(self.tr("ETA {0}").format(_duration(event.get("eta_s"))))
        used = event.get("gpu_bytes") or event.get("rss_bytes")
        if used:
            parts.append(self.tr("memory {0}").format(_human_bytes(used)))
        self.stats_label.setText(" · ".join(parts))

    def _add_point(self, name: str, step: float, value: float) -> None:
        self._live[name].append((step, value))
        if self.job is not None and self._shown_run == self.job.run_id:
            self.chart.append_point(self._series_name(name), step, value)

    def _series_name(self, name: str) -> str:
        return self.tr("loss") if name == "loss" else self.tr("eval loss")

    def _draw_live(self) -> None:
        self.chart.clear()
        for name, points in self._live.items():
            if points:
                self.chart.set_series(self._series_name(name), points)

    def describe_event(self, event: dict) -> str | None:
        """One log line per event (preparation shows in the status line instead)."""
        kind = event.get("event")
        if kind == "start":
            resumed = (
                self.tr(", resuming after step {0}").format(event["start_step"])
                if event.get("start_step")
                else ""
            )
            started = self.tr("Started: {0} steps over {1} examples on {2}{3}.").format(
                event["total_steps"], event["examples"], event["device"], resumed
            )
            if event.get("note"):  # the runner's own words on how it split the data
                started += " " + event["note"]
            elif not event.get("validation_examples"):
                started += " " + self.tr("The data has no validation split, so there is no eval loss.")
            return started
        if kind == "step":
            line = self.tr("step {0}/{1}  loss {2:.4f}  lr {3:.2e}").format(
                event["step"], event["total_steps"], event["loss"], event["lr"]
            )
            if event.get("tokens_per_s"):
                line += "  " + self.tr("{0} tokens/s").format(f"{event['tokens_per_s']:,.0f}")
            return line
        if kind == "eval":
            return self.tr("step {0}  eval loss {1:.4f}").format(event["step"], event["eval_loss"])
        if kind == "checkpoint":
            return self.tr("Checkpoint saved at step {0}.").format(event["step"])
        if kind == "done":
            return self.tr("Done: the adapter {0} is in the library.").format(event["adapter_id"])
        if kind == "cancelled":
            return self.tr("Cancelled after step {0}; Resume continues from there.").format(event["step"])
        if kind == "error":
            return self.tr("Error: {0}").format(event.get("message", ""))
        return None

    def _on_job_finished(self, status: str, message: str) -> None:
        job, self.job = self.job, None
        run_id = job.run_id
        job.deleteLater()
        self.run_title.setText(f"<b>{html.escape(run_id)}</b> — {self._status_word(status)}")
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
        if status == "done":
            self.progress_bar.setValue(self.progress_bar.maximum())
            self.status_message.emit(
                self.tr("Training finished: the adapter {0} is in the library.").format(message)
            )
            self.adapters_changed.emit()
            try:
                kind = runs.get_run(run_id).spec.kind
            except LlamaDeskError:
                kind = ""
            self.guide.mark_trained(kind, message)
        elif status == "cancelled":
            self.stats_label.setText(self.tr("Cancelled; Resume continues from the last checkpoint."))
            self.status_message.emit(self.tr("Training cancelled; a checkpoint was kept."))
        else:
            self.stats_label.setText(message)
            self.log_view.appendPlainText(self.tr("Stopped: {0}").format(message))
            show_error(self, message or self.tr("The training job stopped."))
        self.refresh_runs()
        self._suggest_name()

    def _on_run_selected(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        self._update_buttons()
        if current is None:
            return
        self.show_run(current.data(0, RUN_ROLE))

    def show_run(self, run_id: str) -> None:
        """Chart a run's curves: the live ones for the job being followed, else read from its log."""
        self._shown_run = run_id
        if self.job is not None and run_id == self.job.run_id:
            self._draw_live()
            return
        self._curves.request(
            lambda _progress: (run_id, runs.get_run(run_id).curves()), self._on_curves_loaded
        )

    def _on_curves_loaded(self, result: tuple[str, dict]) -> None:
        run_id, curves = result
        if run_id != self._shown_run:
            return  # another run was selected meanwhile
        self.chart.clear()
        if curves["steps"]:
            self.chart.set_series(self.tr("loss"), zip(curves["steps"], curves["loss"], strict=True))
        if curves["eval_steps"]:
            self.chart.set_series(
                self.tr("eval loss"), zip(curves["eval_steps"], curves["eval_loss"], strict=True)
            )

    def _update_buttons(self) -> None:
        busy = self.task_bar.is_busy()
        self.start_button.setEnabled(self.job is None and not busy)
        self.cancel_button.setEnabled(self.job is not None)
        self.resume_button.setEnabled(self.job is None and not busy and self._resumable_run() is not None)
        self.add_corpus_button.setEnabled(bool(self.pending_paths) and not busy)

    # -- guided flow -----------------------------------------------------------------------------------

    def _on_guide_setup(self, kind: str) -> None:
        if kind == "pt":
            self.apply_chinese_pretraining()
        else:
            self.apply_private_sft(self.guide.model_combo.currentText())

    def apply_chinese_pretraining(self) -> None:
        """Step 1: pre-training on the most Chinese text corpus, the recipe's pre-training settings."""
        texts = [c for c in store.list_corpora() if c.kind != "instructions"]
        if not texts:
            show_error(self, self.tr("Add a Chinese text corpus first: drop documents on the left."))
            return
        corpus = max(texts, key=lambda c: c.summary().language.share("cjk"))
        base = self.base_combo.currentData() or ""
        self.apply_values(
            {"kind": "pt", "data": [corpus.id], "lr": 2e-4, "epochs": 1.0, "out": _safe_id(f"{base}-zh-pt")}
        )
        self.status_message.emit(self.tr("Step 1 is filled in: check the settings and press Start."))

    def apply_private_sft(self, model_id: str) -> None:
        """Step 3: instruction tuning of the merged model on the newest instructions corpus."""
        pairs = [c for c in store.list_corpora() if c.kind == "instructions"]
        if not model_id:
            show_error(self, self.tr("Merge the pre-trained adapter first (step 2)."))
            return
        if not pairs:
            show_error(
                self, self.tr("Add instruction data first: drop a JSONL file or use Edit instructions…")
            )
            return
        corpus = max(pairs, key=lambda c: c.created)
        self.apply_values(
            {
                "kind": "sft",
                "base": model_id,
                "data": [corpus.id],
                "lr": 1e-4,
                "epochs": 2.0,
                "out": _safe_id(f"{model_id}-sft"),
            }
        )
        self.status_message.emit(self.tr("Step 3 is filled in: check the settings and press Start."))

    def start_merge(self, adapter_id: str, name: str) -> Task | None:
        from llamadesk.core.merge import merge_adapter

        return self.task_bar.start(
            self.tr("Merging {0} into {1}…").format(adapter_id, name),
            lambda progress: merge_adapter(adapter_id, name, progress=progress),
            self._on_merged,
        )

    def _on_merged(self, entry: library.ModelEntry) -> None:
        self.refresh()
        self.guide.mark_merged(entry.id)
        self.status_message.emit(self.tr("Created the model {0}.").format(entry.id))
        self.library_changed.emit()

    # -- closing ---------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop timers and threads. A running job is left running: reopening re-attaches to it."""
        self._estimate_timer.stop()
        if self.job is not None:
            self.job.stop_following()
        self.task_bar.shutdown()
        self._estimates.shutdown()
        self._curves.shutdown()
        if self._editor is not None:
            self._editor.shutdown()
