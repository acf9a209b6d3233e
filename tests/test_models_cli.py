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


def test_info_says_which_engine_chats_and_the_memory_it_needs(capsys, tiny_model_dir):
    run(capsys, "models", "import", str(tiny_model_dir), "--name", "tiny", "--in-place")
    code, out, _ = run(capsys, "models", "info", "tiny")
    assert code == 0
    assert "chat engine:    torch (a float model runs on the torch engine)" in out
    assert "memory:         Chat needs about" in out and "training a LoRA needs about" in out
    assert "to chat:" in out and "in float32" in out and "to train:" in out
    code, out, _ = run(capsys, "models", "info", "tiny", "--json")
    info = json.loads(out)
    assert info["engine"] == "torch" and info["engine_reason"]
    plan = info["memory_plan"]
    assert plan["engine"] == "torch" and plan["chat"]["quantization"] == "none"
    assert plan["chat_bytes"] > plan["chat"]["runtime"] > 0 and plan["train_bytes"] > 0
    assert plan["fits_chat"] is (plan["chat_bytes"] <= plan["usable_ram"])
    assert plan["text"].startswith("Chat needs about")
    run(capsys, "models", "set", "tiny", "--quantization", "int8")
    code, out, _ = run(capsys, "models", "info", "tiny", "--json")
    assert json.loads(out)["memory_plan"]["chat"]["quantization"] == "int8"


@pytest.mark.slow
def test_info_of_the_starter_gguf_plans_its_engine(capsys, starter_gguf):
    from llamadesk.core import engines, library

    run(capsys, "models", "import", str(starter_gguf), "--name", "starter")
    engine, reason = engines.pick(library.get_model("starter"))
    code, text, _ = run(capsys, "models", "info", "starter")
    assert code == 0 and f"chat engine:    {engine} ({reason})" in text
    assert "memory:         Chat needs about" in text
    code, out, _ = run(capsys, "models", "info", "starter", "--json")
    plan = json.loads(out)["memory_plan"]
    assert plan["engine"] == engine
    if engine == "llama.cpp":  # the file mapped as it is: its tensor bytes, half a GiB in all
        assert plan["chat"]["weights"] == 96_576_768
        assert "memory:         Chat needs about 0.5 GiB" in text
    assert plan["train_precision"] == "fp32"
