"""A strip at the top of the Chat panel while the first model is being prepared (the starter's
import on a first run): what is being done and how far, so the panel a new user looks at tells
them why nothing answers yet. The Models tab shows the same task with its Cancel."""

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QWidget


class PreparationBanner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preparationBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(self.tr("Preparing the starter model for first use…"))
        self.title.setWordWrap(True)
        self.step = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setAccessibleName(self.tr("Preparation progress"))
        layout = QHBoxLayout(self)
        layout.addWidget(self.title, 2)
        layout.addWidget(self.step, 2)
        layout.addWidget(self.progress_bar, 3)
        self.hide()

    def start(self, title: str) -> None:
        self.title.setText(title)
        self.step.clear()
        self.progress_bar.setValue(0)
        self.show()

    def show_progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))
        if message:
            self.step.setText(message)
