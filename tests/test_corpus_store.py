"""Stored corpora: manifest, passages, de-duplication, the seeded split, atomicity, cancel."""

import json
import threading

import pytest

from llamadesk.core import paths
from llamadesk.core.corpus import scan, store
from llamadesk.core.corpus.scan import iter_paragraphs, iter_passages
from llamadesk.core.errors import AlreadyExistsError, Cancelled, CorpusError, NotFoundError
from llamadesk.core.progress import Progress
from tests.tiny import make_tokenizer

QA = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]


def qa_records(count: int) -> list[dict]:
    return [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(count)]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def src(tmp_path):
    """The user's files, outside the data home (which the autouse fixture puts in tmp_path)."""
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


def corpus_folders() -> list[str]:
    return sorted(p.name for p in paths.corpora_dir().iterdir())


def test_add_list_get_remove(src):
    (src / "notes.txt").write_text("Llamas live in the Andes.\n\n羊驼生活在安第斯山脉。", encoding="utf-8")
    write_jsonl(src / "chat.jsonl", [{"messages": QA}])
    (src / "image.png").write_bytes(b"\x89PNG\x00")
    entry = store.add_corpus([src], "mine")
    assert entry.id == "mine" and entry.kind == "mixed"
    manifest = json.loads((entry.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["split"] == {"seed": 0, "validation_fraction": 0.05}
    assert manifest["encodings"] == {"utf-8": 2}
    assert {f["path"].rsplit("/", 1)[-1] for f in manifest["files_read"]} == {"notes.txt", "chat.jsonl"}
    assert manifest["skipped"][0]["reason"] == "'.png' files are not supported"
    assert manifest["passages"] == {"train": 1, "validation": 0}
    assert manifest["conversations"] == {"train": 1, "validation": 0}
    assert manifest["language"]["cjk"] > 0 and manifest["language"]["latin"] > 0
    assert list(entry.iter_texts()) == ["Llamas live in the Andes.\n\n羊驼生活在安第斯山脉。"]
    assert list(entry.iter_conversations()) == [QA]
    assert list(entry.iter_texts("validation")) == []
    summary = entry.summary()
    assert summary.kind == "mixed" and summary.characters == manifest["characters"]

    assert [e.id for e in store.list_corpora()] == ["mine"]
    assert store.get_corpus("mine").manifest == manifest
    with pytest.raises(AlreadyExistsError):
        store.add_corpus([src], "mine")
    store.remove_corpus("mine")
    assert store.list_corpora() == [] and corpus_folders() == []
    with pytest.raises(NotFoundError):
        store.get_corpus("mine")
    with pytest.raises(NotFoundError):
        store.get_corpus("../mine")


def test_ids_derived_from_the_first_path_are_made_unique(src):
    folder = src / "my notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Some text.", encoding="utf-8")
    assert store.add_corpus([folder]).id == "my-notes"
    assert store.add_corpus([folder]).id == "my-notes-2"
    with pytest.raises(CorpusError, match="cannot be used as a corpus name"):
        store.add_corpus([folder], "a/b")


def test_empty_corpus_stores_nothing(src):
    (src / "binary.txt").write_bytes(b"\x00\x00")
    with pytest.raises(CorpusError, match="No usable text or conversation was found; 1 file skipped"):
        store.add_corpus([src], "empty")
    assert corpus_folders() == []


def test_stop_on_malformed_line_stores_nothing(src):
    path = src / "bad.jsonl"
    path.write_text(json.dumps({"messages": QA}) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad.jsonl, line 2"):
        store.add_corpus([path], on_error="stop")
    assert corpus_folders() == []
    assert store.add_corpus([path], on_error="skip").manifest["warnings"] == [
        f"{path}:2: invalid JSON (Expecting property name enclosed in double quotes)"
    ]


def test_cancel_stores_nothing(src):
    (src / "a.txt").write_text("text " * 1000, encoding="utf-8")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        store.add_corpus([src], "c", Progress(cancel=cancel))
    assert corpus_folders() == []


def test_progress_reaches_the_end(src):
    (src / "a.txt").write_text("text " * 1000, encoding="utf-8")
    seen = []
    store.add_corpus([src], progress=Progress(lambda f, m: seen.append(f)))
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_duplicates_dropped_across_files_and_encodings(src):
    text = "第一段。\n\n第二段，内容不同。"
    (src / "a").mkdir()
    (src / "b").mkdir()
    (src / "a" / "zh.txt").write_text(text, encoding="utf-8")
    (src / "b" / "zh-copy.txt").write_bytes(text.replace("\n", "\r\n").encode("gbk"))
    write_jsonl(src / "chat.jsonl", [{"messages": QA}, {"messages": QA}])
    summary = scan.preview([src])
    assert summary.duplicates == 2
    assert sum(summary.passages.values()) == 1 and sum(summary.conversations.values()) == 1


def test_duplicate_paragraphs_optional(src):
    (src / "a.txt").write_text("Header line\n\nBody one.\n\nHeader line\n\nBody two.", encoding="utf-8")
    kept = store.add_corpus([src], "d", dedupe_paragraphs=True)
    assert list(kept.iter_texts()) == ["Header line\n\nBody one.\n\nBody two."]
    assert kept.manifest["paragraphs_dropped"] == 1
    assert scan.preview([src]).paragraphs_dropped == 0


def test_split_is_fixed_by_seed_and_content_not_order(src):
    records = qa_records(400)
    write_jsonl(src / "forward.jsonl", records)
    (src / "reverse").mkdir()
    write_jsonl(src / "reverse" / "reverse.jsonl", records[::-1])

    def validation(path, seed):
        entry = store.add_corpus([path], seed=seed, val_fraction=0.1)
        return {c[0]["content"] for c in entry.iter_conversations("validation")}, entry

    forward, entry = validation(src / "forward.jsonl", 0)
    reverse, _ = validation(src / "reverse", 0)
    other_seed, _ = validation(src / "forward.jsonl", 1)
    assert forward == reverse
    assert forward != other_seed
    assert 20 <= len(forward) <= 60  # about 10% of 400
    train = {c[0]["content"] for c in entry.iter_conversations("train")}
    assert not train & forward and len(train) + len(forward) == 400


def test_small_corpus_still_gets_a_validation_unit(src):
    write_jsonl(src / "qa.jsonl", qa_records(12))
    entry = store.add_corpus([src], seed=3, val_fraction=0.05)
    validation = list(entry.iter_conversations("validation"))
    train = list(entry.iter_conversations("train"))
    assert len(validation) >= 1 and len(train) + len(validation) == 12
    assert entry.manifest["conversations"] == {"train": len(train), "validation": len(validation)}
    again = store.add_corpus([src], seed=3, val_fraction=0.05)
    assert list(again.iter_conversations("validation")) == validation
    # Too small for 5% to mean one unit: everything trains.
    write_jsonl(src / "qa.jsonl", qa_records(3))
    assert store.add_corpus([src], val_fraction=0.05).manifest["conversations"]["validation"] == 0


def test_long_text_becomes_passages_that_reassemble(src):
    paragraphs = [f"Paragraph {i}: " + "word " * (i % 50 + 5) for i in range(3000)]
    text = "\n\n".join(p.rstrip() for p in paragraphs)
    (src / "long.md").write_text(text, encoding="utf-8")
    entry = store.add_corpus([src], val_fraction=0.2)
    passages = list(entry.iter_texts("train")) + list(entry.iter_texts("validation"))
    assert len(passages) > 10 and max(len(p) for p in passages) <= scan.PASSAGE_CHARS
    assert sorted(p for passage in passages for p in passage.split("\n\n")) == sorted(text.split("\n\n"))


def test_passages_do_not_depend_on_chunking():
    text = ("一二三四五六七八九十" * 300 + "\n\n" + "word " * 900 + "\n\n") * 5
    whole = list(iter_passages(iter_paragraphs([text], 1000), 1000))
    for size in (7, 333, 4096):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert list(iter_passages(iter_paragraphs(chunks, 1000), 1000)) == whole
    assert all(len(p) <= 1000 for p in whole)


def test_tokens_counted_with_a_tokenizer(src):
    (src / "a.txt").write_text("The capital of France is Paris.", encoding="utf-8")
    write_jsonl(src / "b.jsonl", [{"messages": QA}])
    tokenizer = make_tokenizer()
    expected = len(tokenizer("The capital of France is Paris.", add_special_tokens=False)["input_ids"])
    expected += len(tokenizer("What is 2+2?\n4", add_special_tokens=False)["input_ids"])
    assert scan.preview([src], tokenizer=tokenizer).tokens == expected
    assert store.add_corpus([src], tokenizer=tokenizer).manifest["tokens"] == expected
    assert scan.preview([src]).tokens is None


def test_bad_validation_fraction(src):
    (src / "a.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CorpusError, match="validation fraction"):
        store.add_corpus([src], val_fraction=1.5)


def test_language_mix_by_script():
    mix = scan.LanguageMix()
    mix.add_text("Hello wörld! 你好，世界。Привет 123")
    assert (mix.latin, mix.cjk, mix.other) == (10, 4, 6)
    assert mix.describe() == "20% CJK, 50% Latin, 30% other"


def test_lone_surrogates_from_json_are_replaced(src):
    (src / "odd.jsonl").write_text('{"question": "bad \\ud800 char", "answer": "ok"}\n', encoding="utf-8")
    [conversation] = store.add_corpus([src]).iter_conversations()
    assert conversation[0]["content"] == "bad ? char"
