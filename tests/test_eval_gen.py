"""Generation metrics: normalisation, ROUGE-L by word and by character, greedy replies, the data file."""

import json

import pytest

from llamadesk.core.errors import Cancelled, CorpusError
from llamadesk.core.evaluation import GenSettings, prepare_generation, results
from llamadesk.core.evaluation import generation_metrics as gm
from llamadesk.core.evaluation.data import samples_root
from llamadesk.core.evaluation.scorers import TorchScorer
from llamadesk.core.progress import Progress


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def test_normalised_exact_match_and_containment():
    assert gm.exact_match("  Paris. ", "paris")
    assert gm.exact_match("北京。", "北京")
    assert gm.exact_match("ＡＢＣ！", "abc")  # full-width forms fold (NFKC)
    assert not gm.exact_match("Paris is the capital", "Paris")
    assert gm.contains_answer("The capital is Paris, of course.", "paris")
    assert gm.contains_answer("答案是：北京。", "北京")
    assert not gm.contains_answer("Lyon", "Paris")


def test_rouge_l_words_for_latin_text():
    # LCS "the cat on the mat" = 5 of 6 tokens on both sides
    assert gm.rouge_l("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    assert gm.rouge_l("abc", "abc") == 1.0
    assert gm.rouge_l("abc", "xyz") == 0.0
    assert gm.rouge_l("", "xyz") == 0.0


def test_rouge_l_characters_for_chinese():
    assert gm.rouge_tokens("我喜欢 cats，很多") == ["我", "喜", "欢", "cats", "很", "多"]
    # LCS 我喜欢 = 3: precision 3/4, recall 3/5
    p, r = 3 / 4, 3 / 5
    assert gm.rouge_l("我喜欢猫", "我很喜欢狗") == pytest.approx(2 * p * r / (p + r))


def test_reads_qa_files(tmp_path):
    path = tmp_path / "qa.jsonl"
    lines = [
        {"question": "Q1", "answer": "A1"},
        {"instruction": "Translate", "input": "hello", "output": "你好"},
        {"prompt": "Q3", "response": "A3", "id": "three"},
    ]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="gbk")
    items = gm.read_qa_file(path)
    assert [(i.question, i.answer) for i in items] == [
        ("Q1", "A1"),
        ("Translate\n\nhello", "你好"),
        ("Q3", "A3"),
    ]
    assert items[2].id == "three"
    assert len(gm.read_qa_file(samples_root() / "qa_sample.jsonl")) == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"question": "q"}\n', r"line 1: no reference answer"),
        ('{"answer": "a"}\n', r"line 1: no question"),
        ('{"question": "q", "answer": "a"}\nnot json\n', r"line 2: not valid JSON"),
        ('{"question": "q", "answer": "..."}\n', r"line 1: no reference answer"),
    ],
)
def test_bad_qa_files(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError, match=rf"bad.jsonl {message}"):
        gm.read_qa_file(path)


def test_greedy_reply_is_plain_greedy_decoding(tiny):
    import torch

    model, tokenizer = tiny
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is two plus two?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    # Independent greedy loop: argmax of the full-sequence logits, token by token.
    out = ids
    for _ in range(8):
        with torch.no_grad():
            next_id = model(out).logits[0, -1].argmax()
        if next_id.item() == tokenizer.eos_token_id:
            break
        out = torch.cat([out, next_id.view(1, 1)], dim=1)
    expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
    settings = GenSettings(max_new_tokens=8, chat_template=True)
    assert gm.greedy_reply(TorchScorer(model), tokenizer, "What is two plus two?", settings) == expected


def test_scores_and_stores_per_item_replies(tiny, monkeypatch):
    model, tokenizer = tiny
    replies = {
        "What is the capital of France?": "Paris.",
        "How many days are in a week?": "There are 7 days.",
    }
    monkeypatch.setattr(gm, "greedy_reply", lambda m, t, question, s, c: replies.get(question, "no idea"))
    job = prepare_generation(samples_root() / "qa_sample.jsonl", GenSettings(limit=3))
    record = job.run(TorchScorer(model), tokenizer, model_id="tiny")
    s = record.summary
    assert s["items"] == 3
    assert s["exact_match"] == pytest.approx(1 / 3)
    assert s["contains"] == pytest.approx(2 / 3)
    assert record.settings["chat_template"] is True  # resolved from the tokenizer and stored
    items = results.run_items(record.id)
    assert [i["reply"] for i in items] == ["Paris.", "There are 7 days.", "no idea"]
    assert items[1]["exact_match"] is False and items[1]["contains"] is True


def test_real_greedy_run_on_tiny_model(tiny):
    model, tokenizer = tiny
    detail: list[dict] = []
    items = gm.read_qa_file(samples_root() / "qa_sample.jsonl")
    summary = gm.score_generation(
        TorchScorer(model), tokenizer, items, GenSettings(max_new_tokens=4, limit=2), Progress(), detail
    )
    assert summary["items"] == 2 and len(detail) == 2
    assert 0.0 <= summary["rouge_l"] <= 1.0


def test_stop_cuts_a_reply_short_and_it_is_not_scored(tiny):
    import threading

    model, tokenizer = tiny
    cancel = threading.Event()
    cancel.set()
    settings = GenSettings(max_new_tokens=50, chat_template=False)
    reply = gm.greedy_reply(TorchScorer(model), tokenizer, "What is two plus two?", settings, cancel)
    assert len(tokenizer(reply, add_special_tokens=False)["input_ids"]) <= 2

    stop = threading.Event()
    job = prepare_generation(samples_root() / "qa_sample.jsonl", settings)
    with pytest.raises(Cancelled):
        job.run(
            TorchScorer(model), tokenizer, model_id="tiny", progress=Progress(lambda f, m: stop.set(), stop)
        )
    [run] = results.list_runs()
    assert run.status == "cancelled" and results.run_items(run.id) == []
