"""Token ids for training: packed text blocks and completion-only chat labels."""

import pytest

from llamadesk.core.corpus.packing import IGNORE_INDEX, pack_texts, sft_example
from llamadesk.core.errors import InvalidModelError
from tests.tiny import make_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_pack_texts_concatenates_with_eos_and_cuts_blocks(tokenizer):
    texts = ["The capital of France is Paris.", "", "北京是中国的首都。", "Llamas live in the Andes."]
    eos = tokenizer.eos_token_id
    stream = []
    for text in texts:
        if text:
            stream += ids(tokenizer, text) + [eos]
    blocks = list(pack_texts(texts, tokenizer, 8))
    assert all(len(b) == 8 for b in blocks)
    assert len(blocks) == len(stream) // 8
    assert sum(blocks, []) == stream[: len(blocks) * 8]
    with_tail = list(pack_texts(texts, tokenizer, 8, keep_tail=True))
    assert sum(with_tail, []) == stream and len(with_tail[-1]) == len(stream) % 8
    assert stream.count(eos) == 3


def test_pack_texts_is_lazy(tokenizer):
    def endless():
        while True:
            yield "The quick brown fox jumps over the lazy dog."

    blocks = pack_texts(endless(), tokenizer, 16)
    assert len(next(blocks)) == 16


CONVERSATION = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Question: what is two plus two?"},
    {"role": "assistant", "content": "Answer: four."},
    {"role": "user", "content": "问题：一加一等于几？"},
    {"role": "assistant", "content": "答案：二。"},
]


def labelled_runs(input_ids, labels) -> list[list[int]]:
    runs, current = [], []
    for token, label in zip(input_ids, labels, strict=True):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    if current:
        runs.append(current)
    return runs


def test_sft_labels_only_assistant_replies_with_end_of_turn(tokenizer):
    input_ids, labels = sft_example(CONVERSATION, tokenizer, max_len=512)
    rendered = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert tokenizer.decode(input_ids) == rendered
    assert len(labels) == len(input_ids)
    replies = [tokenizer.decode(run) for run in labelled_runs(input_ids, labels)]
    assert replies == ["Answer: four.<|im_end|>\n", "答案：二。<|im_end|>\n"]
    # Everything before the first reply, assistant header included, is masked.
    header = tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    first_label = next(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    assert tokenizer.decode(input_ids[:first_label]) == header


def test_sft_truncates_both(tokenizer):
    full_ids, full_labels = sft_example(CONVERSATION, tokenizer, max_len=10_000)
    input_ids, labels = sft_example(CONVERSATION, tokenizer, max_len=12)
    assert input_ids == full_ids[:12] and labels == full_labels[:12]
    assert all(label == IGNORE_INDEX for label in labels)  # only prompt fits: the caller drops it


def test_sft_needs_a_chat_template(tokenizer):
    bare = make_tokenizer()
    bare.chat_template = None
    with pytest.raises(InvalidModelError, match="no chat template"):
        sft_example(CONVERSATION, bare, max_len=64)


def test_sft_refuses_templates_that_rewrite_history(tokenizer):
    rewriting = make_tokenizer()
    # Renders the last message differently from earlier ones, so prefixes do not line up.
    rewriting.chat_template = (
        "{% for m in messages %}{% if loop.last %}[last]{% endif %}{{ m['role'] }}: {{ m['content'] }}\n"
        "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    )
    with pytest.raises(InvalidModelError, match="renders earlier turns differently"):
        sft_example(CONVERSATION, rewriting, max_len=64)
