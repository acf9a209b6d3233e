"""Retrieval against a trained adapter, measured: `eval gen --adapter A --docs D` asks the private
questions of tests/data/lumen_qa.jsonl (about the fictional company of lumen_notes.md) four ways,
stores four runs, and prints them side by side."""

import json
import re
from pathlib import Path

import pytest

from llamadesk.cli import main
from llamadesk.core import adapters, library
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.evaluation import GenSettings, prepare_generation, report, results
from llamadesk.core.evaluation import generation_metrics as gm
from llamadesk.core.evaluation.generation_metrics import read_qa_file
from llamadesk.core.evaluation.scorers import TorchScorer
from llamadesk.core.grounding.index import open_index
from tests.test_adapters import make_adapter

DATA = Path(__file__).parent / "data"
NOTES = DATA / "lumen_notes.md"
QA = DATA / "lumen_qa.jsonl"


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("lora") / "lumen")


@pytest.fixture
def tiny_with_adapter(tiny_model_dir, lora_dir) -> None:
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapters.import_adapter(lora_dir, "tiny")


@pytest.fixture
def real_context(monkeypatch):
    """Passages go in only as far as they fit the context; the tiny model's 256 tokens hold none of
    the notes' (it reads a longer prompt all the same), so it is given a real model's context."""
    monkeypatch.setattr(
        TorchScorer, "context_length", property(lambda _s: 4096, lambda _s, _v: None), raising=False
    )


def test_every_private_question_finds_its_answer_in_the_notes():
    """The Q&A set matches the notes: each answer is in a passage retrieved for its question, in
    English and in Chinese, so a model that reads the passages can answer every one."""
    items = read_qa_file(QA)
    assert len(items) >= 8
    assert sum(bool(re.search("[\u4e00-\u9fff]", i.question)) for i in items) >= 4  # Chinese too
    index = open_index(str(NOTES))
    for item in items:
        passages = " ".join(hit.passage.text for hit in index.search(item.question, gm.DOCS_K))
        assert gm.normalize(item.answer) in gm.normalize(passages), item.question


def test_four_way_comparison_on_the_tiny_model(tiny_with_adapter, real_context, monkeypatch, capsys):
    """Four runs, one per variant; a grounded run asks with the passages, a plain one without."""
    asked: list[str] = []
    real = gm.greedy_reply

    def reply(model, tokenizer, prompt, settings, cancel):
        asked.append(prompt)
        return real(model, tokenizer, prompt, settings, cancel)

    monkeypatch.setattr(gm, "greedy_reply", reply)
    argv = ["eval", "gen", "tiny", "--adapter", "lumen", "--docs", str(NOTES), "--data", str(QA)]
    assert main([*argv, "--max-new-tokens", "3", "--replies"]) == 0
    out = capsys.readouterr().out
    labels = ["tiny", "tiny + docs:lumen_notes.md", "tiny+lumen", "tiny+lumen + docs:lumen_notes.md"]
    rows = [line.split()[0:4] for line in out.splitlines() if line.startswith("  tiny")]
    assert [" ".join(r[: len(label.split())]) for r, label in zip(rows, labels, strict=True)] == labels
    assert "lumen_qa.jsonl: 10 questions" in out and "Stored as runs 1, 2, 3, 4." in out
    assert "1. In which year was Lumen Tea founded?\n   expected: 2011" in out

    runs = sorted(results.list_runs(), key=lambda r: r.id)
    assert [(r.adapter_id, r.settings.get("docs")) for r in runs] == [
        (None, None),
        (None, str(NOTES.resolve())),
        ("lumen", None),
        ("lumen", str(NOTES.resolve())),
    ]
    assert "docs" not in runs[0].settings  # an ungrounded run's settings are as they always were
    # 10 questions per run; the grounded ones were asked with the passages that hold the answer.
    assert len(asked) == 40
    plain, grounded = asked[:10], asked[10:20]
    assert plain[1] == "Who founded Lumen Tea?" and "Mara Okafor" not in plain[1]
    assert "Mara Okafor" in grounded[1] and grounded[1].endswith("Question: Who founded Lumen Tea?")
    assert "晨雾龙井" in grounded[7] and grounded[7].endswith("问题： 流明茶业最受欢迎的绿茶叫什么？")
    items = results.run_items(runs[1].id)
    assert items[1]["question"] == "Who founded Lumen Tea?"
    assert items[1]["passages"][0]["source"].endswith("lumen_notes.md")

    # One table column, four rows, in the order base, base+docs, adapter, adapter+docs.
    table = report.build_table(runs)
    assert [v.label for v in table.variants] == labels
    assert len({c.identity[:4] for c in table.columns}) == 1
    variants, questions = report.replies_by_question(table, table.columns[0])
    assert len(questions) == 10 and all(len(q.replies) == 4 for q in questions)
    assert questions[6].answer == "西湖区文三路88号"


def test_grounding_turns_right_passages_into_right_answers(
    tiny_with_adapter, real_context, monkeypatch, capsys
):
    """A stand-in model that answers only from what it is given: ungrounded it knows nothing,
    grounded it scores on every question whose answer it is shown."""
    items = {i.question: i.answer for i in read_qa_file(QA)}

    def reply(model, tokenizer, prompt, settings, cancel):
        question = next(q for q in items if prompt.endswith(q))
        return items[question] if items[question] in prompt.replace(question, "") else "I do not know."

    monkeypatch.setattr(gm, "greedy_reply", reply)
    argv = ["eval", "gen", "tiny", "--docs", str(NOTES), "--data", str(QA), "--json"]
    assert main(argv) == 0
    base, grounded = json.loads(capsys.readouterr().out)
    assert base["summary"]["exact_match"] == 0.0
    assert grounded["summary"]["exact_match"] == 1.0 and grounded["summary"]["rouge_l"] == 1.0


def test_missing_documents_fail_before_the_model_loads(tiny_with_adapter, tmp_path, capsys):
    argv = ["eval", "gen", "tiny", "--docs", str(tmp_path / "gone"), "--data", str(QA)]
    assert main(argv) == 2
    assert "neither a corpus in the library nor a file or folder" in capsys.readouterr().err
    assert main(["eval", "gen", "tiny", "--docs", str(NOTES), "--docs-k", "0", "--data", str(QA)]) == 2
    assert results.list_runs() == []
    with pytest.raises(LlamaDeskError):
        prepare_generation(QA, GenSettings(docs=str(tmp_path / "gone")))
