"""A generation column's replies side by side: pick a question on the left, read what every variant
in the column answered on the right (the expected answer first, then each variant's reply with its
scores and, for a grounded variant, the passages it was given). This is where the four-way
comparison (base, base + documents, adapter, adapter + documents) is read question by question;
the marks in the list say at a glance which variants matched each answer."""

from html import escape

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core.evaluation import report
from llamadesk.ui.evaluate.item_html import reply_html


class RepliesDialog(QDialog):
    def __init__(
        self, table: report.ScoreTable, column: report.Column, title: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("repliesDialog")
        self.setWindowTitle(title)
        self.resize(1000, 680)
        self.variants, self.questions = report.replies_by_question(table, column)
        legend = QLabel(
            self.tr("Marks per variant, in the order below: ✔ exact match · ≈ answer contained · ✘ neither.")
        )
        legend.setObjectName("hint")
        legend.setWordWrap(True)
        self.question_list = QListWidget()
        self.question_list.setAccessibleName(self.tr("Questions"))
        for number, entry in enumerate(self.questions, 1):
            marks = "".join(self._mark(entry.replies.get(v)) for v in self.variants)
            self.question_list.addItem(f"{marks}  {number}. {' '.join(entry.question.split())}")
        self.replies_text = QTextBrowser()
        self.replies_text.setAccessibleName(self.tr("Replies"))
        split = QSplitter()
        split.addWidget(self.question_list)
        split.addWidget(self.replies_text)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(legend)
        layout.addWidget(split, 1)
        layout.addWidget(buttons)
        self.question_list.currentRowChanged.connect(self.show_question)
        if self.questions:
            self.question_list.setCurrentRow(0)

    @staticmethod
    def _mark(item: dict | None) -> str:
        if item is None:
            return "·"
        return "✔" if item.get("exact_match") else "≈" if item.get("contains") else "✘"

    def show_question(self, row: int) -> None:
        if not 0 <= row < len(self.questions):
            return
        entry = self.questions[row]
        # tr() outside the f-strings, where lupdate sees it.
        question, expected, not_asked = self.tr("Question"), self.tr("Expected"), self.tr("(not asked)")
        parts = [
            f"<p><b>{question}</b><br>{escape(entry.question).replace(chr(10), '<br>')}</p>",
            f"<p><b>{expected}</b><br>{escape(entry.answer)}</p>",
        ]
        for variant in self.variants:
            item = entry.replies.get(variant)
            parts.append(f"<hr><p><b>{escape(variant.label)}</b></p>")
            parts.append(reply_html(item) if item else f"<p><i>{not_asked}</i></p>")
        self.replies_text.setHtml("".join(parts))
