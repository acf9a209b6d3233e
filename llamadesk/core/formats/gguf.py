"""GGUF files: kept as they are for llama.cpp, read by header for everything else.

A GGUF model enters the library as its own file (llama.cpp maps it into memory and runs its
quantised blocks directly), beside a few kilobytes of Hugging Face side files derived from its
metadata: `config.json` and the tokenizer. Those let the torch side (training, evaluation, the
fallback engine) read the model's shape and tokenise without touching the weights; when torch does
need the weights, `load_into` dequantises them one tensor at a time straight into the model, so a
run never holds the file's weights twice."""

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadesk.core.errors import InvalidModelError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

log = logging.getLogger(__name__)

SUPPORTED_GGUF_ARCHITECTURES = {"llama", "mistral"}
GGUF_MAGIC = b"GGUF"
# Tensors some converters store that are no model parameter (precomputed RoPE factors).
_NOT_PARAMETERS = ("rope_freqs.weight",)
# GGUF tensor names → Hugging Face Llama names ({} is the layer index).
_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


@dataclass(frozen=True)
class TensorHeader:
    name: str
    shape: tuple[int, ...]  # (rows, columns), numpy order
    type: str  # GGML type name: "Q4_1", "Q4_K", "F32", ...
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFSummary:
    """What the library records of a GGUF file, read from its header alone."""

    architecture: str
    tensors: list[TensorHeader]
    fields: dict[str, Any]  # scalar metadata (no token lists)

    @property
    def parameters(self) -> int:
        return sum(t.n_elements for t in self.tensors if t.name not in _NOT_PARAMETERS)

    @property
    def main_type(self) -> str:
        """The type that holds most weights: what a user calls the file's quantisation."""
        elements: dict[str, int] = {}
        for tensor in self.tensors:
            elements[tensor.type] = elements.get(tensor.type, 0) + tensor.n_elements
        return max(elements, key=elements.__getitem__, default="F32")


def is_gguf(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def _reader(path: Path) -> Any:
    from gguf import GGUFReader

    try:
        return GGUFReader(str(path))
    except ValueError as exc:  # the reader maps every tensor: one cut short does not fit its shape
        raise InvalidModelError(
            _("{path} is damaged or incomplete ({exc}); copy it again.").format(path=path.name, exc=exc)
        ) from exc
    except (KeyError, IndexError, OSError) as exc:
        raise InvalidModelError(
            _("{path} is not a readable GGUF file ({exc}).").format(path=path.name, exc=exc)
        ) from exc


def _field_value(field: Any) -> Any:
    """A scalar or string metadata value; None for arrays (token lists, merges)."""
    from gguf import GGUFValueType

    if not field.types or field.types[0] == GGUFValueType.ARRAY:
        return None
    value = field.parts[field.data[0]]
    if field.types[0] == GGUFValueType.STRING:
        return bytes(value).decode("utf-8", errors="replace")
    return value.tolist()[0]


def read_summary(path: Path) -> GGUFSummary:
    """Architecture, tensor table and scalar metadata, with every tensor checked to lie inside the
    file: a truncated download is refused here, in milliseconds, not half-way through a chat."""
    reader = _reader(path)
    size = path.stat().st_size
    tensors = []
    for tensor in reader.tensors:
        end = int(tensor.data_offset) + int(tensor.n_bytes)
        if end > size:
            raise InvalidModelError(
                _(
                    "{path} is truncated: it holds {size:,} bytes but its tensors need {needed:,}; "
                    "copy it again."
                ).format(path=path.name, size=size, needed=end)
            )
        shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
        tensors.append(
            TensorHeader(
                tensor.name, shape, tensor.tensor_type.name, int(tensor.n_elements), int(tensor.n_bytes)
            )
        )
    fields = {name: _field_value(field) for name, field in reader.fields.items()}
    fields = {name: value for name, value in fields.items() if value is not None}
    architecture = fields.get("general.architecture")
    if not isinstance(architecture, str):
        raise InvalidModelError(
            _("{path} is not a readable GGUF file ({exc}).").format(
                path=path.name, exc="no general.architecture"
            )
        )
    return GGUFSummary(architecture, tensors, fields)


def check_architecture(path: Path, summary: GGUFSummary) -> None:
    if summary.architecture not in SUPPORTED_GGUF_ARCHITECTURES:
        raise InvalidModelError(
            _(
                "{src} is a '{architecture}' model; LlamaDesk imports Llama-family GGUF files ({supported})."
            ).format(
                src=path.name,
                architecture=summary.architecture,
                supported=", ".join(sorted(SUPPORTED_GGUF_ARCHITECTURES)),
            )
        )


def torch_precision(main_type: str) -> str:
    """The CPU quantisation the torch engine uses for a GGUF file whose weights are `main_type`.

    Only the fallback engine needs it (llama.cpp runs the file's own blocks): holding the
    dequantised weights at the file's own precision loses nothing they had not already lost (the
    starter, Q4_1: perplexity 19.45 at int4 vs 19.48 in fp32) and keeps speed and memory."""
    if main_type.startswith(("Q2", "Q3", "Q4", "IQ1", "IQ2", "IQ3", "IQ4", "TQ")):
        return "int4"
    if main_type.startswith(("Q5", "Q6", "Q8")):
        return "int8"
    return "none"


@contextlib.contextmanager
def _quiet_transformers() -> Any:
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def write_side_files(src: Path, dest: Path) -> None:
    """Write `config.json` and the tokenizer files for the GGUF `src` into `dest` (no weights)."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(src.parent, gguf_file=src.name)
            tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise InvalidModelError(
            _("{src} could not be read as a GGUF model ({exc}).").format(src=src.name, exc=exc)
        ) from exc
    with contextlib.suppress(AttributeError):
        del config.quantization_config
    config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def verify_runs(path: Path) -> bool:
    """Run one short forward pass through llama.cpp; False when llama.cpp is not installed.

    A file whose header is whole can still hold blocks llama.cpp rejects (a type newer than the
    build) or weights that give NaN: refused at import rather than in the middle of a chat."""
    try:
        import llama_cpp
    except ImportError:
        return False
    import numpy as np

    try:
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_batch=16, n_threads=2, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise InvalidModelError(
            _("llama.cpp cannot run {path} ({exc}).").format(path=path.name, exc=exc)
        ) from exc
    try:
        tokens = llm.tokenize("Hello, world. 你好，世界。".encode(), add_bos=True)[:16]
        llm.eval(tokens)
        logits = np.asarray(llm.scores[len(tokens) - 1])
    finally:
        llm.close()
    if not np.isfinite(logits).all():
        raise InvalidModelError(
            _("The model in {folder} loads but gives invalid outputs; it is damaged.").format(
                folder=path.name
            )
        )
    return True


def _hf_name(name: str) -> str | None:
    base, _dot, suffix = name.rpartition(".")  # "blk.3.attn_q", "weight"
    parts = base.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in _LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}.{suffix}"
    if base in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[base]}.{suffix}"
    return None


def hf_shapes(summary: GGUFSummary) -> dict[str, list[int]]:
    """The tensor table under Hugging Face names (what adapters and parameter counts read)."""
    shapes = {}
    for tensor in summary.tensors:
        name = _hf_name(tensor.name)
        if name is not None:
            shapes[name] = list(tensor.shape)
    return shapes


def unpermute_rows(weight: Any, heads: int) -> Any:
    """Undo the row order llama.cpp's converter gives q and k for its RoPE kernel.

    The converter interleaves the two halves of each head's rotary dimensions; Hugging Face keeps
    them as halves. weight: (heads × head_dim, in) numpy array."""
    rows = weight.shape[0]
    # (heads, 2, head_dim/2, in) in HF order was written as (heads, head_dim/2, 2, in).
    return (
        weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def load_into(model: Any, path: Path, progress: Progress) -> None:
    """Fill a Llama model's parameters from the GGUF file, dequantising one tensor at a time.

    The model must have been built from this file's config; its weights may be uninitialised.
    Peak memory is the model itself plus one tensor in fp32."""
    import torch
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    reader = _reader(path)
    heads = model.config.num_attention_heads
    kv_heads = model.config.num_key_value_heads or heads
    params = dict(model.named_parameters())
    filled: set[str] = set()
    tensors = [t for t in reader.tensors if t.name not in _NOT_PARAMETERS]
    for index, tensor in enumerate(tensors):
        progress(index / max(len(tensors), 1), _("Reading weights"))
        name = _hf_name(tensor.name)
        if name is None or name not in params:
            raise InvalidModelError(
                _("{path} holds a tensor LlamaDesk does not know ({name}).").format(
                    path=path.name, name=tensor.name
                )
            )
        values = dequantize(tensor.data, GGMLQuantizationType(tensor.tensor_type))
        values = values.reshape(params[name].shape)  # (rows, columns) or (columns,)
        if not values.flags.writeable:  # float tensors come back as views of the mapped file
            values = values.copy()
        if name.endswith("q_proj.weight"):
            values = unpermute_rows(values, heads)
        elif name.endswith("k_proj.weight"):
            values = unpermute_rows(values, kv_heads)
        with torch.no_grad():
            params[name].copy_(torch.from_numpy(values))
        filled.add(name)
    missing = [
        n
        for n in params
        if n not in filled and not (n == "lm_head.weight" and model.config.tie_word_embeddings)
    ]
    if missing:
        raise InvalidModelError(
            _("{path} is incomplete: it has no tensor for {name}.").format(path=path.name, name=missing[0])
        )
    progress(1.0, _("Weights ready"))


def build_model(folder: Path, gguf_path: Path, dtype: Any, progress: Progress, **kwargs: Any) -> Any:
    """A transformers Llama with the GGUF file's weights, dequantised in memory to `dtype`."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    config = AutoConfig.from_pretrained(folder)
    with no_init_weights():  # every weight comes from the file: random init would be wasted work
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, **kwargs)
    load_into(model, gguf_path, progress)
    if config.tie_word_embeddings:
        model.tie_weights()
    return model


def write_hf_folder(src: Path, dest: Path, progress: Progress) -> None:
    """A complete float32 Hugging Face folder for the GGUF `src` in the empty folder `dest`."""
    import torch

    write_side_files(src, dest)
    model = build_model(dest, src, torch.float32, progress.sub(0.0, 0.8))
    progress(0.8, _("Writing safetensors"))
    model.save_pretrained(dest)
    progress(1.0, _("Converted"))


def copy_and_hash(src: Path, dest: Path | None, progress: Progress) -> str:
    """The file's sha256 (what identifies a GGUF base for its adapters), copying it to `dest` in
    the same pass when given: a multi-gigabyte file is read once. The caller's staging folder makes
    the copy atomic."""
    import hashlib

    size = src.stat().st_size or 1
    digest = hashlib.sha256()
    done = 0
    message = _("Copying {path}").format(path=src.name) if dest else _("Hashing weights")
    with open(src, "rb") as reader, open(dest, "wb") if dest else contextlib.nullcontext() as writer:
        while chunk := reader.read(16 * 1024 * 1024):
            digest.update(chunk)
            if writer is not None:
                writer.write(chunk)
            done += len(chunk)
            progress(done / size, message)
        if writer is not None:
            writer.flush()
            os.fsync(writer.fileno())
    return digest.hexdigest()
