"""Meta's original Llama release -> a Hugging Face Llama folder.

Meta ships `params.json`, one `consolidated.NN.pth` per tensor-parallel rank and a `tokenizer.model`
(SentencePiece for Llama 1/2, tiktoken BPE ranks for Llama 3). Three differences from Hugging Face's
layout each give a model that loads fine and talks nonsense if missed:

- Weights are split across ranks as Meta's parallel layers split them: column-parallel layers (wq, wk,
  wv, w1, w3, output) by output rows, row-parallel ones (wo, w2) by input columns, the embedding by its
  columns (Llama 1/2) or its rows (Llama 3); norms are copied to every rank.
- Meta's rotary embedding rotates interleaved pairs of a head's features; Hugging Face rotates the first
  half of a head against the second, so the rows of wq and wk are reordered head by head.
- `tokenizer.model` is not a Hugging Face tokenizer; we build an equivalent `tokenizers` pipeline.

Shards are memory-mapped and the output is written a couple of GiB at a time, so a 70B release
converts without the model ever being in memory twice."""

import base64
import json
import logging
import math
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llamadesk.core.atomic import write_json
from llamadesk.core.chat_templates import LLAMA2_TEMPLATE, LLAMA3_TEMPLATE
from llamadesk.core.errors import InvalidModelError
from llamadesk.core.i18n import N_, _
from llamadesk.core.progress import Progress

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerFast

log = logging.getLogger(__name__)

_SHARD_NAME = re.compile(r"consolidated\.(\d+)\.pth")
TOKENIZER_FILE = "tokenizer.model"
# Peak memory of the conversion is about one output file; smaller files also resume copies faster.
MAX_OUTPUT_FILE_BYTES = 2 * 1024**3

# params.json keys that mark a model this converter would get wrong: refused rather than guessed.
_UNSUPPORTED_PARAMS = {
    "quantization_args": N_("a quantized checkpoint"),
    "lora_args": N_("a quantized (QLoRA) checkpoint"),
    "vision_chunk_size": N_("a vision model"),
    "vision_model": N_("a vision model"),
    "moe_args": N_("a mixture-of-experts model"),
}

# Meta's per-layer tensor -> (Hugging Face name, the dimension ranks split it along; None: replicated).
_LAYER_TENSORS = {
    "attention.wq.weight": ("self_attn.q_proj.weight", 0),
    "attention.wk.weight": ("self_attn.k_proj.weight", 0),
    "attention.wv.weight": ("self_attn.v_proj.weight", 0),
    "attention.wo.weight": ("self_attn.o_proj.weight", 1),
    "feed_forward.w1.weight": ("mlp.gate_proj.weight", 0),
    "feed_forward.w2.weight": ("mlp.down_proj.weight", 1),
    "feed_forward.w3.weight": ("mlp.up_proj.weight", 0),
    "attention_norm.weight": ("input_layernorm.weight", None),
    "ffn_norm.weight": ("post_attention_layernorm.weight", None),
}
_TOP_TENSORS = ("tok_embeddings.weight", "norm.weight", "output.weight")
# Llama 1/2 store their rotary table; Hugging Face recomputes it from rope_theta.
_IGNORED_KEYS = {"rope.freqs"}

# Llama 3's pre-tokenizer split, from its tiktoken definition.
_LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3_SPECIAL_COUNT = 256
# Llama 3.1 scaled rope: the context Llama 3 was pretrained with and the fixed low-frequency factor.
_LLAMA3_PRETRAINED_CONTEXT = 8192
_LLAMA3_LOW_FREQ_FACTOR = 1.0


@dataclass(frozen=True)
class MetaParams:
    """params.json, with the defaults of Meta's code for the keys older releases leave out."""

    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int  # -1: as many tokens as the embedding has rows
    multiple_of: int
    ffn_dim_multiplier: float | None
    norm_eps: float
    rope_theta: float
    max_seq_len: int | None  # rarely present: Meta's code takes it at run time
    use_scaled_rope: bool  # Llama 3.1 and later
    rope_scaling_factor: float
    rope_high_freq_factor: float

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def ffn_hidden_size(self) -> int:
        """SwiGLU width by the formula in Meta's model code (the w1 shape is what counts)."""
        hidden = int(2 * 4 * self.dim / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)


@dataclass(frozen=True)
class _Target:
    """One Hugging Face tensor and how to assemble it from the ranks' pieces."""

    name: str  # Hugging Face name
    key: str  # Meta name
    split: int | None  # dimension the ranks split it along; None: every rank holds a copy
    shape: tuple[int, ...]  # assembled
    nbytes: int
    rotary_heads: int = 0  # heads whose rows go from interleaved to half-split rotary order (0: none)


def is_meta_checkpoint(src: Path) -> bool:
    """A folder with Meta's weight files; what else it needs is checked (and explained) on conversion."""
    return src.is_dir() and any(_SHARD_NAME.fullmatch(p.name) for p in src.glob("consolidated.*.pth"))


def _shard_name(rank: int) -> str:
    return f"consolidated.{rank:02d}.pth"


def read_params(src: Path) -> MetaParams:
    path = src / "params.json"
    if not path.is_file():
        raise InvalidModelError(
            _("{src} has no params.json; copy it from the original download next to the .pth files.").format(
                src=src.name
            )
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelError(
            _("params.json in {src} is not valid JSON ({exc}).").format(src=src.name, exc=exc)
        ) from exc
    if not isinstance(raw, dict):
        raise InvalidModelError(_("params.json in {src} does not describe a model.").format(src=src.name))
    for key, what in _UNSUPPORTED_PARAMS.items():
        if raw.get(key) not in (None, -1):
            raise InvalidModelError(
                _("{src} is {what}; LlamaDesk converts Meta's plain Llama text models only.").format(
                    src=src.name, what=_(what)
                )
            )
    for key in ("dim", "n_layers", "n_heads"):
        if key not in raw:
            raise InvalidModelError(
                _("params.json in {src} lacks '{key}'; it is not from a Llama release.").format(
                    src=src.name, key=key
                )
            )
    try:
        n_heads = int(raw["n_heads"])
        multiplier = raw.get("ffn_dim_multiplier")
        params = MetaParams(
            dim=int(raw["dim"]),
            n_layers=int(raw["n_layers"]),
            n_heads=n_heads,
            n_kv_heads=int(raw.get("n_kv_heads") or n_heads),
            vocab_size=int(raw.get("vocab_size", -1)),
            multiple_of=int(raw.get("multiple_of", 256)),
            ffn_dim_multiplier=None if multiplier is None else float(multiplier),
            norm_eps=float(raw.get("norm_eps", 1e-5)),
            rope_theta=float(raw.get("rope_theta", 10000.0)),
            max_seq_len=int(raw["max_seq_len"]) if raw.get("max_seq_len") else None,
            use_scaled_rope=bool(raw.get("use_scaled_rope", False)),
            rope_scaling_factor=float(raw.get("rope_scaling_factor") or 8.0),
            rope_high_freq_factor=float(raw.get("rope_high_freq_factor") or 4.0),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidModelError(
            _("params.json in {src} has a value of the wrong type ({exc}).").format(src=src.name, exc=exc)
        ) from exc
    if min(params.dim, params.n_layers, params.n_heads, params.n_kv_heads) <= 0 or (
        params.dim % params.n_heads or params.n_heads % params.n_kv_heads
    ):
        raise InvalidModelError(
            _(
                "params.json in {src} is inconsistent: dim {dim}, {n_heads} heads, "
                "{n_kv_heads} key/value heads."
            ).format(src=src.name, dim=params.dim, n_heads=params.n_heads, n_kv_heads=params.n_kv_heads)
        )
    return params


def shard_files(src: Path) -> list[Path]:
    """consolidated.00.pth .. NN.pth in rank order; a gap in the numbering is a missing file."""
    numbered = {}
    for path in src.glob("consolidated.*.pth"):
        if match := _SHARD_NAME.fullmatch(path.name):
            numbered[int(match.group(1))] = path
    if not numbered:
        raise InvalidModelError(_("{src} has no consolidated.*.pth weight files.").format(src=src.name))
    count = max(numbered) + 1
    for rank in range(count):
        if rank not in numbered:
            raise InvalidModelError(
                _(
                    "{shard} is missing from {src}: the weights are split into at least "
                    "{count} files; copy the missing one from the original download."
                ).format(shard=_shard_name(rank), src=src.name, count=count)
            )
    return [numbered[rank] for rank in range(count)]


def find_tokenizer(src: Path) -> Path:
    """Llama 3 keeps tokenizer.model in each model folder; Llama 2's download puts it one level up."""
    for folder in (src, src.parent):
        if (folder / TOKENIZER_FILE).is_file():
            return folder / TOKENIZER_FILE
    raise InvalidModelError(
        _(
            "{src} has no {tokenizer_file} (nor has its parent folder); copy it from the original download."
        ).format(src=src.name, tokenizer_file=TOKENIZER_FILE)
    )


def _load_shard(path: Path) -> dict[str, "torch.Tensor"]:
    """A rank's tensors, memory-mapped where the file format allows (every zip-format .pth)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise InvalidModelError(
            _("{path} is damaged or incomplete and cannot be read; download it again.").format(path=path.name)
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InvalidModelError(
            _("{path} does not hold a table of weights; it is not a Llama checkpoint.").format(path=path.name)
        )
    return state


def _check_keys(shards: list[dict], files: list[Path], params: MetaParams) -> None:
    """Every rank holds exactly Llama's tensors, in shapes that agree with rank 0's."""
    expected = set(_TOP_TENSORS) | {f"layers.{i}.{k}" for i in range(params.n_layers) for k in _LAYER_TENSORS}
    first = set(shards[0]) - _IGNORED_KEYS
    if unknown := sorted(first - expected):
        raise InvalidModelError(
            _(
                "{name} holds '{unknown}', which a Llama model as params.json describes it "
                "does not have; this is not a plain Llama text model, or params.json belongs "
                "to another model."
            ).format(name=files[0].name, unknown=unknown[0])
        )
    if missing := sorted(expected - first):
        raise InvalidModelError(
            _("{name} lacks '{missing}'; it is incomplete or params.json belongs to another model.").format(
                name=files[0].name, missing=missing[0]
            )
        )
    for path, shard in zip(files[1:], shards[1:], strict=True):
        if set(shard) - _IGNORED_KEYS != first:
            raise InvalidModelError(
                _("{path} holds different tensors from {name}; the files come from different models.").format(
                    path=path.name, name=files[0].name
                )
            )
        for key in sorted(first):
            if shard[key].shape != shards[0][key].shape:
                raise InvalidModelError(
                    _(
                        "{path} does not match {name}: '{key}' has shape {shape} there but "
                        "{first_shape} in rank 0; the files come from different models or one is "
                        "damaged."
                    ).format(
                        path=path.name,
                        name=files[0].name,
                        key=key,
                        shape=list(shard[key].shape),
                        first_shape=list(shards[0][key].shape),
                    )
                )


def _check_rank_count(src: Path, shards: list[dict], params: MetaParams) -> None:
    """Catch a release missing its last files, which a gap-free numbering cannot show: each rank
    holds an equal share of the query heads, so rank 0's share says how many ranks there must be."""
    rows = shards[0]["layers.0.attention.wq.weight"].shape[0]
    full = params.n_heads * params.head_dim
    if rows * len(shards) == full:
        return
    if rows and full % rows == 0 and full // rows > len(shards):
        message = (
            _(
                "{shard} is missing from {src}: the weights are split into {needed} files "
                "and only one is there."
            )
            if len(shards) == 1
            else _(
                "{shard} is missing from {src}: the weights are split into {needed} files "
                "and only {found} are there."
            )
        )
        raise InvalidModelError(
            message.format(
                shard=_shard_name(len(shards)), src=src.name, needed=full // rows, found=len(shards)
            )
        )
    raise InvalidModelError(
        _(
            "The weights in {src} do not match params.json: {found} file(s) of {rows} "
            "query rows each, where {n_heads} heads of {head_dim} need {full}."
        ).format(
            src=src.name,
            found=len(shards),
            rows=rows,
            n_heads=params.n_heads,
            head_dim=params.head_dim,
            full=full,
        )
    )


def _embedding_split(src: Path, shards: list[dict], params: MetaParams) -> int:
    """Llama 1/2 split the embedding's columns across ranks; Llama 3 splits its rows (the vocabulary)."""
    columns = shards[0]["tok_embeddings.weight"].shape[1]
    if len(shards) == 1 or columns == params.dim:
        return 0
    if columns * len(shards) == params.dim:
        return 1
    raise InvalidModelError(
        _(
            "The token embedding in {src} has {columns} columns per file, which fits neither "
            "split of dim {dim} over {count} files."
        ).format(src=src.name, columns=columns, dim=params.dim, count=len(shards))
    )


def _plan(src: Path, shards: list[dict], params: MetaParams) -> list[_Target]:
    """Every output tensor with its assembled shape, checked against the shapes params.json implies
    (the SwiGLU width and vocabulary come from the weights, which is what the model really has)."""
    ranks = len(shards)
    hidden = shards[0]["layers.0.feed_forward.w1.weight"].shape[0] * ranks
    if hidden != params.ffn_hidden_size():
        log.warning(
            "w1 has %d rows where params.json implies %d; following the weights",
            hidden,
            params.ffn_hidden_size(),
        )
    embed_split = _embedding_split(src, shards, params)
    vocab = shards[0]["tok_embeddings.weight"].shape[0] * (ranks if embed_split == 0 else 1)
    if params.vocab_size > 0 and params.vocab_size != vocab:
        raise InvalidModelError(
            _("params.json in {src} says {vocab_size} tokens but the embedding holds {vocab}.").format(
                src=src.name, vocab_size=params.vocab_size, vocab=vocab
            )
        )
    d, q, kv = params.dim, params.n_heads * params.head_dim, params.n_kv_heads * params.head_dim
    # The shape params.json implies for each of Meta's per-layer tensors.
    layer_shapes = {
        "attention.wq.weight": (q, d),
        "attention.wk.weight": (kv, d),
        "attention.wv.weight": (kv, d),
        "attention.wo.weight": (d, q),
        "feed_forward.w1.weight": (hidden, d),
        "feed_forward.w2.weight": (d, hidden),
        "feed_forward.w3.weight": (hidden, d),
        "attention_norm.weight": (d,),
        "ffn_norm.weight": (d,),
    }
    rotary_heads = {"attention.wq.weight": params.n_heads, "attention.wk.weight": params.n_kv_heads}

    def target(name: str, key: str, split: int | None, want: tuple[int, ...], heads: int = 0) -> _Target:
        piece = shards[0][key]
        shape = list(piece.shape)
        if split is not None:
            shape[split] *= ranks
        if tuple(shape) != want:
            raise InvalidModelError(
                _(
                    "'{key}' in {src} assembles to shape {shape} but params.json implies "
                    "{want}; a weight file or params.json belongs to another model."
                ).format(key=key, src=src.name, shape=shape, want=list(want))
            )
        return _Target(name, key, split, want, math.prod(want) * piece.element_size(), heads)

    targets = [target("model.embed_tokens.weight", "tok_embeddings.weight", embed_split, (vocab, d))]
    for i in range(params.n_layers):
        for meta, (hf, split) in _LAYER_TENSORS.items():
            key = f"layers.{i}.{meta}"
            targets.append(
                target(f"model.layers.{i}.{hf}", key, split, layer_shapes[meta], rotary_heads.get(meta, 0))
            )
    targets.append(target("model.norm.weight", "norm.weight", None, (d,)))
    targets.append(target("lm_head.weight", "output.weight", 0, (vocab, d)))
    return targets


def _assemble(shards: list[dict], target: _Target, head_dim: int) -> "torch.Tensor":
    import torch

    parts = [shard[target.key] for shard in shards]
    tensor = parts[0] if target.split is None or len(parts) == 1 else torch.cat(parts, dim=target.split)
    if target.rotary_heads:
        tensor = _interleaved_to_half_split(tensor, target.rotary_heads, head_dim)
    return tensor.contiguous()


def _interleaved_to_half_split(weight: "torch.Tensor", heads: int, head_dim: int) -> "torch.Tensor":
    """Reorder a projection's rows so Hugging Face's rotate-half rotary gives Meta's results.

    Meta views each head's features as complex pairs (0,1), (2,3), ...; Hugging Face pairs feature j
    with j + head_dim/2. Row order per head goes from (r0, i0, r1, i1, ...) to (r0, r1, ..., i0, i1, ...)."""
    rows, columns = weight.shape
    # (heads, pairs, 2, columns) -> (heads, 2, pairs, columns)
    return weight.reshape(heads, head_dim // 2, 2, columns).transpose(1, 2).reshape(rows, columns)


def _output_is_embedding(shards: list[dict], targets: list[_Target], head_dim: int) -> bool:
    """Llama 3.2 1B/3B ship output equal to the embedding: save it once, as Hugging Face's tied layout.
    The first rows settle the usual untied case without assembling either matrix."""
    import torch

    embed, output = targets[0], targets[-1]
    if embed.shape != output.shape:
        return False
    first_rows = []
    for t in (embed, output):
        parts = [shard[t.key][:1] for shard in (shards if t.split == 1 else shards[:1])]
        first_rows.append(torch.cat(parts, dim=1))
    if not torch.equal(*first_rows):
        return False
    return torch.equal(_assemble(shards, embed, head_dim), _assemble(shards, output, head_dim))


def _write_weights(
    shards: list[dict], targets: list[_Target], head_dim: int, dest: Path, progress: Progress
) -> None:
    """Safetensors files of at most MAX_OUTPUT_FILE_BYTES each, assembled and written one at a time."""
    from safetensors.torch import save_file

    groups: list[list[_Target]] = [[]]
    size = 0
    for t in targets:
        if groups[-1] and size + t.nbytes > MAX_OUTPUT_FILE_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(t)
        size += t.nbytes
    if len(groups) == 1:
        names = ["model.safetensors"]
    else:
        names = [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    weight_map: dict[str, str] = {}
    done = 0
    for name, group in zip(names, groups, strict=True):
        tensors = {}
        for t in group:
            progress(done / len(targets), _("Converting {key}").format(key=t.key))
            tensors[t.name] = _assemble(shards, t, head_dim)
            weight_map[t.name] = name
            done += 1
        progress(done / len(targets), _("Writing {name}").format(name=name))
        save_file(tensors, dest / name, metadata={"format": "pt"})
    if len(groups) > 1:
        total = sum(t.nbytes for t in targets)
        write_json(
            dest / "model.safetensors.index.json",
            {"metadata": {"total_size": total}, "weight_map": weight_map},
        )


def _is_sentencepiece(data: bytes) -> bool:
    import sentencepiece

    try:
        sentencepiece.SentencePieceProcessor().LoadFromSerializedProto(data)
    except (RuntimeError, OSError, TypeError):
        return False
    return True


def _sentencepiece_tokenizer(data: bytes) -> "PreTrainedTokenizerFast":
    """A `tokenizers` twin of a SentencePiece model (Llama 1/2): same pieces and ids, and the same
    spaces, including the one SentencePiece puts before every text (a prepending normalizer, unlike
    Metaspace, also does so when the text already starts with a space)."""
    from sentencepiece import sentencepiece_model_pb2 as spm_pb2
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    proto = spm_pb2.ModelProto()
    proto.ParseFromString(data)
    piece_kind = spm_pb2.ModelProto.SentencePiece
    pieces = list(proto.pieces)
    trainer, spec = proto.trainer_spec, proto.normalizer_spec
    if trainer.model_type == spm_pb2.TrainerSpec.UNIGRAM:
        model = models.Unigram(
            [(p.piece, p.score) for p in pieces], unk_id=trainer.unk_id, byte_fallback=trainer.byte_fallback
        )
    else:
        # SentencePiece BPE merges the adjacent pair whose merged piece scores highest; Hugging Face's
        # BPE merges the pair ranked first, so ranks follow the merged piece's score.
        vocab = {p.piece: i for i, p in enumerate(pieces)}
        normal = {p.piece: (-p.score, i) for i, p in enumerate(pieces) if p.type == piece_kind.NORMAL}
        merges = [
            (piece[:k], piece[k:])
            for piece in sorted(normal, key=normal.__getitem__)
            for k in range(1, len(piece))
            if piece[:k] in normal and piece[k:] in normal
        ]
        model = models.BPE(
            vocab,
            merges,
            unk_token=pieces[trainer.unk_id].piece,
            fuse_unk=True,
            byte_fallback=trainer.byte_fallback,
        )
    tokenizer = Tokenizer(model)
    steps = []
    if spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(spec.precompiled_charsmap))
    if spec.remove_extra_whitespaces:
        steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace(Regex("^ | $"), "")]
    if spec.add_dummy_prefix:
        steps.append(normalizers.Prepend(" "))
    steps.append(normalizers.Replace(" ", "▁"))
    tokenizer.normalizer = normalizers.Sequence(steps)
    decoding = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    if spec.add_dummy_prefix:
        decoding.append(decoders.Strip(content=" ", left=1))
    tokenizer.decoder = decoders.Sequence(decoding)
    control = (piece_kind.CONTROL, piece_kind.UNKNOWN)
    tokenizer.add_special_tokens(
        [AddedToken(p.piece, special=True, normalized=False) for p in pieces if p.type in control]
    )
    tokenizer.add_tokens(
        [AddedToken(p.piece, normalized=False) for p in pieces if p.type == piece_kind.USER_DEFINED]
    )

    def piece(index: int) -> str | None:
        return pieces[index].piece if 0 <= index < len(pieces) else None

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=piece(trainer.bos_id),
        eos_token=piece(trainer.eos_id),
        unk_token=piece(trainer.unk_id),
        pad_token=piece(trainer.pad_id),
        add_bos_token=trainer.bos_id >= 0,
    )
    fast.chat_template = LLAMA2_TEMPLATE
    return fast


def _read_bpe_ranks(data: bytes) -> dict[bytes, int] | None:
    """tiktoken's format: one "base64(token) rank" line per token, ranks 0..n-1; None if not that."""
    ranks: dict[bytes, int] = {}
    try:
        for line in data.splitlines():
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
    except ValueError:  # includes binascii.Error
        return None
    if not ranks or sorted(ranks.values()) != list(range(len(ranks))):
        return None
    return ranks


def _byte_symbols() -> list[str]:
    """The character standing for each byte in byte-level BPE vocabularies (the table Hugging Face's
    ByteLevel pre-tokenizer and decoder use): printable Latin-1 bytes stand for themselves, the others
    take code points from 256 on, in byte order."""
    printable = {
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    }
    symbols = []
    extra = 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def llama3_special_tokens(llama31: bool) -> list[str]:
    """The 256 tokens after the BPE ranks, as Meta's tokenizer code names them (3.1 renamed a few)."""
    if llama31:
        named = [
            "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
        ]  # fmt: skip
        first_reserved = 3
    else:
        named = [
            "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>",
        ]  # fmt: skip
        first_reserved = 5
    reserved = [
        f"<|reserved_special_token_{first_reserved + i}|>" for i in range(_LLAMA3_SPECIAL_COUNT - len(named))
    ]
    return named + reserved


def _tiktoken_tokenizer(ranks: dict[bytes, int], llama31: bool) -> "PreTrainedTokenizerFast":
    """Llama 3's tokenizer from its BPE ranks, built locally (tiktoken itself would fetch nothing here,
    but Hugging Face needs a `tokenizers` pipeline anyway). tiktoken merges the adjacent pair whose
    joined bytes rank lowest, so every split of a token into two ranked tokens becomes a merge ranked
    by the joined token."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    symbols = _byte_symbols()

    def text(token: bytes) -> str:
        return "".join(symbols[byte] for byte in token)

    ordered = []
    for token, rank in ranks.items():
        for k in range(1, len(token)):
            left, right = token[:k], token[k:]
            if left in ranks and right in ranks:
                ordered.append((rank, ranks[left], ranks[right], left, right))
    ordered.sort()
    merges = [(text(left), text(right)) for *_rank, left, right in ordered]
    vocab = {text(token): rank for token, rank in ranks.items()}
    tokenizer = Tokenizer(models.BPE(vocab, merges, ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in llama3_special_tokens(llama31)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        add_bos_token=True,
    )
    fast.chat_template = LLAMA3_TEMPLATE
    return fast


def build_tokenizer(path: Path, vocab_rows: int, llama31: bool) -> "PreTrainedTokenizerFast":
    """A Hugging Face tokenizer for `tokenizer.model`: SentencePiece if it loads as one, else tiktoken."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidModelError(
            _("{path} cannot be read ({reason}).").format(path=path, reason=exc.strerror)
        ) from exc
    if _is_sentencepiece(data):
        tokenizer = _sentencepiece_tokenizer(data)
    elif (ranks := _read_bpe_ranks(data)) is not None:
        tokenizer = _tiktoken_tokenizer(ranks, llama31)
    else:
        raise InvalidModelError(
            _(
                "{path} is neither a SentencePiece model nor a tiktoken vocabulary; it is "
                "damaged or not Llama's tokenizer."
            ).format(path=path)
        )
    if len(tokenizer) > vocab_rows:
        raise InvalidModelError(
            _(
                "{path} has {tokens} tokens but the weights embed only "
                "{vocab_rows}; the tokenizer belongs to another model."
            ).format(path=path, tokens=len(tokenizer), vocab_rows=vocab_rows)
        )
    return tokenizer


def _context_length(params: MetaParams, tiktoken: bool) -> int:
    """params.json seldom says; each release's published context, told apart by what differs."""
    if params.max_seq_len:
        return params.max_seq_len
    if tiktoken:
        return 131072 if params.use_scaled_rope else 8192  # Llama 3.1+ / 3
    if params.rope_theta >= 1e6:
        return 16384  # Code Llama
    return 2048 if params.norm_eps < 1e-5 else 4096  # Llama 1 used eps 1e-6, Llama 2 1e-5


def _rope_parameters(params: MetaParams) -> dict:
    if not params.use_scaled_rope:
        return {"rope_type": "default", "rope_theta": params.rope_theta}
    return {
        "rope_type": "llama3",
        "rope_theta": params.rope_theta,
        "factor": params.rope_scaling_factor,
        "low_freq_factor": _LLAMA3_LOW_FREQ_FACTOR,
        "high_freq_factor": params.rope_high_freq_factor,
        "original_max_position_embeddings": _LLAMA3_PRETRAINED_CONTEXT,
    }


def convert_meta_checkpoint(src: Path, dest: Path, progress: Progress) -> None:
    """Write a Hugging Face Llama folder for Meta's release in `src` into the empty folder `dest`."""
    from transformers import GenerationConfig, LlamaConfig

    progress(0.0, _("Reading params.json"))
    params = read_params(src)
    files = shard_files(src)
    tokenizer_path = find_tokenizer(src)
    shards = []
    for rank, path in enumerate(files):
        progress(0.01 + 0.04 * rank / len(files), _("Opening {path}").format(path=path.name))
        shards.append(_load_shard(path))
    _check_keys(shards, files, params)
    _check_rank_count(src, shards, params)
    targets = _plan(src, shards, params)
    vocab_rows = targets[0].shape[0]

    progress(0.05, _("Building the tokenizer"))
    tokenizer = build_tokenizer(tokenizer_path, vocab_rows, params.use_scaled_rope)
    tiktoken = "<|eot_id|>" in tokenizer.get_vocab()

    progress(0.1, _("Comparing output and embedding"))
    tied = _output_is_embedding(shards, targets, params.head_dim)
    if tied:
        targets = targets[:-1]
    _write_weights(shards, targets, params.head_dim, dest, progress.sub(0.1, 0.97))

    progress(0.97, _("Writing configuration and tokenizer"))
    context = _context_length(params, tiktoken)
    end_of_turn = [t for t in ("<|eom_id|>", "<|eot_id|>") if t in tokenizer.get_vocab()]
    eos_ids = [tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(end_of_turn)]
    config = LlamaConfig(
        architectures=["LlamaForCausalLM"],
        vocab_size=vocab_rows,
        hidden_size=params.dim,
        intermediate_size=next(t.shape[0] for t in targets if t.key == "layers.0.feed_forward.w1.weight"),
        num_hidden_layers=params.n_layers,
        num_attention_heads=params.n_heads,
        num_key_value_heads=params.n_kv_heads,
        head_dim=params.head_dim,
        max_position_embeddings=context,
        rms_norm_eps=params.norm_eps,
        rope_parameters=_rope_parameters(params),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos_ids[0],
        tie_word_embeddings=tied,
        dtype=str(shards[0]["tok_embeddings.weight"].dtype).removeprefix("torch."),
    )
    config.save_pretrained(dest)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos_ids if len(eos_ids) > 1 else eos_ids[0]
    ).save_pretrained(dest)
    tokenizer.model_max_length = context
    tokenizer.save_pretrained(dest)
    progress(1.0, _("Converted"))
