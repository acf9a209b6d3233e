"""Evaluation: perplexity, multiple-choice benchmarks, generation metrics, and the store of results.

The CLI and the GUI call `prepare_*` with a data set, which reads and checks it completely (a
bad file fails before any model loads and stores nothing), then `EvalJob.run` with a loaded model
and tokenizer, which runs the metric and stores the run. A run that is stopped or fails is
stored with status 'cancelled' or 'failed' and the items it finished, never as complete. The
metric functions themselves (`perplexity`, `score_multiple_choice`, `score_generation`) take
plain transformers objects, so they are tested against an independent computation.

A generation job grounded in documents (`GenSettings.docs`) opens their index while it is prepared
(a missing corpus fails before the model loads, too); `EvalJob.plain_and_grounded` gives the same
questions asked without and with the documents, and `comparison.run_variants` runs those on the base
and its adapters: the four-way comparison of retrieval against a trained adapter."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from llamadesk.core.errors import Cancelled
from llamadesk.core.evaluation.data import dataset_sha256, read_documents, resolve_data
from llamadesk.core.evaluation.generation_metrics import GenSettings, read_qa_file, score_generation
from llamadesk.core.evaluation.multiple_choice import (
    MCSettings,
    letter_token_ids,
    load_mc_dataset,
    score_multiple_choice,
)
from llamadesk.core.evaluation.perplexity import PerplexitySettings, perplexity, tokenize_documents
from llamadesk.core.evaluation.results import RunRecord, record_run
from llamadesk.core.evaluation.scorers import Scorer
from llamadesk.core.progress import Progress

if TYPE_CHECKING:
    from llamadesk.core.grounding.index import DocumentIndex

__all__ = [
    "EvalJob",
    "GenSettings",
    "MCSettings",
    "PerplexitySettings",
    "RunRecord",
    "prepare_generation",
    "prepare_multiple_choice",
    "prepare_perplexity",
    "resolve_data",
]


def _execute(
    job: "EvalJob",
    scorer: Scorer,
    model_id: str,
    adapter_id: str | None,
    settings: dict,
    compute: Callable[[list[dict]], dict],
) -> RunRecord:
    stored = {
        "kind": job.kind,
        "model_id": model_id,
        "adapter_id": adapter_id,
        "dataset_path": str(job.data),
        "dataset_sha256": job.sha256,
        "settings": settings | scorer.described(),
    }
    detail: list[dict] = []
    try:
        summary = compute(detail)
    except (Cancelled, KeyboardInterrupt) as exc:
        summary = {"error": str(exc) or "Cancelled.", "items_done": len(detail)}
        record_run(**stored, summary=summary, status="cancelled", items=detail)
        raise
    except Exception as exc:
        summary = {"error": str(exc) or type(exc).__name__, "items_done": len(detail)}
        record_run(**stored, summary=summary, status="failed", items=detail)
        raise
    return record_run(**stored, summary=summary, status="complete", items=detail)


@dataclass(frozen=True)
class EvalJob:
    """A data set read and checked, with its settings: ready to run on any model. Preparing
    before a model loads means a bad file is reported in a moment, not after a minute of loading."""

    kind: str  # "ppl", "mc" or "gen"
    data: Path
    settings: PerplexitySettings | MCSettings | GenSettings
    payload: Sequence  # the documents, subjects or question/answer pairs
    sha256: str  # of the data as read, stored with the result
    documents: "DocumentIndex | None" = None  # a generation job's documents (settings.docs)

    def plain_and_grounded(self) -> list["EvalJob"]:
        """This job alone; for one grounded in documents, the same questions asked first without
        them and then with them, so every variant is measured both ways on identical data."""
        if self.documents is None:
            return [self]
        assert isinstance(self.settings, GenSettings)
        return [replace(self, settings=replace(self.settings, docs=None), documents=None), self]

    def run(
        self,
        scorer: Scorer,
        tokenizer,
        *,
        model_id: str,
        adapter_id: str | None = None,
        progress: Progress | None = None,
    ) -> RunRecord:
        progress = progress or Progress()
        settings = self.settings
        if isinstance(settings, PerplexitySettings):
            # Stored with the window and stride actually used, not "default".
            settings = PerplexitySettings(*settings.resolve(scorer.context_length))
            documents = tokenize_documents(tokenizer, self.payload)

            def compute(detail: list[dict]) -> dict:
                return perplexity(scorer, documents, settings, progress, detail)

        elif isinstance(settings, MCSettings):
            letter_token_ids(tokenizer)  # a tokenizer that cannot spell A-D fails before anything is stored

            def compute(detail: list[dict]) -> dict:
                return score_multiple_choice(scorer, tokenizer, self.payload, settings, progress, detail)

        else:
            settings = settings.resolve(tokenizer)

            def compute(detail: list[dict]) -> dict:
                return score_generation(
                    scorer, tokenizer, self.payload, settings, progress, detail, self.documents
                )

        return _execute(self, scorer, model_id, adapter_id, settings.to_json(), compute)


def prepare_perplexity(data: Path, settings: PerplexitySettings | None = None) -> EvalJob:
    """Perplexity of a text file or a folder of documents; one item per document."""
    return EvalJob("ppl", data, settings or PerplexitySettings(), read_documents(data), dataset_sha256(data))


def prepare_multiple_choice(
    data: Path, settings: MCSettings | None = None, dev: Path | None = None
) -> EvalJob:
    """Accuracy on a C-Eval/MMLU-style file or folder; one item per question."""
    settings = settings or MCSettings()
    subjects = load_mc_dataset(data, dev=dev, shots=settings.shots, language=settings.language)
    return EvalJob("mc", data, settings, subjects, dataset_sha256(data))


def prepare_generation(
    data: Path, settings: GenSettings | None = None, progress: Progress | None = None
) -> EvalJob:
    """Exact match, ROUGE-L and containment of greedy replies; one item per pair, with the reply.
    With `settings.docs`, the documents' index is opened (built the first time, with `progress`)
    and a path is stored absolute, so the run says which files it was grounded in."""
    from llamadesk.core.corpus.store import list_corpora
    from llamadesk.core.grounding.index import open_index

    settings = settings or GenSettings()
    items = read_qa_file(data)
    documents = None
    if settings.docs is not None:
        documents = open_index(settings.docs, progress)
        if not any(c.id == settings.docs for c in list_corpora()):
            settings = replace(settings, docs=str(Path(settings.docs).expanduser().resolve()))
    return EvalJob("gen", data, settings, items, dataset_sha256(data), documents)
