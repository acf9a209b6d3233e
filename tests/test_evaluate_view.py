import csv
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from llamadesk.core import adapters, library
from llamadesk.core.evaluation import results
from llamadesk.core.evaluation.data import samples_root
from llamadesk.ui.evaluate_view import EvaluateView, RunDetailsDialog, guess_kind
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
    assert table.horizontalHeaderItem(0).text() == "sample:ppl_zh.txt\nperplexity"
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
    assert rows[1][:2] == ["tiny", ""] and rows[2][:2] == ["tiny", "zh-pt"]
    assert float(rows[2][2]) == ppl["zh-pt"]
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
    view.all_models_check.setChecked(True)
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
