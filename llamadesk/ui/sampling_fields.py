"""The sampling settings as spin boxes: temperature, top-p, top-k, repetition penalty, max new
tokens, seed. One widget, so the chat's panel and the Settings dialog offer the same ranges, the
same "off" and "random" and the same names to a screen reader; each caller sets it where it fits,
as one row (the chat, where height is scarce) or as a form (the dialog)."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from llamadesk.core.generation import GenerationSettings

# The largest seed a QSpinBox holds; a larger stored seed shows as this one.
MAX_SEED = 2**31 - 1


class SamplingFields(QWidget):
    def __init__(
        self, orientation: Qt.Orientation = Qt.Orientation.Vertical, parent: QWidget | None = None
    ) -> None:
        """Horizontal: every field in one row, each after its name; vertical: a form, a field a row."""
        super().__init__(parent)
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, 5.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setToolTip(self.tr("0 always picks the likeliest token (greedy)"))
        self.top_p_spin = QDoubleSpinBox()
        self.top_p_spin.setRange(0.01, 1.0)
        self.top_p_spin.setSingleStep(0.05)
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setRange(0, 100_000)
        self.top_k_spin.setSpecialValueText(self.tr("off"))
        self.repetition_spin = QDoubleSpinBox()
        self.repetition_spin.setRange(0.5, 3.0)
        self.repetition_spin.setSingleStep(0.05)
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setRange(1, 1_000_000)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(-1, MAX_SEED)
        self.seed_spin.setSpecialValueText(self.tr("random"))
        fields = (
            (self.tr("Temperature"), self.tr("Temperature:"), self.temperature_spin),
            (self.tr("Top-p"), self.tr("Top-p:"), self.top_p_spin),
            (self.tr("Top-k"), self.tr("Top-k:"), self.top_k_spin),
            (self.tr("Repetition penalty"), self.tr("Repetition penalty:"), self.repetition_spin),
            (self.tr("Max new tokens"), self.tr("Max new tokens:"), self.max_tokens_spin),
            (self.tr("Seed"), self.tr("Seed:"), self.seed_spin),
        )
        if orientation == Qt.Orientation.Horizontal:
            row = QHBoxLayout(self)
            row.setContentsMargins(0, 0, 0, 0)
            for name, _label, spin in fields:
                row.addWidget(QLabel(name))
                row.addWidget(spin)
            row.addStretch(1)
        else:
            form = QFormLayout(self)
            form.setContentsMargins(0, 0, 0, 0)
            for _name, label, spin in fields:
                form.addRow(label, spin)
        for name, _label, spin in fields:
            spin.setAccessibleName(name)
        self.show_settings(GenerationSettings())

    def settings(self) -> GenerationSettings:
        """The settings as shown (validated by GenerationSettings, which says what is wrong)."""
        seed = self.seed_spin.value()
        return GenerationSettings(
            temperature=round(self.temperature_spin.value(), 4),
            top_p=round(self.top_p_spin.value(), 4),
            top_k=self.top_k_spin.value(),
            repetition_penalty=round(self.repetition_spin.value(), 4),
            max_new_tokens=self.max_tokens_spin.value(),
            seed=None if seed < 0 else seed,
        )

    def show_settings(self, settings: GenerationSettings) -> None:
        """Fill the fields (named so, not `show`, which is QWidget's own)."""
        self.temperature_spin.setValue(settings.temperature)
        self.top_p_spin.setValue(settings.top_p)
        self.top_k_spin.setValue(settings.top_k)
        self.repetition_spin.setValue(settings.repetition_penalty)
        self.max_tokens_spin.setValue(settings.max_new_tokens)
        self.seed_spin.setValue(-1 if settings.seed is None else min(settings.seed, MAX_SEED))
