"""The Train panel's data column: documents dropped or chosen wait here, previewed, until they are
added as a corpus (or cleared); below them, the stored corpora, each shown on selection.

What waits is always what the preview shows: a drop that is refused as a whole (nothing readable,
a path that is gone) leaves the earlier drops, their preview and "Add as corpus" as they were, and
says what was refused and why.

Signals: corpus_added(corpus id); corpus_selected(corpus id); corpora_changed() after a removal;
instructions_requested(corpus id, or "" when none is selected); status_message(text)."""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core.corpus import scan, store
from llamadesk.core.errors import LlamaDeskError
from llamadesk.ui.dialogs import confirm, show_error
from llamadesk.ui.headings import SectionTitle
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task
from llamadesk.ui.train.background import PathsPreview, add_paths_corpus, preview_paths
from llamadesk.ui.train.corpus_preview import CorpusPreview
from llamadesk.ui.train.drop_zone import DropZone

CORPUS_ROLE = Qt.ItemDataRole.UserRole

# base model id (its tokenizer counts the tokens) and split seed, as the job form has them now
ReadingSettings = Callable[[], tuple[str | None, int]]


class DataPanel(QWidget):
    corpus_added = Signal(str)
    corpus_selected = Signal(str)
    corpora_changed = Signal()
    instructions_requested = Signal(str)
    status_message = Signal(str)

    def __init__(self, task_bar: TaskBar, settings: ReadingSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._task_bar = task_bar
        self._settings = settings
        self.pending_paths: list[str] = []  # previewed, waiting for "Add as corpus"
        self._preview: PathsPreview | None = None

        self.drop_zone = DropZone()
        self.drop_zone.paths_chosen.connect(self.add_paths)
        self.preview_view = CorpusPreview()
        self.corpus_name_edit = QLineEdit()
        self.corpus_name_edit.setPlaceholderText(self.tr("Corpus name (optional)"))
        self.corpus_name_edit.setAccessibleName(self.tr("Corpus name"))
        self.add_corpus_button = QPushButton(self.tr("Add as corpus"))
        self.add_corpus_button.clicked.connect(
            lambda: self.add_corpus(self.corpus_name_edit.text().strip() or None)
        )
        self.clear_button = QPushButton(self.tr("Clear"))
        self.clear_button.setToolTip(self.tr("Forget the documents dropped so far"))
        self.clear_button.clicked.connect(self.clear_pending)
        self.corpus_list = QListWidget()
        self.corpus_list.setAccessibleName(self.tr("Corpora"))
        self.corpus_list.currentItemChanged.connect(self._on_corpus_selected)
        self.edit_instructions_button = QPushButton(self.tr("Edit instructions…"))
        self.edit_instructions_button.setToolTip(
            self.tr(
                "Write instruction/response pairs, edit a copy of the selected instructions corpus, "
                "or draft pairs from documents with the chat model"
            )
        )
        self.edit_instructions_button.clicked.connect(
            lambda: self.instructions_requested.emit(self.selected_corpus() or "")
        )
        self.remove_corpus_button = QPushButton(self.tr("Remove"))
        self.remove_corpus_button.clicked.connect(self._on_remove_corpus_clicked)
        task_bar.busy_changed.connect(lambda _busy: self._update_buttons())

        layout = QVBoxLayout(self)
        layout.addWidget(SectionTitle(self.tr("Training data")))
        layout.addWidget(self.drop_zone)
        layout.addWidget(self.preview_view, 3)
        layout.addWidget(self.corpus_name_edit)
        row = QHBoxLayout()
        row.addWidget(self.add_corpus_button, 1)
        row.addWidget(self.clear_button)
        layout.addLayout(row)
        layout.addWidget(SectionTitle(self.tr("Corpora")))
        layout.addWidget(self.corpus_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.edit_instructions_button, 1)
        row.addWidget(self.remove_corpus_button)
        layout.addLayout(row)
        self._update_buttons()

    # -- documents waiting -------------------------------------------------------------------------

    def add_paths(self, chosen: list[str]) -> Task | None:
        """Files and folders to become a corpus, with those dropped before: previewed together, added
        on "Add as corpus". They join the waiting ones only once the preview has read them."""
        wanted = list(dict.fromkeys([*self.pending_paths, *map(str, chosen)]))
        new = [p for p in wanted if p not in self.pending_paths]
        base_id, seed = self._settings()
        self.preview_view.show_reading(len(wanted))
        task = self._task_bar.start(
            self.tr("Reading documents…"),
            lambda progress: preview_paths(wanted, base_id, seed, progress),
            self._on_previewed,
        )
        if task is None:
            self._show_waiting()
            return None
        task.failed.connect(lambda message: self._on_preview_failed(new, message))
        task.cancelled.connect(self._show_waiting)
        return task

    def _on_previewed(self, preview: PathsPreview) -> None:
        self.pending_paths, self._preview = preview.paths, preview
        self._show_waiting()
        self._update_buttons()

    def _on_preview_failed(self, refused: list[str], message: str) -> None:
        self._show_waiting()
        self.preview_view.show_refusal([Path(p).name for p in refused], message)
        self._update_buttons()

    def _show_waiting(self) -> None:
        """The preview of what waits, or the hint when nothing does."""
        if self._preview is None:
            self.preview_view.show_hint()
            return
        names = ", ".join(Path(p).name for p in self.pending_paths[:4])
        more = len(self.pending_paths) - 4
        title = self.tr("Preview: {0}").format(names) + (
            self.tr(" and {0} more").format(more) if more > 0 else ""
        )
        self.preview_view.show_summary(title, self._preview.summary, self._preview.samples)

    def clear_pending(self) -> None:
        """Forget what was dropped: nothing waits, the preview shows its hint."""
        self.pending_paths, self._preview = [], None
        self.corpus_name_edit.clear()
        self.preview_view.show_hint()
        self._update_buttons()

    def add_corpus(self, name: str | None = None) -> Task | None:
        if not self.pending_paths:
            show_error(self, self.tr("Drop or choose documents first."))
            return None
        chosen = list(self.pending_paths)
        base_id, seed = self._settings()
        return self._task_bar.start(
            self.tr("Adding the corpus…"),
            lambda progress: add_paths_corpus(chosen, name, base_id, seed, progress),
            self._on_corpus_added,
        )

    def _on_corpus_added(self, entry: store.CorpusEntry) -> None:
        self.pending_paths, self._preview = [], None
        self.corpus_name_edit.clear()
        self.refresh_corpora(select=entry.id)
        self.status_message.emit(self.tr("Added the corpus {0}.").format(entry.id))
        self.corpus_added.emit(entry.id)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self._task_bar.is_busy()
        self.add_corpus_button.setEnabled(bool(self.pending_paths) and not busy)
        self.clear_button.setEnabled(bool(self.pending_paths) and not busy)
        self.remove_corpus_button.setEnabled(self.corpus_list.currentItem() is not None)

    # -- stored corpora ----------------------------------------------------------------------------

    def refresh_corpora(self, select: str | None = None) -> None:
        """Re-read the corpora; `select` (or the one selected before) stays selected and shown."""
        selected = select or self.selected_corpus()
        kinds = {"text": self.tr("text"), "instructions": self.tr("instructions"), "mixed": self.tr("mixed")}
        self.corpus_list.blockSignals(True)
        self.corpus_list.clear()
        for entry in store.list_corpora():
            tokens = entry.manifest.get("tokens")
            amount = (
                self.tr("{0} tokens").format(f"{tokens:,}")
                if tokens
                else self.tr("{0} characters").format(f"{entry.manifest.get('characters', 0):,}")
            )
            item = QListWidgetItem(f"{entry.id} · {kinds[entry.kind]} · {amount}")
            item.setData(CORPUS_ROLE, entry.id)
            self.corpus_list.addItem(item)
            if entry.id == selected:
                self.corpus_list.setCurrentItem(item)
        self.corpus_list.blockSignals(False)
        if select is not None and self.corpus_list.currentItem() is not None:
            self._show_corpus(select)
        self._update_buttons()

    def selected_corpus(self) -> str | None:
        item = self.corpus_list.currentItem()
        return item.data(CORPUS_ROLE) if item else None

    def _on_corpus_selected(self, current: QListWidgetItem | None, _previous: object) -> None:
        self._update_buttons()
        if current is not None:
            self._show_corpus(current.data(CORPUS_ROLE))
            self.corpus_selected.emit(current.data(CORPUS_ROLE))

    def _show_corpus(self, corpus_id: str) -> None:
        """A stored corpus's summary from its manifest, and its first passages as stored."""
        try:
            entry = store.get_corpus(corpus_id)
            summary = entry.summary()
            kind = "conversation" if entry.kind == "instructions" else "text"
            samples = scan.sample_records(entry.iter_records(kind), summary.files_read)
        except (LlamaDeskError, OSError, ValueError) as exc:
            self.preview_view.show_message(str(exc))
            return
        self.preview_view.show_summary(corpus_id, summary, samples)

    def _on_remove_corpus_clicked(self) -> None:
        corpus_id = self.selected_corpus()
        if corpus_id is None:
            return
        if confirm(
            self,
            self.tr("Remove corpus"),
            self.tr("Remove the corpus '{0}'? Runs made from it keep their own token data.").format(
                corpus_id
            ),
        ):
            try:
                store.remove_corpus(corpus_id)
            except LlamaDeskError as exc:
                show_error(self, str(exc))
            self.refresh_corpora()
            self._show_waiting()
            self.corpora_changed.emit()
