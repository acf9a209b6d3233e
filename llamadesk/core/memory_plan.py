"""How much RAM a model needs to chat and to train a LoRA, worked out before anything loads.

Everything comes from file headers, never from tensor data: a GGUF file's tensor table and
metadata (`formats.gguf.read_summary`), a Hugging Face folder's config.json and safetensors
headers, or a plain description of a model's tensors. So `models info` and the import dialog can
tell a user whether Llama-2-7B at Q4_K_M fits their 16 GB laptop before they wait for a load that
the OS would kill.

Chat runs on one of two engines (`core.engines.pick`):

- llama.cpp maps the GGUF file as it is, never dequantised. Its tensor bytes are counted as
  resident, because every weight is read for every token and so stays in the page cache. On top
  come the KV cache (f16 keys and values for every layer and every token of context), llama.cpp's
  compute buffer, and the runtime.
- the torch engine (float models, and GGUF models where llama.cpp is not installed) builds the
  model in fp32 (bf16 when fp32 would take more than half the RAM, as `core.engine` chooses) and
  then quantises its linear layers to the model's CPU setting (int8, int4, or none), so the load
  peaks at the float model and the chat holds the smaller one, plus a KV cache in the model's dtype
  and the torch runtime.

Training (torch/PEFT) holds the base in fp32 on a CPU, as the runner does (a GGUF base is
dequantised for the run only); `llamadesk.core.training.memory.estimate` adds the LoRA parameters,
their gradients and AdamW moments, activations and logits, as it does for any base.

The verdict compares each total with the computer's RAM less `OS_RESERVE_BYTES` for the system
and the window: a model that needs every byte of RAM is not one a user can run with a browser
open, and Linux starts killing (macOS and Windows start swapping) well before the last byte."""

import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from llamadesk.core import engines, library
from llamadesk.core.errors import InvalidModelError
from llamadesk.core.formats import gguf, hf
from llamadesk.core.formats.gguf import TensorHeader
from llamadesk.core.i18n import _
from llamadesk.core.params import breakdown_from_config
from llamadesk.core.training import memory as training_memory
from llamadesk.core.training.memory import MemoryEstimate
from llamadesk.core.training.spec import TrainSpec

GIB = 1024**3
MIB = 1024**2
# Kept free for the operating system, the desktop and the app's window: an assumption, not a
# measurement. 2 GiB is what a desktop Linux, macOS or Windows session holds with little open.
OS_RESERVE_BYTES = 2 * GIB
# Chat context: the model's trained context, capped as llama.cpp's engine caps it (its
# MAX_CONTEXT). Longer contexts are rare in a desktop chat and the KV cache grows with them
# (Llama-2-7B: 0.5 MiB per token, 4 GiB at 8192). The torch engine's cache grows with the
# conversation; the same cap says what a conversation of that length holds.
CHAT_CONTEXT_CAP = 8192
# llama.cpp's default batch (and micro-batch) of prompt tokens per forward pass.
CHAT_BATCH = 512
KV_BYTES_PER_VALUE = 2  # f16 keys and values, llama.cpp's default cache type
# The chat process before any model: Python with llama_cpp imported and its backend initialised
# measured 49 MiB of RSS (`measure_chat_runtime`, llama-cpp-python 0.3.36, Linux x86-64); 64 MiB
# leaves room for the sampler and the threads' stacks. The GUI's own widgets are not counted:
# they are there whether a model is loaded or not (OS_RESERVE_BYTES covers them).
CHAT_RUNTIME_BYTES = 64 * MIB
# What llama.cpp builds from the tokenizer when it loads: measured 23-25 MB for a 49152-token
# vocabulary with 48900 merges (about 490 bytes a token), rounded up. The torch engine's
# tokenizer is taken to hold as much.
VOCAB_BYTES_PER_TOKEN = 512
NORM_TYPE = "F32"  # llama.cpp never quantises 1-D tensors (norms, biases)
# The torch engine's quantised layers (core/quantize.py): int8 keeps one bf16 scale per output
# row; int4 packs two weights a byte with a bf16 scale and zero per group of INT4_GROUP inputs.
INT4_GROUP = 32
SCALE_BYTES = 2
# safetensors dtypes under their GGML names, for the bytes of a float model's tensors.
_SAFETENSORS_TYPES = {"F64": "F64", "F32": "F32", "F16": "F16", "BF16": "BF16", "I8": "I8", "I16": "I16",
                      "I32": "I32", "I64": "I64"}  # fmt: skip


# -- bytes per weight ---------------------------------------------------------------------------


def bytes_per_weight(type_name: str) -> float:
    """Average bytes per weight, scales included: Q4_0 0.5625, Q4_K 0.5625, Q6_K 0.8203, Q8_0 1.0625."""
    block, size = gguf.type_sizes(type_name)
    return size / block


# -- models -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelShape:
    """What the chat and training estimates need from a Llama-family model, file or not."""

    vocab: int
    hidden: int
    layers: int
    ffn: int  # SwiGLU intermediate size
    heads: int
    kv_heads: int
    context: int  # trained context length
    tied: bool = False  # the LM head shares the token embeddings (no output.weight)
    head_dim: int | None = None  # None: hidden // heads

    @property
    def dim_per_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def n_params(self) -> int:
        return breakdown_from_config(self.config()).total

    def config(self) -> dict:
        """As a Hugging Face Llama config, which `params` and `training.memory` read."""
        return {
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.ffn,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.dim_per_head,
            "max_position_embeddings": self.context,
            "tie_word_embeddings": self.tied,
        }


@dataclass(frozen=True)
class ModelDescription:
    shape: ModelShape
    tensors: tuple[TensorHeader, ...]
    header_bytes: int = 0  # the file's metadata and tensor table (mostly the tokenizer); 0 without a file
    source: str = ""  # the file or folder, or how the tensors were described ("Q4_K_M")
    format: str = "gguf"  # "gguf" (a file llama.cpp can map, or described as one) or "hf" (float)

    @property
    def weight_bytes(self) -> int:
        """Tensor data as stored: what llama.cpp maps and reads."""
        return sum(t.n_bytes for t in self.tensors)

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def largest_tensor(self) -> int:
        """Elements of the largest tensor (the embeddings, mostly): what a load converts at once."""
        return max((t.n_elements for t in self.tensors), default=0)

    def types(self) -> dict[str, int]:
        """Weights held in each GGML type."""
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.type] = out.get(t.type, 0) + t.n_elements
        return out

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            "shape": asdict(self.shape),
            "weight_bytes": self.weight_bytes,
            "header_bytes": self.header_bytes,
            "n_params": self.n_params,
            "types": self.types(),
        }


def describe_gguf(path: Path) -> ModelDescription:
    """The model's shape from the GGUF metadata, and its tensors from their headers."""
    path = Path(path)
    summary = gguf.read_summary(path)
    by_name = {t.name: t for t in summary.tensors}

    def value(key: str, default=None):
        found = summary.fields.get(key, default)
        # Some files give per-layer head counts as an array; the largest bounds the memory.
        return max(found) if isinstance(found, list) else found

    arch = summary.architecture
    embed = by_name.get("token_embd.weight")  # (vocab, hidden)
    try:
        hidden = int(value(f"{arch}.embedding_length"))
        heads = int(value(f"{arch}.attention.head_count"))
        shape = ModelShape(
            vocab=int(embed.shape[0]) if embed else int(value(f"{arch}.vocab_size")),
            hidden=hidden,
            layers=int(value(f"{arch}.block_count")),
            ffn=int(value(f"{arch}.feed_forward_length")),
            heads=heads,
            kv_heads=int(value(f"{arch}.attention.head_count_kv", heads)),
            context=int(value(f"{arch}.context_length", 2048)),
            tied="output.weight" not in by_name,
            head_dim=int(value(f"{arch}.attention.key_length", hidden // heads)),
        )
    except (TypeError, ValueError, ZeroDivisionError, IndexError) as exc:
        raise InvalidModelError(
            _("{path} does not say the shape of its model ({exc}).").format(path=path.name, exc=exc)
        ) from exc
    return ModelDescription(shape, tuple(summary.tensors), summary.data_offset, str(path), "gguf")


def shape_from_config(config: dict) -> ModelShape:
    """A Hugging Face Llama config's shape; KeyError, TypeError or ValueError where it has none."""
    heads = int(config["num_attention_heads"])
    head_dim = config.get("head_dim")
    return ModelShape(
        vocab=int(config["vocab_size"]),
        hidden=int(config["hidden_size"]),
        layers=int(config["num_hidden_layers"]),
        ffn=int(config["intermediate_size"]),
        heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads),
        context=int(config.get("max_position_embeddings") or 2048),
        tied=bool(config.get("tie_word_embeddings", False)),
        head_dim=int(head_dim) if head_dim else None,
    )


def describe_hf(folder: Path) -> ModelDescription:
    """A Hugging Face folder's shape from its config.json, and its tensors (Hugging Face names,
    their stored dtype) from the safetensors headers; a folder without weights yet has none."""
    folder = Path(folder)
    config = hf.read_config(folder)
    try:
        shape = shape_from_config(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidModelError(
            _("{path} does not say the shape of its model ({exc}).").format(path=folder.name, exc=exc)
        ) from exc
    tensors = []
    for path in hf.weight_files(folder):
        for name, info in hf.safetensors_header(path).items():
            if name != "__metadata__" and info.get("dtype") in _SAFETENSORS_TYPES:
                tensors.append(TensorHeader(name, tuple(info["shape"]), _SAFETENSORS_TYPES[info["dtype"]]))
    return ModelDescription(shape, tuple(tensors), source=str(folder), format="hf")


# -- describing a model without its file ---------------------------------------------------------

# llama.cpp's file types for a Llama model: the default type of the 2-D weights, and the type of
# the LM head (llama-quant.cpp: Q6_K for every type but Q8_0 and the float ones).
RECIPES = {
    "F32": ("F32", "F32"),
    "F16": ("F16", "F16"),
    "BF16": ("BF16", "BF16"),
    "Q8_0": ("Q8_0", "Q8_0"),
    "Q4_0": ("Q4_0", "Q6_K"),
    "Q4_1": ("Q4_1", "Q6_K"),
    "Q5_0": ("Q5_0", "Q6_K"),
    "Q5_1": ("Q5_1", "Q6_K"),
    "Q4_K_S": ("Q4_K", "Q6_K"),
    "Q4_K_M": ("Q4_K", "Q6_K"),
    "Q5_K_S": ("Q5_K", "Q6_K"),
    "Q5_K_M": ("Q5_K", "Q6_K"),
    "Q6_K": ("Q6_K", "Q6_K"),
}
# The _M mixes give attn_v and ffn_down of these layers Q6_K: the first and last eighth of the
# layers and every third one between (llama-quant.cpp's `use_more_bits`), half of them in all.
_MORE_BITS = {"Q4_K_M", "Q5_K_M"}


def _more_bits(layer: int, layers: int) -> bool:
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def llama_tensors(shape: ModelShape, file_type: str) -> list[TensorHeader]:
    """The tensors of a Llama GGUF of this shape as llama.cpp's quantiser writes `file_type`
    ("Q4_0", "Q4_K_M", "Q8_0", "BF16", ... see RECIPES), in the file's order. Shapes are numpy's
    (out, in), as `formats.gguf` gives them."""
    if file_type not in RECIPES:
        raise ValueError(f"unknown file type {file_type!r}; known: {', '.join(RECIPES)}")
    main, head = RECIPES[file_type]
    h, f, v = shape.hidden, shape.ffn, shape.vocab
    q_out, kv_out = shape.heads * shape.dim_per_head, shape.kv_heads * shape.dim_per_head
    tensors = [TensorHeader("token_embd.weight", (v, h), main)]
    for i in range(shape.layers):
        more = file_type in _MORE_BITS and _more_bits(i, shape.layers)
        bumped = "Q6_K" if more else main
        tensors += [
            TensorHeader(f"blk.{i}.attn_norm.weight", (h,), NORM_TYPE),
            TensorHeader(f"blk.{i}.attn_q.weight", (q_out, h), main),
            TensorHeader(f"blk.{i}.attn_k.weight", (kv_out, h), main),
            TensorHeader(f"blk.{i}.attn_v.weight", (kv_out, h), bumped),
            TensorHeader(f"blk.{i}.attn_output.weight", (h, q_out), main),
            TensorHeader(f"blk.{i}.ffn_norm.weight", (h,), NORM_TYPE),
            TensorHeader(f"blk.{i}.ffn_gate.weight", (f, h), main),
            TensorHeader(f"blk.{i}.ffn_up.weight", (f, h), main),
            TensorHeader(f"blk.{i}.ffn_down.weight", (h, f), bumped),
        ]
    tensors.append(TensorHeader("output_norm.weight", (h,), NORM_TYPE))
    if not shape.tied:
        tensors.append(TensorHeader("output.weight", (v, h), head))
    return tensors


def describe_llama(shape: ModelShape, file_type: str) -> ModelDescription:
    return ModelDescription(shape, tuple(llama_tensors(shape, file_type)), source=file_type)


# -- chat ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatMemory:
    """Bytes of the chat process with the model loaded, by component."""

    weights: int  # llama.cpp: tensor data as stored, mmapped; torch: the model as held for chat
    kv_cache: int  # keys and values, every layer, n_ctx tokens
    compute: int  # working memory of one forward pass over a prompt
    runtime: int  # the process before the model (Python and the engine), and the tokenizer
    n_ctx: int
    n_batch: int  # prompt tokens per forward pass
    engine: str = engines.LLAMACPP
    # While loading, before the chat's buffers exist: the torch engine builds the whole model in
    # `dtype` (plus one tensor being converted in fp32) and quantises it afterwards. 0: no peak
    # beyond the chat itself (llama.cpp maps the file as it is).
    load: int = 0
    dtype: str = ""  # torch: the float dtype of what is not quantised ("float32", "bfloat16")
    quantization: str = ""  # torch: how its linear layers are held ("none", "int8", "int4")

    @property
    def total(self) -> int:
        return self.runtime + max(self.load, self.weights + self.kv_cache + self.compute)

    def to_json(self) -> dict:
        return asdict(self) | {"total": self.total}


def kv_cache_bytes(shape: ModelShape, n_ctx: int, bytes_per_value: int = KV_BYTES_PER_VALUE) -> int:
    """Keys and values of every layer: 2 × layers × kv_heads × head_dim × bytes per token."""
    return 2 * shape.layers * shape.kv_heads * shape.dim_per_head * bytes_per_value * n_ctx


def compute_buffer_bytes(
    shape: ModelShape, n_ctx: int, n_batch: int = CHAT_BATCH, flash_attn: bool = False
) -> int:
    """llama.cpp's CPU compute buffer, fp32, sized once at load for a batch of `n_batch` tokens.

    ggml reuses the buffer across the graph, so its size is that of the busiest point, one of two:
    the output, where every token of the batch gets logits (vocab wide, plus a few hidden-wide
    rows), or, without flash attention (llama-cpp-python's default), one layer's attention, where
    the scores of every head against the whole context (heads × n_ctx per token) sit beside the
    mask (n_ctx) and the layer's activations (ffn + a few hidden). Checked against the size
    llama.cpp logs ("CPU compute buffer size") for two synthetic shapes (bench/synthetic_gguf.py:
    hidden 2048 and 1024, vocabulary 49152) at batches 1 to 512, contexts 512 to 4096, with and
    without flash attention: never below it, at most 8 % above."""
    output = shape.vocab + 4 * shape.hidden
    attention = n_ctx + shape.ffn + 3 * shape.hidden
    if not flash_attn:
        attention += shape.heads * n_ctx
    return 4 * n_batch * max(output, attention)


def chat_context(shape: ModelShape) -> int:
    return min(shape.context, CHAT_CONTEXT_CAP)


def chat_memory(
    model: ModelDescription,
    n_ctx: int | None = None,
    n_batch: int = CHAT_BATCH,
    flash_attn: bool = False,
) -> ChatMemory:
    """RAM to chat with the model in llama.cpp at `n_ctx` (default: its context, at most 8192)."""
    n_ctx = n_ctx or chat_context(model.shape)
    n_batch = min(n_batch, n_ctx)
    return ChatMemory(
        weights=model.weight_bytes,
        kv_cache=kv_cache_bytes(model.shape, n_ctx),
        compute=compute_buffer_bytes(model.shape, n_ctx, n_batch, flash_attn),
        runtime=CHAT_RUNTIME_BYTES + VOCAB_BYTES_PER_TOKEN * model.shape.vocab,
        n_ctx=n_ctx,
        n_batch=n_batch,
    )


def torch_dtype(n_params: int, total_ram: int) -> str:
    """The torch engine's dtype on a CPU (`core.engine._auto_dtype`): fp32, unless fp32 weights
    would take more than half the RAM, then bf16."""
    return "bfloat16" if n_params * 4 > total_ram // 2 else "float32"


def _int8_bytes(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out * SCALE_BYTES


def _int4_bytes(fan_in: int, fan_out: int) -> int:
    if fan_in % INT4_GROUP:  # core/quantize.py gives such a layer int8
        return _int8_bytes(fan_in, fan_out)
    return fan_in * fan_out // 2 + fan_in // INT4_GROUP * fan_out * 2 * SCALE_BYTES


def torch_weight_bytes(shape: ModelShape, quantization: str, dtype_bytes: int) -> int:
    """The model as the torch engine holds it on a CPU (core/quantize.py): with "none" every
    parameter in the float dtype (a tied LM head once); with "int8" every nn.Linear, the LM head
    included, in int8; with "int4" the projections in int4 and the LM head in int8 (a tied head
    gets a quantised copy of its own). Embeddings and norms stay in the float dtype."""
    if quantization == "none":
        return shape.n_params * dtype_bytes
    h, f, v = shape.hidden, shape.ffn, shape.vocab
    q_out, kv_out = shape.heads * shape.dim_per_head, shape.kv_heads * shape.dim_per_head
    # (fan_in, fan_out) of q, k, v, o, gate, up, down
    projections = [(h, q_out), (h, kv_out), (h, kv_out), (q_out, h), (h, f), (h, f), (f, h)]
    per_layer = _int4_bytes if quantization == "int4" else _int8_bytes
    linears = shape.layers * sum(per_layer(i, o) for i, o in projections) + _int8_bytes(h, v)
    floats = v * h + (2 * shape.layers + 1) * h  # embeddings and RMSNorms
    return linears + floats * dtype_bytes


def torch_chat_memory(
    model: ModelDescription,
    quantization: str = "none",
    dtype: str = "float32",
    n_ctx: int | None = None,
) -> ChatMemory:
    """RAM to chat with the model in the torch engine on a CPU at `n_ctx`.

    The prompt runs through the model in one forward pass; the figure counts one layer's working
    set for a whole context of prompt (SwiGLU gate, up and product, and a few hidden-wide rows).
    Attention adds nothing of that size: a first prompt takes torch's causal kernel, which works
    in blocks, and later turns run only their new tokens against the kept cache; logits are kept
    for the last token only."""
    shape = model.shape
    n_ctx = n_ctx or chat_context(shape)
    dtype_bytes = 2 if dtype in ("bfloat16", "float16") else 4
    return ChatMemory(
        weights=torch_weight_bytes(shape, quantization, dtype_bytes),
        kv_cache=kv_cache_bytes(shape, n_ctx, dtype_bytes),
        compute=n_ctx * (3 * shape.ffn + 5 * shape.hidden) * dtype_bytes,
        runtime=training_memory.RUNTIME_BYTES["cpu"] + VOCAB_BYTES_PER_TOKEN * shape.vocab,
        n_ctx=n_ctx,
        n_batch=n_ctx,
        engine=engines.TORCH,
        load=shape.n_params * dtype_bytes + 4 * (model.largest_tensor or shape.vocab * shape.hidden),
        dtype=dtype,
        quantization=quantization,
    )


def measure_chat_runtime() -> int:
    """RSS of a fresh Python that has imported llama_cpp and initialised its backend, in bytes:
    how CHAT_RUNTIME_BYTES was measured. Needs llama-cpp-python."""
    import subprocess

    code = (
        "import llama_cpp, psutil; llama_cpp.llama_backend_init(); print(psutil.Process().memory_info().rss)"
    )
    return int(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )


# -- training -----------------------------------------------------------------------------------


def default_train_spec() -> TrainSpec:
    """The Train panel's defaults (rank 8 on every projection, batch 2 × block 512)."""
    return TrainSpec(kind="sft", base="base", data=["data"], out="memory-plan")


def train_memory(
    model: ModelDescription, spec: TrainSpec | None = None, bf16: bool | None = None
) -> MemoryEstimate:
    """Bytes (CPU) to train a LoRA on the base (dequantised, for a GGUF file), by
    `training.memory.estimate`: weights and activations at 4 bytes (fp32), as the runner trains on
    a CPU, or at 2 (bf16) when `bf16` is true or `spec` names bf16. The file's own type does not
    matter: a Q4_0 and a bf16 file of one model dequantise to the same copy."""
    spec = _train_spec(spec, bf16)
    return training_memory.estimate(spec, model.shape.config(), "cpu")


def _train_spec(spec: TrainSpec | None, bf16: bool | None) -> TrainSpec:
    """`spec` (default: the Train panel's) with "auto" precision resolved as the runner resolves it
    on a CPU: no mixed precision, so fp32 (training/runner.py `_accelerator`)."""
    spec = spec or default_train_spec()
    if spec.precision == "auto":
        spec = replace(spec, precision="bf16" if bf16 else "fp32")
    return spec


# -- the verdict --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryPlan:
    """Chat and training needs against this computer's RAM."""

    chat: ChatMemory
    train: MemoryEstimate  # with the default (or given) training settings
    total_ram: int
    available_ram: int  # free now without swapping
    train_precision: str  # "bf16" or "fp32": how the base is held for training
    # Smallest change to the training settings that fits (gradient checkpointing, batch, block,
    # rank, in that order), and what it needs; empty and 0 when the defaults fit or nothing does.
    train_suggestion: dict = field(default_factory=dict)
    train_suggestion_bytes: int = 0
    reserve: int = OS_RESERVE_BYTES

    @property
    def engine(self) -> str:
        """The chat engine the figures are for: "llama.cpp" or "torch"."""
        return self.chat.engine

    @property
    def usable_ram(self) -> int:
        return max(self.total_ram - self.reserve, 0)

    @property
    def chat_bytes(self) -> int:
        return self.chat.total

    @property
    def train_bytes(self) -> int:
        return self.train.total

    @property
    def fits_chat(self) -> bool:
        return self.chat_bytes <= self.usable_ram

    @property
    def fits_train(self) -> bool:
        return self.train_bytes <= self.usable_ram

    @property
    def fits_chat_now(self) -> bool:
        """Whether it fits in what is free at the moment, without closing anything."""
        return self.chat_bytes <= self.available_ram

    @property
    def fits_train_now(self) -> bool:
        return self.train_bytes <= self.available_ram

    def text(self) -> str:
        """One sentence for the user."""
        gib = format_gib
        if self.fits_chat:
            chat = _("Chat needs about {chat} of the {total} this computer has")
        else:
            chat = _("Chat needs about {chat}, more than the {total} this computer has can spare")
        chat = chat.format(chat=gib(self.chat_bytes), total=gib(self.total_ram))
        if self.fits_train:
            train = _("training a LoRA needs about {train}, which fits")
        elif self.train_suggestion_bytes:
            train = _(
                "training a LoRA needs about {train}, more than it has, or {smaller} with smaller settings"
            )
        else:
            train = _("training a LoRA needs about {train}, more than it has")
        train = train.format(train=gib(self.train_bytes), smaller=gib(self.train_suggestion_bytes))
        return _("{chat}; {train}.").format(chat=chat, train=train)

    def to_json(self) -> dict:
        return {
            "engine": self.engine,
            "chat": self.chat.to_json(),
            "train": self.train.to_json(),
            "chat_bytes": self.chat_bytes,
            "train_bytes": self.train_bytes,
            "train_precision": self.train_precision,
            "train_suggestion": self.train_suggestion,
            "train_suggestion_bytes": self.train_suggestion_bytes,
            "total_ram": self.total_ram,
            "available_ram": self.available_ram,
            "reserve": self.reserve,
            "usable_ram": self.usable_ram,
            "fits_chat": self.fits_chat,
            "fits_train": self.fits_train,
            "fits_chat_now": self.fits_chat_now,
            "fits_train_now": self.fits_train_now,
            "text": self.text(),
        }


def describe(path: Path | str) -> ModelDescription:
    """A GGUF file or a Hugging Face folder, by its headers."""
    path = Path(path)
    return describe_hf(path) if path.is_dir() else describe_gguf(path)


def memory_plan(
    model: ModelDescription | Path | str,
    *,
    total_ram: int | None = None,
    available_ram: int | None = None,
    spec: TrainSpec | None = None,
    bf16: bool | None = None,
    n_ctx: int | None = None,
    n_batch: int = CHAT_BATCH,
    engine: str | None = None,
    quantization: str = "none",
    dtype: str | None = None,
) -> MemoryPlan:
    """Chat and LoRA-training memory of a model (a GGUF file, a Hugging Face folder, or a
    description) against this computer's RAM (psutil's total and available unless given). What
    `models info` shows.

    `engine` is the chat engine ("llama.cpp" or "torch"; default: llama.cpp for a GGUF, torch for
    a float model); for torch, `quantization` is the model's CPU setting and `dtype` the float
    dtype ("float32", "bfloat16"; default: what the engine picks for this RAM)."""
    if not isinstance(model, ModelDescription):
        model = describe(model)
    if total_ram is None or available_ram is None:
        import psutil

        vm = psutil.virtual_memory()
        total_ram = int(vm.total) if total_ram is None else total_ram
        available_ram = int(vm.available) if available_ram is None else available_ram
    engine = engine or (engines.TORCH if model.format == "hf" else engines.LLAMACPP)
    if engine == engines.LLAMACPP:
        chat = chat_memory(model, n_ctx=n_ctx, n_batch=n_batch)
    else:
        dtype = dtype or torch_dtype(model.shape.n_params, total_ram)
        chat = torch_chat_memory(model, quantization, dtype, n_ctx)
    spec = _train_spec(spec, bf16)
    config = model.shape.config()
    train = training_memory.estimate(spec, config, "cpu")
    usable = max(total_ram - OS_RESERVE_BYTES, 0)
    suggestion: dict = {}
    suggestion_bytes = 0
    if train.total > usable:
        try:
            training_memory.check_fits(spec, config, device="cpu", available=usable)
        except training_memory.MemoryRefusal as refusal:
            suggestion = refusal.suggestion
            if suggestion:
                suggestion_bytes = training_memory.estimate(replace(spec, **suggestion), config, "cpu").total
    return MemoryPlan(
        chat=chat,
        train=train,
        total_ram=total_ram,
        available_ram=available_ram,
        train_precision=spec.precision,
        train_suggestion=suggestion,
        train_suggestion_bytes=suggestion_bytes,
    )


def _chosen_dtype() -> str | None:
    """The dtype the user chose in the runtime settings, or None for the engine's own choice."""
    from llamadesk.core import runtime

    chosen = runtime.current().dtype
    return None if chosen == "auto" else chosen


def plan_for_entry(entry: library.ModelEntry, **kwargs: Any) -> MemoryPlan:
    """The plan for a library model as it would chat now: llama.cpp runs its GGUF (the imported
    file, or one written by `models quantize`) where `engines.pick` chooses it; otherwise the
    torch engine holds it at its CPU quantisation. `kwargs` as for `memory_plan`."""
    engine, _reason = engines.pick(entry)
    model = describe_hf(entry.path) if entry.gguf_path is None else describe_gguf(entry.gguf_path)
    kwargs.setdefault("quantization", entry.quantization)
    kwargs.setdefault("dtype", _chosen_dtype())
    return memory_plan(model, engine=engine, **kwargs)


def plan_for_path(path: Path | str, **kwargs: Any) -> MemoryPlan:
    """The plan for a GGUF file or a Hugging Face folder before it is imported, as the import
    would set it up: a GGUF chats in llama.cpp (the torch engine at the file's own precision where
    llama.cpp is not installed), a float model in the torch engine at full precision."""
    model = describe(path)
    if model.format == "gguf" and engines.llamacpp_problem() is not None:
        types = model.types()
        kwargs.setdefault("engine", engines.TORCH)
        kwargs.setdefault("quantization", gguf.torch_precision(max(types, key=types.__getitem__)))
    kwargs.setdefault("dtype", _chosen_dtype())
    return memory_plan(model, **kwargs)


def format_gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"
