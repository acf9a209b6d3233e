"""The Train panel: data in (drop files, preview, corpora, the instruction editor), a job form with
its step plan and a live memory check, and the job itself: progress, a live loss chart, whether it
learnt, the log and past runs. The parts live in `llamadesk.ui.train`, one widget to a module; this
class puts them side by side and owns what they share: the panel's task bar, the job being
followed, and the guided flow over them.

A job runs in a process of its own (see `train_process`), so the panel only ever reads files: it
starts the runner, tails the run's progress log, and on reopening re-attaches to a run still
going. Everything slower than a click (preview, adding a corpus, the memory estimate, creating a
run, merging) runs on a background thread.

Signals: adapters_changed() when a job's adapter enters the library; library_changed() after the
guided flow merges a model; status_message(text) for the status bar."""

import contextlib

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QPushButton, QSplitter, QVBoxLayout, QWidget

from llamadesk.core import library
from llamadesk.core.corpus import store
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.training import runs
from llamadesk.core.training.memory import MemoryRefusal
from llamadesk.ui.dataset_editor import DatasetEditor, EngineSource
from llamadesk.ui.dialogs import show_error
from llamadesk.ui.headings import SectionTitle
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task
from llamadesk.ui.train.background import prepare_run
from llamadesk.ui.train.data_panel import DataPanel
from llamadesk.ui.train.drop_zone import local_paths
from llamadesk.ui.train.formatting import safe_id
from llamadesk.ui.train.job_form import JobForm
from llamadesk.ui.train.pipeline_guide import PipelineGuide
from llamadesk.ui.train.run_list import RunList
from llamadesk.ui.train.run_monitor import RunMonitor
from llamadesk.ui.train_process import TrainProcess

RESUMABLE = ("cancelled", "interrupted", "failed", "created")


class TrainView(QWidget):
    adapters_changed = Signal()
    library_changed = Signal()
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None, engine_source: EngineSource | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)  # documents dropped anywhere on the panel, not only on its drop zone
        self._engine_source = engine_source
        self.job: TrainProcess | None = None
        self._last_run: str | None = None  # the run most recently followed, for Resume
        self._editor: DatasetEditor | None = None

        self.task_bar = TaskBar()
        self.task_bar.busy_changed.connect(lambda _busy: self._update_buttons())
        self.form = JobForm()
        self.form.status_message.connect(self.status_message)
        self.form.start_button.clicked.connect(self.start_job)
        self.form.cancel_button.clicked.connect(self.cancel_job)
        self.form.resume_button.clicked.connect(self._on_resume_clicked)
        self.data = DataPanel(self.task_bar, lambda: (self.form.base_id(), self.form.seed()))
        self.data.corpus_added.connect(self._on_corpus_added)
        self.data.corpus_selected.connect(lambda corpus_id: self.form.apply_values({"data": [corpus_id]}))
        self.data.corpora_changed.connect(self.form.refresh_corpora)
        self.data.instructions_requested.connect(self.open_dataset_editor)
        self.data.status_message.connect(self.status_message)
        self.guide_button = QPushButton(self.tr("Guided: Chinese model → merge → private SFT"))
        self.guide_button.setCheckable(True)
        self.guide = PipelineGuide()
        self.guide.hide()
        self.guide_button.toggled.connect(self.guide.setVisible)
        self.guide.setup_requested.connect(self._on_guide_setup)
        self.guide.merge_requested.connect(self.start_merge)
        self.form.header.addWidget(self.guide_button)
        self.form.header.addWidget(self.guide)
        self.monitor = RunMonitor()
        self.runs_tree = RunList()
        self.runs_tree.run_selected.connect(self.show_run)
        self.runs_tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.monitor.row_changed.connect(self.runs_tree.update_row)

        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addWidget(SectionTitle(self.tr("Runs"), self.tr("(select one to see its curves)")))
        runs_layout.addWidget(self.runs_tree)
        self.monitor.splitter.addWidget(runs_box)
        self.monitor.splitter.setStretchFactor(3, 2)
        splitter = QSplitter()
        splitter.addWidget(self.data)
        splitter.addWidget(self.form)
        splitter.addWidget(self.monitor)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 5)
        splitter.setSizes([310, 440, 650])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.task_bar)

        self.refresh()
        self._attach_live()
        self._update_buttons()

    # -- lists -----------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read models, corpora and runs (after a change made elsewhere)."""
        self.form.refresh()
        self.data.refresh_corpora()
        self.refresh_runs()
        self.guide.refresh()
        if self._editor is not None:
            self._editor.refresh_sources()

    def refresh_corpora(self, select: str | None = None) -> None:
        """Both lists of corpora, the form's and the data column's; `select` is chosen in both."""
        self.data.refresh_corpora(select)
        self.form.refresh_corpora(select)

    def refresh_runs(self) -> None:
        self.runs_tree.refresh()
        self._update_buttons()

    def _on_corpus_added(self, corpus_id: str) -> None:
        self.form.refresh_corpora(select=corpus_id)
        if self._editor is not None:
            self._editor.refresh_sources()

    # -- data ------------------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        found = local_paths(event.mimeData())
        if found:
            self.data.add_paths(found)
        event.acceptProposedAction()

    def open_dataset_editor(self, corpus_id: str | None = None) -> DatasetEditor:
        """The instruction editor, non-modal. With an instructions corpus, it opens a copy of its
        pairs; with a text corpus, that corpus is the one to draft from; documents waiting in the
        data column are offered for drafting too."""
        if self._editor is None:
            self._editor = DatasetEditor(self, self._engine_source)
            self._editor.corpus_added.connect(lambda added: self.refresh_corpora(select=added))
            self._editor.status_message.connect(self.status_message)
        if self.data.pending_paths:
            self._editor.set_documents(self.data.pending_paths)
        if corpus_id:
            self._editor.open_corpus(corpus_id)
        self._editor.show()
        self._editor.raise_()
        return self._editor

    # -- jobs ------------------------------------------------------------------------------------------

    def start_job(self) -> Task | None:
        """Check the job, make its run folder and start its process."""
        if self.job is not None:
            show_error(self, self.tr("A job is running; cancel it or wait for it to finish."))
            return None
        try:
            spec = self.form.spec_from_form()
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        return self.task_bar.start(
            self.tr("Preparing the job…"), lambda progress: prepare_run(spec, progress), self._on_run_prepared
        )

    def _on_run_prepared(self, result: str | MemoryRefusal) -> None:
        if isinstance(result, MemoryRefusal):
            self.form.show_estimate(result)
            self.status_message.emit(self.tr("The job would not fit in memory; see the suggestion."))
            return
        self._launch(result)

    def resume_run(self, run_id: str) -> TrainProcess | None:
        """Continue a cancelled or interrupted run from its last checkpoint; a run another process
        (the CLI, another window) is training now is refused with the sentence the CLI gives."""
        if self.job is not None:
            show_error(self, self.tr("A job is running; cancel it or wait for it to finish."))
            return None
        try:
            refusal = runs.running_elsewhere(runs.get_run(run_id))
        except LlamaDeskError as exc:
            refusal = exc
        if refusal is not None:
            show_error(self, str(refusal))
            self.refresh_runs()  # the list may still show the run as it was before that process began
            return None
        return self._launch(run_id)

    def _on_resume_clicked(self) -> None:
        # The selected run, even if it now reads as running: the user pressed Resume on it, and is
        # told why not, rather than seeing another run resume or nothing happen.
        selected = self.runs_tree.selected_run()
        with contextlib.suppress(LlamaDeskError):
            if selected is not None and runs.get_run(selected).status == "running":
                self.resume_run(selected)
                return
        run_id = self._resumable_run()
        if run_id is not None:
            self.resume_run(run_id)

    def _resumable_run(self) -> str | None:
        for run_id in (self.runs_tree.selected_run(), self._last_run):
            if run_id is None:
                continue
            try:
                if runs.get_run(run_id).status in RESUMABLE:
                    return run_id
            except LlamaDeskError:
                continue
        return None

    def _launch(self, run_id: str) -> TrainProcess | None:
        try:
            job = TrainProcess.start(run_id, self)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            return None
        self._follow(job)
        self.status_message.emit(self.tr("Training {0}…").format(run_id))
        return job

    def _attach_live(self) -> None:
        """A job still running from an earlier session (or the CLI) is followed again."""
        live = runs.live_runs()
        if live and self.job is None:
            job = TrainProcess.attach(live[0].id, self)
            self._follow(job)
            self.status_message.emit(self.tr("Re-attached to the running job {0}.").format(live[0].id))

    def cancel_job(self) -> None:
        """Ask the runner to stop; the monitor says "Stopped" as soon as the runner has."""
        if self.job is not None:
            self.job.cancel()
            self.form.cancel_button.setEnabled(False)
            self.monitor.stopping()

    def _follow(self, job: TrainProcess) -> None:
        self.job = job
        self._last_run = job.run_id
        self.monitor.follow(job.run_id)
        job.event_received.connect(self.monitor.on_event)
        job.finished.connect(self._on_job_finished)
        self.refresh_runs()
        self.runs_tree.select_run(job.run_id)

    def _on_job_finished(self, status: str, message: str) -> None:
        job, self.job = self.job, None
        run_id = job.run_id
        job.deleteLater()
        self.monitor.job_ended(run_id, status, message)
        if status == "done":
            self.status_message.emit(
                self.tr("Training finished: the adapter {0} is in the library.").format(message)
            )
            self.adapters_changed.emit()
            try:
                kind = runs.get_run(run_id).spec.kind
            except LlamaDeskError:
                kind = ""
            self.guide.mark_trained(kind, message)
        elif status == "cancelled":
            self.status_message.emit(self.tr("Training stopped; the last checkpoint was kept."))
        else:
            show_error(self, message or self.tr("The training job stopped."))
        self.refresh_runs()
        self.form.suggest_name()

    def show_run(self, run_id: str) -> None:
        """Chart a run's curves and show whether it learnt, live for the job being followed."""
        self.monitor.show_run(run_id)

    def _update_buttons(self) -> None:
        busy = self.task_bar.is_busy()
        self.form.start_button.setEnabled(self.job is None and not busy)
        self.form.cancel_button.setEnabled(self.job is not None)
        self.form.resume_button.setEnabled(
            self.job is None and not busy and self._resumable_run() is not None
        )

    # -- guided flow -----------------------------------------------------------------------------------

    def _on_guide_setup(self, kind: str) -> None:
        if kind == "pt":
            self.apply_chinese_pretraining()
        else:
            self.apply_private_sft(self.guide.model_combo.currentText())

    def apply_chinese_pretraining(self) -> None:
        """Step 1: pre-training on the most Chinese text corpus, the recipe's pre-training settings."""
        texts = [c for c in store.list_corpora() if c.kind != "instructions"]
        if not texts:
            show_error(self, self.tr("Add a Chinese text corpus first: drop documents on the left."))
            return
        corpus = max(texts, key=lambda c: c.summary().language.share("cjk"))
        base = self.form.base_id() or ""
        self.form.apply_values(
            {"kind": "pt", "data": [corpus.id], "lr": 2e-4, "epochs": 1.0, "out": safe_id(f"{base}-zh-pt")}
        )
        self.status_message.emit(self.tr("Step 1 is filled in: check the settings and press Start."))

    def apply_private_sft(self, model_id: str) -> None:
        """Step 3: instruction tuning of the merged model on the newest instructions corpus."""
        pairs = [c for c in store.list_corpora() if c.kind == "instructions"]
        if not model_id:
            show_error(self, self.tr("Merge the pre-trained adapter first (step 2)."))
            return
        if not pairs:
            show_error(
                self, self.tr("Add instruction data first: drop a JSONL file or use Edit instructions…")
            )
            return
        corpus = max(pairs, key=lambda c: c.created)
        self.form.apply_values(
            {
                "kind": "sft",
                "base": model_id,
                "data": [corpus.id],
                "lr": 1e-4,
                "epochs": 2.0,
                "out": safe_id(f"{model_id}-sft"),
            }
        )
        self.status_message.emit(self.tr("Step 3 is filled in: check the settings and press Start."))

    def start_merge(self, adapter_id: str, name: str) -> Task | None:
        from llamadesk.core.merge import merge_adapter

        return self.task_bar.start(
            self.tr("Merging {0} into {1}…").format(adapter_id, name),
            lambda progress: merge_adapter(adapter_id, name, progress=progress),
            self._on_merged,
        )

    def _on_merged(self, entry: library.ModelEntry) -> None:
        self.refresh()
        self.guide.mark_merged(entry.id)
        self.status_message.emit(self.tr("Created the model {0}.").format(entry.id))
        self.library_changed.emit()

    # -- closing ---------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop timers and threads. A running job is left running: reopening re-attaches to it."""
        if self.job is not None:
            self.job.stop_following()
        self.task_bar.shutdown()
        self.form.shutdown()
        self.monitor.shutdown()
        if self._editor is not None:
            self._editor.shutdown()
