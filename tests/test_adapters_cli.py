"""`llamadesk adapters ...` in-process, and the comparison of replies behind `adapters compare`."""

import json
import threading

import pytest

from llamadesk.cli import main
from llamadesk.core import library
from llamadesk.core.compare import compare_replies
from llamadesk.core.errors import Cancelled, IncompatibleAdapterError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.progress import Progress
from tests.test_adapters import make_adapter, make_model


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny(tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    return "tiny"


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory, tiny_model_dir):
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("cli") / "zh-lora", seed=3)


def test_import_list_info_merge_remove(tiny, lora_dir, capsys):
    code, out, _ = run(capsys, "adapters", "list")
    assert code == 0 and "No adapters yet" in out
    code, out, _ = run(capsys, "adapters", "import", str(lora_dir), "--base", "tiny", "--json")
    assert code == 0 and json.loads(out)["id"] == "zh-lora" and json.loads(out)["base_id"] == "tiny"
    code, out, _ = run(capsys, "adapters", "import", str(lora_dir), "--base", "tiny", "--name", "zh2")
    assert code == 0 and "Imported adapter 'zh2' for 'tiny'" in out

    code, out, _ = run(capsys, "adapters", "list", "--json")
    assert [(r["id"], r["base_id"], r["kind"], r["rank"]) for r in json.loads(out)] == [
        ("zh-lora", "tiny", "imported", 4),
        ("zh2", "tiny", "imported", 4),
    ]
    code, out, _ = run(capsys, "adapters", "list", "--base", "other", "--json")
    assert json.loads(out) == []
    code, out, _ = run(capsys, "adapters", "list")
    assert "zh-lora" in out and "on tiny" in out
    code, out, _ = run(capsys, "adapters", "info", "zh2")
    assert code == 0 and "rank 4, alpha 8" in out and "q_proj, v_proj" in out

    code, out, _ = run(capsys, "adapters", "merge", "zh-lora", "--name", "tiny-zh", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["id"] == "tiny-zh" and info["format"] == "merged"
    assert info["lineage"]["base"] == "tiny" and info["lineage"]["adapter"] == "zh-lora"
    code, out, _ = run(capsys, "models", "list", "--json")
    assert sorted(m["id"] for m in json.loads(out)) == ["tiny", "tiny-zh"]

    code, out, _ = run(capsys, "adapters", "remove", "zh2", "--json")
    assert code == 0 and json.loads(out) == {"removed": "zh2"}
    code, out, _ = run(capsys, "adapters", "remove", "zh-lora")
    assert code == 0 and "Removed adapter 'zh-lora'" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("adapters", "info", "missing"), "no adapter 'missing'"),
        (("adapters", "remove", "missing"), "no adapter 'missing'"),
        (("adapters", "merge", "missing", "--name", "x"), "no adapter 'missing'"),
        (("adapters", "import", "/no/such/path", "--base", "tiny"), "does not exist"),
        (("adapters", "import", "{lora}", "--base", "ghost"), "no model 'ghost'"),
        (
            ("adapters", "import", "{lora}", "--base", "tiny", "--name", "bad name!"),
            "cannot be used as a name",
        ),
        (("adapters", "import", "{tiny_dir}", "--base", "tiny"), "no adapter_config.json"),
        (("adapters", "compare", "tiny", "--prompt", "Hi", "--adapter", "ghost"), "no adapter 'ghost'"),
        (("adapters", "compare", "tiny", "--prompt", "Hi", "--no-base"), "Nothing to compare"),
        (("adapters", "compare", "tiny", "--prompt", "  "), "message is empty"),
    ],
)
def test_bad_input_exits_2_with_one_line(tiny, lora_dir, tiny_model_dir, capsys, argv, message):
    argv = [a.format(lora=lora_dir, tiny_dir=tiny_model_dir) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert err.startswith("llamadesk: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err


def test_incompatible_import_and_duplicate_exit_2(tiny, lora_dir, tmp_path, capsys):
    other = make_model(tmp_path / "wide-base", hidden=64)
    code, _, err = run(
        capsys, "adapters", "import", str(make_adapter(other, tmp_path / "wide")), "--base", "tiny"
    )
    assert code == 2 and "hidden size 64" in err and "'tiny' has 32" in err and err.count("\n") == 1
    assert run(capsys, "adapters", "import", str(lora_dir), "--base", "tiny")[0] == 0
    code, _, err = run(capsys, "adapters", "import", str(lora_dir), "--base", "tiny")
    assert code == 2 and "already exists" in err
    code, _, err = run(capsys, "adapters", "merge", "zh-lora", "--name", "tiny")
    assert code == 2 and "'tiny' already exists" in err


GREEDY = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=8)
HELLO = [{"role": "user", "content": "The capital of France is"}]


def test_compare_base_and_adapters(tiny, lora_dir, tiny_model_dir, tmp_path, capsys):
    from llamadesk.core import adapters

    adapters.import_adapter(lora_dir, "tiny", name="a")
    adapters.import_adapter(make_adapter(tiny_model_dir, tmp_path / "b", seed=9), "tiny", name="b")
    replies = compare_replies("tiny", [None, "a", "b", None], HELLO, GREEDY)
    assert [r["adapter_id"] for r in replies] == [None, "a", "b", None]
    texts = [r["text"] for r in replies]
    assert texts[0] == texts[3]  # the base is unchanged by the adapters loaded beside it
    assert len(set(texts[:3])) == 3  # each adapter answers differently
    assert all(r["stats"]["new_tokens"] >= 1 for r in replies)

    code, out, _ = run(capsys, "adapters", "compare", "tiny", "--prompt", "The capital of France is",
                       "--adapter", "a", "--max-new-tokens", "8", "--json")  # fmt: skip
    assert code == 0
    assert [r["adapter_id"] for r in json.loads(out)] == [None, "a"]
    code, out, _ = run(
        capsys, "adapters", "compare", "tiny", "--prompt", "Hi", "--adapter", "b", "--max-new-tokens", "4"
    )
    assert code == 0 and "── tiny (base)" in out and "── b" in out


def test_compare_refuses_an_adapter_of_another_base_and_stops_on_cancel(tiny, lora_dir, tmp_path):
    from llamadesk.core import adapters

    adapters.import_adapter(lora_dir, "tiny", name="a")
    from tests.tiny import make_tiny_model

    library.import_model(make_tiny_model(tmp_path / "sib", seed=4), "sibling", in_place=True)
    with pytest.raises(IncompatibleAdapterError, match="made for 'tiny'"):
        compare_replies("sibling", [None, "a"], HELLO, GREEDY)

    cancel = threading.Event()

    def stop_when_writing(_fraction: float, message: str) -> None:
        if message.startswith("Writing"):
            cancel.set()

    with pytest.raises(Cancelled):
        compare_replies("tiny", [None, "a"], HELLO, GREEDY, Progress(stop_when_writing, cancel))
