"""Merge a LoRA adapter into its base: a new complete library model with its lineage recorded.

The merged model runs without PEFT, anywhere a plain Hugging Face model runs, and is the base a
next adapter is trained on (e.g. a Chinese pre-training adapter merged, then an SFT adapter on top).
A base that chatted through llama.cpp gives a merged model that does too: a GGUF is written beside
the float weights, at the precision nearest the base's own file."""

import logging
import shutil
from pathlib import Path

from llamadesk.core import adapters, library
from llamadesk.core.errors import IncompatibleAdapterError, InvalidModelError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

# Files of the base that a merged model must not inherit: weights (the merged ones replace them),
# the config and generation config (written fresh), and the library's own manifest.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
_NOT_INHERITED = {"config.json", "generation_config.json", "model.safetensors.index.json", library.MANIFEST}
log = logging.getLogger(__name__)


def _copy_side_files(base_path: Path, adapter_path: Path, dest: Path) -> None:
    """Tokenizer, licence and readme from the base; the adapter's own tokenizer wins, because an
    adapter that added tokens ships the tokenizer that knows them."""
    for path in sorted(base_path.iterdir()):
        if (
            path.is_file()
            and not path.name.startswith(".")
            and path.suffix not in _WEIGHT_SUFFIXES
            and path.name not in _NOT_INHERITED
            and not (dest / path.name).exists()
        ):
            shutil.copy2(path, dest / path.name)
    adapter_tokenizer = [n for n in adapters.TOKENIZER_FILES if (adapter_path / n).is_file()]
    if any(n in ("tokenizer.json", "tokenizer.model") for n in adapter_tokenizer):
        for name in adapters.TOKENIZER_FILES:
            (dest / name).unlink(missing_ok=True)
        for name in adapter_tokenizer:
            shutil.copy2(adapter_path / name, dest / name)


def chat_type(base: library.ModelEntry) -> str:
    """The GGUF type a merged model chats in: the base file's own where LlamaDesk writes it, else
    q4_1 for 2-4-bit files (K-quants among them: a similar size) and q8_0 for the rest."""
    own = (base.manifest.get("gguf_type") or base.manifest.get("dtype") or "").lower()
    if own in ("q4_0", "q4_1", "q8_0", "f16"):
        return own
    return "q4_1" if own.startswith(("q2", "q3", "q4", "iq")) else "q8_0"


def merge_adapter(adapter_id: str, name: str, progress: Progress | None = None) -> library.ModelEntry:
    """Fold adapter `adapter_id` into its base's weights and register the result as model `name`.

    The merge runs and is saved in float32: a LoRA update is often smaller than the rounding step of
    bf16 weights, so merging into bf16 would quietly lose part of what the adapter learned. The
    merged model reproduces the base-plus-adapter logits to float32 rounding."""
    progress = progress or Progress()
    entry = adapters.get_adapter(adapter_id)
    base = library.get_model(entry.base_id)
    adapters.check_compatible(entry, base)
    adapters.check_intact(entry)
    library.check_intact(base)
    library.validate_id(name)

    def build(staging: Path, step: Progress) -> None:
        import torch
        from peft import PeftModel

        step(0.0, _("Loading {base}").format(base=base.id))
        try:
            model = library.load_causal_lm(base, torch.float32)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise InvalidModelError(
                _("'{base}' could not be loaded ({exc}).").format(base=base.id, exc=exc)
            ) from exc
        vocab = entry.manifest.get("vocab_size")
        if vocab and vocab != model.get_input_embeddings().weight.shape[0]:
            # The adapter carries the embedding rows of the tokens it added; make room for them.
            model.resize_token_embeddings(vocab, mean_resizing=False)
        step(0.4, _("Applying {entry}").format(entry=entry.id))
        try:
            peft_model = PeftModel.from_pretrained(model, str(entry.path))
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            log.warning("adapter %s does not load", entry.id, exc_info=exc)
            raise IncompatibleAdapterError(
                _(
                    "The adapter '{entry}' could not be applied to '{base}'; remove it and import it again."
                ).format(entry=entry.id, base=base.id)
            ) from exc
        step(0.6, _("Merging"))
        merged = peft_model.merge_and_unload()
        step(0.7, _("Saving {name}").format(name=name))
        merged.save_pretrained(staging)
        _copy_side_files(base.path, entry.path, staging)
        if base.gguf_path is not None:
            from llamadesk.core.formats.gguf_export import export_gguf

            qtype = chat_type(base)
            step(0.8, _("Writing a {qtype} GGUF for chat").format(qtype=qtype))
            export_gguf(staging, staging / f"chat-{qtype}.gguf", qtype, step.sub(0.8, 1.0))
            manifest.update(gguf=f"chat-{qtype}.gguf", gguf_type=qtype)
        step(1.0, _("Merged"))

    manifest = {
        "source": f"{entry.id} merged into {base.id}",
        "format": "merged",
        "lineage": {
            "base": base.id,
            "base_sha256": base.manifest.get("sha256"),
            "adapter": entry.id,
            "adapter_kind": entry.manifest.get("kind"),
            "adapter_data_summary": entry.manifest.get("data_summary"),
            # The base's own lineage, so a chain (base -> merged -> merged again) stays readable.
            "base_lineage": base.manifest.get("lineage"),
        },
    }
    return library.register_model_folder(name, build, manifest, progress, _merged_bytes(base))


def _merged_bytes(base: library.ModelEntry) -> int | None:
    """What a merge writes: the weights in float32, and a GGUF for chat where the base has one."""
    from llamadesk.core.formats.gguf import type_sizes

    parameters = int(base.manifest.get("counted_parameters") or 0)
    if not parameters:
        return None
    needed = parameters * 4
    if base.gguf_path is not None:
        block, size = type_sizes(chat_type(base).upper())
        needed += parameters * size // block
    return needed
