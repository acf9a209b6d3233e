"""GGUF import: dequantise a llama.cpp model file into a Hugging Face folder.

transformers does the dequantisation; we add an architecture check before the slow part, real
progress and cancel during it, and a dtype that fits this machine's memory."""

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from llamadesk.core.errors import InvalidModelError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

SUPPORTED_GGUF_ARCHITECTURES = {"llama", "mistral"}
GGUF_MAGIC = b"GGUF"
_patch_lock = threading.Lock()


def is_gguf(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def gguf_architecture(path: Path) -> str:
    """Read `general.architecture` from the GGUF metadata (memory-mapped, no tensors read)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except (KeyError, ValueError, IndexError, OSError) as exc:
        raise InvalidModelError(
            _("{path} is not a readable GGUF file ({exc}).").format(path=path.name, exc=exc)
        ) from exc


def gguf_weight_precision(path: Path) -> str:
    """The CPU quantisation that matches the file's own weights: "int4", "int8" or "none".

    A GGUF file is usually already quantised, and its user ran it that way in llama.cpp. Holding
    the dequantised weights as int4 (or int8) again loses nothing they had not already lost (the
    starter, Q4_1: perplexity 19.45 at int4 vs 19.48 in fp32) and keeps the speed and memory they
    had: float32 would read 5x more bytes for every token. Decided by the type that holds most
    weights; the file's tensor headers are read, not its data."""
    from gguf import GGUFReader

    elements: dict[str, int] = {}
    for tensor in GGUFReader(str(path)).tensors:
        name = tensor.tensor_type.name
        elements[name] = elements.get(name, 0) + int(tensor.n_elements)
    dominant = max(elements, key=elements.__getitem__, default="F32")
    if dominant.startswith(("Q2", "Q3", "Q4", "IQ1", "IQ2", "IQ3", "IQ4", "TQ")):
        return "int4"
    if dominant.startswith(("Q5", "Q6", "Q8")):
        return "int8"
    return "none"


def _total_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 1024**3


@contextlib.contextmanager
def _tensor_progress(progress: Progress) -> Iterator[None]:
    """transformers walks the GGUF tensors through `tqdm`; swap it for our progress (and cancel)
    for the duration of the load. One import at a time holds the lock."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    def tracked(items: Iterable, **_kwargs) -> Iterator:
        items = list(items)
        for index, item in enumerate(items):
            progress(index / max(len(items), 1), _("Dequantising tensors"))
            yield item

    with _patch_lock:
        original = gguf_utils.tqdm
        gguf_utils.tqdm = tracked
        try:
            yield
        finally:
            gguf_utils.tqdm = original


def convert_gguf(src: Path, dest: Path, progress: Progress) -> None:
    """Write a Hugging Face folder for the GGUF file `src` into the empty folder `dest`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress(0.0, _("Reading GGUF metadata"))
    architecture = gguf_architecture(src)
    if architecture not in SUPPORTED_GGUF_ARCHITECTURES:
        raise InvalidModelError(
            _(
                "{src} is a '{architecture}' model; LlamaDesk imports Llama-family GGUF files ({supported})."
            ).format(
                src=src.name,
                architecture=architecture,
                supported=", ".join(sorted(SUPPORTED_GGUF_ARCHITECTURES)),
            )
        )
    # fp32 keeps dequantised weights exact; a model whose fp32 copy would crowd memory gets bf16.
    fp32_bytes = src.stat().st_size * 8  # 4-bit files hold ~0.5 byte a weight
    dtype = torch.float32 if fp32_bytes < 0.4 * _total_memory_bytes() else torch.bfloat16
    try:
        progress(0.05, _("Reading tokenizer"))
        tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        with _tensor_progress(progress.sub(0.25, 0.85)):
            model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=dtype)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise InvalidModelError(
            _("{src} could not be read as a GGUF model ({exc}).").format(src=src.name, exc=exc)
        ) from exc
    # The dequantised weights are plain tensors now; without this transformers refuses to save.
    model.hf_quantizer = None
    with contextlib.suppress(AttributeError):
        del model.config.quantization_config
    progress(0.9, _("Writing safetensors"))
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    progress(1.0, _("Converted"))
