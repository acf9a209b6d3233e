"""Instruction formats recognised by shape, normalised to conversations; malformed records."""

import json
from pathlib import Path

import pytest

from llamadesk.core.corpus.instructions import RecordError, detect_shape, normalise_record
from llamadesk.core.corpus.reading import ReadReport, TextItem, iter_items, read_instruction_file
from llamadesk.core.errors import CorpusError

QA = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_alpaca(tmp_path):
    path = write_jsonl(
        tmp_path / "alpaca.jsonl",
        [
            {"instruction": "What is 2+2?", "input": "", "output": "4"},
            {"instruction": "Translate", "input": "你好", "output": "Hello", "system": "Be brief."},
        ],
    )
    first, second = read_instruction_file(path)
    assert first == QA
    assert second == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Translate\n\n你好"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_sharegpt(tmp_path):
    record = {
        "conversations": [
            {"from": "system", "value": "You are kind."},
            {"from": "human", "value": "What is 2+2?"},
            {"from": "gpt", "value": "4"},
            {"from": "human", "value": "And 3+3?"},
            {"from": "gpt", "value": "6"},
        ]
    }
    [conversation] = read_instruction_file(write_jsonl(tmp_path / "sharegpt.jsonl", [record]))
    assert [m["role"] for m in conversation] == ["system", "user", "assistant", "user", "assistant"]
    assert conversation[1:3] == QA


def test_openai_messages_with_text_parts(tmp_path):
    records = [
        {"messages": QA},
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
                {"role": "assistant", "content": "4"},
            ]
        },
    ]
    assert read_instruction_file(write_jsonl(tmp_path / "chat.jsonl", records)) == [QA, QA]


@pytest.mark.parametrize(
    "table",
    [
        "question,answer\nWhat is 2+2?,4\n",
        "Prompt,Response\nWhat is 2+2?,4\n",
        "问题,答案\nWhat is 2+2?,4\n",  # any two columns with a header
        "answer,question\n4,What is 2+2?\n",  # named columns win over position
    ],
)
def test_two_column_csv(tmp_path, table):
    path = tmp_path / "qa.csv"
    path.write_text(table, encoding="utf-8")
    assert read_instruction_file(path) == [QA]


def test_csv_multiline_field_gbk_and_system_column(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_bytes('system,prompt,response\n简洁,"第一行\n第二行",好的\n'.encode("gbk"))
    assert read_instruction_file(path) == [
        [
            {"role": "system", "content": "简洁"},
            {"role": "user", "content": "第一行\n第二行"},
            {"role": "assistant", "content": "好的"},
        ]
    ]


def test_csv_with_unusable_header(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"wide.csv, line 1: the header has 3 columns"):
        read_instruction_file(path)


def test_json_array_and_wrapped_records(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps([{"question": "What is 2+2?", "answer": 4}]), "utf-8")
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": [{"messages": QA}]}), "utf-8")
    (tmp_path / "one.json").write_text(json.dumps({"messages": QA}), "utf-8")
    for name in ("list.json", "wrapped.json", "one.json"):
        assert read_instruction_file(tmp_path / name) == [QA], name


@pytest.mark.parametrize(
    ("record", "shape"),
    [
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        ({"conversations": []}, "sharegpt"),
        ({"messages": []}, "openai"),
        ({"Question": "a", "Answer": "b"}, "pair"),
        ({"text": "plain"}, "text"),
        ("plain", "text"),
        ({"foo": 1}, None),
        ([1, 2], None),
    ],
)
def test_detect_shape(record, shape):
    assert detect_shape(record) == shape


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant reply"),
        (
            {"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]},
            "before any",
        ),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}]}, "role 'tool'"),
        ({"conversations": [{"from": "alien", "value": "x"}]}, "neither human"),
        ({"instruction": "q", "output": ""}, "empty"),
        ({"foo": 1, "bar": 2}, "keys: bar, foo"),
        (42, "found int"),
    ],
)
def test_invalid_records(record, reason):
    with pytest.raises(RecordError, match=reason):
        normalise_record(record)


def test_text_records_are_text(tmp_path):
    path = write_jsonl(tmp_path / "pretrain.jsonl", [{"text": "First document."}, "Second document."])
    items = list(iter_items([path]))
    assert all(isinstance(i, TextItem) for i in items)
    assert [list(i.chunks) for i in items] == [["First document."], ["Second document."]]
    assert [i.source for i in items] == [f"{path}:1", f"{path}:2"]
    with pytest.raises(CorpusError, match="plain text, not a conversation"):
        read_instruction_file(path)


def _malformed(tmp_path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text(
        json.dumps({"messages": QA})
        + "\n{not json\n\n"
        + json.dumps({"instruction": "q"})
        + "\n"
        + json.dumps({"question": "What is 2+2?", "answer": "4"})
        + "\n",
        encoding="utf-8",
    )
    return path


def test_malformed_lines_skipped_with_file_and_line(tmp_path):
    path = _malformed(tmp_path)
    report = ReadReport()
    assert read_instruction_file(path, on_error="skip", report=report) == [QA, QA]
    assert report.warning_count == 2
    assert report.warnings[0].startswith(f"{path}:2: invalid JSON")
    assert report.warnings[1].startswith(f"{path}:4: unrecognised record (keys: instruction)")


def test_malformed_line_stops_naming_file_and_line(tmp_path):
    path = _malformed(tmp_path)
    with pytest.raises(CorpusError) as exc:
        read_instruction_file(path, on_error="stop")
    assert str(exc.value).startswith(f"{path}, line 2: invalid JSON")


def test_invalid_json_file_reports_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"messages": []},\n{oops}\n]', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"broken.json, line 3: invalid JSON"):
        read_instruction_file(path)


def test_unreadable_instruction_file(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\x00\x01binary")
    with pytest.raises(CorpusError, match="cannot be read: it is a binary file"):
        read_instruction_file(path)
