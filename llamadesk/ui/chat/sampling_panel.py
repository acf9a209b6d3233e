"""The chat's sampling settings, folded under the model row: the system prompt, then the sampling
fields in one row (`ui/sampling_fields.SamplingFields`, shared with the Settings dialog). They
apply from the next message on."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QPlainTextEdit, QWidget

from llamadesk.core.generation import GenerationSettings
from llamadesk.ui.sampling_fields import SamplingFields


class SamplingPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system_edit = QPlainTextEdit()
        self.system_edit.setAccessibleName(self.tr("System prompt"))
        self.system_edit.setPlaceholderText(self.tr("Optional: how the assistant should behave"))
        self.system_edit.setMaximumHeight(70)
        self.fields = SamplingFields(Qt.Orientation.Horizontal)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("System prompt:"), self.system_edit)
        form.addRow(self.tr("Sampling:"), self.fields)

    def settings(self) -> GenerationSettings:
        """The settings as shown (validated by GenerationSettings, which says what is wrong)."""
        return self.fields.settings()

    def system_prompt(self) -> str:
        return self.system_edit.toPlainText()

    def show_settings(self, settings: GenerationSettings, system_prompt: str) -> None:
        self.fields.show_settings(settings)
        self.system_edit.setPlainText(system_prompt)
