"""Small corpora and specs shared by the training tests (fast on the tiny model)."""

import json
from pathlib import Path

from llamadesk.core import library
from llamadesk.core.corpus import store
from llamadesk.core.training.spec import TrainSpec

_FACTS = [
    "The capital of France is Paris.",
    "北京是中国的首都。",
    "Llamas live in the Andes.",
    "A model learns from text; an adapter changes a few weights.",
    "人工智能正在改变世界。",
    "The quick brown fox jumps over the lazy dog.",
]


def import_tiny(tiny_model_dir: Path) -> library.ModelEntry:
    return library.import_model(tiny_model_dir, "tiny", in_place=True)


def write_text_records(path: Path, count: int = 120) -> Path:
    """JSONL text records: each is its own document, so the split has validation passages."""
    lines = [
        json.dumps({"text": f"Note {i}. {_FACTS[i % 6]} {_FACTS[(i * 5 + 1) % 6]} {_FACTS[(i + 2) % 6]}"})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_alpaca(path: Path, count: int = 80) -> Path:
    records = [
        {"instruction": f"Question {i}: where do llamas live?", "output": f"In the Andes ({i})."}
        if i % 2
        else {"instruction": f"问题 {i}：中国的首都是哪里？", "output": f"北京。({i})"}
        for i in range(count)
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


def text_corpus(tmp_path: Path, name: str = "notes") -> str:
    return store.add_corpus([write_text_records(tmp_path / f"{name}.jsonl")], name).id


def sft_corpus(tmp_path: Path, name: str = "qa") -> str:
    return store.add_corpus([write_alpaca(tmp_path / f"{name}.jsonl")], name).id


def tiny_spec(data: str, out: str, kind: str = "pt", **overrides) -> TrainSpec:
    fields = {
        "kind": kind,
        "base": "tiny",
        "data": [data],
        "out": out,
        "block_size": 32,
        "batch_size": 2,
        "grad_accum": 2,
        "max_steps": 6,
        "eval_every": 2,
        "save_every": 2,
        "max_eval_examples": 8,
    }
    return TrainSpec(**(fields | overrides))
