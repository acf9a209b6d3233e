"""What a metric asks of a model: the logits at the last positions of a token sequence, and a
greedy reply. Two scorers give them, so every metric is written once:

- `TorchScorer`, a torch model (float, int4 on a CPU, any PEFT adapter, any device);
- `LlamaCppScorer`, a GGUF file on the llama.cpp engine, read as it is mapped: a 1.1B model scores
  in about a gigabyte where its dequantised float copy takes six (a 7B: about five against forty).

`scorer_for` picks the one the chat would use for a loaded `SwitchingEngine`, with the Hugging
Face tokenizer the metrics encode prompts with (a GGUF model's library folder carries one)."""

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llamadesk.core.chat_templates import END_OF_TURN_TOKENS

if TYPE_CHECKING:
    import numpy as np

    from llamadesk.core.engines import SwitchingEngine
    from llamadesk.core.engines.llamacpp_engine import LlamaCppEngine


class Scorer(ABC):
    context_length: int | None  # the longest input the model reads; None: not known

    @abstractmethod
    def logits(self, ids: Sequence[int], keep: int) -> "np.ndarray":
        """Float32 logits (keep, vocab) at the last `keep` positions of `ids`."""

    @abstractmethod
    def greedy(
        self,
        ids: Sequence[int],
        max_new_tokens: int,
        stop_ids: frozenset[int],
        cancel: threading.Event | None,
    ) -> list[int]:
        """The greedy continuation's token ids, ending before a stop token."""

    @abstractmethod
    def described(self) -> dict[str, str]:
        """dtype, device and engine, stored with a result so runs on different set-ups never compare."""

    def stop_ids(self, tokenizer: Any) -> frozenset[int]:
        """End of sequence and end of turn, as the chat stops: a chat model's reply ends at its turn
        marker even where that is not the tokenizer's EOS."""
        vocab = tokenizer.get_vocab()
        stop = {tokenizer.eos_token_id} | {vocab[token] for token in END_OF_TURN_TOKENS if token in vocab}
        return frozenset(i for i in stop if i is not None)


class TorchScorer(Scorer):
    def __init__(self, model: Any, quantization: str | None = None) -> None:
        """`quantization`: the engine's weight-only mode (int8/int4 on a CPU), which the first
        parameter's dtype does not show (the embedding stays float)."""
        model.eval()
        self.model = model
        self.quantization = quantization
        # A PeftModel passes its base's config through.
        self.context_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self._parameter = next(model.parameters())

    def logits(self, ids: Sequence[int], keep: int) -> "np.ndarray":
        import torch

        inputs = torch.tensor([list(ids)], dtype=torch.long, device=self._parameter.device)  # (1, seq)
        with torch.inference_mode():
            rows = self.model(input_ids=inputs, logits_to_keep=keep).logits[0]  # (keep, vocab)
        return rows.float().cpu().numpy()

    def greedy(
        self,
        ids: Sequence[int],
        max_new_tokens: int,
        stop_ids: frozenset[int],
        cancel: threading.Event | None,
    ) -> list[int]:
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
                stop = cancel is not None and cancel.is_set()
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        eos = getattr(self.model.generation_config, "eos_token_id", None)
        stops = sorted(stop_ids | {i for i in (eos if isinstance(eos, list) else [eos]) if i is not None})
        inputs = torch.tensor([list(ids)], dtype=torch.long, device=self._parameter.device)  # (1, seq)
        config = GenerationConfig(
            do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=stops[0]
        )
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=inputs,
                attention_mask=torch.ones_like(inputs),
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([_Cancelled()]),
            )
        new = output[0, len(ids) :].tolist()
        return new[:-1] if new and new[-1] in stops else new

    def described(self) -> dict[str, str]:
        described = {
            "dtype": str(self._parameter.dtype).removeprefix("torch."),
            "device": str(self._parameter.device),
            "engine": "torch",
        }
        if self.quantization not in (None, "none"):
            described["quantization"] = self.quantization
        return described


class LlamaCppScorer(Scorer):
    def __init__(self, engine: "LlamaCppEngine") -> None:
        self.engine = engine
        self.context_length = engine.context_length

    def logits(self, ids: Sequence[int], keep: int) -> "np.ndarray":
        return self.engine.logits(list(ids), keep)

    def greedy(
        self,
        ids: Sequence[int],
        max_new_tokens: int,
        stop_ids: frozenset[int],
        cancel: threading.Event | None,
    ) -> list[int]:
        return self.engine.greedy(list(ids), max_new_tokens, stop_ids, cancel)

    def described(self) -> dict[str, str]:
        return {"dtype": self.engine.dtype, "device": "cpu", "engine": "llama.cpp"}


def scorer_for(engine: "SwitchingEngine", tokenizers: dict[str, Any]) -> tuple[Scorer, Any]:
    """The scorer for the model (and adapter) `engine` holds now, and the tokenizer to encode with.
    `tokenizers` caches the Hugging Face tokenizer of a model on llama.cpp by model id."""
    from llamadesk.core.engines import LLAMACPP

    if engine.kind != LLAMACPP:
        return TorchScorer(engine.model, engine.quantization), engine.tokenizer
    model_id = engine.model_id
    if model_id not in tokenizers:
        from transformers import AutoTokenizer

        tokenizers[model_id] = AutoTokenizer.from_pretrained(engine.entry.path)
    return LlamaCppScorer(engine.held), tokenizers[model_id]
