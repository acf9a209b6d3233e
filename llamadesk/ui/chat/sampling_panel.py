"""The chat's sampling settings, folded under the model row: system prompt, temperature, top-p,
top-k, repetition penalty, max new tokens, seed. They apply from the next message on."""

from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from llamadesk.core.generation import GenerationSettings


class SamplingPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system_edit = QPlainTextEdit()
        self.system_edit.setAccessibleName(self.tr("System prompt"))
        self.system_edit.setPlaceholderText(self.tr("Optional: how the assistant should behave"))
        self.system_edit.setMaximumHeight(70)
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, 5.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setToolTip(self.tr("0 always picks the likeliest token (greedy)"))
        self.temperature_spin.setAccessibleName(self.tr("Temperature"))
        self.top_p_spin = QDoubleSpinBox()
        self.top_p_spin.setRange(0.01, 1.0)
        self.top_p_spin.setSingleStep(0.05)
        self.top_p_spin.setAccessibleName(self.tr("Top-p"))
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setRange(0, 100_000)
        self.top_k_spin.setSpecialValueText(self.tr("off"))
        self.top_k_spin.setAccessibleName(self.tr("Top-k"))
        self.repetition_spin = QDoubleSpinBox()
        self.repetition_spin.setRange(0.5, 3.0)
        self.repetition_spin.setSingleStep(0.05)
        self.repetition_spin.setAccessibleName(self.tr("Repetition penalty"))
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setRange(1, 1_000_000)
        self.max_tokens_spin.setAccessibleName(self.tr("Max new tokens"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(-1, 2**31 - 1)
        self.seed_spin.setSpecialValueText(self.tr("random"))
        self.seed_spin.setAccessibleName(self.tr("Seed"))
        self.show_settings(GenerationSettings(), "")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("System prompt:"), self.system_edit)
        row = QHBoxLayout()
        for label, spin in (
            (self.tr("Temperature"), self.temperature_spin),
            (self.tr("Top-p"), self.top_p_spin),
            (self.tr("Top-k"), self.top_k_spin),
            (self.tr("Repetition penalty"), self.repetition_spin),
            (self.tr("Max new tokens"), self.max_tokens_spin),
            (self.tr("Seed"), self.seed_spin),
        ):
            row.addWidget(QLabel(label))
            row.addWidget(spin)
        row.addStretch(1)
        form.addRow(self.tr("Sampling:"), row)

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

    def system_prompt(self) -> str:
        return self.system_edit.toPlainText()

    def show_settings(self, settings: GenerationSettings, system_prompt: str) -> None:
        self.temperature_spin.setValue(settings.temperature)
        self.top_p_spin.setValue(settings.top_p)
        self.top_k_spin.setValue(settings.top_k)
        self.repetition_spin.setValue(settings.repetition_penalty)
        self.max_tokens_spin.setValue(settings.max_new_tokens)
        self.seed_spin.setValue(-1 if settings.seed is None else min(settings.seed, 2**31 - 1))
        self.system_edit.setPlainText(system_prompt)
