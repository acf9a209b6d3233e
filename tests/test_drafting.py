"""Drafting Q&A pairs from documents: the parser on the spellings models use, the prompt, the
loop over chunks with a fake engine and once with the tiny model, and saving an edited set."""

import json
import shutil
import threading

import pytest

from llamadesk.core import drafting, library
from llamadesk.core.corpus import store
from llamadesk.core.drafting import QAPair
from llamadesk.core.errors import Cancelled, CorpusError
from llamadesk.core.progress import Progress


def test_parses_plain_bold_numbered_and_chinese_markers():
    reply = """Sure! Here are some questions.

Q: Where do llamas live?
A: In the Andes.

**Q2:** What is the capital of France?
**A2:** Paris, which is
also its largest city.

1. Question: What does an adapter change?
   Answer: A few weights.
问：中国的首都是哪里？
答：北京。
Q: A question nobody answered
"""
    pairs = drafting.parse_pairs(reply, source="notes.txt")
    assert [(p.question, p.answer) for p in pairs] == [
        ("Where do llamas live?", "In the Andes."),
        ("What is the capital of France?", "Paris, which is\nalso its largest city."),
        ("What does an adapter change?", "A few weights."),
        ("中国的首都是哪里？", "北京。"),
    ]
    assert {p.source for p in pairs} == {"notes.txt"}


def test_parser_keeps_sentences_that_only_look_like_markers():
    reply = "Q: What learns from text?\nA: A model.\nA model learns from text: slowly.\nQuestion 2: What?\n"
    pairs = drafting.parse_pairs(reply)
    assert pairs == [QAPair("What learns from text?", "A model.\nA model learns from text: slowly.")]


def test_parser_drops_repeats_and_empty_fields():
    reply = "Q: Same?\nA: One.\nq: same?\nA: Two.\nQ:\nA: orphan\nQ: Empty answer\nA:   \n"
    assert drafting.parse_pairs(reply) == [QAPair("Same?", "One.")]
    assert drafting.parse_pairs("no markers at all") == []


def test_prompt_follows_the_language_of_the_chunk():
    english = drafting.draft_messages("Llamas live in the Andes.", 2)
    chinese = drafting.draft_messages("北京是中国的首都。人工智能正在改变世界。", 2)
    assert "write 2 questions" in english[1]["content"] and "Llamas" in english[1]["content"]
    assert "问：" in chinese[1]["content"] and "2 个" in chinese[1]["content"]


def test_chunks_cut_at_paragraphs_and_stop_at_the_limit():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(10))
    chunks = drafting.document_chunks([text], max_chars=700)
    assert all(len(c) <= 700 for c in chunks) and len(chunks) >= 4
    assert chunks[0].startswith("Paragraph 0.")
    assert len(drafting.document_chunks([text, text], max_chars=700, limit=3)) == 3


class FakeEngine:
    """Answers every prompt with canned text, in pieces, as ChatEngine.stream does."""

    def __init__(self, replies, context=10_000):
        self.replies = list(replies)
        self.prompts = []
        self.context = context

    def count_tokens(self, messages):
        return sum(len(m["content"]) for m in messages) // 4

    def prompt_budget(self, max_new_tokens):
        return self.context - max_new_tokens

    def stream(self, messages, settings, cancel):
        self.prompts.append(messages)
        reply = self.replies[len(self.prompts) - 1]
        for start in range(0, len(reply), 7):
            if cancel.is_set():
                return
            yield reply[start : start + 7]


def test_draft_pairs_asks_once_per_chunk_and_merges_the_answers():
    engine = FakeEngine(
        [
            "Q: Where do llamas live?\nA: In the Andes.\nQ: Extra one\nA: beyond per_chunk",
            "Q: where do llamas live?\nA: Repeated across chunks.\nQ: What is Paris?\nA: A capital.",
        ]
    )
    seen = []
    progress = Progress(lambda fraction, message: seen.append(fraction))
    pairs = drafting.draft_pairs(
        engine, ["chunk one", "chunk two"], per_chunk=1, source="doc", progress=progress
    )
    assert [p.question for p in pairs] == ["Where do llamas live?"]
    pairs = drafting.draft_pairs(
        FakeEngine(engine.replies), ["chunk one", "chunk two"], per_chunk=2, source="doc"
    )
    assert [p.question for p in pairs] == ["Where do llamas live?", "Extra one", "What is Paris?"]
    assert "chunk one" in engine.prompts[0][1]["content"] and seen[-1] == 1.0


def test_a_long_passage_is_shortened_to_fit_the_context():
    engine = FakeEngine(["Q: x?\nA: y."], context=700)
    settings = drafting.DRAFT_SETTINGS  # 512 new tokens: 188 left for the prompt
    drafting.draft_pairs(engine, ["word " * 2000], settings=settings)
    sent = engine.prompts[0]
    assert engine.count_tokens(sent) <= 188 and "word word" in sent[1]["content"]
    with pytest.raises(CorpusError, match="too short"):
        drafting.draft_pairs(FakeEngine([""], context=560), ["word " * 2000], settings=settings)


def test_draft_pairs_stops_on_cancel():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        drafting.draft_pairs(FakeEngine(["Q: x\nA: y"]), ["chunk"], progress=Progress(cancel=cancel))
    with pytest.raises(CorpusError):
        drafting.draft_pairs(FakeEngine([]), [])


def test_draft_with_the_tiny_model(tiny_model_dir, tmp_path):
    from llamadesk.core.engine import ChatEngine
    from llamadesk.core.generation import GenerationSettings

    # The tiny model's 256 positions cannot hold the request; rotary embeddings go further.
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps(config | {"max_position_embeddings": 1024}))
    library.import_model(copy, "tiny", in_place=True)
    engine = ChatEngine()
    engine.load("tiny")
    try:
        settings = GenerationSettings(temperature=0.0, max_new_tokens=8)
        pairs = drafting.draft_pairs(engine, ["Llamas live in the Andes."], settings=settings)
        stats = engine.last_stats
    finally:
        engine.unload()
    # A random tiny model writes noise: the plumbing ran (a reply was generated, then parsed).
    assert stats.new_tokens > 0 and stats.prompt_tokens > 20
    assert all(isinstance(p, QAPair) for p in pairs)


def test_write_read_and_store_pairs(tmp_path):
    pairs = [
        QAPair("Where do llamas live?", "In the Andes."),
        QAPair("  ", "blank row"),
        QAPair("首都？", "北京。"),
    ]
    path = tmp_path / "set.jsonl"
    assert drafting.write_pairs(pairs, path) == 2
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[1]) == {
        "instruction": "首都？",
        "output": "北京。",
    }
    read, left_out = drafting.read_pairs(path)
    assert read == [pairs[0], pairs[2]] and left_out == 0

    many = [QAPair(f"Question {i}?", f"Answer {i}.") for i in range(30)]
    entry = drafting.add_pairs_corpus(many, "private-qa", seed=7)
    assert store.get_corpus("private-qa").kind == "instructions"
    assert entry.manifest["split"]["seed"] == 7
    assert sum(entry.summary().conversations.values()) == 30
    first = next(entry.iter_conversations("train"))
    assert [m["role"] for m in first] == ["user", "assistant"]
    with pytest.raises(CorpusError):
        drafting.write_pairs([QAPair("", "")], tmp_path / "empty.jsonl")


def test_read_pairs_leaves_out_multi_turn_conversations(tmp_path):
    path = tmp_path / "chat.jsonl"
    records = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {
            "messages": [
                {"role": "user", "content": "A"},
                {"role": "assistant", "content": "B"},
                {"role": "user", "content": "C"},
                {"role": "assistant", "content": "D"},
            ]
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    assert drafting.read_pairs(path) == ([QAPair("Hi", "Hello")], 1)
