import json

import pytest

from llamadesk.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_list_info_remove(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "models", "import", str(tiny_model_dir), "--name", "tiny", "--json")
    assert code == 0 and json.loads(out)["id"] == "tiny"
    code, out, _ = run(capsys, "models", "list", "--json")
    assert [m["id"] for m in json.loads(out)] == ["tiny"]
    code, out, _ = run(capsys, "models", "info", "tiny")
    assert code == 0 and "by formula" in out and "LM head" in out
    code, out, _ = run(capsys, "models", "info", "tiny", "--json")
    info = json.loads(out)
    assert info["parameters"]["counted"] == info["parameters"]["formula"]
    code, out, _ = run(capsys, "models", "remove", "tiny", "--json")
    assert code == 0 and json.loads(out) == {"removed": "tiny"}


@pytest.mark.parametrize(
    "argv",
    [
        ("models", "info", "missing"),
        ("models", "remove", "missing"),
        ("models", "import", "/no/such/path"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("llamadesk: ") and err.count("\n") == 1 and "Traceback" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "LlamaDesk" in capsys.readouterr().out
