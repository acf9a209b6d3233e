"""Token data for training: completion-only labels for SFT, full blocks for pre-training, the
seeded order, and clear refusals when a corpus gives nothing to train on."""

import numpy as np
import pytest

from llamadesk.core.corpus import store
from llamadesk.core.corpus.packing import IGNORE_INDEX
from llamadesk.core.errors import CorpusError
from llamadesk.core.progress import Progress
from llamadesk.core.training import data
from tests.tiny import make_tokenizer
from tests.training_fixtures import sft_corpus, text_corpus, tiny_spec, write_alpaca


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def build(tmp_path, tokenizer, spec, name="data"):
    corpora = [store.get_corpus(c) for c in spec.data]
    data.build_token_data(spec, corpora, tokenizer, tmp_path / name, Progress())
    return data.load_token_data(tmp_path / name)


def test_sft_labels_cover_only_the_replies(tmp_path, tokenizer):
    spec = tiny_spec(sft_corpus(tmp_path), "a", kind="sft", block_size=64)
    tokens = build(tmp_path, tokenizer, spec)
    assert len(tokens.train) > 50 and tokens.validation is not None
    assert tokens.summary["train_label_tokens"] < tokens.summary["train_tokens"]
    for index in range(len(tokens.train)):
        ids, labels = tokens.train.example(index)
        kept = [int(t) for t, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
        assert all(label in (IGNORE_INDEX, token) for token, label in zip(ids, labels, strict=True))
        text = tokenizer.decode(kept)
        # the reply and the end-of-turn marker after it, nothing of the prompt or the template
        assert text.endswith("<|im_end|>\n") and "<|im_start|>" not in text
        assert "Question" not in text and "问题" not in text


def test_collate_pads_out_of_attention_and_loss(tmp_path, tokenizer):
    spec = tiny_spec(sft_corpus(tmp_path), "a", kind="sft", block_size=64)
    tokens = build(tmp_path, tokenizer, spec)
    examples = [tokens.train.example(i) for i in range(4)]
    batch = data.collate(examples, pad_id=tokenizer.pad_token_id)
    lengths = [len(ids) for ids, _ in examples]
    assert batch["input_ids"].shape == (4, max(lengths))
    for row, length in enumerate(lengths):
        assert batch["attention_mask"][row].sum() == length
        assert (batch["labels"][row, length:] == IGNORE_INDEX).all()
        assert (batch["input_ids"][row, length:] == tokenizer.pad_token_id).all()


def test_loss_counts_only_response_tokens(tmp_path, tokenizer, tiny_model_dir):
    """The model's loss on a collated SFT batch is the mean over reply tokens alone."""
    import torch
    from transformers import AutoModelForCausalLM

    spec = tiny_spec(sft_corpus(tmp_path), "a", kind="sft", block_size=64)
    tokens = build(tmp_path, tokenizer, spec)
    batch = data.collate([tokens.train.example(i) for i in range(3)], tokenizer.pad_token_id)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        out = model(**batch)
    logits, labels = out.logits[:, :-1], batch["labels"][:, 1:]  # (batch, seq-1, vocab), (batch, seq-1)
    mask = labels != IGNORE_INDEX
    per_token = torch.nn.functional.cross_entropy(logits[mask], labels[mask], reduction="mean")
    assert out.loss.item() == pytest.approx(per_token.item(), rel=1e-5)
    assert mask.sum() < batch["attention_mask"].sum() / 2


def test_pretraining_blocks_are_full_and_labels_are_the_ids(tmp_path, tokenizer):
    tokens = build(tmp_path, tokenizer, tiny_spec(text_corpus(tmp_path), "a"))
    assert tokens.train.labels is None
    assert set(np.diff(tokens.train.offsets)) == {32}
    ids, labels = tokens.train.example(0)
    assert ids is labels and len(ids) == 32
    assert tokens.summary["train_tokens"] == 32 * len(tokens.train)
    assert 0 < len(tokens.validation) <= 8  # max_eval_examples


def test_epoch_order_is_fixed_by_seed_and_epoch():
    first = data.epoch_order(100, 42, 0)
    assert sorted(first) == list(range(100))
    assert (first == data.epoch_order(100, 42, 0)).all()
    assert not (first == data.epoch_order(100, 42, 1)).all()
    assert not (first == data.epoch_order(100, 7, 0)).all()


def test_wrong_kind_of_corpus_is_refused_with_the_fix(tmp_path, tokenizer):
    with pytest.raises(CorpusError, match="only conversations.*kind 'sft'"):
        build(tmp_path, tokenizer, tiny_spec(sft_corpus(tmp_path), "a"), "pt")
    with pytest.raises(CorpusError, match="only plain text.*kind 'pt'"):
        build(tmp_path, tokenizer, tiny_spec(text_corpus(tmp_path), "a", kind="sft"), "sft")
    assert not (tmp_path / "pt").exists() and not (tmp_path / "sft").exists()


def test_text_shorter_than_a_block_is_refused(tmp_path, tokenizer):
    (tmp_path / "short.txt").write_text("Llamas live in the Andes.", encoding="utf-8")
    corpus = store.add_corpus([tmp_path / "short.txt"], "short").id
    with pytest.raises(CorpusError, match="shorter than one block of 512 tokens; lower the block size"):
        build(tmp_path, tokenizer, tiny_spec(corpus, "a", block_size=512))


def test_prompt_filling_the_block_is_refused(tmp_path, tokenizer):
    path = tmp_path / "long.jsonl"
    write_alpaca(path, 10)
    corpus = store.add_corpus([path], "long").id
    with pytest.raises(CorpusError, match="prompt fills the 8-token block"):
        build(tmp_path, tokenizer, tiny_spec(corpus, "a", kind="sft", block_size=8))


def test_vocabulary_extension_adds_whole_chinese_pieces(tmp_path):
    tokenizer = make_tokenizer()
    before = len(tokenizer)
    texts = ["人工智能正在改变世界。北京是中国的首都。机器学习和深度学习。"] * 50 + [
        "The quick brown fox."
    ] * 20
    added = data.extend_vocabulary(tokenizer, texts, 120)
    assert added and len(tokenizer) == before + len(added)
    assert all(not any(c.isascii() and c.isalnum() for c in piece) for piece in added)
    assert len(tokenizer("人工智能", add_special_tokens=False)["input_ids"]) < 12
    with pytest.raises(CorpusError, match="too small for a vocabulary of 100000 pieces"):
        data.extend_vocabulary(make_tokenizer(), texts, 100_000)
    with pytest.raises(CorpusError, match="no plain text"):
        data.extend_vocabulary(make_tokenizer(), [], 100)


def _all_in_validation(corpus: store.CorpusEntry, kind: str) -> None:
    """What the split's hash does to a one-document corpus 1 time in 20: nothing left in train."""
    train, validation = (corpus.folder / store.UNIT_FILES[kind][split] for split in ("train", "validation"))
    validation.write_text(train.read_text(encoding="utf-8") + validation.read_text(encoding="utf-8"))
    train.write_text("", encoding="utf-8")


def test_a_corpus_with_everything_in_validation_is_split_again(tmp_path, tokenizer):
    corpus = text_corpus(tmp_path)
    normal = build(tmp_path, tokenizer, tiny_spec(corpus, "a", max_eval_examples=1000), "normal")
    _all_in_validation(store.get_corpus(corpus), "text")
    tokens = build(tmp_path, tokenizer, tiny_spec(corpus, "a", max_eval_examples=1000))
    pooled = len(tokens.train) + len(tokens.validation)
    assert pooled == pytest.approx(len(normal.train) + len(normal.validation), abs=1)  # packed as one
    assert len(tokens.validation) == pooled // data.HELD_OUT_EVERY and tokens.summary["resplit"]
    assert "every 20th example, kept for the eval loss" in data.split_note(tokens.summary)
    assert data.split_note(normal.summary) is None and not normal.summary["resplit"]


def test_a_few_conversations_all_in_validation_train_without_one(tmp_path, tokenizer):
    path = tmp_path / "few.jsonl"
    write_alpaca(path, 6)
    corpus = store.add_corpus([path], "few").id
    _all_in_validation(store.get_corpus(corpus), "conversation")
    tokens = build(tmp_path, tokenizer, tiny_spec(corpus, "a", kind="sft", block_size=64))
    assert len(tokens.train) == 6 and tokens.validation is None
    assert data.split_note(tokens.summary).endswith("trains on all of its data and reports no eval loss.")
