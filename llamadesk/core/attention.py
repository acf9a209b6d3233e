"""Attention for chat on a CPU: grouped key/value heads handed to torch as they are.

Llama models since Llama 2 70B share each key/value head among several query heads (the starter:
9 query heads, 3 key/value heads). For a prompt of more than one token with a mask, which is every
turn after the first since the KV cache is kept between turns, transformers' "sdpa" attention
copies each key/value head out to every query head that shares it, on every layer, which grows
with the conversation. torch's CPU kernel takes the grouped heads directly (`enable_gqa`) and gives
the same result: at turn 10 of a chat (20 new tokens over 630 cached) the copies took 16 ms and the
kernel 20 ms of a 97 ms time to first token; grouped, the kernel alone takes half its time.

Everything else (one token at a time, GPUs, models without grouped heads) goes to transformers'
own "sdpa" function unchanged: its single-token path already avoids the copies, and on a GPU a
mask with `enable_gqa` would drop to torch's slow reference kernel."""

from typing import Any

NAME = "llamadesk_sdpa"


def _grouped_sdpa(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q_length, kv_length = query.shape[2], key.shape[2]
    causal_square = attention_mask is None and q_length == kv_length and getattr(module, "is_causal", True)
    if (
        query.device.type != "cpu"
        or q_length == 1
        or getattr(module, "num_key_value_groups", 1) == 1
        or not (attention_mask is not None or causal_square)
        or kwargs.get("position_bias") is not None
        or kwargs.get("softcap") is not None
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    output = torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout,
        scale=scaling,
        is_causal=attention_mask is None,
        enable_gqa=True,
    )
    return output.transpose(1, 2).contiguous(), None


def register() -> str:
    """Make NAME known to transformers (idempotent); the name to pass as `attn_implementation`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _grouped_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
