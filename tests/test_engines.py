"""The engine choice: llama.cpp for a GGUF on the CPU, torch otherwise, and the fallbacks between them."""

import os
import subprocess
import sys
import threading

import pytest

from llamadesk.cli import main
from llamadesk.core import adapters, engines, library
from llamadesk.core.generation import GenerationSettings
from tests.test_adapters import make_adapter

GREEDY = GenerationSettings(temperature=0.0, max_new_tokens=12, seed=0)
HELLO = [{"role": "user", "content": "The capital of France is"}]
NO_LLAMACPP = "llama.cpp is not installed (test); models chat through the torch engine."


def _reply(engine) -> str:
    return "".join(engine.stream(HELLO, GREEDY, threading.Event()))


@pytest.fixture
def tiny_gguf(tiny_model_dir) -> library.ModelEntry:
    """The tiny float model with a GGUF written for chat."""
    library.import_model(tiny_model_dir, "tiny")
    return library.quantize_for_chat("tiny", "q8_0")


@pytest.fixture
def without_llamacpp(monkeypatch) -> None:
    monkeypatch.setattr(engines, "llamacpp_problem", lambda: NO_LLAMACPP)


def test_a_float_model_chats_on_torch(tiny_model_dir):
    entry = library.import_model(tiny_model_dir, "tiny")
    assert entry.gguf_path is None
    assert engines.pick(entry)[0] == engines.TORCH


def test_quantize_for_chat_writes_a_gguf_beside_the_float_weights(tiny_gguf, capsys):
    assert tiny_gguf.gguf_path == tiny_gguf.folder / "chat-q8_0.gguf"
    assert (tiny_gguf.folder / "model.safetensors").is_file()  # training and merging still read these
    assert main(["models", "quantize", "tiny", "--type", "q4_0"]) == 0
    entry = library.get_model("tiny")
    assert entry.gguf_path.name == "chat-q4_0.gguf"
    assert not (entry.folder / "chat-q8_0.gguf").exists()  # the earlier one is replaced, not kept


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "quantize", "tiny", "--type", "q3_k"], "not a GGUF type"),
        (["models", "quantize", "ghost"], "no model 'ghost'"),
    ],
)
def test_quantize_bad_input_exits_2(tiny_model_dir, capsys, argv, message):
    library.import_model(tiny_model_dir, "tiny")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_without_llamacpp_a_gguf_model_chats_on_torch(tiny_gguf, without_llamacpp):
    assert engines.pick(tiny_gguf) == (engines.TORCH, NO_LLAMACPP)
    engine = engines.SwitchingEngine()
    engine.load("tiny")
    try:
        assert engine.info()["engine"] == engines.TORCH
        assert engine.info()["engine_reason"] == NO_LLAMACPP
        assert _reply(engine)
    finally:
        engine.unload()


def test_the_cli_says_once_that_llamacpp_is_missing(tiny_gguf, without_llamacpp, capsys):
    assert main(["chat", "tiny", "--temperature", "0", "--max-new-tokens", "4", "Hello"]) == 0
    assert capsys.readouterr().err.count(NO_LLAMACPP) == 1


needs_llamacpp = pytest.mark.skipif(engines.llamacpp_problem() is not None, reason="llama.cpp not installed")


@needs_llamacpp
def test_a_gguf_chats_through_llamacpp_and_adapters_switch_without_reload(
    tiny_gguf, tiny_model_dir, tmp_path
):
    for name, seed in (("first", 1), ("second", 2)):
        entry = adapters.import_adapter(
            make_adapter(tiny_model_dir, tmp_path / name, seed=seed), "tiny", name
        )
        assert (entry.folder / adapters.GGUF_LORA).is_file()
        assert entry.manifest["gguf_lora_error"] is None
    engine = engines.SwitchingEngine()
    engine.load("tiny")
    try:
        assert engine.info()["engine"] == engines.LLAMACPP
        held = engine._engine
        base = _reply(engine)
        replies = {}
        for name in ("first", "second"):
            engine.set_adapter(name)
            replies[name] = _reply(engine)
        engine.set_adapter(None)
        assert _reply(engine) == base
        assert len({base, *replies.values()}) == 3
        assert engine._engine is held and engine.info()["engine"] == engines.LLAMACPP  # nothing reloaded
    finally:
        engine.unload()


@needs_llamacpp
def test_an_adapter_llamacpp_cannot_take_runs_on_torch_and_says_why(tiny_gguf, tiny_model_dir, tmp_path):
    folder = make_adapter(tiny_model_dir, tmp_path / "embeds", modules_to_save=["lm_head"])
    entry = adapters.import_adapter(folder, "tiny", "embeds")
    assert not (entry.folder / adapters.GGUF_LORA).exists()
    assert entry.manifest["gguf_lora_error"]
    engine = engines.SwitchingEngine()
    engine.load("tiny")
    try:
        engine.set_adapter("embeds")
        info = engine.info()
        assert info["engine"] == engines.TORCH and info["adapter"] == "embeds"
        assert info["engine_reason"] == entry.manifest["gguf_lora_error"]
        assert _reply(engine)
    finally:
        engine.unload()


@pytest.mark.slow
def test_the_starter_chats_on_torch_in_a_process_without_llamacpp(tmp_path, starter_gguf):
    """A real process where `import llama_cpp` fails: the GGUF is dequantised for the torch engine,
    the reply comes, the reason is printed once, and there is no traceback."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['llama_cpp'] = None\n")
    env = os.environ | {"PYTHONPATH": str(blocker), "LLAMADESK_HOME": str(tmp_path / "home")}
    script = (
        "import sys; from llamadesk.cli import main; "
        f"main(['models', 'import', {str(starter_gguf)!r}, '--name', 'starter']); "
        "sys.exit(main(['chat', 'starter', '--temperature', '0', '--max-new-tokens', '8', "
        "'What is the capital of France?']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("llama.cpp is not installed") == 1
    assert "Traceback" not in done.stderr
    reply = done.stdout.strip().splitlines()[-1]
    assert reply and not reply.startswith("Imported")


def test_the_user_can_keep_a_model_on_torch(tiny_gguf, capsys):
    assert main(["models", "set", "tiny", "--engine", "torch"]) == 0
    assert engines.pick(library.get_model("tiny"))[0] == engines.TORCH
    assert main(["models", "set", "tiny", "--engine", "auto"]) == 0
    assert main(["models", "set", "tiny", "--engine", "vulkan"]) == 2
    assert "Unknown engine 'vulkan'" in capsys.readouterr().err
