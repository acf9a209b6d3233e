"""The Train panel's work off the GUI thread: reading documents for a preview, adding a corpus,
the memory estimate, creating a run. Plain functions a `Task` runs (no widgets), and `LatestTask`,
which keeps a burst of requests down to one at a time."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject

from llamadesk.core import library, paths
from llamadesk.core.corpus import store
from llamadesk.core.corpus.scan import CorpusSummary, Sample
from llamadesk.core.errors import AlreadyExistsError, LlamaDeskError
from llamadesk.core.progress import Progress
from llamadesk.core.training import runs
from llamadesk.core.training.memory import MemoryEstimate, MemoryRefusal
from llamadesk.core.training.spec import TrainSpec
from llamadesk.ui.tasks import Task


@dataclass(frozen=True)
class PathsPreview:
    """What adding some files would store, and the starts of their first passages as decoded."""

    paths: list[str]
    summary: CorpusSummary
    samples: list[Sample]


def _tokenizer(base_id: str | None) -> Any:
    if not base_id:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(library.get_model(base_id).path)


def preview_paths(paths_: list[str], base_id: str | None, seed: int, progress: Progress) -> PathsPreview:
    """What adding these files would store, tokens counted with the chosen base's tokenizer."""
    from llamadesk.core.corpus import scan

    summary = scan.preview(paths_, tokenizer=_tokenizer(base_id), seed=seed, progress=progress)
    return PathsPreview(list(paths_), summary, scan.sample_paths(paths_))


def add_paths_corpus(
    paths_: list[str], name: str | None, base_id: str | None, seed: int, progress: Progress
) -> store.CorpusEntry:
    return store.add_corpus(paths_, name, progress, seed=seed, tokenizer=_tokenizer(base_id))


def estimate_memory(spec: TrainSpec) -> MemoryEstimate | MemoryRefusal | LlamaDeskError:
    """The estimate, or the refusal with its suggestion; errors are returned to be shown inline."""
    from llamadesk.core.training import memory

    try:
        return memory.check_fits(spec, library.get_model(spec.base).config)
    except MemoryRefusal as refusal:
        return refusal
    except LlamaDeskError as exc:
        return exc


def prepare_run(spec: TrainSpec, progress: Progress) -> str | MemoryRefusal:
    """Everything refused before a process starts, then the run's folder: its id, or the refusal."""
    from llamadesk.core.training import memory

    base = library.get_model(spec.base)
    if (paths.adapters_dir() / spec.out).exists():
        text = QCoreApplication.translate(
            "train_view", "An adapter named '{0}' already exists; choose another name."
        )
        raise AlreadyExistsError(text.format(spec.out))
    try:
        memory.check_fits(spec, base.config)
    except MemoryRefusal as refusal:
        return refusal
    return runs.create_run(spec, progress).id


class LatestTask(QObject):
    """One background function at a time; a request made meanwhile replaces the waiting one, so a
    burst of edits costs the running estimate plus one more, not one per keystroke."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._task: Task | None = None
        self._waiting: tuple[Callable, Callable] | None = None

    def request(self, fn: Callable[[Progress], Any], on_result: Callable[[Any], None]) -> None:
        if self._task is not None:
            self._waiting = (fn, on_result)
            return
        self._task = Task(fn, self)
        self._task.succeeded.connect(on_result)
        self._task.finished.connect(self._on_finished)
        self._task.start()

    def _on_finished(self) -> None:
        self._task.deleteLater()
        self._task = None
        if self._waiting is not None:
            fn, on_result = self._waiting
            self._waiting = None
            self.request(fn, on_result)

    def shutdown(self) -> None:
        self._waiting = None
        if self._task is not None:
            self._task.cancel()
            self._task.wait()
