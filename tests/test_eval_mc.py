"""Multiple choice: the file forms, their errors, the standard prompts, and letter-logit scoring."""

import json
import threading

import pytest

from llamadesk.core.errors import Cancelled, CorpusError
from llamadesk.core.evaluation import MCSettings, prepare_multiple_choice, results
from llamadesk.core.evaluation.data import samples_root
from llamadesk.core.evaluation.multiple_choice import (
    MCItem,
    Subject,
    build_prompt,
    letter_token_ids,
    load_mc_dataset,
    read_mc_file,
    score_multiple_choice,
)
from llamadesk.core.evaluation.scorers import TorchScorer
from llamadesk.core.progress import Progress

CEVAL = (
    "id,question,A,B,C,D,answer,explanation\n"
    "0,一加一等于几？,一,二,三,四,B,简单加法。\n"
    '1,"哪个是颜色, 不是动物？",猫,狗,红,马,c,\n'
)
MMLU = (
    "What is 2 + 2?,3,4,5,6,B\n"
    '"Pick the colour, please",cat,red,dog,cow,B\n'
    "Which is a fish?,cod,cat,dog,cow,A\n"
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _model_favouring(tiny_model_dir, token_id: int):
    """The tiny model with a bias on its output layer that makes `token_id` the top next token."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    old = model.lm_head
    head = torch.nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.bias.zero_()
        head.bias[token_id] = 100.0
    model.lm_head = head
    return model


def _write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


# ---------------------------------------------------------------- file forms


def test_ceval_csv_with_header(tmp_path):
    items = read_mc_file(_write(tmp_path / "x_val.csv", CEVAL))
    assert [i.answer for i in items] == ["B", "C"]
    assert items[1].question == "哪个是颜色, 不是动物？"
    assert items[1].options == ("猫", "狗", "红", "马")
    assert items[0].id == "0" and items[1].source.endswith("x_val.csv line 3")


def test_mmlu_headerless_csv(tmp_path):
    items = read_mc_file(_write(tmp_path / "m_test.csv", MMLU))
    assert [(i.question, i.answer) for i in items] == [
        ("What is 2 + 2?", "B"),
        ("Pick the colour, please", "B"),
        ("Which is a fish?", "A"),
    ]


def test_jsonl_forms(tmp_path):
    lines = [
        {"question": "Q1", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "D"},
        {"id": "x", "question": "Q2", "choices": ["a", "b", "c", "d"], "answer": 2},
        {"question": "Q3", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer": " a "},
    ]
    path = _write(tmp_path / "j.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    items = read_mc_file(path)
    assert [i.answer for i in items] == ["D", "C", "A"]
    assert items[1].id == "x"


def test_gbk_csv_is_decoded(tmp_path):
    items = read_mc_file(_write(tmp_path / "gbk_val.csv", CEVAL, encoding="gbk"))
    assert items[0].question == "一加一等于几？" and items[0].options[1] == "二"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("h.csv", "id,question,A,B,C,answer\n0,q,a,b,c,A\n", r"h.csv line 1: the header has no 'D' column"),
        (
            "r.csv",
            "id,question,A,B,C,D,answer\n0,q,a,b,c,d,A\n1,q,a,b,c\n",
            r"r.csv line 3: expected 7 columns",
        ),
        ("m.csv", "q,a,b,c,d,A\nq,a,b,c,B\n", r"m.csv line 2: expected 6 columns"),
        ("e.csv", "q,a,b,c,d,A\n\nq,a,b,c,d,E\n", r"e.csv line 3: the answer 'E' is not one of A, B, C, D"),
        ("ce.csv", "id,question,A,B,C,D,answer\n0,q,a,b,c,d,\n", r"ce.csv line 2: the answer '' is not one"),
        (
            "j.jsonl",
            '{"question": "q", "A": 1, "B": 2, "C": 3, "D": 4}\n',
            r"j.jsonl line 1: the 'answer' field",
        ),
        ("k.jsonl", '\n{"question": "q", "answer": "A"\n', r"k.jsonl line 2: not valid JSON"),
        (
            "o.jsonl",
            '{"question": "q", "choices": [1, 2], "answer": "A"}\n',
            r"o.jsonl line 1: expected the options",
        ),
        ("blank.csv", "\n  \n", r"blank.csv is empty"),
        ("q.txt", "hello", r"q.txt is not a .csv or .jsonl"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, name, text, message):
    with pytest.raises(CorpusError, match=message):
        read_mc_file(_write(tmp_path / name, text))


def test_empty_file(tmp_path):
    with pytest.raises(CorpusError, match="x.csv"):
        read_mc_file(_write(tmp_path / "x.csv", ""))


def test_folder_of_subjects_with_dev_files():
    subjects = load_mc_dataset(samples_root() / "ceval_sample", shots=5)
    assert [s.key for s in subjects] == ["computer_basics", "everyday_science"]
    assert [s.name for s in subjects] == ["计算机基础", "日常科学"]
    assert all(s.language == "zh" and len(s.items) == 10 and len(s.dev) == 5 for s in subjects)

    [mmlu] = load_mc_dataset(samples_root() / "mmlu_sample", shots=3)
    assert (mmlu.key, mmlu.name, mmlu.language) == ("general_knowledge", "general knowledge", "en")
    assert len(mmlu.items) == 10 and len(mmlu.dev) == 5
    # a single file finds its dev file in the sibling dev/ folder
    [single] = load_mc_dataset(
        samples_root() / "mmlu_sample" / "test" / "general_knowledge_test.csv", shots=1
    )
    assert single.dev == mmlu.dev


def test_shots_need_enough_dev_examples(tmp_path):
    _write(tmp_path / "s_val.csv", CEVAL)
    with pytest.raises(CorpusError, match="need a dev file for 's'"):
        load_mc_dataset(tmp_path, shots=1)
    _write(tmp_path / "s_dev.csv", CEVAL)
    assert len(load_mc_dataset(tmp_path, shots=2)[0].dev) == 2
    with pytest.raises(CorpusError, match="fewer than the 3 shots"):
        load_mc_dataset(tmp_path, shots=3)


# ---------------------------------------------------------------- prompts


def test_standard_prompts():
    q = MCItem("0", "一加一等于几？", ("一", "二", "三", "四"), "B", "x")
    shot = MCItem("1", "二加二等于几？", ("四", "五", "六", "七"), "A", "x")
    zh = Subject("math", "数学", "zh", [q], [shot])
    assert build_prompt(zh, q, 0) == (
        "以下是中国关于数学考试的单项选择题，请选出其中的正确答案。\n\n"
        "一加一等于几？\nA. 一\nB. 二\nC. 三\nD. 四\n答案："
    )
    assert build_prompt(zh, q, 1).split("\n\n")[1] == "二加二等于几？\nA. 四\nB. 五\nC. 六\nD. 七\n答案：A"
    en = Subject("math", "math", "en", [q], [shot])
    prompt = build_prompt(en, q, 1)
    assert prompt.startswith("The following are multiple choice questions (with answers) about math.\n\n")
    assert "\nAnswer: A\n\n" in prompt and prompt.endswith("\nAnswer:")


def test_letter_tokens_include_space_variants(tokenizer):
    ids = letter_token_ids(tokenizer)
    for letter, variants in ids.items():
        assert all(tokenizer.decode([i]).strip() == letter for i in variants)
    assert len(ids["A"]) == 2  # the tiny tokenizer learned " A" as one token
    assert len({i for v in ids.values() for i in v}) == sum(len(v) for v in ids.values())


# ---------------------------------------------------------------- scoring


def _subject(answers: str) -> Subject:
    items = [
        MCItem(str(i), f"Question {i}?", ("w", "x", "y", "z"), a, f"f line {i}")
        for i, a in enumerate(answers)
    ]
    return Subject("s", "s", "en", items)


def test_scores_by_letter_logits(tiny_model_dir, tokenizer):
    ids = letter_token_ids(tokenizer)
    model = _model_favouring(tiny_model_dir, ids["C"][0])
    detail: list[dict] = []
    summary = score_multiple_choice(
        TorchScorer(model), tokenizer, [_subject("CCAB")], MCSettings(), Progress(), detail
    )
    assert [d["prediction"] for d in detail] == ["C"] * 4
    assert summary["accuracy"] == 0.5 and summary["subjects"]["s"]["correct"] == 2
    assert all(d["scores"]["C"] > 50 and d["shots"] == 0 and not d["truncated"] for d in detail)
    # Each item carries the question as asked, so a stored result reads without the data file.
    assert detail[1]["question"] == "Question 1?"
    assert detail[1]["options"] == {"A": "w", "B": "x", "C": "y", "D": "z"}


def test_space_prefixed_letter_counts(tiny_model_dir, tokenizer):
    space_a = letter_token_ids(tokenizer)["A"][1]
    assert tokenizer.decode([space_a]) == " A"
    model = _model_favouring(tiny_model_dir, space_a)
    detail: list[dict] = []
    score_multiple_choice(TorchScorer(model), tokenizer, [_subject("AB")], MCSettings(), Progress(), detail)
    assert [d["prediction"] for d in detail] == ["A", "A"]


def test_run_on_sample_per_subject_and_average(tiny_model_dir, tokenizer):
    model = _model_favouring(tiny_model_dir, letter_token_ids(tokenizer)["B"][0])
    job = prepare_multiple_choice(samples_root() / "ceval_sample", MCSettings(shots=1, chat_template=True))
    record = job.run(TorchScorer(model), tokenizer, model_id="tiny", adapter_id=None)
    s = record.summary
    # the sample's answers: computer_basics has 3 B of 10, everyday_science 2 of 10
    assert s["subjects"]["computer_basics"]["accuracy"] == pytest.approx(0.3)
    assert s["subjects"]["everyday_science"]["accuracy"] == pytest.approx(0.2)
    assert s["average_accuracy"] == pytest.approx(0.25) and s["questions"] == 20
    assert record.settings["chat_template"] is True and record.settings["shots"] == 1
    items = results.run_items(record.id)
    assert len(items) == 20 and items[0]["subject"] == "computer_basics" and items[0]["answer"] == "B"
    # prompts longer than the tiny model's 256-token context drop shots, then keep their tail
    assert all(i["shots"] == 0 for i in items if i["truncated"])


def test_cancelled_run_keeps_partial_items_not_complete(tiny_model_dir, tokenizer):
    model = _model_favouring(tiny_model_dir, letter_token_ids(tokenizer)["A"][0])
    cancel = threading.Event()

    def on_progress(fraction: float, message: str) -> None:
        if fraction >= 0.5:
            cancel.set()

    job = prepare_multiple_choice(samples_root() / "mmlu_sample")
    with pytest.raises(Cancelled):
        job.run(TorchScorer(model), tokenizer, model_id="tiny", progress=Progress(on_progress, cancel))
    [run] = results.list_runs()
    assert run.status == "cancelled" and run.summary["items_done"] == 6
    assert len(results.run_items(run.id)) == 6
