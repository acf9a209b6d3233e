"""The packaged app's self-test, run from source on the real starter model."""

import json

import pytest

from llamadesk.cli import main
from llamadesk.core import adapters, library, selftest
from llamadesk.core.starter import STARTER_ID, find_starter_gguf

pytestmark = pytest.mark.slow


@pytest.fixture
def starter_in_library(starter_hf_dir):
    """The session's converted starter registered in this test's home, so the GGUF is not converted again."""
    if find_starter_gguf() is None:
        pytest.skip("the starter model package is not installed")
    return library.import_model(starter_hf_dir, STARTER_ID, in_place=True)


def test_self_test_passes_and_leaves_the_library_as_it_was(starter_in_library, capsys):
    assert main(["--self-test"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["model"] == STARTER_ID
    assert report["base_reply"].strip()
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
