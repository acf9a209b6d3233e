"""Tiny random Llama models with a real (small, trained-here) tokenizer and chat template.

Fast enough to build in a fixture; real enough that every code path (templates, generation,
PEFT, training) runs exactly as on a big model."""

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_TRAINING_TEXT = """
The capital of France is Paris. The capital of Italy is Rome. 北京是中国的首都。
Llamas live in the Andes. A model learns from text; an adapter changes a few weights.
Question: what is two plus two? Answer: four. 问题：一加一等于几？答案：二。
The quick brown fox jumps over the lazy dog. 人工智能正在改变世界。 Hello, how are you today?
"""


def make_tokenizer(directory: Path | None = None):
    """A byte-level BPE tokenizer (vocab ~320) with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_TRAINING_TEXT] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML_TEMPLATE
    if directory is not None:
        fast.save_pretrained(directory)
    return fast


def make_tiny_model(directory: Path, seed: int = 0, *, tie: bool = False, layers: int = 2) -> Path:
    """Save a random LlamaForCausalLM (hidden 32, GQA 4/2 heads, SwiGLU) with its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=tie,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    model.generation_config.save_pretrained(directory)
    return directory
