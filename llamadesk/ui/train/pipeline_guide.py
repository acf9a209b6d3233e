"""The guided recipe over the Train panel's form: teach a model Chinese from plain text, merge that
into a new model, then tune the new model on private instructions."""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from llamadesk.core import adapters, library


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
