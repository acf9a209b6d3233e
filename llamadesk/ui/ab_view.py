"""Blind A/B: one prompt, replies from two variants of a model (the base, or the base with an
adapter, each also answering from documents when some are chosen), shown as "A" and "B" in an order
drawn at random, so neither the name nor the side can sway the vote. Which variant wrote which
reply is revealed only after the vote is stored; the table below counts wins per pair of variants,
whichever side each was shown on. With documents chosen, any two of the four ways of answering the
user's private questions (base, base + documents, adapter, adapter + documents) can be put side by
side, as the Scores tab measures them; a grounded side gets the passages as chat with documents
gives them.

The model stays loaded between rounds (comparing takes many prompts); it is loaded and used only
by the background task, never on the GUI thread.

Signals: status_message(text) for the status bar; vote_recorded() after a vote is stored."""

import secrets
from contextlib import closing

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import adapters, library
from llamadesk.core.corpus.store import list_corpora
from llamadesk.core.engines import SwitchingEngine
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.evaluation import results
from llamadesk.core.evaluation.generation_metrics import DOCS_K
from llamadesk.core.evaluation.report import Variant, documents_name
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import ChatHistory
from llamadesk.core.progress import Progress
from llamadesk.ui.dialogs import show_error
from llamadesk.ui.headings import SectionTitle
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
Side = tuple[str | None, str | None]  # (adapter id or None for the base, documents or None)


def generate_pair(
    engine: SwitchingEngine,
    model_id: str,
    sides: tuple[Side, Side],
    prompt: str,
    settings: GenerationSettings,
    progress: Progress,
    *,
    reload: bool = False,
    side_messages: tuple[str, str] = ("Reply A", "Reply B"),
) -> tuple[str, str]:
    """The replies of the variants on side A and side B: (adapter id or None for the base, the
    corpus id or path to answer from or None).

    Runs on a worker thread. Both replies use the same settings and seed, so with sampling on
    neither variant gets a luckier draw of the dice; a side with documents gets the passages found
    for the prompt and no repetition penalty, as chat with documents does. `reload` loads the model
    even when the engine holds one of that name (the library changed: it may have other weights or
    adapters now)."""
    from llamadesk.core.grounding.index import open_index
    from llamadesk.core.grounding.prompt import fit_for, quoting_allowed

    if reload or engine.model_id != model_id:
        engine.load(model_id, progress.sub(0.0, 0.3))
    question = [{"role": "user", "content": prompt}]
    replies = []
    for index, (adapter, docs) in enumerate(sides):
        engine.set_adapter(adapter)
        messages, side_settings = question, settings
        if docs is not None:
            hits = open_index(docs).search(prompt, DOCS_K)
            side_settings = quoting_allowed(settings)
            messages, _kept = fit_for(engine, question, hits, side_settings)
        step = progress.sub(0.3 + 0.35 * index, 0.3 + 0.35 * (index + 1))
        pieces: list[str] = []
        # closing(): a Stop mid-reply raises out of the loop; the engine is freed at once.
        with closing(engine.stream(messages, side_settings, progress.cancel)) as stream:
            for piece in stream:
                pieces.append(piece)
                step(len(pieces) / settings.max_new_tokens, side_messages[index])
        progress.check()  # a reply cut short by Stop is not put to a vote
        replies.append("".join(pieces).strip())
    return replies[0], replies[1]


class ABView(QWidget):
    status_message = Signal(str)
    vote_recorded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._engine = SwitchingEngine()  # touched only by this view's task, one task at a time
        self._engine_stale = False  # the library changed since the engine loaded its model
        # The round on screen: prompt, the variant labels on sides A and B, and their replies.
        self._round: dict | None = None
        self._sides: dict[str, Side] = {}  # each variant on offer, by its label (the combos' data)

        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Base model"))
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.first_combo = QComboBox()
        self.first_combo.setAccessibleName(self.tr("First variant"))
        self.second_combo = QComboBox()
        self.second_combo.setAccessibleName(self.tr("Second variant"))
        self.docs_combo = QComboBox()
        self.docs_combo.setAccessibleName(self.tr("Documents"))
        self.docs_combo.setToolTip(
            self.tr(
                "Also offer each variant answering from passages of this corpus, as chat with documents does"
            )
        )
        self.docs_combo.currentIndexChanged.connect(self._on_model_changed)
        self.greedy_check = QCheckBox(self.tr("Greedy (the likeliest reply, the same every time)"))
        self.greedy_check.setChecked(True)
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.05, 2.0)
        self.temperature_spin.setSingleStep(0.05)
        self.temperature_spin.setValue(0.7)
        self.temperature_spin.setAccessibleName(self.tr("Temperature"))
        self.temperature_spin.setEnabled(False)
        self.greedy_check.toggled.connect(lambda greedy: self.temperature_spin.setEnabled(not greedy))
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setRange(1, 8192)
        self.max_tokens_spin.setValue(256)
        self.max_tokens_spin.setAccessibleName(self.tr("Max new tokens"))

        setup = QGroupBox(self.tr("Compare two variants blind"))
        form = QFormLayout(setup)
        form.addRow(self.tr("Model:"), self.model_combo)
        form.addRow(self.tr("Documents:"), self.docs_combo)
        form.addRow(self.tr("Variant 1:"), self.first_combo)
        form.addRow(self.tr("Variant 2:"), self.second_combo)
        form.addRow("", self.greedy_check)
        form.addRow(self.tr("Temperature:"), self.temperature_spin)
        form.addRow(self.tr("Max new tokens:"), self.max_tokens_spin)

        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setAccessibleName(self.tr("Prompt"))
        self.prompt_edit.setPlaceholderText(self.tr("A prompt for both variants…"))
        self.prompt_edit.setMaximumHeight(110)
        self.generate_button = QPushButton(self.tr("Generate both"))
        self.generate_button.clicked.connect(self.generate)

        self.reply_a = self._reply_box(self.tr("Reply A"))
        self.reply_b = self._reply_box(self.tr("Reply B"))
        self.a_button = QPushButton(self.tr("A is better"))
        self.tie_button = QPushButton(self.tr("Tie"))
        self.b_button = QPushButton(self.tr("B is better"))
        for button, winner in ((self.a_button, "a"), (self.tie_button, "tie"), (self.b_button, "b")):
            button.clicked.connect(lambda _checked=False, w=winner: self.vote(w))
        self.reveal_label = QLabel()
        self.reveal_label.setWordWrap(True)
        self.reveal_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.win_table = QTableWidget(0, 8)
        self.win_table.setAccessibleName(self.tr("Win rates"))
        self.win_table.setHorizontalHeaderLabels(
            [
                self.tr("Variant 1"),
                self.tr("Variant 2"),
                self.tr("Wins 1"),
                self.tr("Wins 2"),
                self.tr("Ties"),
                self.tr("Votes"),
                self.tr("Win rate 1"),
                self.tr("Win rate 2"),
            ]
        )
        self.win_table.verticalHeader().hide()
        self.win_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.win_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

        self.ratings_table = QTableWidget(0, 5)
        self.ratings_table.setAccessibleName(self.tr("Ratings from chat"))
        self.ratings_table.setHorizontalHeaderLabels(
            [
                self.tr("Variant"),
                self.tr("Rated replies"),
                self.tr("Thumbs up"),
                self.tr("Thumbs down"),
                self.tr("Mean stars"),
            ]
        )
        self.ratings_note = QLabel()
        self.ratings_note.setWordWrap(True)
        self.ratings_note.hide()
        self.ratings_table.verticalHeader().hide()
        self.ratings_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.ratings_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

        self.task_bar = TaskBar()
        self.task_bar.busy_changed.connect(self._on_busy_changed)
        self.task_bar.cancelled.connect(
            lambda: self.status_message.emit(self.tr("Stopped; nothing was put to a vote."))
        )

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(setup)
        left_layout.addWidget(SectionTitle(self.tr("Prompt")))
        left_layout.addWidget(self.prompt_edit)
        left_layout.addWidget(self.generate_button)
        left_layout.addStretch(1)

        replies = QHBoxLayout()
        for title, box in ((self.tr("A"), self.reply_a), (self.tr("B"), self.reply_b)):
            column = QVBoxLayout()
            column.addWidget(SectionTitle(title))
            column.addWidget(box, 1)
            replies.addLayout(column, 1)
        votes = QHBoxLayout()
        votes.addStretch(1)
        votes.addWidget(self.a_button)
        votes.addWidget(self.tie_button)
        votes.addWidget(self.b_button)
        votes.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addLayout(replies, 3)
        right_layout.addLayout(votes)
        right_layout.addWidget(self.reveal_label)
        right_layout.addWidget(SectionTitle(self.tr("Win rates"), self.tr("(every blind vote so far)")))
        right_layout.addWidget(self.win_table, 2)
        right_layout.addWidget(
            SectionTitle(self.tr("Ratings from chat"), self.tr("(thumbs and stars given to replies)"))
        )
        right_layout.addWidget(self.ratings_note)
        right_layout.addWidget(self.ratings_table, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.task_bar)
        self._set_voting(False)
        self.refresh()

    def _reply_box(self, name: str) -> QPlainTextEdit:
        box = QPlainTextEdit()
        box.setReadOnly(True)
        box.setAccessibleName(name)
        return box

    # -- choices ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the models, their adapters and the score tables (the library may have changed)."""
        self._engine_stale = True
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for entry in library.list_models():
            self.model_combo.addItem(entry.id, entry.id)
        index = self.model_combo.findData(current)
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.blockSignals(False)
        docs = self.docs_combo.currentData()
        self.docs_combo.blockSignals(True)
        self.docs_combo.clear()
        self.docs_combo.addItem(self.tr("None"), None)
        for corpus in list_corpora():
            self.docs_combo.addItem(corpus.name, corpus.id)
        self.docs_combo.setCurrentIndex(max(self.docs_combo.findData(docs), 0))
        self.docs_combo.blockSignals(False)
        self._on_model_changed()
        self.refresh_win_rates()
        self.refresh_ratings()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        # Ratings are given in the Chat panel; show the latest whenever this tab comes up.
        self.refresh_ratings()
        super().showEvent(event)

    def _on_model_changed(self) -> None:
        model_id = self.model_combo.currentData()
        docs = self.docs_combo.currentData()
        docs_name = documents_name({"docs": docs})
        choices: list[tuple[str, Side]] = []
        if model_id:
            adapter_ids = [None] + [entry.id for entry in adapters.list_adapters(model_id)]
            for adapter in adapter_ids:
                name = self.tr("{0} (base)").format(model_id) if adapter is None else adapter
                choices.append((name, (adapter, None)))
                if docs is not None:
                    choices.append((self.tr("{0} + documents {1}").format(name, docs_name), (adapter, docs)))
        self._sides = {
            Variant(model_id, adapter, documents_name({"docs": side_docs})).label: (adapter, side_docs)
            for _text, (adapter, side_docs) in choices
        }
        labels = list(self._sides)
        for combo, default in ((self.first_combo, 0), (self.second_combo, 1)):
            kept = combo.currentData() if combo.count() else None
            combo.clear()
            for (text, _side), label in zip(choices, labels, strict=True):
                combo.addItem(text, label)
            index = combo.findData(kept) if kept is not None else -1
            combo.setCurrentIndex(index if index >= 0 else min(default, combo.count() - 1))
        if len(choices) >= 2 and self.first_combo.currentIndex() == self.second_combo.currentIndex():
            # e.g. documents chosen where there was one variant: offer a pair, not the same twice
            self.second_combo.setCurrentIndex(1 if self.first_combo.currentIndex() == 0 else 0)
        self.generate_button.setEnabled(len(choices) >= 2 and not self.task_bar.is_busy())
        self.generate_button.setToolTip(
            ""
            if len(choices) >= 2
            else self.tr(
                "This model has no adapter to compare it with; choose documents to compare with them."
            )
        )

    # -- a round --------------------------------------------------------------------------------------

    def _settings(self) -> GenerationSettings:
        temperature = 0.0 if self.greedy_check.isChecked() else self.temperature_spin.value()
        return GenerationSettings(
            temperature=temperature, max_new_tokens=self.max_tokens_spin.value(), seed=secrets.randbits(62)
        )

    def generate(self) -> Task | None:
        """Draw the sides and generate both replies in the background."""
        model_id = self.model_combo.currentData()
        prompt = self.prompt_edit.toPlainText().strip()
        first, second = self.first_combo.currentData(), self.second_combo.currentData()
        if not model_id or self.first_combo.count() < 2:
            show_error(self, self.tr("Choose a model that has an adapter, or documents to answer from."))
            return None
        if first == second:
            show_error(self, self.tr("Choose two different variants to compare."))
            return None
        if not prompt:
            show_error(self, self.tr("Type a prompt for both variants."))
            return None
        try:
            settings = self._settings()
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        label_a, label_b = results.assign_sides(first, second)
        sides = (self._sides[label_a], self._sides[label_b])
        engine, reload = self._engine, self._engine_stale
        messages = (self.tr("Writing reply A…"), self.tr("Writing reply B…"))
        task = self.task_bar.start(
            self.tr("Generating both replies…"),
            lambda progress: generate_pair(
                engine, model_id, sides, prompt, settings, progress, reload=reload, side_messages=messages
            ),
            lambda replies: self._on_replies_ready(prompt, label_a, label_b, replies),
        )
        if task is not None:
            self._engine_stale = False
            self._round = None
            self.reply_a.clear()
            self.reply_b.clear()
            self.reveal_label.clear()
            self._set_voting(False)
        return task

    def _on_replies_ready(self, prompt: str, label_a: str, label_b: str, replies: tuple[str, str]) -> None:
        self._round = {
            "prompt": prompt,
            "variant_a": label_a,
            "variant_b": label_b,
            "reply_a": replies[0],
            "reply_b": replies[1],
        }
        self.reply_a.setPlainText(replies[0] or self.tr("(empty reply)"))
        self.reply_b.setPlainText(replies[1] or self.tr("(empty reply)"))
        self.reveal_label.setText(self.tr("Which reply is better? The variants are revealed after you vote."))
        self._set_voting(True)

    def vote(self, winner: str) -> None:
        """Store the vote for the round on screen ("a", "b" or "tie") and reveal the sides."""
        if self._round is None:
            return
        try:
            results.record_vote(**self._round, winner=winner)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return
        verdict = {"a": self.tr("A"), "b": self.tr("B"), "tie": self.tr("a tie")}[winner]
        self.reveal_label.setText(
            self.tr("Your vote: {0}. A was <b>{1}</b>, B was <b>{2}</b>.").format(
                verdict, self._round["variant_a"], self._round["variant_b"]
            )
        )
        self._round = None
        self._set_voting(False)
        self.refresh_win_rates()
        self.status_message.emit(self.tr("Vote stored."))
        self.vote_recorded.emit()

    def _set_voting(self, enabled: bool) -> None:
        for button in (self.a_button, self.tie_button, self.b_button):
            button.setEnabled(enabled)

    def refresh_win_rates(self) -> None:
        tallies = results.win_rates()
        self.win_table.setRowCount(len(tallies))
        for row, tally in enumerate(tallies):
            data = tally.to_json()
            cells = [
                tally.first,
                tally.second,
                str(tally.first_wins),
                str(tally.second_wins),
                str(tally.ties),
                str(tally.total),
                f"{data['first_win_rate']:.0%}",
                f"{data['second_win_rate']:.0%}",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(_RIGHT)
                self.win_table.setItem(row, column, item)

    def refresh_ratings(self) -> None:
        """Human ratings given in the Chat panel, per variant, beside the blind votes. A chat history
        that cannot be read now (busy, damaged, a full disk) is said in one sentence in place of the
        table; the votes above do not depend on it."""
        try:
            with ChatHistory() as history:
                summary = history.ratings_summary()
        except LlamaDeskError as exc:
            self.ratings_table.setRowCount(0)
            self.ratings_note.setText(str(exc))
            self.ratings_note.show()
            return
        self.ratings_note.hide()
        self.ratings_table.setRowCount(len(summary))
        for row, entry in enumerate(summary):
            stars = f"{entry['mean_stars']:.1f}" if entry["mean_stars"] is not None else "—"
            cells = [
                Variant(entry["model_id"], entry["adapter_id"]).label,
                str(entry["rated"]),
                str(entry["up"]),
                str(entry["down"]),
                stars,
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 1:
                    item.setTextAlignment(_RIGHT)
                self.ratings_table.setItem(row, column, item)

    def _on_busy_changed(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy and self.first_combo.count() >= 2)
        self.model_combo.setEnabled(not busy)

    def shutdown(self) -> None:
        """Stop a generation, wait for it, and free the model."""
        self.task_bar.shutdown()
        self._engine.unload()
