"""PEFT LoRA -> GGUF LoRA: the adapter file llama.cpp loads with `llama_adapter_lora_init`.

A PEFT adapter trained on a Hugging Face Llama is rewritten for the same model's GGUF file:

- tensor names: `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` becomes
  `blk.N.attn_q.weight.lora_a` (lora_B -> `.lora_b`), and likewise for k, v, o, gate, up, down;
- shapes stay as PEFT stores them: lora_A (r, in) and lora_B (out, r) in numpy order are, in
  ggml's order, a: ne = [in, r] and b: ne = [r, out], which is what llama.cpp checks against the
  base weight's ne = [in, out] (and it reads the rank from b's ne[0]);
- scale: llama.cpp multiplies B·A·x by `adapter.lora.alpha / rank`; PEFT by `lora_alpha / r`
  (`lora_alpha / sqrt(r)` with rsLoRA). The GGUF alpha is chosen so both agree, and a module whose
  own rank or alpha (rank_pattern, alpha_pattern) gives another ratio has the difference folded
  into its B;
- q/k rows: llama.cpp's HF -> GGUF conversion of a Llama reorders the output rows of q_proj and
  k_proj inside every head (for its RoPE layout), and transformers undoes it when it dequantises a
  GGUF. A LoRA delta B·A on q or k must move the same way, and only B's rows are output rows.

Adapters llama.cpp cannot apply are refused with one sentence (UnconvertibleAdapterError): DoRA,
full module copies (modules_to_save), tokens of their own, embedding LoRAs, biases, modules with
no GGUF name, and shapes the base does not have. Only headers are read from the base GGUF."""

import json
import math
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _

if TYPE_CHECKING:
    import numpy as np

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

# GGUF architectures whose converter permutes q/k rows (llama.cpp's LlamaModel with undo_permute).
# Others are refused rather than guessed: a wrong permutation gives plausible but wrong output.
_PERMUTED_ARCHITECTURES = {"llama"}

# PEFT module (last part of its name) -> GGUF tensor name inside a block.
_BLOCK_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_PEFT_PREFIX = "base_model.model."
_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<half>A|B)\.weight$")
_BLOCK_MODULE = re.compile(
    r"^model\.layers\.(?P<layer>\d+)\.(?P<name>self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)$"
)
_EMBEDDING_MODULES = ("embed_tokens", "lm_head")

# safetensors dtype -> (numpy dtype, bytes per element); BF16 is widened by hand (numpy has none).
_SAFETENSORS_DTYPES = {"F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}


class UnconvertibleAdapterError(LlamaDeskError):
    """A PEFT adapter that llama.cpp cannot apply to a GGUF model; it still runs with PyTorch."""


@dataclass(frozen=True)
class _Base:
    """What the conversion needs from the base GGUF's headers."""

    name: str
    architecture: str
    n_head: int
    n_head_kv: int
    block_count: int
    vocab_size: int
    shapes: dict[str, tuple[int, ...]]  # GGUF tensor name -> numpy-order shape: (out, in) for a matrix


@dataclass
class _Pair:
    """One PEFT module's LoRA halves, headed for one GGUF tensor."""

    module: str  # PEFT's module name without the prefix, e.g. model.layers.0.self_attn.q_proj
    target: str  # GGUF base tensor, e.g. blk.0.attn_q.weight
    a: "np.ndarray | None" = None  # (r, in)
    b: "np.ndarray | None" = None  # (out, r)


# -- reading --------------------------------------------------------------------------------------


def _refuse(message: str) -> UnconvertibleAdapterError:
    return UnconvertibleAdapterError(message)


def _read_config(folder: Path) -> dict:
    path = folder / ADAPTER_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _refuse(
            _("{folder} is not a PEFT adapter: it has no {config_file}.").format(
                folder=folder.name, config_file=ADAPTER_CONFIG
            )
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(
            _("{config_file} in {folder} could not be read ({exc}).").format(
                config_file=ADAPTER_CONFIG, folder=folder.name, exc=exc
            )
        ) from exc
    if not isinstance(config, dict):
        raise _refuse(
            _("{config_file} in {folder} does not hold an adapter configuration.").format(
                config_file=ADAPTER_CONFIG, folder=folder.name
            )
        )
    return config


def _read_base(path: Path) -> _Base:
    from llamadesk.core.errors import InvalidModelError
    from llamadesk.core.formats.gguf import read_summary

    try:
        summary = read_summary(path)  # headers only
    except InvalidModelError as exc:
        raise _refuse(str(exc)) from exc
    architecture = summary.architecture
    shapes = {t.name: tuple(t.shape) for t in summary.tensors}  # numpy order: (rows, columns)
    n_head = summary.fields.get(f"{architecture}.attention.head_count")
    n_head_kv = summary.fields.get(f"{architecture}.attention.head_count_kv") or n_head
    block_count = summary.fields.get(f"{architecture}.block_count")
    if architecture not in _PERMUTED_ARCHITECTURES:
        raise _refuse(
            _(
                "llama.cpp adapters can be made for Llama GGUF models only, and {path} is a "
                "'{architecture}' model."
            ).format(path=path.name, architecture=architecture)
        )
    embedding = shapes.get("token_embd.weight")
    if not n_head or not block_count or embedding is None:
        raise _refuse(
            _("{path} lacks the head count, block count or token embeddings of a Llama model.").format(
                path=path.name
            )
        )
    return _Base(path.name, architecture, int(n_head), int(n_head_kv), int(block_count), embedding[0], shapes)


def _read_safetensors(path: Path) -> dict[str, "np.ndarray"]:
    """Every tensor of a safetensors file as float32 numpy arrays (BF16 included, which numpy's
    own safetensors reader refuses). The format: u64 header length, JSON header, raw data."""
    import numpy as np

    try:
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > 100 * 1024 * 1024:
                raise ValueError("header too large")
            header = json.loads(handle.read(header_size))
            data = handle.read()
    except FileNotFoundError:
        raise _refuse(
            _("{folder} has no {weights_file}; save the adapter with safetensors.").format(
                folder=path.parent.name, weights_file=ADAPTER_WEIGHTS
            )
        ) from None
    except (OSError, ValueError, struct.error) as exc:
        raise _refuse(
            _("{weights_file} in {folder} is not a readable safetensors file ({exc}).").format(
                weights_file=ADAPTER_WEIGHTS, folder=path.parent.name, exc=exc
            )
        ) from exc
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if dtype is None or end > len(data) or end - start != dtype[1] * math.prod(shape):
            raise _refuse(
                _("{weights_file} in {folder} holds {name} as {dtype}, which cannot be read.").format(
                    weights_file=ADAPTER_WEIGHTS, folder=path.parent.name, name=name, dtype=info.get("dtype")
                )
            )
        array = np.frombuffer(data, dtype=dtype[0], count=math.prod(shape), offset=start)
        if info["dtype"] == "BF16":  # bf16 is the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array.astype(np.float32).reshape(shape)
    return tensors


def _tokenizer_size(folder: Path) -> int | None:
    """The number of token ids a tokenizer saved beside the adapter uses (highest id + 1)."""
    ids: list[int] = []

    def load(name: str) -> Any:
        try:
            return json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None

    tokenizer = load("tokenizer.json")
    if isinstance(tokenizer, dict):
        vocab = (tokenizer.get("model") or {}).get("vocab")
        if isinstance(vocab, dict):
            ids.extend(v for v in vocab.values() if isinstance(v, int))
        elif isinstance(vocab, list):  # Unigram: a list of (piece, score), ids are positions
            ids.append(len(vocab) - 1)
        ids.extend(t["id"] for t in tokenizer.get("added_tokens") or [] if isinstance(t.get("id"), int))
    added = load("added_tokens.json")
    if isinstance(added, dict):
        ids.extend(v for v in added.values() if isinstance(v, int))
    config = load("tokenizer_config.json")
    if isinstance(config, dict):
        ids.extend(int(k) for k in (config.get("added_tokens_decoder") or {}) if str(k).isdigit())
    return max(ids) + 1 if ids else None


# -- checking -------------------------------------------------------------------------------------


def _check_config(config: dict) -> None:
    peft_type = str(config.get("peft_type") or "LORA").upper()
    if peft_type != "LORA":
        raise _refuse(
            _("llama.cpp can apply LoRA adapters only, and this one is a {peft_type} adapter.").format(
                peft_type=peft_type
            )
        )
    if config.get("use_dora"):
        raise _refuse(_("llama.cpp cannot apply this adapter because it uses DoRA (use_dora)."))
    if config.get("modules_to_save"):
        raise _refuse(
            _(
                "llama.cpp cannot apply this adapter because it carries full copies of {modules} "
                "(modules_to_save), which a GGUF LoRA cannot hold."
            ).format(modules=", ".join(map(str, config["modules_to_save"])))
        )
    if config.get("trainable_token_indices"):
        raise _refuse(
            _(
                "llama.cpp cannot apply this adapter because it trains token embeddings of its own "
                "(trainable_token_indices)."
            )
        )
    if config.get("lora_bias"):
        raise _refuse(
            _("llama.cpp cannot apply this adapter because it trains biases, which a GGUF LoRA cannot hold.")
        )
    for option in ("fan_in_fan_out", "layer_replication", "use_qalora"):
        if config.get(option):
            raise _refuse(
                _("llama.cpp cannot apply this adapter because it was made with {option}.").format(
                    option=option
                )
            )


def _check_tokens(folder: Path, base: _Base) -> None:
    size = _tokenizer_size(folder)
    if size is not None and size > base.vocab_size:
        raise _refuse(
            _(
                "llama.cpp cannot apply this adapter because its tokenizer adds tokens ({size} where "
                "'{base}' has {vocab}), and a GGUF LoRA cannot add tokens."
            ).format(size=size, base=base.name, vocab=base.vocab_size)
        )


def _gguf_target(module: str, base: _Base) -> str:
    """The GGUF tensor a PEFT module's LoRA applies to, or a refusal naming the module."""
    if module.rsplit(".", 1)[-1] in _EMBEDDING_MODULES:
        if module.endswith("lm_head") and "output.weight" in base.shapes:
            return "output.weight"
        # With tied embeddings llama.cpp's output projection *is* token_embd, so a LoRA on either
        # would act on both; and an embedding LoRA is laid out differently. Neither fits.
        raise _refuse(
            _(
                "llama.cpp cannot apply this adapter because it changes {module}, which llama.cpp "
                "shares between the input embeddings and the output layer of '{base}'."
            ).format(module=module, base=base.name)
        )
    match = _BLOCK_MODULE.match(module)
    if match is None:
        raise _refuse(
            _(
                "llama.cpp cannot apply this adapter because it changes {module}, which has no "
                "counterpart in a Llama GGUF model."
            ).format(module=module)
        )
    layer = int(match["layer"])
    if layer >= base.block_count:
        raise _refuse(
            _(
                "This adapter was made for a different model: it changes layer {layer}, but "
                "'{base}' has {blocks} layers."
            ).format(layer=layer, base=base.name, blocks=base.block_count)
        )
    return f"blk.{layer}.{_BLOCK_MODULES[match['name']]}.weight"


def _pairs(tensors: dict[str, "np.ndarray"], base: _Base) -> list[_Pair]:
    pairs: dict[str, _Pair] = {}
    for key in sorted(tensors):
        name = key.removeprefix(_PEFT_PREFIX)
        if "lora_magnitude_vector" in name:
            raise _refuse(_("llama.cpp cannot apply this adapter because it uses DoRA (use_dora)."))
        if "lora_embedding_" in name:
            raise _refuse(
                _(
                    "llama.cpp cannot apply this adapter because it changes the token embeddings "
                    "({module}), which llama.cpp applies differently from PEFT."
                ).format(module=name.split(".lora_embedding_", 1)[0])
            )
        if _is_frozen_embedding_copy(name, tensors[key], base):
            continue
        match = _LORA_KEY.match(name)
        if match is None:
            raise _full_tensor_refusal(name, tensors[key], base)
        module = match["module"]
        pair = pairs.get(module) or _Pair(module, _gguf_target(module, base))
        pairs[module] = pair
        if match["half"] == "A":
            pair.a = tensors[key]
        else:
            pair.b = tensors[key]
    if not pairs:
        raise _refuse(_("This adapter holds no LoRA weights."))
    for pair in pairs.values():
        _check_pair(pair, base)
    return list(pairs.values())


def _is_frozen_embedding_copy(name: str, tensor: "np.ndarray", base: _Base) -> bool:
    """PEFT saves the untouched base weight of an embedding or lm_head it puts a LoRA on
    (`lm_head.base_layer.weight`, save_embedding_layers): the base's own, nothing to convert,
    unless its vocabulary differs from the base's (refused as resized embeddings)."""
    module, _dot, rest = name.rpartition(".base_layer.")
    return (
        rest == "weight"
        and module.rsplit(".", 1)[-1] in _EMBEDDING_MODULES
        and tensor.ndim == 2
        and tensor.shape[0] == base.vocab_size
    )


def _full_tensor_refusal(name: str, tensor: "np.ndarray", base: _Base) -> UnconvertibleAdapterError:
    """Why a tensor that is not a LoRA half cannot go: a bias, resized embeddings, a module copy."""
    if name.endswith(".bias"):
        return _refuse(
            _("llama.cpp cannot apply this adapter because it trains biases, which a GGUF LoRA cannot hold.")
        )
    if (
        any(part in name for part in _EMBEDDING_MODULES)
        and tensor.ndim == 2
        and tensor.shape[0] != base.vocab_size
    ):
        return _refuse(
            _(
                "llama.cpp cannot apply this adapter because it resizes the embeddings for tokens "
                "of its own ({size} where '{base}' has {vocab}), and a GGUF LoRA cannot add tokens."
            ).format(size=tensor.shape[0], base=base.name, vocab=base.vocab_size)
        )
    return _refuse(
        _(
            "llama.cpp cannot apply this adapter because it carries a full copy of {name} "
            "(modules_to_save), which a GGUF LoRA cannot hold."
        ).format(name=name)
    )


def _check_pair(pair: _Pair, base: _Base) -> None:
    if pair.a is None or pair.b is None:
        raise _refuse(
            _("This adapter is incomplete: the LoRA weights of {module} lack their A or B half.").format(
                module=pair.module
            )
        )
    if pair.a.ndim != 2 or pair.b.ndim != 2 or pair.a.shape[0] != pair.b.shape[1]:
        raise _refuse(
            _("This adapter is damaged: the A and B halves of {module} do not fit together.").format(
                module=pair.module
            )
        )
    wanted = (pair.b.shape[0], pair.a.shape[1])  # (out, in), the weight shape the LoRA was made for
    actual = base.shapes.get(pair.target)
    if actual is None:
        raise _refuse(
            _("This adapter was made for a different model: '{base}' has no {module}.").format(
                base=base.name, module=pair.module
            )
        )
    if wanted != actual:
        raise _refuse(
            _(
                "This adapter was made for a different model: it expects {module} of shape {wanted}, "
                "but in '{base}' it is {actual}."
            ).format(module=pair.module, wanted=wanted, base=base.name, actual=actual)
        )


# -- converting -----------------------------------------------------------------------------------


def _pattern_value(patterns: dict, module: str, default: float) -> float:
    """PEFT's rank_pattern/alpha_pattern lookup: a key matches a module name or its tail."""
    for key, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _peft_scaling(config: dict, module: str, rank: int) -> float:
    """The factor PEFT multiplies B·A·x by in `module` (LoraLayer.update_layer's rule)."""
    alpha = float(_pattern_value(config.get("alpha_pattern"), module, config.get("lora_alpha", 8)))
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def _gguf_alpha(config: dict) -> float:
    """adapter.lora.alpha such that llama.cpp's alpha / rank equals PEFT's scaling at rank r."""
    rank = int(config.get("r", 8))
    alpha = float(config.get("lora_alpha", 8))
    return alpha * math.sqrt(rank) if config.get("use_rslora") else alpha


def permute_rows(matrix: "np.ndarray", n_head: int) -> "np.ndarray":
    """Reorder output rows the way llama.cpp's Llama conversion reorders q_proj/k_proj rows.

    Within each head HF keeps the two RoPE halves apart (x0..x(d/2-1), then the rest); llama.cpp's
    RoPE rotates neighbouring pairs, so the converter interleaves the halves: row h·d + 2i + j of
    the GGUF weight is row h·d + j·d/2 + i of the HF weight."""
    rows = matrix.shape[0]
    # (heads, half, d/2, cols) -> (heads, d/2, half, cols): the two halves become interleaved.
    return (
        matrix.reshape(n_head, 2, rows // n_head // 2, *matrix.shape[1:]).swapaxes(1, 2).reshape(matrix.shape)
    )


def _heads_for(target: str, base: _Base) -> int | None:
    if target.endswith(".attn_q.weight"):
        return base.n_head
    if target.endswith(".attn_k.weight"):
        return base.n_head_kv
    return None


def _gguf_tensors(
    pairs: list[_Pair], config: dict, base: _Base
) -> tuple[float, list[tuple[str, "np.ndarray"]]]:
    import numpy as np

    alpha = _gguf_alpha(config)
    out: list[tuple[str, np.ndarray]] = []
    for pair in sorted(pairs, key=lambda p: _natural_key(p.target)):
        a, b = pair.a, pair.b
        rank = a.shape[0]
        # Fold what a per-module rank or alpha changes into B, so one file-wide alpha fits all.
        llama_scale = alpha / rank if alpha else 1.0
        factor = _peft_scaling(config, pair.module, rank) / llama_scale
        if not math.isclose(factor, 1.0, rel_tol=1e-6):
            b = b * np.float32(factor)
        heads = _heads_for(pair.target, base)
        if heads is not None:
            if b.shape[0] % (2 * heads):
                raise _refuse(
                    _(
                        "This adapter was made for a different model: {module} does not split "
                        "into {heads} heads."
                    ).format(module=pair.module, heads=heads)
                )
            b = permute_rows(b, heads)
        out.append((pair.target + ".lora_a", np.ascontiguousarray(a, dtype=np.float32)))  # (r, in)
        out.append((pair.target + ".lora_b", np.ascontiguousarray(b, dtype=np.float32)))  # (out, r)
    return alpha, out


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _write(out_file: Path, base: _Base, config: dict, alpha: float, tensors: list) -> None:
    from gguf import GGUFValueType, GGUFWriter, Keys

    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix="." + out_file.name + ".", dir=out_file.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = GGUFWriter(tmp, base.architecture)
        writer.add_type("adapter")
        writer.add_string(Keys.Adapter.TYPE, "lora")
        writer.add_float32(Keys.Adapter.LORA_ALPHA, alpha)
        invocation = config.get("alora_invocation_tokens")
        if invocation:  # activated LoRA: llama.cpp switches it on after these tokens
            writer.add_key_value(
                Keys.Adapter.ALORA_INVOCATION_TOKENS,
                [int(t) for t in invocation],
                GGUFValueType.ARRAY,
                GGUFValueType.UINT32,
            )
        for name, array in tensors:
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out_file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def convert_peft_lora(adapter_folder: Path, base_gguf: Path, out_file: Path) -> None:
    """Write `out_file`, a GGUF LoRA of the PEFT adapter in `adapter_folder` for the GGUF model
    `base_gguf`, or raise UnconvertibleAdapterError and leave nothing behind."""
    adapter_folder, base_gguf, out_file = Path(adapter_folder), Path(base_gguf), Path(out_file)
    config = _read_config(adapter_folder)
    _check_config(config)
    base = _read_base(base_gguf)
    _check_tokens(adapter_folder, base)
    tensors = _read_safetensors(adapter_folder / ADAPTER_WEIGHTS)
    pairs = _pairs(tensors, base)
    alpha, gguf_tensors = _gguf_tensors(pairs, config, base)
    _write(out_file, base, config, alpha, gguf_tensors)
