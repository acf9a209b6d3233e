"""The first-run guide: what is ready (the starter model), a first prompt to try, and where to go next.

Shown once, when the starter model is in the library (the main window records that in the settings),
and again from Help ▸ Welcome guide. It only emits what the user picked; the main window acts on it.

Signals: prompt_chosen(text) — put this prompt in the chat input; destination_chosen(name) — show
the tab named "models", "adapters", "train" or "evaluate"."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import library
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.starter import STARTER_ID
from llamadesk.ui.headings import heading_font


def _model_summary(model_id: str) -> tuple[int, int | None] | None:
    """(parameters, context length) from the model's config, or None if it is not in the library."""
    try:
        entry = library.get_model(model_id)
        return entry.breakdown().total, entry.context_length
    except (LlamaDeskError, OSError, KeyError, ValueError):
        return None


class WelcomeDialog(QDialog):
    prompt_chosen = Signal(str)
    destination_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None, model_id: str = STARTER_ID) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Welcome to LlamaDesk"))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)

        heading = QLabel(self.tr("Welcome to LlamaDesk"))
        heading.setFont(heading_font(heading.font(), 1.4))
        layout.addWidget(heading)

        summary = _model_summary(model_id)
        if summary is None:
            ready = self.tr("Import a model in the Models tab to start chatting.")
        else:
            parameters, context = summary
            ready = self.tr(
                "{0} is ready: a small instruction model with {1} million parameters and room for "
                "{2} tokens of conversation. It runs entirely on this computer; nothing you type "
                "leaves it."
            ).format(model_id, f"{parameters / 1e6:.0f}", context or "?")
        self.model_label = QLabel(ready)
        self.model_label.setWordWrap(True)
        layout.addWidget(self.model_label)

        layout.addWidget(QLabel(self.tr("Try a first prompt:")))
        self.suggestion = self.tr("Explain in three sentences what a large language model is.")
        self.prompt_button = QPushButton(self.suggestion)
        self.prompt_button.setAccessibleName(self.tr("Use the suggested prompt"))
        self.prompt_button.setToolTip(self.tr("Puts this prompt in the chat's message box"))
        self.prompt_button.clicked.connect(self._on_prompt_clicked)
        layout.addWidget(self.prompt_button)

        layout.addWidget(QLabel(self.tr("Then make it yours:")))
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.destination_buttons: dict[str, QPushButton] = {}
        for row, (name, label, text) in enumerate(
            (
                ("models", self.tr("Import a model"), self.tr("Bring in any Llama-family model you have.")),
                ("adapters", self.tr("Adapters"), self.tr("Add LoRA adapters and switch between them.")),
                ("train", self.tr("Train"), self.tr("Teach a model your documents or questions.")),
                ("evaluate", self.tr("Evaluate"), self.tr("Measure and compare models and adapters.")),
            )
        ):
            button = QPushButton(label)
            button.clicked.connect(lambda _checked=False, name=name: self._on_destination_clicked(name))
            self.destination_buttons[name] = button
            description = QLabel(text)
            description.setWordWrap(True)
            description.setBuddy(button)
            grid.addWidget(button, row, 0)
            grid.addWidget(description, row, 1, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(grid)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _on_prompt_clicked(self) -> None:
        self.prompt_chosen.emit(self.suggestion)
        self.accept()

    def _on_destination_clicked(self, name: str) -> None:
        self.destination_chosen.emit(name)
        self.accept()
