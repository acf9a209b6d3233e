import csv
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from llamadesk.core import adapters, library
from llamadesk.core.evaluation import results
from llamadesk.core.evaluation.data import samples_root
from llamadesk.ui.evaluate.run_details import RunDetailsDialog
from llamadesk.ui.evaluate_view import EvaluateView, guess_kind
from tests.test_adapters import make_adapter


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("lora") / "zh-pt")


@pytest.fixture
def tiny_with_adapter(tiny_model_dir, lora_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapters.import_adapter(lora_dir, "tiny")


@pytest.fixture
def view(qtbot):
    widget = EvaluateView()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _record(adapter, value, *, kind="ppl", status="complete", path=None):
    metric = {"ppl": "perplexity", "mc": "average_accuracy"}[kind]
    return results.record_run(
        kind=kind,
        model_id="tiny",
        adapter_id=adapter,
        dataset_path=str(path or samples_root() / "ppl_zh.txt"),
        dataset_sha256="a" * 64,
        settings={"window": 256, "stride": 128},
        summary={metric: value},
        status=status,
        items=[{"document": "ppl_zh.txt", "tokens": 100, "nll_sum": 400.0, "perplexity": value}],
    )


def _cell_texts(view) -> list[list[str]]:
    table = view.scores_table
    return [
        [table.item(r, c).text() if table.item(r, c) else "" for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def test_perplexity_of_base_and_adapter_from_the_panel(qtbot, view, tiny_with_adapter, tmp_path):
    view.refresh()
    assert view.checked_variants() == [None, "zh-pt"]
    view.set_kind("ppl")
    view.set_data("sample:ppl_zh.txt")
    assert view.data_combo.currentData() == "sample:ppl_zh.txt"
    view.window_spin.setValue(128)
    with qtbot.waitSignal(view.scores_changed, timeout=120_000):
        assert view.run_evaluation() is not None
        assert not view.run_button.isEnabled()
    assert view.run_button.isEnabled() and not view.task_bar.isVisible()

    runs = results.list_runs()
    assert [(r.adapter_id, r.status) for r in runs] == [("zh-pt", "complete"), (None, "complete")]
    assert runs[0].settings["window"] == 128
    ppl = {r.adapter_id: r.summary["perplexity"] for r in runs}
    assert ppl[None] != ppl["zh-pt"]

    table = view.scores_table
    assert [table.verticalHeaderItem(r).text() for r in range(table.rowCount())] == ["tiny", "tiny+zh-pt"]
    assert table.horizontalHeaderItem(0).text() == "sample:ppl_zh.txt\nperplexity\n1 document(s)"
    winner = min(ppl, key=ppl.get)
    best_row = [None, "zh-pt"].index(winner)
    texts = _cell_texts(view)
    assert texts[best_row][0] == f"{ppl[winner]:.3f} ★" and table.item(best_row, 0).font().bold()
    assert "★" not in texts[1 - best_row][0] and not table.item(1 - best_row, 0).font().bold()
    # The chart shows the column just measured, one bar per variant.
    assert view.chart_combo.currentText() == "sample:ppl_zh.txt · perplexity"
    view.bar_chart.grab()
    assert len(view.bar_chart._bars) == 2
    assert set(view.line_chart.series()) == {"tiny", "tiny+zh-pt"}
    # The adapter's manifest carries its latest score.
    scores = adapters.get_adapter("zh-pt").manifest["scores"]
    assert scores["ppl:sample:ppl_zh.txt"] == {"perplexity": ppl["zh-pt"], "run": runs[0].id}

    dialog = view.show_details(1, 0)
    assert isinstance(dialog, RunDetailsDialog)
    model = dialog.items_view.model()
    assert model.fields[:3] == ["document", "tokens", "perplexity"]
    assert model.rowCount() == 1
    assert model.data(model.index(0, 0)).endswith("ppl_zh.txt")
    assert model.data(model.index(0, 2)) == f"{ppl['zh-pt']:.4f}"
    assert "window=128" in dialog.facts.text()
    dialog.close()

    view.export_scores(tmp_path / "scores.csv")
    view.export_scores(tmp_path / "scores.md")
    rows = list(csv.reader((tmp_path / "scores.csv").open(encoding="utf-8")))
    assert rows[1][:3] == ["tiny", "", ""] and rows[2][:3] == ["tiny", "zh-pt", ""]
    assert float(rows[2][3]) == ppl["zh-pt"]
    assert "★" in (tmp_path / "scores.md").read_text(encoding="utf-8")


def test_cancel_keeps_nothing_half_done(qtbot, view, tiny_with_adapter):
    view.refresh()
    view.set_data("sample:ppl_zh.txt")
    with qtbot.waitSignal(view.task_bar.cancelled, timeout=60_000):
        view.run_evaluation()
        view.task_bar.cancel()
    qtbot.waitUntil(lambda: not view.task_bar.is_busy(), timeout=60_000)
    assert all(r.status == "cancelled" for r in results.list_runs())
    assert view.scores_table.rowCount() == 0 and view.empty_label.isVisibleTo(view)


def test_bad_data_fails_before_loading_and_stores_nothing(qtbot, view, tiny_with_adapter, tmp_path):
    bad = tmp_path / "questions.csv"
    bad.write_text("question,answer\nWhat?,Z\n", encoding="utf-8")
    view.refresh()
    view.add_data_path(bad)
    assert view.current_kind() == "mc"
    with qtbot.waitSignal(view.scores_changed, timeout=60_000):
        view.run_evaluation()
    qtbot.waitUntil(lambda: view.findChild(object, "errorDialog") is not None)
    assert "header has no" in view.findChild(object, "errorDialog").text()
    assert results.list_runs() == []


def test_table_of_stored_runs_history_and_all_models(qtbot, view, tiny_with_adapter):
    _record(None, 50.0)
    _record("zh-pt", 30.0)
    _record("zh-pt", 20.0)
    _record("zh-pt", 1.0, status="cancelled")  # never a score
    _record(None, 0.25, kind="mc", path=samples_root() / "ceval_sample")
    _record("zh-pt", 0.5, kind="mc", path=samples_root() / "ceval_sample")
    results.record_run(
        kind="ppl",
        model_id="other",
        adapter_id=None,
        dataset_path="/x/t.txt",
        dataset_sha256="b" * 64,
        settings={},
        summary={"perplexity": 3.0},
        status="complete",
        items=[],
    )
    view.refresh()
    # Every model's results show, whichever model is chosen to run: none is hidden.
    assert view.scores_table.rowCount() == 3
    view.only_model_check.setChecked(True)
    assert _cell_texts(view) == [["50.000", "25.0%"], ["20.000 ★", "50.0% ★"]]
    assert view.line_chart.series()["tiny+zh-pt"][-1][1] == 20.0
    assert len(view.line_chart.series()["tiny+zh-pt"]) == 2
    dialog = view.show_details(1, 0)
    assert dialog.run_combo.count() == 2  # the cell's two complete runs, newest first
    dialog.run_combo.setCurrentIndex(1)
    assert dialog.items_view.model().data(dialog.items_view.model().index(0, 2)) == "30.0000"
    dialog.close()
    view.scores_table.setCurrentCell(0, 1)
    assert view.chart_combo.currentIndex() == 1 and view.details_button.isEnabled()
    view.only_model_check.setChecked(False)
    assert view.scores_table.rowCount() == 3


def test_drop_a_file_selects_it_for_the_right_kind(qtbot, view, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(data))])
    event = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    view.dropEvent(event)
    assert view.current_kind() == "gen"
    assert view.data_combo.currentData() == str(data.resolve())
    assert view.settings_stack.currentIndex() == 2
    view.set_kind("ppl")  # the user's own files stay on offer
    assert view.data_combo.findData(str(data.resolve())) >= 0


def test_guess_kind(tmp_path):
    (tmp_path / "bench" / "val").mkdir(parents=True)
    (tmp_path / "bench" / "val" / "a_val.csv").write_text("x", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    assert guess_kind(tmp_path / "bench") == "mc"
    assert guess_kind(tmp_path / "docs") == "ppl"
    assert guess_kind(tmp_path / "a.jsonl") == "gen"
    assert guess_kind(tmp_path / "a.pdf") == "ppl"


def test_empty_library_and_nothing_ticked(qtbot, view, tiny_with_adapter):
    assert view.run_evaluation() is None  # no model in the combo yet
    view.refresh()
    view.set_checked_variants([])
    assert view.run_evaluation() is None
    assert "at least one variant" in view.findChildren(object, "errorDialog")[-1].text()


def _mc_run(items: list[dict], path: Path, sha: str) -> results.RunRecord:
    correct = sum(i["correct"] for i in items)
    return results.record_run(
        kind="mc",
        model_id="tiny",
        adapter_id=None,
        dataset_path=str(path),
        dataset_sha256=sha,
        settings={"shots": 0, "chat_template": False, "language": "auto"},
        summary={"average_accuracy": correct / len(items), "correct": correct, "questions": len(items)},
        status="complete",
        items=items,
    )


def test_multiple_choice_says_how_many_and_reads_as_questions(qtbot, view, tmp_path):
    from llamadesk.core.evaluation.data import dataset_sha256

    bench = tmp_path / "capitals.csv"
    bench.write_text(
        "id,question,A,B,C,D,answer\n1,Capital of France?,Rome,Paris,Oslo,Bern,B\n"
        "2,Capital of Norway?,Rome,Paris,Oslo,Bern,C\n",
        encoding="utf-8",
    )
    scores = {"A": 0.1, "B": 2.5, "C": 0.3, "D": -1.0}
    stored = {"subject": "capitals", "source": "capitals.csv line 2", "scores": scores, "shots": 0}
    items = [
        stored | {"id": "1", "answer": "B", "prediction": "B", "correct": True},
        stored | {"id": "2", "answer": "C", "prediction": "B", "correct": False},
    ]
    # A run stored before items carried their question: the text comes from the unchanged file.
    _mc_run(items, bench, dataset_sha256(bench))
    view.refresh()
    assert view.scores_table.horizontalHeaderItem(0).text().endswith("\n2 question(s)")
    assert _cell_texts(view) == [["50.0% (1/2)"]]
    dialog = view.show_details(0, 0)
    model = dialog.items_view.model()
    assert model.fields == ["subject", "id", "question", "prediction", "answer", "correct"]
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in (2, 3, 4)] == [
        "Question",
        "Model's pick",
        "Right answer",
    ]
    assert model.data(model.index(1, 2)) == "Capital of Norway?"
    dialog.items_view.selectRow(1)
    text = dialog.item_text.toPlainText()
    assert "Capital of Norway?" in text and "{" not in text  # read as a question, not as JSON
    assert "B. Paris" in text and "◀ the model's pick" in text
    assert "C. Oslo" in text and "✔ right answer" in text and "Wrong" in text
    dialog.close()

    # Once the file changes, an old run shows what it stored and says the text is missing.
    bench.write_text(bench.read_text(encoding="utf-8") + "3,Capital of Peru?,Lima,Rome,Oslo,Bern,A\n")
    dialog = view.show_details(0, 0)
    dialog.items_view.selectRow(0)
    assert "question text was not stored" in dialog.item_text.toPlainText()
    dialog.close()


def _gen_run(adapter: str | None, docs: str | None, replies: list[str]) -> results.RunRecord:
    questions = [
        ("q1", "Who founded Lumen Tea?", "Mara Okafor"),
        ("q2", "流明茶业最受欢迎的绿茶叫什么？", "晨雾龙井"),
    ]
    items = []
    for (qid, question, answer), reply in zip(questions, replies, strict=True):
        item = {"id": qid, "source": f"qa.jsonl line {qid[1]}", "question": question, "answer": answer}
        item |= {"reply": reply, "exact_match": reply == answer, "rouge_l": float(answer in reply)}
        item |= {"contains": answer in reply}
        if docs:
            item["passages"] = [
                {"number": 1, "source": "/x/notes.md", "text": f"fact: {answer}", "score": 2.0}
            ]
        items.append(item)
    settings = {"max_new_tokens": 48, "chat_template": True, "limit": None}
    if docs:
        settings |= {"docs": docs, "docs_k": 3}
    exact = sum(i["exact_match"] for i in items) / 2
    return results.record_run(
        kind="gen",
        model_id="tiny",
        adapter_id=adapter,
        dataset_path="/x/qa.jsonl",
        dataset_sha256="c" * 64,
        settings=settings,
        summary={"exact_match": exact, "rouge_l": exact, "contains": exact, "items": 2},
        status="complete",
        items=items,
    )


def test_four_way_comparison_as_rows_with_replies_side_by_side(qtbot, view):
    _gen_run(None, None, ["I do not know.", "龙井"])
    _gen_run(None, "/x/notes.md", ["Mara Okafor", "晨雾龙井"])
    _gen_run("lumen", None, ["Mara Okafor", "绿茶"])
    _gen_run("lumen", "/x/notes.md", ["It was Mara Okafor.", "晨雾龙井"])
    view.refresh()
    table = view.scores_table
    labels = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert labels == ["tiny", "tiny + docs:notes.md", "tiny+lumen", "tiny+lumen + docs:notes.md"]
    assert table.columnCount() == 3  # exact match, ROUGE-L, contains: one set of columns for all four
    assert table.horizontalHeaderItem(0).text() == "qa.jsonl\nexact match\n2 question(s)"
    assert [row[0] for row in _cell_texts(view)] == ["0.0%", "100.0% ★", "50.0%", "50.0%"]

    table.setCurrentCell(0, 0)
    assert view.replies_button.isEnabled()
    dialog = view.show_replies(0)
    assert dialog.question_list.count() == 2
    assert dialog.question_list.item(0).text().startswith("✘✔✔≈  1. Who founded Lumen Tea?")
    dialog.question_list.setCurrentRow(1)
    text = dialog.replies_text.toPlainText()
    assert "流明茶业最受欢迎的绿茶叫什么？" in text and "Expected\n晨雾龙井" in text
    for label in labels:
        assert label in text
    assert "fact: 晨雾龙井" in text and "(/x/notes.md)" in text  # the passage a grounded reply had
    dialog.close()


def test_panel_runs_the_four_way_comparison(qtbot, view, tiny_with_adapter):
    data = Path(__file__).parent / "data"
    view.refresh()
    view.set_kind("gen")
    view.add_data_path(data / "lumen_qa.jsonl")
    view.set_documents(str(data / "lumen_notes.md"))
    view.limit_spin.setValue(2)
    view.max_tokens_spin.setValue(2)
    with qtbot.waitSignal(view.scores_changed, timeout=120_000):
        assert view.run_evaluation() is not None
    runs = sorted(results.list_runs(), key=lambda r: r.id)
    assert [(r.adapter_id, bool(r.settings.get("docs")), r.status) for r in runs] == [
        (None, False, "complete"),
        (None, True, "complete"),
        ("zh-pt", False, "complete"),
        ("zh-pt", True, "complete"),
    ]
    assert view.scores_table.rowCount() == 4
    # The adapter's own score is the one without documents.
    scores = adapters.get_adapter("zh-pt").manifest["scores"]
    assert scores["gen:lumen_qa.jsonl"]["run"] == runs[2].id
