"""Chat grounded in the user's documents: words for BM25 in English and Chinese, passages, an index
kept on disk per corpus and rebuilt when the documents change, the prompt, and the starter
answering from a fictional company's notes with the passage cited."""

import shutil
from pathlib import Path

import pytest

from llamadesk import cli
from llamadesk.core import paths
from llamadesk.core.corpus import store
from llamadesk.core.errors import NotFoundError
from llamadesk.core.grounding import index as grounding_index
from llamadesk.core.grounding.index import Hit, Passage, files_index, open_index, passages_of
from llamadesk.core.grounding.prompt import fit_passages, grounded, sources
from llamadesk.core.grounding.terms import terms

NOTES = Path(__file__).parent / "data" / "lumen_notes.md"


@pytest.fixture
def notes(tmp_path) -> Path:
    copy = tmp_path / "lumen_notes.md"
    shutil.copy(NOTES, copy)
    return copy


def test_terms_segment_chinese_stem_english_and_drop_function_words():
    assert terms("The employees meet in the offices") == ["employe", "meet", "offic"]
    assert {"杭州", "西湖", "办公室"} <= set(terms("流明茶业的杭州办公室位于西湖区"))
    assert "的" not in terms("流明茶业的杭州办公室")


def test_passages_are_paragraphs_with_headings_joined_and_long_ones_cut():
    text = "# Heading\n\nFirst paragraph ends here.\n\nSecond one.\n\n" + "Long sentence here. " * 60
    found = list(passages_of([("doc.txt", text)]))
    assert found[0] == Passage("doc.txt", "# Heading\n\nFirst paragraph ends here.")
    assert found[1].text == "Second one."
    assert len(found) > 3 and all(len(p.text) <= grounding_index.PASSAGE_CHARS for p in found)


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("Who founded Lumen Tea?", "Mara Okafor"),
        ("What is the company's mascot?", "Tobias"),
        ("流明茶业的杭州办公室在哪里？", "文三路88号"),
        ("公司最受欢迎的绿茶叫什么？", "晨雾龙井"),
    ],
)
def test_the_passage_holding_the_answer_comes_first(notes, question, fact):
    hits = files_index([notes]).search(question, 3)
    assert fact in hits[0].passage.text and hits[0].passage.source.endswith("lumen_notes.md")


def test_an_unrelated_question_finds_nothing(notes):
    assert files_index([notes]).search("quantum chromodynamics of neutron stars", 3) == []


def test_the_index_is_kept_on_disk_and_rebuilt_when_the_files_change(notes, monkeypatch):
    files_index([notes])
    kept = list((paths.data_home() / "indexes").iterdir())
    assert len(kept) == 1 and (kept[0] / grounding_index.PASSAGES_FILE).is_file()

    def no_building(*_args):
        raise AssertionError("built again although nothing changed")

    with monkeypatch.context() as patch:
        patch.setattr(grounding_index, "_build", no_building)
        assert files_index([notes]).search("mascot", 1)[0].passage.text.endswith("Tobias.")
    notes.write_text(
        notes.read_text(encoding="utf-8") + "\n\nThe mascot retired in 2024.\n", encoding="utf-8"
    )
    assert any("retired" in h.passage.text for h in files_index([notes]).search("mascot retired", 3))
    now = list((paths.data_home() / "indexes").iterdir())
    assert len(now) == 1 and now != kept  # the stale index went


def test_the_index_in_use_stays_open_between_questions(notes, monkeypatch):
    store.add_corpus([notes], "lumen")
    first = open_index("lumen")
    with monkeypatch.context() as patch:
        patch.setattr(grounding_index, "_load", lambda *_a: pytest.fail("read from disk again"))
        assert open_index("lumen") is first
    store.remove_corpus("lumen")
    store.add_corpus([notes], "lumen")  # the same id anew: its index is read afresh
    assert open_index("lumen") is not first


def test_a_damaged_index_is_built_again(notes):
    files_index([notes])
    (folder,) = (paths.data_home() / "indexes").iterdir()
    (folder / grounding_index.PASSAGES_FILE).unlink()
    assert files_index([notes]).search("Who founded Lumen Tea?", 1)


def test_a_corpus_of_the_library_is_searched_by_its_id(notes):
    store.add_corpus([notes], "lumen")
    hits = open_index("lumen").search("best-selling blend", 3)
    assert "Harbour Fog" in hits[0].passage.text
    assert [p.name for p in (paths.data_home() / "indexes").iterdir()][0].startswith("corpus-lumen-")
    with pytest.raises(NotFoundError, match="neither a corpus in the library nor a file"):
        open_index("no-such-corpus")


def test_each_corpus_keeps_its_own_index_until_it_is_removed(notes):
    """The index of "lumen" is no older index of "lumen-2024": building one kept the other
    (found by the grounding benchmark, where two such corpora rebuilt each other every time)."""
    store.add_corpus([notes], "lumen")
    store.add_corpus([notes], "lumen-2024")
    open_index("lumen-2024")
    open_index("lumen")
    kept = sorted(p.name[: -len("0123456789abcdef") - 1] for p in (paths.data_home() / "indexes").iterdir())
    assert kept == ["corpus-lumen", "corpus-lumen-2024"]
    store.remove_corpus("lumen")
    (left,) = (paths.data_home() / "indexes").iterdir()
    assert left.name.startswith("corpus-lumen-2024-")


def test_passages_that_do_not_fit_go_lowest_ranked_first():
    hits = [Hit(Passage(f"p{n}.md", "word " * 100), 3.0 - n) for n in range(3)]
    asked = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}]

    def count(messages: list[dict]) -> int:
        return sum(len(m["content"].split()) for m in messages)

    prompt, kept = fit_passages(asked, hits, count, budget=250)
    assert kept == hits[:2] and prompt == grounded(asked, hits[:2])
    assert fit_passages(asked, hits, count, budget=1000) == (grounded(asked, hits), hits)
    assert fit_passages(asked, hits, count, budget=50) == (asked, [])  # the question, unchanged


def test_passages_go_before_the_question_in_its_language():
    hit = Hit(Passage("notes.md", "The mascot is a heron named Tobias."), 1.0)
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the mascot?"}]
    prompt = grounded(history, [hit])
    assert prompt[0] == history[0] and len(prompt) == 2
    assert prompt[1]["content"].endswith(
        "[1] The mascot is a heron named Tobias. (notes.md)\n\nQuestion: What is the mascot?"
    )
    chinese = grounded([{"role": "user", "content": "吉祥物是什么？"}], [hit])
    assert chinese[0]["content"].startswith("请根据") and chinese[0]["content"].endswith(
        "问题： 吉祥物是什么？"
    )
    assert grounded(history, []) is history
    assert sources([hit]) == [{"number": 1, "source": "notes.md", "text": hit.passage.text, "score": 1.0}]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "fact"),
    [("Who founded Lumen Tea?", "Mara Okafor"), ("流明茶业的杭州办公室在哪里？", "文三路88号")],
)
def test_the_starter_answers_from_the_notes_and_cites_them(home, starter_gguf, notes, capsys, question, fact):
    pytest.importorskip("llama_cpp")
    from tests.starter_fixtures import register_starter

    register_starter(home, starter_gguf, "starter")
    argv = ["chat", "starter", "--docs", str(notes), "--temperature", "0", "--max-new-tokens", "60", question]
    code = cli.main(argv)
    reply, _, cited = capsys.readouterr().out.partition("Sources:")
    assert code == 0 and fact in reply
    assert f"[1] {notes}: " in cited and fact in cited
