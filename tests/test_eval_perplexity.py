"""Perplexity against an independent plain-transformers computation, and its bad-input handling."""

import math
import threading

import pytest

from llamadesk.core.errors import Cancelled, CorpusError, LlamaDeskError
from llamadesk.core.evaluation import PerplexitySettings, prepare_perplexity, results
from llamadesk.core.evaluation.perplexity import perplexity, tokenize_documents, windows
from llamadesk.core.evaluation.scorers import TorchScorer
from llamadesk.core.progress import Progress

TEXT = (
    "The capital of France is Paris. The quick brown fox jumps over the lazy dog. "
    "北京是中国的首都。 Llamas live in the Andes; an adapter changes a few weights. "
) * 2


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def _token_nll(model, ids: list[int]) -> list[float]:
    """Per-token NLL of ids[1:] given everything before, by a plain log-softmax over one pass."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()  # (seq, vocab)
    logp = torch.log_softmax(logits, dim=-1)
    return [-logp[t - 1, ids[t]].item() for t in range(1, len(ids))]


def _score(model, tokenizer, text: str, settings: PerplexitySettings, name: str = "t.txt") -> dict:
    from llamadesk.core.corpus.reading import Document

    docs = tokenize_documents(tokenizer, [Document(name, text, "utf-8")])
    return perplexity(TorchScorer(model), docs, settings, Progress())


def test_short_text_equals_plain_transformers(tiny):
    import torch

    model, tokenizer = tiny
    ids = tokenizer(TEXT)["input_ids"]
    assert 20 < len(ids) < 256
    nll = _token_nll(model, ids)
    expected = math.exp(sum(nll) / len(nll))
    with torch.no_grad():
        loss = model(torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()

    got = _score(model, tokenizer, TEXT, PerplexitySettings())

    assert got["tokens"] == len(ids) - 1
    assert got["windows"] == 1 and got["window"] == 256 and got["stride"] == 128
    assert got["perplexity"] == pytest.approx(expected, rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert got["mean_nll"] == pytest.approx(sum(nll) / len(nll), abs=1e-5)


@pytest.mark.parametrize(("window", "stride"), [(16, 5), (24, 24), (32, 1)])
def test_sliding_window_equals_explicit_loop(tiny, window, stride):
    model, tokenizer = tiny
    ids = tokenizer(TEXT)["input_ids"]
    # Independent: walk the windows, score each not-yet-scored token from its window's own pass.
    total, count, prev_end = 0.0, 0, 0
    for begin in range(0, len(ids), stride):
        end = min(begin + window, len(ids))
        nll = _token_nll(model, ids[begin:end])  # nll[j] is token begin + j + 1
        for t in range(max(prev_end, begin + 1), end):
            total += nll[t - begin - 1]
            count += 1
        prev_end = end
        if end == len(ids):
            break

    got = _score(model, tokenizer, TEXT, PerplexitySettings(window=window, stride=stride))

    assert got["tokens"] == count
    assert got["window"] == window and got["stride"] == stride
    assert got["perplexity"] == pytest.approx(math.exp(total / count), rel=1e-5)
    if stride < window:
        assert count == len(ids) - 1  # every token but the first scored exactly once


def test_window_plan_scores_each_token_once():
    plan = windows(10, 4, 2)
    scored = [t for w in plan for t in range(w.first_scored, w.end)]
    assert scored == list(range(1, 10))
    # stride == window: a window's first token has no context and is not scored
    plan = windows(10, 4, 4)
    assert [t for w in plan for t in range(w.first_scored, w.end)] == [1, 2, 3, 5, 6, 7, 9]


def test_documents_are_pooled_token_weighted(tiny, tmp_path):
    model, tokenizer = tiny
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "b.md").write_text("Hello, how are you today? 人工智能正在改变世界。", encoding="utf-8")
    job = prepare_perplexity(tmp_path)
    record = job.run(TorchScorer(model), tokenizer, model_id="tiny")
    items = results.run_items(record.id)
    assert [i["document"].rsplit("/", 1)[-1] for i in items] == ["a.txt", "b.md"]
    nll = sum(i["nll_sum"] for i in items)
    tokens = sum(i["tokens"] for i in items)
    assert record.summary["tokens"] == tokens
    assert record.summary["perplexity"] == pytest.approx(math.exp(nll / tokens), rel=1e-9)
    assert record.settings["window"] == 256 and record.settings["stride"] == 128
    assert record.status == "complete" and record.dataset_sha256 == job.sha256


def test_gbk_text_is_read(tiny, tmp_path):
    model, tokenizer = tiny
    path = tmp_path / "gbk.txt"
    text = "北京是中国的首都。人工智能正在改变世界。"
    path.write_bytes(text.encode("gbk"))
    record = prepare_perplexity(path).run(TorchScorer(model), tokenizer, model_id="tiny")
    expected = _score(model, tokenizer, text, PerplexitySettings())["perplexity"]
    assert record.summary["perplexity"] == pytest.approx(expected, rel=1e-9)


def test_text_shorter_than_two_tokens_names_the_file(tiny, tmp_path):
    model, tokenizer = tiny
    path = tmp_path / "short.txt"
    path.write_text("a", encoding="utf-8")
    with pytest.raises(CorpusError, match="short.txt is shorter than two tokens"):
        prepare_perplexity(path).run(TorchScorer(model), tokenizer, model_id="tiny")
    assert results.list_runs() == []


def test_empty_file_is_refused_before_any_model_work(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(CorpusError, match="empty.txt"):
        prepare_perplexity(path)


def test_bad_window_settings(tiny):
    model, tokenizer = tiny
    with pytest.raises(LlamaDeskError, match="longer than the model's context"):
        _score(model, tokenizer, TEXT, PerplexitySettings(window=512))
    with pytest.raises(LlamaDeskError, match="stride"):
        _score(model, tokenizer, TEXT, PerplexitySettings(window=16, stride=17))
    with pytest.raises(LlamaDeskError):
        PerplexitySettings(window=1)


def test_cancelled_run_is_stored_as_cancelled(tiny, tmp_path):
    model, tokenizer = tiny
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    cancel = threading.Event()

    def on_progress(fraction: float, message: str) -> None:
        if fraction > 0.2:
            cancel.set()

    with pytest.raises(Cancelled):
        prepare_perplexity(path, PerplexitySettings(window=16, stride=8)).run(
            TorchScorer(model), tokenizer, model_id="tiny", progress=Progress(on_progress, cancel)
        )
    [run] = results.list_runs()
    assert run.status == "cancelled" and "perplexity" not in run.summary
    assert results.list_runs(status="complete") == []


def test_peft_model_with_an_adapter(tiny_model_dir):
    """The engine hands over a PeftModel once adapters load; scoring must go through the adapter."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    plain = _score(base, tokenizer, TEXT, PerplexitySettings())["perplexity"]
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, config).eval()
    nll = _token_nll(model, tokenizer(TEXT)["input_ids"])

    got = _score(model, tokenizer, TEXT, PerplexitySettings())

    assert got["perplexity"] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-5)
    assert got["perplexity"] != pytest.approx(plain, rel=1e-3)


def test_library_corpus_held_out_text(tiny, tmp_path):
    from llamadesk.core.corpus.store import add_corpus
    from llamadesk.core.evaluation import resolve_data

    model, tokenizer = tiny
    for i in range(4):
        (tmp_path / f"f{i}.txt").write_text(
            f"Document {i} says the capital of France is Paris.", encoding="utf-8"
        )
    entry = add_corpus([tmp_path], name="held", val_fraction=0.25)
    held_out = [r["text"] for r in entry.iter_records("text", "validation")]
    assert held_out

    record = prepare_perplexity(resolve_data("corpus:held")).run(
        TorchScorer(model), tokenizer, model_id="tiny"
    )

    nll = [x for text in held_out for x in _token_nll(model, tokenizer(text)["input_ids"])]
    assert record.summary["documents"] == len(held_out) and record.summary["tokens"] == len(nll)
    assert record.summary["perplexity"] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-5)
    assert record.dataset_path.endswith("text-validation.jsonl")
    train = prepare_perplexity(resolve_data("corpus:held:train"))
    assert len(train.payload) == 4 - len(held_out)
    with pytest.raises(LlamaDeskError, match="no 'test' part"):
        resolve_data("corpus:held:test")


@pytest.mark.slow
def test_starter_model_sliding_window_equals_plain_transformers(starter_hf_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llamadesk.core.evaluation.data import samples_root

    model = AutoModelForCausalLM.from_pretrained(starter_hf_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(starter_hf_dir)
    job = prepare_perplexity(samples_root() / "ppl_en.txt", PerplexitySettings(window=128, stride=64))
    ids = tokenizer(job.payload[0].text)["input_ids"]
    total, count, prev_end = 0.0, 0, 0
    for begin in range(0, len(ids), 64):
        end = min(begin + 128, len(ids))
        nll = _token_nll(model, ids[begin:end])
        total += sum(nll[max(prev_end, begin + 1) - begin - 1 :])
        count += end - max(prev_end, begin + 1)
        prev_end = end
        if end == len(ids):
            break

    record = job.run(TorchScorer(model), tokenizer, model_id="starter")

    assert record.summary["tokens"] == count == len(ids) - 1
    assert record.summary["perplexity"] == pytest.approx(math.exp(total / count), rel=1e-5)
