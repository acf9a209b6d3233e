"""The dataset editor: a table of instruction/response pairs to add, edit and delete, drafted pairs
from documents to review, and the result saved as an instructions corpus.

Drafting uses the chat model already loaded in the Chat panel when there is one (no second copy
in memory), otherwise it loads the model chosen here for the duration of the draft. Drafted pairs
never join the dataset on their own: they wait in a review table until the user keeps them.

Signals: corpus_added(corpus id) after saving; status_message(text)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import drafting, library
from llamadesk.core.corpus import store
from llamadesk.core.drafting import QAPair
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.progress import Progress
from llamadesk.ui.dialogs import confirm, show_error
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task

EngineSource = Callable[[], Any]  # returns the Chat panel's engine, or None
FILES_SOURCE = "files"


def _pairs_table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setWordWrap(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    header = table.horizontalHeader()
    for column in range(len(headers)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


class DatasetEditor(QDialog):
    corpus_added = Signal(str)
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None, engine_source: EngineSource | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Instruction dataset"))
        self.resize(980, 720)
        self._engine_source = engine_source
        self._documents: list[str] = []
        self.opened_corpus: str | None = None  # the corpus whose pairs the table started from

        self.origin_label = QLabel()
        self.origin_label.setWordWrap(True)
        self.origin_label.hide()
        self.table = _pairs_table([self.tr("Instruction"), self.tr("Response")])
        self.table.setAccessibleName(self.tr("Instruction and response pairs"))
        self.add_button = QPushButton(self.tr("Add pair"))
        self.add_button.clicked.connect(lambda: self.table.editItem(self.table.item(self.add_pair(), 0)))
        self.delete_button = QPushButton(self.tr("Delete selected"))
        self.delete_button.clicked.connect(self.delete_selected)
        self.load_button = QPushButton(self.tr("Load file…"))
        self.load_button.setToolTip(self.tr("Pairs from a JSONL, JSON or CSV instruction file"))
        self.load_button.clicked.connect(self._on_load_clicked)
        self.count_label = QLabel()
        self.table.model().rowsInserted.connect(self._update_count)
        self.table.model().rowsRemoved.connect(self._update_count)

        dataset = QGroupBox(self.tr("Dataset"))
        dataset_layout = QVBoxLayout(dataset)
        dataset_layout.addWidget(self.origin_label)
        dataset_layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        for widget in (self.add_button, self.delete_button, self.load_button):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.count_label)
        dataset_layout.addLayout(row)

        dataset_layout.addWidget(self._build_draft_box())
        review = self._build_review_box()

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(self.tr("corpus name, e.g. private-qa"))
        self.name_edit.setAccessibleName(self.tr("Corpus name"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(42)
        self.seed_spin.setToolTip(self.tr("Fixes which pairs go to the validation split"))
        self.save_button = QPushButton(self.tr("Save as corpus"))
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.export_button = QPushButton(self.tr("Export JSONL…"))
        self.export_button.clicked.connect(self._on_export_clicked)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel(self.tr("Name:")))
        bottom.addWidget(self.name_edit, 1)
        bottom.addWidget(QLabel(self.tr("Split seed:")))
        bottom.addWidget(self.seed_spin)
        bottom.addWidget(self.export_button)
        bottom.addWidget(self.save_button)

        self.task_bar = TaskBar()
        self.task_bar.busy_changed.connect(self._on_busy_changed)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(dataset)
        splitter.addWidget(review)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.task_bar)
        self.refresh_sources()
        self._update_count()

    def _build_draft_box(self) -> QGroupBox:
        self.source_combo = QComboBox()
        self.source_combo.setAccessibleName(self.tr("Documents to draft from"))
        self.documents_button = QPushButton(self.tr("Choose documents…"))
        self.documents_button.clicked.connect(self._on_documents_clicked)
        self.passages_spin = QSpinBox()
        self.passages_spin.setRange(1, 200)
        self.passages_spin.setValue(5)
        self.per_passage_spin = QSpinBox()
        self.per_passage_spin.setRange(1, 10)
        self.per_passage_spin.setValue(drafting.PAIRS_PER_CHUNK)
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Model for drafting"))
        self.model_combo.setToolTip(self.tr("Used when no model is loaded in the Chat panel"))
        self.draft_button = QPushButton(self.tr("Draft questions from these documents"))
        self.draft_button.clicked.connect(self._on_draft_clicked)
        box = QGroupBox(self.tr("Draft questions"))
        form = QFormLayout(box)
        documents = QHBoxLayout()
        documents.addWidget(self.source_combo, 1)
        documents.addWidget(self.documents_button)
        form.addRow(self.tr("Documents:"), documents)
        amounts = QHBoxLayout()
        amounts.addWidget(self.passages_spin)
        amounts.addWidget(QLabel(self.tr("passages, pairs per passage:")))
        amounts.addWidget(self.per_passage_spin)
        amounts.addStretch(1)
        form.addRow(self.tr("Use:"), amounts)
        form.addRow(self.tr("Model:"), self.model_combo)
        form.addRow(self.draft_button)
        return box

    def _build_review_box(self) -> QGroupBox:
        self.review_table = _pairs_table([self.tr("Question"), self.tr("Answer"), self.tr("From")])
        self.review_table.setAccessibleName(self.tr("Drafted pairs to review"))
        self.review_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.keep_button = QPushButton(self.tr("Add checked to dataset"))
        self.keep_button.clicked.connect(self.accept_checked)
        self.discard_button = QPushButton(self.tr("Discard all"))
        self.discard_button.clicked.connect(lambda: self.review_table.setRowCount(0))
        hint = QLabel(self.tr("Drafted pairs wait here: edit them, untick the bad ones, then add the rest."))
        hint.setWordWrap(True)
        box = QGroupBox(self.tr("Review drafted pairs"))
        layout = QVBoxLayout(box)
        layout.addWidget(hint)
        layout.addWidget(self.review_table, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.discard_button)
        row.addWidget(self.keep_button)
        layout.addLayout(row)
        return box

    # -- the dataset ---------------------------------------------------------------------------------

    def refresh_sources(self) -> None:
        """Text corpora and chosen documents to draft from; library models to draft with."""
        current = self.source_combo.currentData()
        self.source_combo.clear()
        if self._documents:
            label = self.tr("Chosen documents ({0})").format(len(self._documents))
            self.source_combo.addItem(label, FILES_SOURCE)
        for entry in store.list_corpora():
            if entry.kind != "instructions":
                self.source_combo.addItem(self.tr("Corpus {0}").format(entry.id), entry.id)
        index = self.source_combo.findData(current)
        self.source_combo.setCurrentIndex(max(index, 0))
        chosen = self.model_combo.currentText()
        self.model_combo.clear()
        self.model_combo.addItems([m.id for m in library.list_models()])
        if chosen:
            self.model_combo.setCurrentText(chosen)

    def set_documents(self, paths: list[str]) -> None:
        """Files and folders to draft from (the ones dropped on the Train panel, or chosen here)."""
        self._documents = [str(p) for p in paths]
        self.refresh_sources()
        if self._documents:
            self.source_combo.setCurrentIndex(0)

    def open_corpus(self, corpus_id: str) -> Task | None:
        """Start from a stored corpus: an instructions corpus's pairs fill the table (a copy: saving
        makes a new corpus, and runs made from the old one keep it); a text corpus becomes the one
        to draft from. The table is replaced only with the user's agreement when it holds pairs."""
        try:
            entry = store.get_corpus(corpus_id)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        if entry.kind == "text":
            self.refresh_sources()
            self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(corpus_id)))
            return None
        if corpus_id == self.opened_corpus:
            return None  # already open, perhaps edited since
        if self.table.rowCount() and not confirm(
            self,
            self.tr("Open corpus"),
            self.tr("Replace the {0} pairs in the table with those of '{1}'?").format(
                self.table.rowCount(), corpus_id
            ),
        ):
            return None
        return self.task_bar.start(
            self.tr("Reading {0}…").format(corpus_id),
            lambda _progress: _corpus_pairs(entry),
            lambda result: self._on_corpus_read(entry, *result),
        )

    def _on_corpus_read(self, entry: store.CorpusEntry, pairs: list[QAPair], left_out: int) -> None:
        self.opened_corpus = entry.id
        self.set_pairs(pairs)
        self.seed_spin.setValue(entry.manifest.get("split", {}).get("seed", self.seed_spin.value()))
        self.name_edit.setText(_free_corpus_name(entry.id))
        text = self.tr(
            "A copy of the corpus '{0}': saving it makes a new corpus, and '{0}' stays as it is for the "
            "runs made from it."
        ).format(entry.id)
        if left_out:
            text += " " + self.tr("{0} conversations with several turns were left out.").format(left_out)
        self.origin_label.setText(text)
        self.origin_label.show()

    def pairs(self) -> list[QAPair]:
        return [self._row_pair(self.table, row) for row in range(self.table.rowCount())]

    @staticmethod
    def _row_pair(table: QTableWidget, row: int) -> QAPair:
        texts = [table.item(row, c).text() if table.item(row, c) else "" for c in range(table.columnCount())]
        return QAPair(texts[0], texts[1], texts[2] if len(texts) > 2 else None)

    def set_pairs(self, pairs: list[QAPair]) -> None:
        self.table.setRowCount(0)
        for pair in pairs:
            self.add_pair(pair.question, pair.answer)

    def add_pair(self, question: str = "", answer: str = "") -> int:
        """Append a row; returns its index."""
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(question))
        self.table.setItem(row, 1, QTableWidgetItem(answer))
        return row

    def delete_selected(self) -> None:
        for row in sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)

    def _update_count(self) -> None:
        self.count_label.setText(self.tr("{0} pairs").format(self.table.rowCount()))

    def _on_load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Load instruction pairs"), "", self.tr("Instruction data (*.jsonl *.json *.csv)")
        )
        if path:
            self.load_file(Path(path))

    def load_file(self, path: Path) -> None:
        """Append the single-turn pairs of an instruction file (small: read on the spot)."""
        try:
            pairs, left_out = drafting.read_pairs(path)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return
        for pair in pairs:
            self.add_pair(pair.question, pair.answer)
        note = self.tr("Loaded {0} pairs from {1}.").format(len(pairs), path.name)
        if left_out:
            note += " " + self.tr("{0} conversations with several turns were left out.").format(left_out)
        self.status_message.emit(note)

    # -- drafting ------------------------------------------------------------------------------------

    def _on_documents_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self,
            self.tr("Documents to draft questions from"),
            "",
            self.tr("Documents (*.txt *.md *.pdf *.docx *.html *.htm)"),
        )
        if paths:
            self.set_documents(paths)

    def _on_draft_clicked(self) -> None:
        self.start_draft()

    def start_draft(self) -> Task | None:
        """Draft pairs from the chosen documents into the review table."""
        source = self.source_combo.currentData()
        if source is None:
            show_error(self, self.tr("Choose documents or a text corpus to draft questions from."))
            return None
        shared = self._engine_source() if self._engine_source is not None else None
        if shared is not None and shared.model is None:
            shared = None
        model_id = self.model_combo.currentText()
        if shared is None and not model_id:
            show_error(self, self.tr("Import a model first: drafting needs a chat model."))
            return None
        documents = list(self._documents)
        passages, per_passage = self.passages_spin.value(), self.per_passage_spin.value()

        def draft(progress: Progress) -> list[QAPair]:
            texts, label = _draft_texts(source, documents)
            chunks = drafting.document_chunks(texts, limit=passages)
            return _draft_with(shared, model_id, chunks, per_passage, label, progress)

        return self.task_bar.start(self.tr("Drafting questions…"), draft, self._on_drafted)

    def _on_drafted(self, pairs: list[QAPair]) -> None:
        for pair in pairs:
            row = self.review_table.rowCount()
            self.review_table.insertRow(row)
            question = QTableWidgetItem(pair.question)
            question.setFlags(question.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            question.setCheckState(Qt.CheckState.Checked)
            self.review_table.setItem(row, 0, question)
            self.review_table.setItem(row, 1, QTableWidgetItem(pair.answer))
            source = QTableWidgetItem(pair.source or "")
            source.setFlags(source.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.review_table.setItem(row, 2, source)
        if pairs:
            message = self.tr("Drafted {0} pairs; review them before adding.").format(len(pairs))
        else:
            message = self.tr(
                "The model wrote no usable question/answer pairs; try other passages or a larger model."
            )
        self.status_message.emit(message)

    def proposals(self) -> list[tuple[QAPair, bool]]:
        """Drafted pairs awaiting review, each with whether it is ticked."""
        return [
            (
                self._row_pair(self.review_table, row),
                self.review_table.item(row, 0).checkState() == Qt.CheckState.Checked,
            )
            for row in range(self.review_table.rowCount())
        ]

    def accept_checked(self) -> int:
        """Move the ticked drafts into the dataset (as edited), drop the rest; returns how many moved."""
        kept = [pair for pair, checked in self.proposals() if checked]
        for pair in kept:
            self.add_pair(pair.question, pair.answer)
        self.review_table.setRowCount(0)
        return len(kept)

    # -- saving --------------------------------------------------------------------------------------

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export pairs"), "dataset.jsonl", "JSONL (*.jsonl)"
        )
        if path:
            self.export_jsonl(Path(path))

    def export_jsonl(self, path: Path) -> None:
        try:
            count = drafting.write_pairs(self.pairs(), path)
        except (LlamaDeskError, OSError) as exc:
            show_error(self, str(exc))
            return
        self.status_message.emit(self.tr("Wrote {0} pairs to {1}.").format(count, path))

    def _on_save_clicked(self) -> None:
        self.save_as_corpus(self.name_edit.text().strip())

    def save_as_corpus(self, name: str) -> Task | None:
        if not name:
            show_error(self, self.tr("Give the corpus a name."))
            return None
        pairs, seed = self.pairs(), self.seed_spin.value()
        return self.task_bar.start(
            self.tr("Saving {0}…").format(name),
            lambda progress: drafting.add_pairs_corpus(pairs, name, progress, seed=seed),
            self._on_saved,
        )

    def _on_saved(self, entry: store.CorpusEntry) -> None:
        self.status_message.emit(self.tr("Saved the instructions corpus {0}.").format(entry.id))
        self.corpus_added.emit(entry.id)

    def _on_busy_changed(self, busy: bool) -> None:
        for button in (self.draft_button, self.save_button, self.keep_button, self.load_button):
            button.setEnabled(not busy)

    def shutdown(self) -> None:
        self.task_bar.shutdown()

    def done(self, result: int) -> None:
        """Closing the dialog stops a draft in progress rather than leaving its thread behind."""
        self.shutdown()
        super().done(result)


def _corpus_pairs(entry: store.CorpusEntry) -> tuple[list[QAPair], int]:
    """The single-turn pairs of a corpus (training and validation alike), and how many
    conversations two columns cannot show (several turns)."""
    return drafting.pairs_of(
        conversation for split in ("train", "validation") for conversation in entry.iter_conversations(split)
    )


def _free_corpus_name(corpus_id: str) -> str:
    """`corpus_id` with the first number that no corpus has yet: the copy's suggested name."""
    taken = {entry.id for entry in store.list_corpora()}
    number = 2
    while f"{corpus_id}-{number}" in taken:
        number += 1
    return f"{corpus_id}-{number}"


def _draft_texts(source: str, documents: list[str]) -> tuple[list[str], str]:
    """The texts to draft from, and the name shown beside each drafted pair."""
    if source == FILES_SOURCE:
        from llamadesk.core.corpus.reading import read_documents

        found = read_documents(documents)
        label = (
            Path(found[0].source).name
            if len(found) == 1
            else QCoreApplication.translate("DatasetEditor", "{0} documents").format(len(found))
        )
        return [d.text for d in found], label
    return list(store.get_corpus(source).iter_texts("train")), source


def _draft_with(
    shared: Any, model_id: str, chunks: list[str], per_chunk: int, label: str, progress: Progress
) -> list[QAPair]:
    """Draft with the Chat panel's engine, or with `model_id` loaded just for this (then freed)."""
    if shared is not None:
        return drafting.draft_pairs(shared, chunks, per_chunk=per_chunk, source=label, progress=progress)
    from llamadesk.core.engines import SwitchingEngine

    engine = SwitchingEngine()
    try:
        engine.load(model_id, progress.sub(0.0, 0.2))
        return drafting.draft_pairs(
            engine, chunks, per_chunk=per_chunk, source=label, progress=progress.sub(0.2, 1.0)
        )
    finally:
        engine.unload()
