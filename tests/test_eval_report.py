import csv
import io

import pytest

from llamadesk.core import paths
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.evaluation import report, results
from llamadesk.core.evaluation.data import samples_root

PPL_SETTINGS = {"window": 256, "stride": 128, "dtype": "float32", "device": "cpu"}
MC_SETTINGS = {"shots": 0, "chat_template": False, "language": "auto", "dtype": "float32", "device": "cpu"}


def _run(
    kind="ppl",
    adapter=None,
    summary=None,
    *,
    model="tiny",
    path=None,
    sha="a" * 64,
    settings=None,
    status="complete",
):
    return results.record_run(
        kind=kind,
        model_id=model,
        adapter_id=adapter,
        dataset_path=str(path or samples_root() / "ppl_zh.txt"),
        dataset_sha256=sha,
        settings=settings or (PPL_SETTINGS if kind == "ppl" else MC_SETTINGS),
        summary=summary or {"perplexity": 10.0},
        status=status,
        items=[],
    )


def test_table_rows_columns_latest_and_best():
    _run(summary={"perplexity": 40.0})
    _run(adapter="zh-pt", summary={"perplexity": 30.0})
    _run(adapter="zh-pt", summary={"perplexity": 20.0})  # a newer run of the same cell
    _run(adapter="broken", summary={"error": "x"}, status="failed")
    mc_path = samples_root() / "ceval_sample"
    _run("mc", summary={"average_accuracy": 0.25}, path=mc_path, sha="b" * 64)
    _run("mc", adapter="zh-pt", summary={"average_accuracy": 0.5}, path=mc_path, sha="b" * 64)

    table = report.build_table(results.list_runs())
    assert [v.label for v in table.variants] == ["tiny", "tiny+zh-pt"]
    assert [c.label for c in table.columns] == [
        "sample:ppl_zh.txt · perplexity",
        "sample:ceval_sample · accuracy",
    ]
    ppl, mc = table.columns
    base, adapter = table.variants
    assert table.latest(adapter, ppl).value == 20.0
    assert [c.value for c in table.history(adapter, ppl)] == [30.0, 20.0]
    assert table.best(ppl) == {adapter}  # lower perplexity wins
    assert table.best(mc) == {adapter}  # higher accuracy wins
    assert table.latest(base, mc).value == 0.25


def test_lone_or_all_equal_scores_are_not_best_and_ties_for_first_share_it():
    _run(summary={"perplexity": 5.0})
    table = report.build_table(results.list_runs())
    assert table.best(table.columns[0]) == set()
    _run(adapter="x", summary={"perplexity": 5.0})
    table = report.build_table(results.list_runs())
    assert table.best(table.columns[0]) == set()
    _run(adapter="y", summary={"perplexity": 9.0})
    table = report.build_table(results.list_runs())
    assert {v.label for v in table.best(table.columns[0])} == {"tiny", "tiny+x"}


def test_other_settings_or_data_make_their_own_labelled_column():
    _run(summary={"perplexity": 5.0})
    _run(summary={"perplexity": 6.0}, settings={**PPL_SETTINGS, "window": 64, "stride": 32})
    _run(summary={"perplexity": 7.0}, settings={**PPL_SETTINGS, "dtype": "bfloat16", "device": "cuda"})
    _run(summary={"perplexity": 7.1}, settings={**PPL_SETTINGS, "dtype": "Q4_1", "engine": "llama.cpp"})
    _run(summary={"perplexity": 8.0}, sha="c" * 64)
    table = report.build_table(results.list_runs())
    labels = [c.label for c in table.columns]
    assert len(labels) == 3  # dtype, device and engine do not split a column
    assert "sample:ppl_zh.txt · perplexity (window 64, stride 32, data aaaaaaaa)" in labels
    assert "sample:ppl_zh.txt · perplexity (window 256, stride 128, data cccccccc)" in labels
    same = next(c for c in table.columns if c.label.endswith("(window 256, stride 128, data aaaaaaaa)"))
    assert table.latest(table.variants[0], same).value == 7.1  # the newest of those alike


def test_generation_gives_three_columns():
    _run(
        "gen",
        summary={"exact_match": 0.5, "rouge_l": 0.75, "contains": 1.0},
        path="/data/qa.jsonl",
        settings={"max_new_tokens": 128, "chat_template": True, "limit": None},
    )
    table = report.build_table(results.list_runs())
    assert [c.label for c in table.columns] == [
        "qa.jsonl · exact match",
        "qa.jsonl · ROUGE-L",
        "qa.jsonl · contains answer",
    ]
    assert [c.metric.format(table.latest(table.variants[0], c).value) for c in table.columns] == [
        "50.0%",
        "0.750",
        "100.0%",
    ]


def test_dataset_labels():
    assert report.dataset_label(str(samples_root() / "ceval_sample")) == "sample:ceval_sample"
    corpus = paths.corpora_dir() / "novels"
    assert report.dataset_label(str(corpus / "text-validation.jsonl")) == "corpus:novels"
    assert report.dataset_label(str(corpus / "text-train.jsonl")) == "corpus:novels:train"
    assert report.dataset_label("/somewhere/测试.txt") == "测试.txt"


def _two_variant_table():
    _run(summary={"perplexity": 40.0})
    _run(adapter="zh|pt", summary={"perplexity": 12.3456})
    _run("mc", summary={"average_accuracy": 0.5}, path=samples_root() / "ceval_sample", sha="b" * 64)
    return report.build_table(results.list_runs())


def test_csv_has_raw_values_and_empty_cells():
    rows = list(csv.reader(io.StringIO(report.to_csv(_two_variant_table()))))
    assert rows == [
        ["model", "adapter", "documents", "sample:ppl_zh.txt · perplexity", "sample:ceval_sample · accuracy"],
        ["tiny", "", "", "40.0", "0.5"],
        ["tiny", "zh|pt", "", "12.3456", ""],
    ]


def test_markdown_marks_best_and_escapes_pipes():
    text = report.to_markdown(_two_variant_table())
    lines = text.splitlines()
    assert lines[0] == "| variant | sample:ppl_zh.txt · perplexity | sample:ceval_sample · accuracy |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| tiny | 40.000 | 50.0% |"
    assert lines[3] == "| tiny+zh\\|pt | **12.346 ★** |  |"
    assert "lower is better" in lines[-1]


def test_export_by_suffix(tmp_path):
    table = _two_variant_table()
    report.export_table(table, tmp_path / "out" / "s.csv")
    report.export_table(table, tmp_path / "s.md")
    assert (tmp_path / "out" / "s.csv").read_text(encoding="utf-8") == report.to_csv(table)
    assert "★" in (tmp_path / "s.md").read_text(encoding="utf-8")
    with pytest.raises(LlamaDeskError, match=r"\.csv or \.md"):
        report.export_table(table, tmp_path / "s.xlsx")


def test_empty_table_exports_headers_only():
    table = report.build_table([])
    assert table.is_empty()
    assert report.to_csv(table) == "model,adapter,documents\n"
    assert report.to_markdown(table).startswith("| variant |\n|---|\n")
