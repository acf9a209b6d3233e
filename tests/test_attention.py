"""Grouped-head attention on the CPU gives transformers' own "sdpa" results, with and without a mask
and over a kept KV cache, as the chat engine uses it."""

import pytest
import torch

from llamadesk.core import attention


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    name = attention.register()
    ours = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=name).eval()
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    assert ours.config.num_key_value_heads < ours.config.num_attention_heads  # grouped heads
    return ours, reference


def _calls(monkeypatch) -> list[bool]:
    """Which calls of the grouped path passed enable_gqa to torch."""
    seen: list[bool] = []
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        seen.append(bool(kwargs.get("enable_gqa")))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return seen


@torch.inference_mode()
def test_whole_prompt_and_cached_continuation_match_sdpa(models, monkeypatch):
    from transformers import DynamicCache

    ours, reference = models
    ids = torch.randint(0, ours.config.vocab_size, (1, 23), generator=torch.Generator().manual_seed(0))
    logits = {}
    for label, model in (("ours", ours), ("reference", reference)):
        calls = _calls(monkeypatch) if label == "ours" else []
        cache = DynamicCache(config=model.config)
        first = model(input_ids=ids[:, :15], cache=cache, use_cache=True).logits
        second = model(input_ids=ids[:, 15:22], cache=cache, use_cache=True).logits
        one = model(input_ids=ids[:, 22:], cache=cache, use_cache=True).logits
        logits[label] = torch.cat([first, second, one], dim=1)
        if label == "ours":
            assert any(calls)  # the grouped path ran for the multi-token parts
        monkeypatch.undo()
    torch.testing.assert_close(logits["ours"], logits["reference"], atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_padded_batch_matches_sdpa(models):
    ours, reference = models
    ids = torch.randint(0, ours.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padding
    a = ours(input_ids=ids, attention_mask=mask).logits
    b = reference(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[1, 3:], b[1, 3:], atol=1e-5, rtol=1e-5)
