"""`llamadesk corpus ...`: the same core, headless; user errors exit 2 with one line."""

import json

import pytest

from llamadesk.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "notes.md").write_text("Llamas live in the Andes.", encoding="utf-8")
    (folder / "qa.csv").write_text("question,answer\nWhat is 2+2?,4\nBroken,\n", encoding="utf-8")
    return folder


def test_add_preview_list_show_remove(capsys, src):
    code, out, _ = run(capsys, "corpus", "preview", str(src), "--json")
    assert code == 0 and json.loads(out)["kind"] == "mixed"

    code, out, _ = run(capsys, "corpus", "add", str(src), "--name", "demo", "--json")
    manifest = json.loads(out)
    assert code == 0 and manifest["id"] == "demo" and manifest["warning_count"] == 1

    code, out, _ = run(capsys, "corpus", "list", "--json")
    assert [row["id"] for row in json.loads(out)] == ["demo"]
    code, out, _ = run(capsys, "corpus", "list")
    assert out.startswith("demo") and "mixed" in out

    code, out, _ = run(capsys, "corpus", "show", "demo")
    assert code == 0 and "1 train" in out and "qa.csv:3" in out and "100% Latin" in out
    code, out, _ = run(capsys, "corpus", "show", "demo", "--json")
    assert json.loads(out) == manifest

    code, out, _ = run(capsys, "corpus", "remove", "demo", "--json")
    assert code == 0 and json.loads(out) == {"removed": "demo"}
    code, out, _ = run(capsys, "corpus", "list")
    assert "no corpora" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("corpus", "show", "missing"), "There is no corpus 'missing'."),
        (("corpus", "remove", "missing"), "There is no corpus 'missing'."),
        (("corpus", "add", "/no/such/path"), "/no/such/path does not exist."),
        (("corpus", "add", "SRC", "--on-error", "stop"), "qa.csv, line 3: message 2 (assistant) is empty."),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, src, argv, message):
    argv = [str(src) if a == "SRC" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


def test_name_taken(capsys, src):
    assert run(capsys, "corpus", "add", str(src), "--name", "demo")[0] == 0
    code, _, err = run(capsys, "corpus", "add", str(src), "--name", "demo")
    assert code == 2 and "already exists" in err
