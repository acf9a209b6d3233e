"""The new job's settings, and what they amount to before anyone presses Start: the optimizer steps
the run will make (from `core.training.plan`, the numbers the runner uses), warnings when that is too
short to learn or absurdly long, and whether it fits in memory (with a suggestion when it does not).

The step plan is worked out on the spot from the corpora's manifests (read once per corpus) as the
form changes; the memory check runs in the background after a pause in editing. Too many epochs is
said, never clamped: the epochs box takes far more than the spec allows, and the spec's own
validation words the limit.

Signals: status_message(text)."""

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import adapters, library
from llamadesk.core.corpus import store
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.training import plan
from llamadesk.core.training.memory import MemoryEstimate, MemoryRefusal
from llamadesk.core.training.spec import KINDS, SpecError, TrainSpec
from llamadesk.ui.sizes import human_bytes
from llamadesk.ui.train.background import LatestTask, estimate_memory
from llamadesk.ui.train.formatting import safe_id

ESTIMATE_DELAY_MS = 400  # after the last edit: one estimate per pause, not per keystroke
KIND_DEFAULTS = {"pt": {"lr": 2e-4, "epochs": 1.0}, "sft": {"lr": 1e-4, "epochs": 2.0}}
MAX_SPIN_EPOCHS = 1_000_000  # far above the spec's limit, so a larger number is refused in words


def training_examples(manifests: list[dict], kind: str, block_size: int) -> tuple[int, bool]:
    """How many training examples the corpora give a job, and whether that is exact.

    SFT trains on each training conversation: exact. Pre-training packs the training passages into
    blocks of `block_size` tokens, each text followed by an end-of-text token; the manifest's token
    count covers both splits (and may come from another tokenizer), so the blocks are estimated."""
    if kind == "sft":
        return sum(m["conversations"]["train"] for m in manifests), True
    blocks = 0.0
    for manifest in manifests:
        train, validation = manifest["passages"]["train"], manifest["passages"]["validation"]
        # Without a token count (no tokenizer when it was added), about 3 characters a token.
        tokens = manifest.get("tokens") or manifest["characters"] / 3
        blocks += (tokens * train / max(1, train + validation) + train) / block_size
    return math.floor(blocks), False


class JobForm(QWidget):
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._name_edited = False
        self._suggestion: dict = {}
        self._device: str | None = None  # where jobs run, once the first estimate has said
        self._manifests: dict[str, dict | None] = {}  # corpus id -> manifest (None: unreadable)
        self._configs: dict[str, dict | None] = {}  # model id -> config
        self._estimates = LatestTask(self)
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(ESTIMATE_DELAY_MS)
        self._estimate_timer.timeout.connect(self.update_estimate)

        self.header = QVBoxLayout()  # what the panel puts above the form (the guided flow)
        job_box = self._build_fields()
        self.plan_label = QLabel()
        self.plan_label.setObjectName("stepPlan")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.RichText)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.memory_label = QLabel()
        self.memory_label.setObjectName("memoryEstimate")
        self.memory_label.setWordWrap(True)
        self.memory_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.apply_button = QPushButton(self.tr("Apply suggestion"))
        self.apply_button.clicked.connect(self.apply_suggestion)
        self.apply_button.hide()
        self.start_button = QPushButton(self.tr("Start"))
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Stop within seconds, keeping the last checkpoint"))
        self.resume_button = QPushButton(self.tr("Resume"))
        self.resume_button.setToolTip(self.tr("Continue the selected run from its last checkpoint"))

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(self.header)
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
        # The plan, the verdict and the buttons stay in sight however far the form is scrolled.
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(scroll, 1)
        column.addWidget(self.plan_label)
        column.addWidget(self.memory_label)
        column.addWidget(self.apply_button, 0, Qt.AlignmentFlag.AlignLeft)
        row = QHBoxLayout()
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.resume_button)
        column.addLayout(row)
        self._connect()
        self._on_kind_changed()  # the kind's defaults, then the first plan and estimate

    # -- layout ----------------------------------------------------------------------------------------

    def _build_fields(self) -> QGroupBox:
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
        self.epochs_spin.setRange(0, MAX_SPIN_EPOCHS)
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

        box = QGroupBox(self.tr("New training job"))
        form = QFormLayout(box)
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
        return box

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
        # "auto": chosen from the data, so a handful of examples still gets several steps an epoch
        self.batch_spin = spin(0, 1024, 0, self.tr("auto"))
        self.accum_spin = spin(0, 1024, 0, self.tr("auto"))
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

    def _connect(self) -> None:
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

    # -- lists -----------------------------------------------------------------------------------------

    def refresh(self, corpus: str | None = None) -> None:
        """Re-read models and corpora (after a change made elsewhere); `corpus` is then chosen."""
        self._manifests.clear()
        self._configs.clear()
        self._fill_combo(
            self.base_combo,
            [
                (m.id + (self.tr(" (merged)") if m.manifest.get("format") == "merged" else ""), m.id)
                for m in library.list_models()
            ],
        )
        self.refresh_corpora(corpus)

    def refresh_corpora(self, select: str | None = None) -> None:
        self._manifests.clear()
        kinds = {"text": self.tr("text"), "instructions": self.tr("instructions"), "mixed": self.tr("mixed")}
        corpora = store.list_corpora()
        self._fill_combo(self.corpus_combo, [(f"{c.id} ({kinds[c.kind]})", c.id) for c in corpora], select)
        self.update_plan()

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

    def base_id(self) -> str | None:
        return self.base_combo.currentData()

    def seed(self) -> int:
        return self.seed_spin.value()

    # -- reacting to edits -----------------------------------------------------------------------------

    def _on_advanced_toggled(self, shown: bool) -> None:
        self.advanced_box.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _on_form_changed(self) -> None:
        if not self.name_edit.hasFocus():
            self.suggest_name()
        self.update_plan()
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
        manifest = self._manifest(self.corpus_combo.currentData())
        wanted = {"text": "pt", "instructions": "sft"}.get(manifest.get("kind", "")) if manifest else None
        if wanted and wanted != self.kind_combo.currentData():
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(wanted))

    def suggest_name(self) -> None:
        """An adapter name from base, corpus and kind, free in the library, until the user types one."""
        if self._name_edited:
            return
        base, corpus, kind = (
            self.base_combo.currentData(),
            self.corpus_combo.currentData(),
            self.kind_combo.currentData(),
        )
        if not base or not corpus:
            return
        stem = safe_id(f"{base}-{corpus}-{kind}")
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

    # -- the spec --------------------------------------------------------------------------------------

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
            batch_size=self.batch_spin.value() or None,
            grad_accum=self.accum_spin.value() or None,
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
            "data": self._choose_corpus,
            "out": self._set_name,
            "epochs": self.epochs_spin.setValue,
            "max_steps": lambda v: self.max_steps_spin.setValue(v or 0),
            "rank": self.rank_spin.setValue,
            "alpha": lambda v: self.alpha_spin.setValue(v or 0),
            "dropout": self.dropout_spin.setValue,
            "lr": lambda v: self.lr_edit.setText(f"{v:g}"),
            "warmup_ratio": self.warmup_spin.setValue,
            "block_size": self.block_spin.setValue,
            "batch_size": lambda v: self.batch_spin.setValue(v or 0),
            "grad_accum": lambda v: self.accum_spin.setValue(v or 0),
            "gradient_checkpointing": self.checkpointing_check.setChecked,
            "modules_to_save": lambda v: self.modules_edit.setText(", ".join(v)),
            "extend_vocab": lambda v: self.extend_vocab_spin.setValue(v or 0),
            "seed": self.seed_spin.setValue,
            "eval_every": self.eval_every_spin.setValue,
            "save_every": self.save_every_spin.setValue,
        }
        for key, value in values.items():
            setters[key](value)

    def _choose_corpus(self, data: list[str]) -> None:
        index = self.corpus_combo.findData(data[0])
        if index >= 0:  # a corpus removed meanwhile leaves the choice as it was
            self.corpus_combo.setCurrentIndex(index)

    def _set_name(self, name: str) -> None:
        self._name_edited = True
        self.name_edit.setText(name)

    # -- the step plan ---------------------------------------------------------------------------------

    def _manifest(self, corpus_id: str | None) -> dict | None:
        if not corpus_id:
            return None
        if corpus_id not in self._manifests:
            try:
                self._manifests[corpus_id] = store.get_corpus(corpus_id).manifest
            except LlamaDeskError:
                self._manifests[corpus_id] = None
        return self._manifests[corpus_id]

    def _config(self, model_id: str) -> dict | None:
        if model_id not in self._configs:
            try:
                self._configs[model_id] = library.get_model(model_id).config
            except (LlamaDeskError, OSError, ValueError):
                self._configs[model_id] = None
        return self._configs[model_id]

    def step_plan(self) -> tuple[plan.StepPlan, bool] | None:
        """The form's job as the runner will step it, and whether the example count is exact; None
        while the form does not describe a job (the memory line says why)."""
        try:
            spec = self.spec_from_form()
        except LlamaDeskError:
            return None
        manifests = [self._manifest(corpus) for corpus in spec.data]
        if not manifests or None in manifests:
            return None
        examples, exact = training_examples(manifests, spec.kind, spec.block_size)
        speed = None
        config = self._config(spec.base)
        # A CPU's speed follows from the model's size; a GPU's varies too much to guess, so there
        # the warnings go by the number of passes alone.
        if config is not None and self._device == "cpu":
            speed = plan.seconds_per_example(config, self._tokens_per_example(manifests, spec))
        return plan.plan_steps(spec, examples, seconds_per_example=speed), exact

    @staticmethod
    def _tokens_per_example(manifests: list[dict], spec: TrainSpec) -> float:
        if spec.kind == "pt":
            return spec.block_size
        conversations = sum(sum(m["conversations"].values()) for m in manifests)
        tokens = sum(m.get("tokens") or m["characters"] / 3 for m in manifests)
        return min(spec.block_size, tokens / max(1, conversations))

    def update_plan(self) -> None:
        """Say what the job amounts to: optimizer steps, the batch they take, warnings in words."""
        found = self.step_plan()
        if found is None:
            self.plan_label.clear()
            self.plan_label.hide()
            return
        steps, exact = found
        count = (self.tr("{0} optimizer steps") if exact else self.tr("About {0} optimizer steps")).format(
            f"{steps.total_steps:,}"
        )
        lines = [
            self.tr(
                "<b>{0}</b> over {1} training examples: {2} per epoch, effective batch {3} ({4} × {5})."
            ).format(
                count,
                f"{steps.examples:,}",
                f"{steps.steps_per_epoch:,}",
                steps.effective_batch,
                steps.batch_size,
                steps.grad_accum,
            )
        ]
        if steps.eta_s is not None:
            lines[0] += " " + self.tr("About {0} on this computer.").format(plan.duration(steps.eta_s))
        lines += [f"⚠ {warning.message}" for warning in steps.warnings]
        self.plan_label.setText("<br>".join(lines))
        self.plan_label.show()

    # -- memory ----------------------------------------------------------------------------------------

    def update_estimate(self) -> None:
        """Estimate peak memory for the form's job in the background; the label says the outcome."""
        try:
            spec = self.spec_from_form()
        except LlamaDeskError as exc:
            self.show_estimate(exc)
            return
        self.memory_label.setText(self.tr("Estimating memory…"))
        self._estimates.request(lambda _progress: estimate_memory(spec), self.show_estimate)

    def show_estimate(self, result: MemoryEstimate | MemoryRefusal | LlamaDeskError) -> None:
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
                    human_bytes(result.total), where, human_bytes(result.available or 0)
                )
            )
            if self._device != result.device:  # now the plan can say how long the job takes
                self._device = result.device
                self.update_plan()
        self.apply_button.setVisible(bool(self._suggestion))

    def suggestion(self) -> dict:
        """The changes the last memory refusal suggested (empty when none)."""
        return dict(self._suggestion)

    def apply_suggestion(self) -> None:
        """Put the refusal's suggested changes into the form (and re-estimate)."""
        if self._suggestion:
            self.apply_values(self._suggestion)
            self.status_message.emit(self.tr("Applied the suggested settings."))

    def shutdown(self) -> None:
        self._estimate_timer.stop()
        self._estimates.shutdown()
