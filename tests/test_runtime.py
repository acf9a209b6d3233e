"""Runtime options (device, dtype, CPU threads) and how pick_device honours or falls back from them."""

import logging

import pytest
import torch

from llamadesk.core import engine, runtime
from llamadesk.core.runtime import RuntimeOptions, RuntimeOptionsError


@pytest.fixture(autouse=True)
def restore_options():
    """Options are process-wide: every test leaves them (and torch's threads) as they were."""
    before, threads = runtime.current(), torch.get_num_threads()
    yield
    runtime.configure(before)
    torch.set_num_threads(threads)


def test_defaults_are_automatic():
    assert runtime.current() == RuntimeOptions(device="auto", dtype="auto", threads=0)
    devices = runtime.available_devices()
    assert devices[:2] == ["auto", "cpu"] and set(devices) <= {"auto", "cpu", "cuda", "mps"}


def test_configure_stores_options_and_applies_threads():
    default = torch.get_num_threads()
    runtime.configure(RuntimeOptions(device="cpu", dtype="bfloat16", threads=1))
    assert runtime.current() == RuntimeOptions("cpu", "bfloat16", 1)
    assert torch.get_num_threads() == 1
    runtime.configure(RuntimeOptions())  # 0: back to torch's own default
    assert torch.get_num_threads() == default


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"device": "tpu"}, "Unknown device 'tpu'; choose one of: auto, cpu, cuda, mps."),
        ({"dtype": "int8"}, "Unknown dtype 'int8'; choose one of: auto, float32, bfloat16, float16."),
        ({"threads": -1}, "CPU threads must be a whole number, 0 or more"),
    ],
)
def test_bad_options_are_refused(fields, message):
    with pytest.raises(RuntimeOptionsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RuntimeOptions(**fields)


def test_auto_picks_the_machine_default(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert engine.pick_device(1000) == ("cpu", torch.float32)


def test_cpu_dtype_choice_is_honoured(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    runtime.configure(RuntimeOptions(device="cpu", dtype="bfloat16"))
    assert engine.pick_device(1000) == ("cpu", torch.bfloat16)


def test_a_gpu_the_machine_lacks_falls_back_with_a_reason(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    runtime.configure(RuntimeOptions(device="cuda", dtype="bfloat16"))
    with caplog.at_level(logging.WARNING, logger="llamadesk.core.engine"):
        device, dtype = engine.pick_device(1000)
    assert device == "cpu" and dtype == torch.bfloat16  # the dtype choice still holds on the CPU
    assert "Device cuda was chosen but this machine has none" in caplog.text


def test_a_dtype_the_device_cannot_compute_in_falls_back_with_a_reason(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(engine, "_computes_in", lambda device, dtype: dtype != torch.float16)
    runtime.configure(RuntimeOptions(device="cpu", dtype="float16"))
    with caplog.at_level(logging.WARNING, logger="llamadesk.core.engine"):
        assert engine.pick_device(1000) == ("cpu", torch.float32)
    assert "cpu cannot compute in float16 here" in caplog.text


def test_the_probe_really_computes():
    assert engine._computes_in("cpu", torch.float32) and engine._computes_in("cpu", torch.bfloat16)


def test_a_chat_engine_loads_where_the_options_say(tiny_model_dir, monkeypatch):
    from llamadesk.core import library

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    runtime.configure(RuntimeOptions(device="cuda", dtype="bfloat16", threads=1))
    chat = engine.ChatEngine()
    try:
        chat.load("tiny")
        assert (chat.device, chat.dtype) == ("cpu", "bfloat16")
        assert next(chat.model.parameters()).dtype == torch.bfloat16
    finally:
        chat.unload()


def test_a_reply_decodes_on_one_thread_while_a_training_run_shares_the_cpu(tiny_model_dir, monkeypatch):
    import threading

    from llamadesk.core import library
    from llamadesk.core.generation import GenerationSettings
    from llamadesk.core.training import runs

    library.import_model(tiny_model_dir, "tiny", in_place=True)
    runtime.configure(RuntimeOptions(device="cpu", threads=2))
    chat = engine.ChatEngine()
    chat.load("tiny")
    settings = GenerationSettings(temperature=0.0, max_new_tokens=4)
    messages = [{"role": "user", "content": "hello"}]

    def threads_while_decoding() -> int:
        stream = chat.stream(messages, settings, threading.Event())
        next(stream)
        during = torch.get_num_threads()
        stream.close()
        return during

    try:
        assert threads_while_decoding() == 2  # alone: the whole pool
        monkeypatch.setattr(runs, "live_runs", lambda: ["a run"])
        assert threads_while_decoding() == 1
        assert torch.get_num_threads() == 2  # given back when the reply ends
    finally:
        chat.unload()
