"""The packaged app's self-test, run from source on the real starter model."""

import json

import pytest

from llamadesk.cli import main
from llamadesk.core import adapters, engines, library, selftest
from llamadesk.core.starter import STARTER_ID

pytestmark = pytest.mark.slow


@pytest.fixture
def starter_in_library(starter_gguf):
    """The starter registered as the packaged app's first run does: its GGUF, kept as it is."""
    return library.import_model(starter_gguf, STARTER_ID)


def test_self_test_passes_and_leaves_the_library_as_it_was(starter_in_library, capsys):
    assert main(["--self-test"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["model"] == STARTER_ID
    assert report["base_reply"].strip()
    assert report["engine"] == engines.pick(starter_in_library)[0]  # llama.cpp where it is installed
    assert report["adapter_changed_reply"]  # the random LoRA reached the engine that answered
    steps = {"load", "generate_base", "make_adapter", "load_adapter", "switch_back"}
    assert set(report["timings_s"]) >= steps
    assert adapters.list_adapters() == []  # the random adapter was removed


def test_a_failed_step_is_one_line_and_exit_code_1(starter_in_library, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("no peft here")

    monkeypatch.setattr(selftest, "_make_random_adapter", broken)
    assert main(["--self-test"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "llamadesk: self-test failed at 'make_adapter': no peft here"
    assert adapters.list_adapters() == []
