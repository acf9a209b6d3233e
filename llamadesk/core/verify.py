"""Proof that a model folder works: load it and run one forward pass, before it joins the library."""

from pathlib import Path

from llamadesk.core.errors import InvalidModelError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress


def verify_model(folder: Path, progress: Progress) -> dict:
    """Load the model and tokenizer, run a forward pass; return what the library records.

    A conversion bug or a corrupt tensor shows up here as an error or non-finite logits, not later
    in the middle of a chat."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress(0.0, _("Loading model to verify it"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype="auto")
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise InvalidModelError(
            _("The model in {folder} does not load ({exc}).").format(folder=folder.name, exc=exc)
        ) from exc
    progress(0.6, _("Running a test forward pass"))
    ids = tokenizer("Hello, world. 你好，世界。", return_tensors="pt").input_ids[:, :16]
    with torch.inference_mode():
        logits = model(ids).logits  # (1, seq, vocab)
    if logits.shape[-1] < len(tokenizer) - 1024 or not torch.isfinite(logits).all():
        raise InvalidModelError(
            _("The model in {folder} loads but gives invalid outputs; it is damaged.").format(
                folder=folder.name
            )
        )
    counted = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    progress(1.0, _("Verified"))
    return {
        "architecture": type(model).__name__,
        "dtype": str(model.dtype).removeprefix("torch."),
        "counted_parameters": counted,
        "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
    }
