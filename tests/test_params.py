from llamadesk.core.params import (
    breakdown_from_config,
    count_from_shapes,
    kv_cache_bytes_per_token,
    memory_bytes,
)

LLAMA2_7B = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "tie_word_embeddings": False,
}


def test_llama2_7b_formula_total():
    assert breakdown_from_config(LLAMA2_7B).total == 6_738_415_616


def test_gqa_and_tied_embeddings():
    smol = {
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "tie_word_embeddings": True,
    }
    breakdown = breakdown_from_config(smol)
    assert breakdown.total == 134_515_008
    by_name = {c.name: c for c in breakdown.components}
    assert by_name["attention k_proj"].count == 576 * 3 * 64
    assert by_name["LM head"].count == 0


def test_formula_matches_real_model_weights(tiny_model_dir):
    import json

    from llamadesk.core.formats.hf import weight_shapes

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert breakdown_from_config(config).total == count_from_shapes(weight_shapes(tiny_model_dir))


def test_memory_and_kv_cache():
    assert memory_bytes(10) == {"fp32": 40, "bf16": 20, "int8": 10, "int4": 5}
    # Llama-2-7B: 2 (K and V) × 32 layers × 32 heads × 128 dims × 2 bytes = 512 KiB per token.
    assert kv_cache_bytes_per_token(LLAMA2_7B) == 524_288
