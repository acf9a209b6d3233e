"""`llamadesk eval …` in-process on a tiny library model."""

import json
import math

import pytest

from llamadesk.cli import main
from llamadesk.core import library
from llamadesk.core.evaluation import results

TEXT = "The capital of France is Paris. The quick brown fox jumps over the lazy dog. " * 3


@pytest.fixture
def tiny(tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    return tiny_model_dir


def _plain_perplexity(model_dir, text: str) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = torch.tensor([AutoTokenizer.from_pretrained(model_dir)(text)["input_ids"]])
    with torch.no_grad():
        return math.exp(model(ids, labels=ids).loss.item())


def test_eval_ppl_json_matches_plain_transformers(tiny, tmp_path, capsys):
    path = tmp_path / "held_out.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert main(["eval", "ppl", "tiny", "--data", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "complete" and out["model_id"] == "tiny" and out["adapter_id"] is None
    # the corpus reader drops the file's leading and trailing whitespace (its final newline)
    assert out["summary"]["perplexity"] == pytest.approx(_plain_perplexity(tiny, TEXT.strip()), rel=1e-5)
    assert out["settings"] == {
        "window": 256,
        "stride": 128,
        "dtype": "float32",
        "device": "cpu",
        "engine": "torch",
    }
    assert [r.id for r in results.list_runs()] == [out["id"]]


def test_eval_ppl_human_output_and_listing(tiny, tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert main(["eval", "ppl", "tiny", "--data", str(path), "--window", "16", "--stride", "8"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("Perplexity ") and "window 16, stride 8" in line and "Stored as run 1." in line
    assert main(["eval", "runs"]) == 0
    assert "ppl  complete  tiny" in capsys.readouterr().out
    assert main(["eval", "show", "1", "--items", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["items"][0]["tokens"] == shown["summary"]["tokens"]


def test_bad_data_exits_2_naming_the_file_and_stores_nothing(tiny, tmp_path, capsys):
    path = tmp_path / "bench.csv"
    path.write_text("q,a,b,c,d,A\nq,a,b,c,d,E\n", encoding="utf-8")
    assert main(["eval", "mc", "tiny", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bench.csv line 2" in err and "'E'" in err and len(err.strip().splitlines()) == 1
    short = tmp_path / "short.txt"
    short.write_text("a", encoding="utf-8")
    assert main(["eval", "ppl", "tiny", "--data", str(short)]) == 2
    assert "short.txt is shorter than two tokens" in capsys.readouterr().err
    assert main(["eval", "ppl", "tiny", "--data", str(tmp_path / "missing.txt")]) == 2
    assert results.list_runs() == []


def test_mc_and_gen_on_the_shipped_samples(tiny, capsys):
    assert main(["eval", "mc", "tiny", "--data", "sample:mmlu_sample", "--shots", "1"]) == 0
    out = capsys.readouterr().out
    assert "general_knowledge" in out and "over 1 subject(s) (" in out and "1-shot, raw prompt" in out
    assert main(["eval", "gen", "tiny", "--limit", "2", "--max-new-tokens", "3", "--json"]) == 0
    gen = json.loads(capsys.readouterr().out)
    assert gen["summary"]["items"] == 2 and gen["settings"]["chat_template"] is True
    assert gen["dataset_path"].endswith("qa_sample.jsonl")
    assert main(["eval", "samples"]) == 0
    assert "ceval_sample" in capsys.readouterr().out


def test_winrates(capsys):
    results.record_vote(prompt="p", variant_a="base", variant_b="lora", reply_a="x", reply_b="y", winner="b")
    assert main(["eval", "winrates", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["first"], row["second"], row["second_wins"], row["total"]) == ("base", "lora", 1, 1)
