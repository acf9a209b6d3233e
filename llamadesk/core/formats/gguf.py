"""GGUF files: kept as they are for llama.cpp, read by header for everything else.

A GGUF model enters the library as its own file (llama.cpp maps it into memory and runs its
quantised blocks directly), beside a few kilobytes of Hugging Face side files derived from its
metadata: `config.json` and the tokenizer. Those let the torch side (training, evaluation, the
fallback engine) read the model's shape and tokenise without touching the weights; when torch does
need the weights, `load_into` dequantises them one tensor at a time straight into the model, so a
run never holds the file's weights twice."""

import contextlib
import logging
import math
import mmap
import os
import struct
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
    """One tensor of a GGUF file, or of one described without a file (memory_plan.llama_tensors)."""

    name: str  # GGUF name, e.g. "blk.0.attn_q.weight"
    # numpy order, (rows, columns): GGUF lists dimensions innermost first, this is that list
    # reversed, as numpy, torch and Hugging Face shape the same weight. Blocks run along rows.
    shape: tuple[int, ...]
    type: str  # GGML type name: "Q4_1", "Q4_K", "F32", ...
    offset: int = 0  # where its data starts in the file, in bytes; 0 for a described tensor

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def n_bytes(self) -> int:
        return tensor_bytes(self.shape, self.type)


@dataclass(frozen=True)
class GGUFSummary:
    """What the library records of a GGUF file, read from its header alone."""

    architecture: str
    tensors: list[TensorHeader]
    # Scalar and string metadata, and numeric arrays of up to _SHORT_ARRAY values (per-layer head
    # counts); no token lists or merges.
    fields: dict[str, Any]
    data_offset: int = 0  # where the tensor data starts: the header's size, alignment included

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


def type_sizes(type_name: str) -> tuple[int, int]:
    """(weights per block, bytes per block) of a GGML type such as "Q4_K", from gguf itself."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    except KeyError:
        raise ValueError(f"unknown GGML type {type_name!r}") from None


def tensor_bytes(shape: tuple[int, ...], type_name: str) -> int:
    """Exact bytes of a tensor of `shape` (numpy order): blocks run along its rows, the last axis."""
    block, size = type_sizes(type_name)
    if shape and shape[-1] % block:
        raise ValueError(f"a {type_name} row must hold whole blocks of {block}, not {shape[-1]} values")
    return math.prod(shape) // block * size


def is_gguf(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == GGUF_MAGIC


# GGUF metadata value types (gguf.GGUFValueType) of fixed size, as struct formats.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_SHORT_ARRAY = 4096  # numeric arrays up to this long are kept (per-layer head counts); longer skipped
_MAX_DIMS = 4  # GGML_MAX_DIMS
_SKIPPED = object()  # a value read past but not kept


class _HeaderWalk:
    """The metadata and tensor table of a (little-endian, version 2 or 3) GGUF file, walked in
    place in a memory map. gguf.GGUFReader reads the same, but builds numpy views of every
    vocabulary string and merge on the way (3 s for the starter's 49 152 tokens and 48 900
    merges, far longer for Llama 3's 128 256 and 280 147); here a skipped string costs one length.
    Any inconsistency (a length past the end, an unknown type) raises ValueError or struct.error."""

    def __init__(self, buf: Any) -> None:
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def skip(self, n: int) -> None:
        self.pos += n
        if self.pos > len(self.buf):
            raise ValueError("the header runs past the end of the file")

    def string(self) -> str:
        (length,) = self.unpack("<Q")
        self.skip(length)
        return bytes(self.buf[self.pos - length : self.pos]).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        """The value of type `vtype` at the position, or _SKIPPED for an array not worth keeping."""
        if vtype in _SCALARS:
            return self.unpack("<" + _SCALARS[vtype])[0]
        if vtype == _STRING:
            return self.string()
        if vtype != _ARRAY:
            raise ValueError(f"unknown metadata type {vtype}")
        etype, count = self.unpack("<IQ")
        if etype in _SCALARS:
            size = struct.calcsize("<" + _SCALARS[etype])
            if count > _SHORT_ARRAY:
                self.skip(count * size)
                return _SKIPPED
            values = list(struct.unpack_from(f"<{count}{_SCALARS[etype]}", self.buf, self.pos))
            self.skip(count * size)
            return values
        for _i in range(count):  # strings (tokens, merges) or nested arrays: stepped over
            if etype == _STRING:
                (length,) = self.unpack("<Q")
                self.skip(length)
            else:
                self.value(etype)
        return _SKIPPED

    def read(self) -> tuple[dict[str, Any], list[TensorHeader], int]:
        from gguf import GGMLQuantizationType

        if bytes(self.buf[:4]) != GGUF_MAGIC:
            raise ValueError("it does not start with GGUF")
        self.pos = 4
        version, n_tensors, n_kv = self.unpack("<IQQ")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not one LlamaDesk reads")
        fields: dict[str, Any] = {
            "GGUF.version": version,
            "GGUF.tensor_count": n_tensors,
            "GGUF.kv_count": n_kv,
        }
        for _i in range(n_kv):
            key = self.string()
            (vtype,) = self.unpack("<I")
            value = self.value(vtype)
            if value is not _SKIPPED:
                fields[key] = value
        table = []
        for _i in range(n_tensors):
            name = self.string()
            (n_dims,) = self.unpack("<I")
            if n_dims > _MAX_DIMS:
                raise ValueError(f"tensor {name} has {n_dims} dimensions")
            dims = self.unpack(f"<{n_dims}Q")
            ggml_type, offset = self.unpack("<IQ")
            table.append((name, tuple(reversed(dims)), GGMLQuantizationType(ggml_type).name, offset))
        alignment = fields.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"alignment {alignment!r} is not a power of two")
        data_offset = -(-self.pos // alignment) * alignment
        tensors = [TensorHeader(n, s, t, data_offset + o) for n, s, t, o in table]
        if len({t.name for t in tensors}) != len(tensors):
            raise ValueError("two tensors have the same name")
        return fields, tensors, data_offset


def read_summary(path: Path) -> GGUFSummary:
    """Architecture, tensor table and metadata, with every tensor checked to lie inside the file: a
    truncated download is refused here, in milliseconds, not half-way through a chat. No tensor
    data is read (the file is mapped; only the header's pages are touched)."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size < 24:  # magic, version and the two counts
                raise ValueError("it is shorter than a GGUF header")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                fields, tensors, data_offset = _HeaderWalk(buf).read()
                size = len(buf)
        ends = [t.offset + t.n_bytes for t in tensors]  # n_bytes: ValueError for a row of part blocks
    except (ValueError, OSError, struct.error, OverflowError, MemoryError) as exc:
        raise InvalidModelError(
            _("{path} is not a readable GGUF file ({exc}).").format(path=path.name, exc=exc)
        ) from exc
    needed = max(ends, default=data_offset)
    if needed > size:
        raise InvalidModelError(
            _(
                "{path} is truncated: it holds {size:,} bytes but its tensors need {needed:,}; copy it again."
            ).format(path=path.name, size=size, needed=needed)
        )
    architecture = fields.get("general.architecture")
    if not isinstance(architecture, str):
        raise InvalidModelError(
            _("{path} is not a readable GGUF file ({exc}).").format(
                path=path.name, exc="no general.architecture"
            )
        )
    return GGUFSummary(architecture, tensors, fields, data_offset)


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


# What the steps of a GGUF import take, in seconds, measured on the starter (a 49k-token vocabulary,
# 272 tensors) on two busy cores. Their ratio gives each step its share of the progress bar, and
# within a step that reports nothing itself (a library call) the bar creeps on at that pace.
_READER_S = 3.0  # importing transformers, once a process
_CONFIG_S = 3.5  # transformers parses the whole header, vocabulary included, for the config...
_TOKENIZER_S = 3.5  # ...and again for the tokenizer, which it then converts
_SAVE_S = 0.2
_TEST_RUN_S = 2.0  # llama.cpp maps the file and runs 16 tokens, plus reading the file:
_TEST_RUN_BYTES_PER_S = 500e6


def side_files_seconds() -> float:
    """About how long `write_side_files` takes, for the caller to size its share of the bar."""
    import sys

    reader = 0.0 if "transformers" in sys.modules else _READER_S
    return reader + _CONFIG_S + _TOKENIZER_S + _SAVE_S


def test_run_seconds(path: Path) -> float:
    """About how long `verify_runs` takes on `path`."""
    return _TEST_RUN_S + path.stat().st_size / _TEST_RUN_BYTES_PER_S


@contextlib.contextmanager
def _creeping(progress: Progress, message: str, expected_s: float) -> Any:
    """Report `progress` on a timer while a call that reports nothing itself runs: linear up to 90 %
    at `expected_s`, then ever slower towards 98 %, so the bar moves with the work without ever
    claiming it done. Reports a cancel only through the caller's next own report."""
    import threading
    import time

    from llamadesk.core.errors import Cancelled

    done = threading.Event()
    started = time.monotonic()

    def creep() -> None:
        while not done.wait(0.25):
            elapsed = time.monotonic() - started
            if elapsed < expected_s:
                fraction = 0.9 * elapsed / expected_s
            else:
                fraction = 0.9 + 0.08 * (1 - math.exp(-(elapsed - expected_s) / expected_s))
            with contextlib.suppress(Cancelled):
                progress(fraction, message)

    progress(0.0, message)
    thread = threading.Thread(target=creep, name="progress-creep", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    progress(1.0, message)


def write_side_files(src: Path, dest: Path, progress: Progress | None = None) -> None:
    """Write `config.json` and the tokenizer files for the GGUF `src` into `dest` (no weights)."""
    progress = progress or Progress()
    total = side_files_seconds()
    reader_end = (total - _CONFIG_S - _TOKENIZER_S - _SAVE_S) / total
    config_end = reader_end + _CONFIG_S / total
    tokenizer_end = config_end + _TOKENIZER_S / total
    with _creeping(progress.sub(0.0, reader_end), _("Loading the tokenizer reader"), _READER_S):
        from transformers import AutoConfig, AutoTokenizer

    try:
        with _quiet_transformers():
            with _creeping(progress.sub(reader_end, config_end), _("Reading model settings"), _CONFIG_S):
                config = AutoConfig.from_pretrained(src.parent, gguf_file=src.name)
            with _creeping(progress.sub(config_end, tokenizer_end), _("Reading tokenizer"), _TOKENIZER_S):
                tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise InvalidModelError(
            _("{src} could not be read as a GGUF model ({exc}).").format(src=src.name, exc=exc)
        ) from exc
    progress(tokenizer_end, _("Writing tokenizer files"))
    with contextlib.suppress(AttributeError):
        del config.quantization_config
    config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    progress(1.0, _("Writing tokenizer files"))


def verify_runs(path: Path, progress: Progress | None = None) -> bool:
    """Run one short forward pass through llama.cpp; False when llama.cpp is not installed.

    A file whose header is whole can still hold blocks llama.cpp rejects (a type newer than the
    build) or weights that give NaN: refused at import rather than in the middle of a chat."""
    try:
        import llama_cpp
    except ImportError:
        return False
    import numpy as np

    with _creeping(progress or Progress(), _("Running a test forward pass"), test_run_seconds(path)):
        try:
            llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_batch=16, n_threads=2, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise InvalidModelError(
                _("llama.cpp cannot run {path} ({exc}).").format(path=path.name, exc=exc)
            ) from exc
        try:
            tokens = llm.tokenize("Hello, world. 你好，世界。".encode(), add_bos=True)[:16]
            llm.eval(tokens)
            # Only the last token's logits are kept (llm.scores is left unwritten without logits_all).
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(llm.n_vocab(),)).copy()
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
    Each tensor's bytes are read from the mapped file at the offset its header gives, and handed
    to gguf's own dequantiser shaped as gguf.GGUFReader would hand them: (rows, bytes per row).
    Peak memory is the model itself plus one tensor in fp32."""
    import numpy as np
    import torch
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    summary = read_summary(path)
    heads = model.config.num_attention_heads
    kv_heads = model.config.num_key_value_heads or heads
    params = dict(model.named_parameters())
    filled: set[str] = set()
    tensors = [t for t in summary.tensors if t.name not in _NOT_PARAMETERS]
    data = np.memmap(path, dtype=np.uint8, mode="r")
    for index, tensor in enumerate(tensors):
        progress(index / max(len(tensors), 1), _("Reading weights"))
        name = _hf_name(tensor.name)
        if name is None or name not in params:
            raise InvalidModelError(
                _("{path} holds a tensor LlamaDesk does not know ({name}).").format(
                    path=path.name, name=tensor.name
                )
            )
        raw = data[tensor.offset : tensor.offset + tensor.n_bytes].reshape(*tensor.shape[:-1], -1)
        values = dequantize(raw, GGMLQuantizationType[tensor.type])
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
    del data
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
