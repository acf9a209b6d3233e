"""Tiny Llama releases in Meta's original format, and a forward pass written from Meta's model math.

The weights are random; what matters is that they are sharded, stored and named exactly as Meta's
release is, so the converter meets what it will meet, and that the reference forward pass works on
the unsharded originals in Meta's own layout (interleaved complex rotary), independent of the
converter and of transformers."""

import base64
import io
import json
import math
import random
import re
from collections import Counter
from pathlib import Path

import torch

LLAMA2_PARAMS = {
    "dim": 64,
    "n_layers": 2,
    "n_heads": 4,
    "n_kv_heads": 2,
    "multiple_of": 32,
    "ffn_dim_multiplier": 1.3,
    "norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "vocab_size": -1,
}
LLAMA3_PARAMS = LLAMA2_PARAMS | {"use_scaled_rope": True}

_WORDS = (
    "the quick brown fox jumps over lazy dog llama model weights tensor shard rotary attention head "
    "don't we'll it's Paris Rome café naïve 北京 世界 ok?! (x+y)=z"
)


def sample_text(seed: int = 0, lines: int = 300) -> str:
    rng = random.Random(seed)
    words = _WORDS.split()
    return "\n".join(
        " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + f" {rng.randint(0, 99999)}"
        for _ in range(lines)
    )


def train_sentencepiece(**overrides) -> bytes:
    """A SentencePiece model configured like Llama 1/2's (BPE, byte fallback, split digits, identity
    normalisation, spaces kept as they are, <unk>/<s>/</s> at ids 0/1/2) unless `overrides` say otherwise."""
    import sentencepiece

    model = io.BytesIO()
    options = {
        "vocab_size": 400,
        "model_type": "bpe",
        "byte_fallback": True,
        "split_digits": True,
        "normalization_rule_name": "identity",
        "remove_extra_whitespaces": False,
        "character_coverage": 1.0,
        "unk_id": 0,
        "bos_id": 1,
        "eos_id": 2,
        "pad_id": -1,
        "minloglevel": 2,
    }
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sample_text().splitlines()), model_writer=model, **(options | overrides)
    )
    return model.getvalue()


def train_bpe_ranks(merges: int = 120) -> dict[bytes, int]:
    """tiktoken-style ranks: the 256 bytes, then `merges` tokens each joining two earlier ones."""
    words = Counter(re.findall(r" ?\w+| ?[^\w\s]+|\s+", sample_text(1)))
    pieces = {word: [bytes([b]) for b in word.encode()] for word in words}
    ranks = {bytes([b]): b for b in range(256)}
    for _ in range(merges):
        pairs: Counter = Counter()
        for word, parts in pieces.items():
            for left, right in zip(parts, parts[1:], strict=False):
                pairs[left, right] += words[word]
        left, right = max(pairs, key=lambda pair: (pairs[pair], pair))
        ranks[left + right] = len(ranks)
        for word, parts in pieces.items():
            joined, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                    joined.append(left + right)
                    i += 2
                else:
                    joined.append(parts[i])
                    i += 1
            pieces[word] = joined
    return ranks


def ranks_file(ranks: dict[bytes, int]) -> bytes:
    return b"".join(base64.b64encode(token) + b" %d\n" % rank for token, rank in ranks.items())


def ffn_hidden(params: dict) -> int:
    hidden = int(2 * 4 * params["dim"] / 3)
    if params.get("ffn_dim_multiplier"):
        hidden = int(params["ffn_dim_multiplier"] * hidden)
    return params["multiple_of"] * math.ceil(hidden / params["multiple_of"])


def random_weights(params: dict, vocab: int, seed: int = 0, *, tied: bool = False) -> dict[str, torch.Tensor]:
    """Unsharded weights under Meta's names and shapes (float32, so comparisons can be tight)."""
    generator = torch.Generator().manual_seed(seed)
    dim, heads = params["dim"], params["n_heads"]
    kv = params.get("n_kv_heads", heads) * (dim // heads)
    hidden = ffn_hidden(params)

    def rand(*shape: int, scale: float = 0.1) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * scale

    weights = {"tok_embeddings.weight": rand(vocab, dim, scale=1.0), "norm.weight": 1 + rand(dim)}
    weights["output.weight"] = weights["tok_embeddings.weight"].clone() if tied else rand(vocab, dim)
    for i in range(params["n_layers"]):
        weights |= {
            f"layers.{i}.attention.wq.weight": rand(dim, dim, scale=0.3),
            f"layers.{i}.attention.wk.weight": rand(kv, dim, scale=0.3),
            f"layers.{i}.attention.wv.weight": rand(kv, dim),
            f"layers.{i}.attention.wo.weight": rand(dim, dim),
            f"layers.{i}.feed_forward.w1.weight": rand(hidden, dim),
            f"layers.{i}.feed_forward.w2.weight": rand(dim, hidden),
            f"layers.{i}.feed_forward.w3.weight": rand(hidden, dim),
            f"layers.{i}.attention_norm.weight": 1 + rand(dim),
            f"layers.{i}.ffn_norm.weight": 1 + rand(dim),
        }
    return weights


def shard(
    weights: dict[str, torch.Tensor], ranks: int, embedding_split: int
) -> list[dict[str, torch.Tensor]]:
    """Split as Meta's parallel layers do: column-parallel by rows, row-parallel by columns, the
    embedding by columns (Llama 1/2) or rows (Llama 3), norms copied to every rank."""
    shards: list[dict[str, torch.Tensor]] = [{} for _ in range(ranks)]
    for key, tensor in weights.items():
        if key.endswith(("wo.weight", "w2.weight")):
            split = 1
        elif key == "tok_embeddings.weight":
            split = embedding_split
        elif key.endswith("norm.weight"):
            split = None
        else:
            split = 0
        for rank in range(ranks):
            piece = tensor if split is None else tensor.chunk(ranks, dim=split)[rank]
            shards[rank][key] = piece.clone()  # each rank saves its own storage, as in the release
    return shards


def write_release(
    folder: Path,
    params: dict,
    weights: dict[str, torch.Tensor],
    tokenizer: bytes,
    *,
    ranks: int,
    embedding_split: int,
    rope_table: bool = False,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps(params))
    (folder / "tokenizer.model").write_bytes(tokenizer)
    for rank, state in enumerate(shard(weights, ranks, embedding_split)):
        if rope_table:  # Llama 1/2 releases carry their precomputed rotary table
            state["rope.freqs"] = torch.ones(params["dim"] // params["n_heads"] // 2)
        torch.save(state, folder / f"consolidated.{rank:02d}.pth")
    return folder


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def _rotary_frequencies(head_dim: int, params: dict) -> torch.Tensor:
    """One frequency per complex pair; Llama 3.1's scaling slows the low frequencies down."""
    freqs = 1.0 / (params.get("rope_theta", 10000.0) ** (torch.arange(0, head_dim, 2).double() / head_dim))
    if not params.get("use_scaled_rope"):
        return freqs
    factor, low, high, context = 8.0, 1.0, 4.0, 8192
    wavelength = 2 * math.pi / freqs
    smooth = (context / wavelength - low) / (high - low)
    blended = (1 - smooth) * freqs / factor + smooth * freqs
    scaled = torch.where(wavelength > context / low, freqs / factor, blended)
    return torch.where(wavelength < context / high, freqs, scaled)


def meta_forward(weights: dict[str, torch.Tensor], params: dict, tokens: list[int]) -> torch.Tensor:
    """Logits (seq, vocab) of Meta's Llama for one sequence, from the unsharded Meta-layout weights."""
    dim, heads = params["dim"], params["n_heads"]
    kv_heads = params.get("n_kv_heads", heads)
    head_dim, eps, seq = dim // heads, params.get("norm_eps", 1e-5), len(tokens)
    angles = torch.outer(torch.arange(seq).double(), _rotary_frequencies(head_dim, params))
    rotation = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)  # (seq, head_dim/2)

    def rotate(x: torch.Tensor) -> torch.Tensor:  # (seq, heads, head_dim), features paired (0,1), (2,3)...
        pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
        return torch.view_as_real(pairs * rotation[:, None, :]).flatten(-2)

    causal = torch.full((seq, seq), float("-inf")).triu(1)
    h = weights["tok_embeddings.weight"][tokens]  # (seq, dim)
    for i in range(params["n_layers"]):
        w = {k.removeprefix(f"layers.{i}."): v for k, v in weights.items() if k.startswith(f"layers.{i}.")}
        x = _rms_norm(h, w["attention_norm.weight"], eps)
        q = rotate((x @ w["attention.wq.weight"].T).view(seq, heads, head_dim))
        k = rotate((x @ w["attention.wk.weight"].T).view(seq, kv_heads, head_dim))
        v = (x @ w["attention.wv.weight"].T).view(seq, kv_heads, head_dim)
        k, v = (
            t.repeat_interleave(heads // kv_heads, dim=1) for t in (k, v)
        )  # query head j reads kv j // rep
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim) + causal
        attended = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).reshape(seq, dim)
        h = h + attended @ w["attention.wo.weight"].T
        x = _rms_norm(h, w["ffn_norm.weight"], eps)
        gate = torch.nn.functional.silu(x @ w["feed_forward.w1.weight"].T)
        h = h + (gate * (x @ w["feed_forward.w3.weight"].T)) @ w["feed_forward.w2.weight"].T
    return _rms_norm(h, weights["norm.weight"], eps) @ weights["output.weight"].T
