"""Parameter counts and memory needs of Llama-family models, by formula from the config.

The formula is derived per component so a user can see where the weights go; it is checked
against the count read from the weight files, and the two must agree."""

from dataclasses import asdict, dataclass, field

# int4: two weights a byte, as the torch engine's int4 mode and 4-bit GGUF blocks pack them (their
# per-block scales add an eighth or so on top).
BYTES_PER_PARAM = {"fp32": 4, "bf16": 2, "int8": 1, "int4": 0.5}


@dataclass(frozen=True)
class Component:
    name: str
    count: int
    formula: str
    # How many times the component occurs (once per layer for attention, MLP and norms).
    repeats: int = 1

    @property
    def total(self) -> int:
        return self.count * self.repeats


@dataclass(frozen=True)
class ParamBreakdown:
    components: list[Component]
    tied_embeddings: bool
    config_summary: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.components)

    def to_json(self) -> dict:
        return {
            "total": self.total,
            "tied_embeddings": self.tied_embeddings,
            "components": [asdict(c) | {"total": c.total} for c in self.components],
            "config": self.config_summary,
        }


def _dims(config: dict) -> dict:
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or hidden // heads
    return {
        "vocab": config["vocab_size"],
        "hidden": hidden,
        "intermediate": config["intermediate_size"],
        "layers": config["num_hidden_layers"],
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
    }


def breakdown_from_config(config: dict) -> ParamBreakdown:
    """Count parameters per component from a Hugging Face Llama config (a plain dict)."""
    d = _dims(config)
    V, H, I, L = d["vocab"], d["hidden"], d["intermediate"], d["layers"]  # noqa: E741
    q_out, kv_out = d["heads"] * d["head_dim"], d["kv_heads"] * d["head_dim"]
    attn_bias = bool(config.get("attention_bias"))
    mlp_bias = bool(config.get("mlp_bias"))
    tied = bool(config.get("tie_word_embeddings", False))

    def linear(fan_in: int, fan_out: int, bias: bool) -> int:
        return fan_in * fan_out + (fan_out if bias else 0)

    b = " + bias" if attn_bias else ""
    components = [
        Component("token embeddings", V * H, f"vocab {V} × hidden {H}"),
        Component(
            "attention q_proj",
            linear(H, q_out, attn_bias),
            f"{H} × {d['heads']} heads × {d['head_dim']}{b}",
            L,
        ),
        Component(
            "attention k_proj",
            linear(H, kv_out, attn_bias),
            f"{H} × {d['kv_heads']} KV heads × {d['head_dim']}{b}",
            L,
        ),
        Component(
            "attention v_proj",
            linear(H, kv_out, attn_bias),
            f"{H} × {d['kv_heads']} KV heads × {d['head_dim']}{b}",
            L,
        ),
        Component("attention o_proj", linear(q_out, H, attn_bias), f"{q_out} × {H}{b}", L),
        Component("MLP gate_proj (SwiGLU)", linear(H, I, mlp_bias), f"{H} × intermediate {I}", L),
        Component("MLP up_proj (SwiGLU)", linear(H, I, mlp_bias), f"{H} × intermediate {I}", L),
        Component("MLP down_proj", linear(I, H, mlp_bias), f"{I} × {H}", L),
        Component("RMSNorms (input + post-attention)", 2 * H, f"2 × {H}", L),
        Component("final RMSNorm", H, f"{H}"),
        Component(
            "LM head",
            0 if tied else V * H,
            "tied to token embeddings" if tied else f"hidden {H} × vocab {V}",
        ),
    ]
    return ParamBreakdown(components, tied, d | {"tie_word_embeddings": tied})


def count_from_shapes(shapes: dict[str, list[int]]) -> int:
    """Total parameters in a weight table (name → shape), as stored on disk."""
    total = 0
    for shape in shapes.values():
        n = 1
        for dim in shape:
            n *= dim
        total += n
    return total


def kv_cache_bytes_per_token(config: dict, bytes_per_value: int = 2) -> int:
    """Keys and values of every layer for one token of context."""
    d = _dims(config)
    return 2 * d["layers"] * d["kv_heads"] * d["head_dim"] * bytes_per_value


def memory_bytes(total_params: int) -> dict[str, int]:
    """Weight memory at each precision (activations and KV cache come on top)."""
    return {name: int(total_params * size) for name, size in BYTES_PER_PARAM.items()}
