"""The row above the transcript: which model and adapter answer, which of the user's documents
(a corpus) they answer from, the sampling settings' toggle and Export.

Signals: model_chosen(id), adapter_chosen(id or None), docs_chosen(corpus id or None) — picked by
the user (not when filled); settings_toggled(shown); export_requested("markdown" or "json")."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QPushButton, QToolButton, QWidget


class ModelBar(QWidget):
    model_chosen = Signal(object)
    adapter_chosen = Signal(object)
    docs_chosen = Signal(object)
    settings_toggled = Signal(bool)
    export_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Model"))
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.currentIndexChanged.connect(
            lambda: self.model_chosen.emit(self.model_combo.currentData())
        )
        self.adapter_combo = QComboBox()
        self.adapter_combo.setAccessibleName(self.tr("Adapter"))
        self.adapter_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.adapter_combo.currentIndexChanged.connect(
            lambda: self.adapter_chosen.emit(self.adapter_combo.currentData())
        )
        self.docs_combo = QComboBox()
        self.docs_combo.setAccessibleName(self.tr("Documents"))
        self.docs_combo.setToolTip(
            self.tr(
                "Answer from a corpus of your documents: the passages that match each question go "
                "to the model with it, and the reply lists them."
            )
        )
        self.docs_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.docs_combo.currentIndexChanged.connect(
            lambda: self.docs_chosen.emit(self.docs_combo.currentData())
        )
        self.settings_button = QToolButton()
        self.settings_button.setText(self.tr("Settings"))
        self.settings_button.setCheckable(True)
        self.settings_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.settings_button.setArrowType(Qt.ArrowType.RightArrow)
        self.settings_button.toggled.connect(self._on_settings_toggled)
        # A push button: a tool button's menu arrow sits on its text (on "导出" most of all).
        self.export_button = QPushButton(self.tr("Export"))
        menu = QMenu(self.export_button)
        menu.addAction(self.tr("As Markdown…"), lambda: self.export_requested.emit("markdown"))
        menu.addAction(self.tr("As JSON…"), lambda: self.export_requested.emit("json"))
        self.export_button.setMenu(menu)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(self.tr("Model:")))
        layout.addWidget(self.model_combo)
        layout.addWidget(QLabel(self.tr("Adapter:")))
        layout.addWidget(self.adapter_combo)
        layout.addWidget(QLabel(self.tr("Documents:")))
        layout.addWidget(self.docs_combo)
        layout.addStretch(1)
        layout.addWidget(self.settings_button)
        layout.addWidget(self.export_button)

    def show_models(self, entries: list[tuple[str, str]], wanted: str | None) -> None:
        """Fill the model picker with (label, id) pairs and choose `wanted` (else the first)."""
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for label, model_id in entries:
            self.model_combo.addItem(label, model_id)
        self.model_combo.setCurrentIndex(max(self.model_combo.findData(wanted), 0))
        self.model_combo.blockSignals(False)

    def show_adapters(self, adapter_ids: list[str], current: str | None) -> None:
        """Fill the adapter picker (the base model first) and choose `current`."""
        self.adapter_combo.blockSignals(True)
        self.adapter_combo.clear()
        self.adapter_combo.addItem(self.tr("Base model (no adapter)"), None)
        for adapter_id in adapter_ids:
            self.adapter_combo.addItem(adapter_id, adapter_id)
        self.adapter_combo.setCurrentIndex(max(self.adapter_combo.findData(current), 0))
        self.adapter_combo.blockSignals(False)

    def show_corpora(self, corpora: list[tuple[str, str]], current: str | None) -> None:
        """Fill the documents picker with (name, id) pairs, "none" first, and choose `current`."""
        self.docs_combo.blockSignals(True)
        self.docs_combo.clear()
        self.docs_combo.addItem(self.tr("None"), None)
        for name, corpus_id in corpora:
            self.docs_combo.addItem(name, corpus_id)
        self.docs_combo.setCurrentIndex(max(self.docs_combo.findData(current), 0))
        self.docs_combo.blockSignals(False)

    def _on_settings_toggled(self, shown: bool) -> None:
        self.settings_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.settings_toggled.emit(shown)
