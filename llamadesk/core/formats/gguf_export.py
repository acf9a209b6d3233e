"""GGUF export: write a Hugging Face Llama folder as one llama.cpp model file ("Quantise for chat").

The file is what llama.cpp's own converter would write for a Llama: the `llama` architecture's
metadata, its tensor names, q and k rows reordered for its RoPE kernel, the tokenizer as token
lists, and the weights quantised with the `gguf` package (Q8_0, Q4_0, Q4_1) or kept as F16/F32.

Memory stays near one tensor: the tensor table is written first (every size is known from the
safetensors headers), then each tensor is read from its memory-mapped safetensors file in slices
of rows, quantised and appended. The file appears only when complete: it is written under a
temporary name beside the target, synced, then renamed; a failure or a cancel removes it."""

import contextlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadesk.core.disk import ensure_room, reporting_full_disk
from llamadesk.core.errors import Cancelled, InvalidModelError
from llamadesk.core.formats.hf import safetensors_header, validate_hf_folder, weight_files
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

log = logging.getLogger(__name__)

# What a user picks. "f32" is accepted too (tests compare it with torch to the last digit) but is
# no reason to leave the Hugging Face folder.
EXPORT_TYPES = ("q8_0", "q4_0", "q4_1", "f16")
_ACCEPTED_TYPES = (*EXPORT_TYPES, "f32")
# general.file_type: llama.cpp's LLAMA_FTYPE numbers.
_FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7}
# Rows quantised per step: about 64 MB of float32, so a 128k-token embedding never sits in memory
# as float32 all at once (the quantiser makes a few temporaries of its input's size).
_CHUNK_ELEMENTS = 16 * 1024 * 1024

# Hugging Face layer parameter → GGUF tensor (both without the ".weight"/".bias" suffix).
_LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_GLOBAL_TENSORS = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
# Buffers some checkpoints carry that are no weight.
_SKIPPED_SUFFIXES = ("rotary_emb.inv_freq",)

# tokenizer.json pre-tokenizers LlamaDesk recognises, by the pre-tokenizer name llama.cpp knows
# whose splitting rules are the same. The Llama 3 split pattern as its tokenizer.json spells it:
_LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# GGUF token types (llama.cpp's llama_token_type).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6


@dataclass
class _Tensor:
    """One tensor of the output file and where its values come from."""

    name: str  # GGUF name, "blk.3.attn_q.weight"
    shape: tuple[int, ...]  # numpy order: (rows, columns) or (columns,)
    qtype: Any  # gguf.GGMLQuantizationType
    file: Path | None = None  # safetensors file holding the source
    source: str = ""  # its name there
    heads: int = 0  # > 0: reorder rows for llama.cpp's RoPE, this many heads
    values: Any = None  # a computed tensor (rope_freqs), numpy float32

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def n_bytes(self) -> int:
        from gguf import GGML_QUANT_SIZES

        block, block_bytes = GGML_QUANT_SIZES[self.qtype]
        return self.n_elements // block * block_bytes


def export_gguf(
    hf_folder: Path,
    out_file: Path,
    qtype: str,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Write the Llama model in `hf_folder` to the GGUF file `out_file`, weights as `qtype`."""
    import gguf

    progress = progress or Progress()
    hf_folder, out_file = Path(hf_folder), Path(out_file)
    if qtype not in _ACCEPTED_TYPES:
        raise InvalidModelError(
            _("{qtype} is not a GGUF type LlamaDesk writes; choose one of {types}.").format(
                qtype=qtype, types=", ".join(EXPORT_TYPES)
            )
        )
    config = validate_hf_folder(hf_folder)
    _check_config(hf_folder, config)
    tensors = _plan_tensors(hf_folder, config, qtype)
    needed = sum(t.n_bytes for t in tensors)
    ensure_room(out_file.parent, needed)  # its margin covers the metadata (token lists) and padding
    progress.check()
    writer_tmp = out_file.with_name(f".{out_file.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(writer_tmp, "llama")
    try:
        with reporting_full_disk(out_file.parent, needed):
            _add_model_metadata(writer, hf_folder, config, qtype)
            _add_tokenizer(writer, hf_folder, config)
            for tensor in tensors:
                writer.add_tensor_info(
                    tensor.name, tensor.shape, _float32(), tensor.n_bytes, raw_dtype=tensor.qtype
                )
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            _write_tensors(writer, tensors, progress, cancel)
            progress(1.0, _("GGUF file written"))  # a last chance to cancel, before the file appears
            handle = writer.fout[0]
            handle.flush()
            os.fsync(handle.fileno())
            writer.close()
            os.replace(writer_tmp, out_file)
            _fsync_folder(out_file.parent)
    except BaseException:
        writer.close()
        with contextlib.suppress(FileNotFoundError):
            writer_tmp.unlink()
        raise


# -- checks and the tensor plan ---------------------------------------------------------------


def _check_config(folder: Path, config: dict) -> None:
    """Refuse what the llama architecture in llama.cpp would run differently from torch."""
    act = config.get("hidden_act", "silu")
    if act != "silu":
        raise InvalidModelError(
            _("{folder} uses the activation '{act}'; GGUF export supports Llama models with SiLU.").format(
                folder=folder.name, act=act
            )
        )
    if config.get("quantization_config"):
        raise InvalidModelError(
            _("{folder} holds already quantised weights; export a model with float weights.").format(
                folder=folder.name
            )
        )
    rope_type = _rope_parameters(config).get("rope_type", "default")
    if rope_type not in ("default", "linear", "llama3"):
        raise InvalidModelError(
            _("{folder} uses '{rope}' RoPE scaling, which GGUF export does not support.").format(
                folder=folder.name, rope=rope_type
            )
        )
    window = config.get("sliding_window")
    if window and window < config.get("max_position_embeddings", 0):
        log.warning(
            "%s: sliding window %s is not kept; llama.cpp attends to the whole context", folder, window
        )


def _rope_parameters(config: dict) -> dict:
    """RoPE settings from either spelling: transformers 5's `rope_parameters`, or the older
    top-level `rope_theta` plus `rope_scaling` (whose type may be under "type")."""
    params = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    if "rope_type" not in params and "type" in params:
        params["rope_type"] = params["type"]
    if "rope_theta" not in params and "rope_theta" in config:
        params["rope_theta"] = config["rope_theta"]
    return params


def _head_dim(config: dict) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def _gguf_name(name: str) -> str | None:
    """`model.layers.3.self_attn.q_proj.weight` → `blk.3.attn_q.weight`; None if not a Llama tensor."""
    base, _dot, suffix = name.rpartition(".")
    if suffix not in ("weight", "bias"):
        return None
    if base in _GLOBAL_TENSORS:
        return f"{_GLOBAL_TENSORS[base]}.{suffix}"
    parts = base.split(".", 3)  # "model", "layers", "3", "self_attn.q_proj"
    if (
        len(parts) == 4
        and parts[:2] == ["model", "layers"]
        and parts[2].isdigit()
        and parts[3] in _LAYER_TENSORS
    ):
        return f"blk.{parts[2]}.{_LAYER_TENSORS[parts[3]]}.{suffix}"
    return None


def _plan_tensors(folder: Path, config: dict, qtype: str) -> list[_Tensor]:
    from gguf import GGMLQuantizationType as T

    chosen = {"f32": T.F32, "f16": T.F16, "q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_1": T.Q4_1}[qtype]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    tied = config.get("tie_word_embeddings", False)
    planned: dict[str, _Tensor] = {}
    for path in weight_files(folder):
        for source, info in safetensors_header(path).items():
            if source == "__metadata__" or source.endswith(_SKIPPED_SUFFIXES):
                continue
            name = _gguf_name(source)
            if name is None:
                raise InvalidModelError(
                    _("{folder} holds a tensor a Llama model does not have ({name}).").format(
                        folder=folder.name, name=source
                    )
                )
            if name.startswith("output.") and tied:
                continue  # a tied head is the embedding; llama.cpp reuses token_embd
            shape = tuple(info["shape"])
            tensor = _Tensor(name, shape, _tensor_type(name, shape, chosen), path, source)
            if name.endswith(("attn_q.weight", "attn_q.bias")):
                tensor.heads = heads
            elif name.endswith(("attn_k.weight", "attn_k.bias")):
                tensor.heads = kv_heads
            planned[name] = tensor
    _check_complete(folder, config, planned)
    tensors = [planned["token_embd.weight"]]
    if (factors := _llama3_rope_factors(config)) is not None:
        tensors.append(_Tensor("rope_freqs.weight", factors.shape, T.F32, values=factors))
    for layer in range(config["num_hidden_layers"]):
        prefix = f"blk.{layer}."
        tensors += sorted((t for n, t in planned.items() if n.startswith(prefix)), key=lambda t: t.name)
    tensors += [planned[n] for n in ("output_norm.weight", "output.weight") if n in planned]
    return tensors


def _tensor_type(name: str, shape: tuple[int, ...], chosen: Any) -> Any:
    """Norms and biases stay F32; the embedding and output head of a 4-bit file take Q8_0 (a
    4-bit vocabulary projection costs much quality for little size; llama.cpp's own 4-bit files
    keep these wider too); a row length the quantiser's 32-value blocks do not divide falls back
    to F16."""
    from gguf import GGMLQuantizationType as T

    if len(shape) < 2 or name.endswith("_norm.weight"):
        return T.F32
    if chosen in (T.Q4_0, T.Q4_1) and name in ("token_embd.weight", "output.weight"):
        chosen = T.Q8_0
    if chosen not in (T.F32, T.F16) and shape[-1] % 32:
        log.info("%s: rows of %d values are not a multiple of 32; kept as F16", name, shape[-1])
        return T.F16
    return chosen


def _check_complete(folder: Path, config: dict, planned: dict[str, _Tensor]) -> None:
    needed = ["token_embd.weight", "output_norm.weight"]
    for layer in range(config["num_hidden_layers"]):
        needed += [f"blk.{layer}.{part}.weight" for part in _LAYER_TENSORS.values()]
    missing = [name for name in needed if name not in planned]
    if missing:
        raise InvalidModelError(
            _("{folder} is incomplete: it has no tensor for {name}.").format(
                folder=folder.name, name=missing[0]
            )
        )
    rows = planned["token_embd.weight"].shape[0]
    if rows != config["vocab_size"]:
        raise InvalidModelError(
            _("{folder}: the embedding has {rows} rows but config.json says {vocab} tokens.").format(
                folder=folder.name, rows=rows, vocab=config["vocab_size"]
            )
        )


def _llama3_rope_factors(config: dict) -> Any:
    """Llama 3.1's RoPE scaling as llama.cpp takes it: one divisor per rotary frequency.

    Frequencies whose wavelength fits many times in the original context are kept (1), those
    longer than it are slowed by `factor`, and those between are blended smoothly."""
    import numpy as np

    rope = _rope_parameters(config)
    if rope.get("rope_type") != "llama3":
        return None
    dim = _head_dim(config)
    base = rope.get("rope_theta", 10000.0)
    factor = rope.get("factor", 8.0)
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old_context = rope.get("original_max_position_embeddings", 8192)
    wavelengths = 2 * math.pi * base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)  # (dim/2,)
    smooth = np.clip((old_context / wavelengths - low) / max(high - low, 1e-9), 0.0, 1.0)
    divisors = 1.0 / ((1.0 - smooth) / factor + smooth)
    return divisors.astype(np.float32)


# -- metadata ----------------------------------------------------------------------------------


def _add_model_metadata(writer: Any, folder: Path, config: dict, qtype: str) -> None:
    import gguf

    heads = config["num_attention_heads"]
    rope = _rope_parameters(config)
    writer.add_name(folder.name)
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_rope_dimension_count(_head_dim(config))
    if config.get("head_dim"):
        writer.add_key_length(config["head_dim"])
        writer.add_value_length(config["head_dim"])
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(_FILE_TYPES[qtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    if rope.get("rope_type") == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))


# -- tokenizer ---------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelError(
            _("{config_path} is not valid JSON ({exc}).").format(config_path=path.name, exc=exc)
        ) from exc
    return value if isinstance(value, dict) else {}


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _add_tokenizer(writer: Any, folder: Path, config: dict) -> None:
    tokenizer_config = _read_json(folder / "tokenizer_config.json")
    if (folder / "tokenizer.model").is_file() and _is_sentencepiece(folder / "tokenizer.model"):
        tokens, types, add_bos, own_ids = _sentencepiece_vocab(writer, folder, config, tokenizer_config)
    elif (folder / "tokenizer.json").is_file():
        tokens, types, add_bos, own_ids = _byte_level_vocab(writer, folder, config)
    else:
        raise _unconvertible_tokenizer(folder)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    # Special tokens: as tokenizer_config.json names them, else the tokenizer's own, else config.json.
    ids = {token: index for index, token in enumerate(tokens)}
    add_id = {
        "bos": writer.add_bos_token_id,
        "eos": writer.add_eos_token_id,
        "unk": writer.add_unk_token_id,
        "pad": writer.add_pad_token_id,
    }
    for kind, add in add_id.items():
        token_id = ids.get(_token_text(tokenizer_config.get(f"{kind}_token")))
        if token_id is None:
            token_id = own_ids.get(kind, config.get(f"{kind}_token_id"))
        if isinstance(token_id, list):  # config.json may list several end tokens
            token_id = token_id[0] if token_id else None
        if isinstance(token_id, int) and 0 <= token_id < len(tokens):
            add(token_id)
    add_bos = tokenizer_config.get("add_bos_token", add_bos)
    add_eos = tokenizer_config.get("add_eos_token", False)
    writer.add_add_bos_token(add_bos is True)
    writer.add_add_eos_token(add_eos is True)
    if template := _chat_template(folder, tokenizer_config):
        writer.add_chat_template(template)


def _tokenizer_too_large(folder: Path, tokens: int, vocab_size: int) -> InvalidModelError:
    return InvalidModelError(
        _(
            "{path} has {tokens} tokens but the weights embed only {vocab_rows}; "
            "the tokenizer belongs to another model."
        ).format(path=folder.name, tokens=tokens, vocab_rows=vocab_size)
    )


def _unconvertible_tokenizer(folder: Path) -> InvalidModelError:
    return InvalidModelError(
        _(
            "{folder}'s tokenizer cannot be converted to GGUF: LlamaDesk converts byte-level BPE "
            "tokenizers (Llama 3, SmolLM2) and SentencePiece ones (Llama 2)."
        ).format(folder=folder.name)
    )


def _chat_template(folder: Path, tokenizer_config: dict) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # several named templates: the default one is for chat
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    return template if isinstance(template, str) else None


def _is_sentencepiece(path: Path) -> bool:
    from sentencepiece import SentencePieceProcessor

    try:
        SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError):
        return False  # e.g. a tiktoken file under the same name
    return True


def _byte_level_vocab(writer: Any, folder: Path, config: dict):
    """tokenizer.json with a byte-level BPE model (GPT-2 style: SmolLM2, Llama 3)."""
    data = _read_json(folder / "tokenizer.json")
    model = data.get("model") or {}
    pre = _bpe_pre_tokenizer(data)
    if model.get("type") != "BPE" or pre is None or data.get("normalizer"):
        raise _unconvertible_tokenizer(folder)
    vocab_size = config["vocab_size"]
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [_UNUSED] * vocab_size
    entries = [(i, text, _NORMAL) for text, i in model["vocab"].items()]
    entries += [
        (t["id"], t["content"], _CONTROL if t.get("special") else _USER_DEFINED)
        for t in data.get("added_tokens", [])
    ]
    for token_id, text, kind in entries:
        if token_id >= vocab_size:
            raise _tokenizer_too_large(folder, token_id + 1, vocab_size)
        tokens[token_id], types[token_id] = text, kind
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    if any(m.count(" ") != 1 for m in merges):
        raise _unconvertible_tokenizer(folder)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_merges(merges)
    return tokens, types, _post_processor_adds_bos(data.get("post_processor")), {}


def _bpe_pre_tokenizer(data: dict) -> str | None:
    """The llama.cpp pre-tokenizer that splits text as this tokenizer.json does, or None."""
    pre = data.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True) and not steps[0].get("add_prefix_space"):
        return "gpt-2"  # GPT-2's own split pattern
    if (
        kinds == ["Digits", "ByteLevel"]
        and steps[0].get("individual_digits")
        and steps[1].get("use_regex", True)
        and not steps[1].get("add_prefix_space")
    ):
        return "smollm"  # every digit alone, then GPT-2's pattern
    if (
        kinds == ["Split", "ByteLevel"]
        and (steps[0].get("pattern") or {}).get("Regex") == _LLAMA3_PATTERN
        and steps[0].get("behavior") == "Isolated"
        and not steps[0].get("invert")
        and not steps[1].get("use_regex", True)
    ):
        return "llama-bpe"
    return None


def _post_processor_adds_bos(processor: dict | None) -> bool:
    """Whether tokenizer.json's post-processor puts a special token before the text."""
    if not processor:
        return False
    if processor.get("type") == "Sequence":
        return any(_post_processor_adds_bos(p) for p in processor.get("processors", []))
    if processor.get("type") == "TemplateProcessing":
        single = processor.get("single") or []
        return bool(single) and "SpecialToken" in single[0]
    return False


def _sentencepiece_vocab(writer: Any, folder: Path, config: dict, tokenizer_config: dict):
    """tokenizer.model: the SentencePiece tokenizer of Llama and Llama 2."""
    from sentencepiece import SentencePieceProcessor

    processor = SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    vocab_size = config["vocab_size"]
    if processor.vocab_size() > vocab_size:
        raise _tokenizer_too_large(folder, processor.vocab_size(), vocab_size)
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    scores = [-1000.0] * vocab_size
    types = [_UNUSED] * vocab_size
    for token_id in range(processor.vocab_size()):
        tokens[token_id] = processor.id_to_piece(token_id)
        scores[token_id] = float(processor.get_score(token_id))
        if processor.is_unknown(token_id):
            types[token_id] = _UNKNOWN
        elif processor.is_control(token_id):
            types[token_id] = _CONTROL
        elif processor.is_unused(token_id):
            types[token_id] = _UNUSED
        elif processor.is_byte(token_id):
            types[token_id] = _BYTE
        else:
            types[token_id] = _NORMAL
    # Tokens added on top of the SentencePiece model (chat markers and the like), as
    # tokenizer_config.json or, from transformers 5 on, tokenizer.json lists them.
    added = {int(key): entry for key, entry in (tokenizer_config.get("added_tokens_decoder") or {}).items()}
    added |= {entry["id"]: entry for entry in _read_json(folder / "tokenizer.json").get("added_tokens", [])}
    for token_id, entry in sorted(added.items()):
        if token_id < processor.vocab_size() and types[token_id] in (_CONTROL, _UNKNOWN):
            continue  # <s>, </s>, <unk>: SentencePiece's own entry is right
        if token_id >= vocab_size:
            raise _tokenizer_too_large(folder, token_id + 1, vocab_size)
        tokens[token_id] = entry["content"]
        scores[token_id] = -1000.0
        types[token_id] = _CONTROL if entry.get("special") else _USER_DEFINED
    dummy_prefix = processor.encode("a", out_type=str)[0].startswith("\u2581")
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_scores(scores)
    writer.add_add_space_prefix(bool(tokenizer_config.get("add_prefix_space", dummy_prefix)))
    own = {
        "bos": processor.bos_id(),
        "eos": processor.eos_id(),
        "unk": processor.unk_id(),
        "pad": processor.pad_id(),
    }
    return tokens, types, True, {kind: token_id for kind, token_id in own.items() if token_id >= 0}


# -- tensor data -------------------------------------------------------------------------------


def _float32() -> Any:
    import numpy as np

    return np.dtype(np.float32)


def _rope_row_order(rows: int, heads: int) -> Any:
    """Row indices that turn a Hugging Face q or k projection into llama.cpp's layout.

    Hugging Face rotates the first half of each head's dimensions against the second half;
    llama.cpp's RoPE rotates neighbouring pairs. So within each head, output row 2i takes input
    row i and output row 2i+1 takes input row i + head_dim/2."""
    import numpy as np

    head_dim = rows // heads
    half = np.arange(head_dim // 2)
    within = np.stack([half, half + head_dim // 2], axis=1).reshape(-1)  # (head_dim,)
    return (np.arange(heads)[:, None] * head_dim + within[None, :]).reshape(-1)  # (rows,)


def _write_tensors(
    writer: Any, tensors: list[_Tensor], progress: Progress, cancel: threading.Event | None
) -> None:
    from gguf.quants import quantize
    from safetensors import safe_open

    handle = writer.fout[0]
    total = sum(t.n_elements for t in tensors) or 1
    done = 0
    for tensor in tensors:
        _pad(handle, writer.data_alignment)
        start = handle.tell()
        if tensor.values is not None:
            quantize(tensor.values, tensor.qtype).tofile(handle)
        else:
            with safe_open(tensor.file, framework="pt") as source:
                rows = source.get_slice(tensor.source)
                order = _rope_row_order(tensor.shape[0], tensor.heads) if tensor.heads else None
                if order is not None or len(tensor.shape) < 2:
                    # q, k (at most hidden × hidden) and vectors: small enough to read whole.
                    chunks = [(0, tensor.shape[0])]
                else:
                    step = max(1, _CHUNK_ELEMENTS // tensor.shape[1])
                    chunks = [(i, min(i + step, tensor.shape[0])) for i in range(0, tensor.shape[0], step)]
                for begin, end in chunks:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    values = rows[begin:end].float().numpy()  # (rows, columns) or (columns,)
                    if order is not None:
                        values = values[order]
                    quantize(values, tensor.qtype).tofile(handle)
                    done += values.size
                    progress(done / total, _("Writing {name}").format(name=tensor.name))
        written = handle.tell() - start
        if written != tensor.n_bytes:  # the header promised this size; a mismatch corrupts the file
            raise RuntimeError(f"{tensor.name}: wrote {written} bytes, expected {tensor.n_bytes}")
    _pad(handle, writer.data_alignment)


def _pad(handle: Any, alignment: int) -> None:
    handle.write(b"\0" * (-handle.tell() % alignment))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles to sync)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
