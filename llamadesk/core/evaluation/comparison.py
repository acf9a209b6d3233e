"""Several variants of one model scored on one prepared job, with the model loaded once: the base
and its adapters, each (for a generation job grounded in documents) without and with the documents.

This is the four-way comparison the CLI's `eval gen --adapter A --docs D` and the Evaluate panel
run: base, base + documents, adapter, adapter + documents, on the same questions, so a user can see
whether retrieval, training or both make a model answer from their own material. Every run is
stored as it finishes, so a stop keeps the variants already scored."""

from collections.abc import Sequence

from llamadesk.core.evaluation import EvalJob
from llamadesk.core.evaluation.report import Variant, documents_name
from llamadesk.core.evaluation.results import RunRecord
from llamadesk.core.evaluation.scorers import scorer_for
from llamadesk.core.progress import Progress


def run_variants(
    model_id: str, adapters: Sequence[str | None], job: EvalJob, progress: Progress
) -> list[RunRecord]:
    """Score `job` on each adapter of `model_id` (None: the bare base), without and with documents
    when the job has them; returns the stored runs in the order run. Runs on the caller's thread.

    The model runs where the chat runs it (`SwitchingEngine`): a GGUF file on llama.cpp as it is
    mapped, so a model that chats on a laptop can be evaluated on it too."""
    from llamadesk.core.engines import SwitchingEngine

    # The bare base first, before an adapter wraps the model: the torch engine switches adapters
    # off only around its own replies, so a base scored after them would not be the base.
    ordered = sorted(adapters, key=lambda adapter: adapter is not None)
    runs = [(adapter, each) for adapter in ordered for each in job.plain_and_grounded()]
    engine = SwitchingEngine()
    tokenizers: dict = {}
    try:
        engine.load(model_id, progress.sub(0.0, 0.1))
        span = 0.9 / len(runs)
        records = []
        for index, (adapter, each) in enumerate(runs):
            name = Variant(model_id, adapter, documents_name(each.settings.to_json())).label
            step = progress.sub(0.1 + index * span, 0.1 + (index + 1) * span)
            labelled = Progress(
                lambda f, m, name=name, step=step: step(f, f"{name}: {m}" if m else name), progress.cancel
            )
            if adapter is not None and engine.active_adapter != adapter:
                engine.set_adapter(adapter)
            scorer, tokenizer = scorer_for(engine, tokenizers)
            records.append(
                each.run(scorer, tokenizer, model_id=model_id, adapter_id=adapter, progress=labelled)
            )
        return records
    finally:
        engine.unload()
