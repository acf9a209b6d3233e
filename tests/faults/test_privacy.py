"""The privacy promise, for the whole process: a chat (the starter GGUF on llama.cpp and on torch),
imports and a training step run with every network socket refused, and again with no network at all.

tests/conftest.py refuses non-loopback connects inside the test process only; here each command is
a process of its own whose every AF_INET/AF_INET6 socket, connect and name lookup is refused and
written down by a sitecustomize module, so a library that phones home from a thread, a child
process or at import time is caught too. The C side (llama.cpp, torch) opens sockets without Python:
running the same commands in a network namespace (`unshare -n`) with no network covers it."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.training_fixtures import write_text_records

from .conftest import REPO, cli_command, cli_env

# Loaded by every Python process of the command (children too: PYTHONPATH is inherited). Local
# sockets (AF_UNIX: the window's single-instance guard, multiprocessing) stay allowed.
GUARD = """
import errno
import os
import socket
import traceback

_RECORD = os.environ["LLAMADESK_SOCKET_RECORD"]
_NETWORK = (socket.AF_INET, socket.AF_INET6)
_Socket = socket.socket

with open(os.environ["LLAMADESK_SOCKET_GUARD"], "a", encoding="utf-8") as _loaded:
    _loaded.write(f"{os.getpid()}\\n")


def _refuse(what):
    with open(_RECORD, "a", encoding="utf-8") as record:
        record.write(f"{os.getpid()}: {what}\\n{''.join(traceback.format_stack()[:-2][-8:])}\\n")
    raise OSError(errno.EACCES, f"network refused by the privacy test: {what}")


class GuardedSocket(_Socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if family in _NETWORK or (family == -1 and fileno is None):
            _refuse(f"socket({family!r}, {type!r})")
        super().__init__(family, type, proto, fileno)

    def connect(self, address):
        if self.family in _NETWORK:
            _refuse(f"connect({address!r})")
        return super().connect(address)

    def connect_ex(self, address):
        if self.family in _NETWORK:
            _refuse(f"connect_ex({address!r})")
        return super().connect_ex(address)


def _lookup(name):
    def refused(*args, **kwargs):
        _refuse(f"{name}{args!r}")

    return refused


socket.socket = GuardedSocket
socket.create_connection = _lookup("create_connection")
for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
    setattr(socket, _name, _lookup(_name))
"""

Runner = Callable[..., subprocess.CompletedProcess]
# Where llama.cpp is not installed both chats run on torch (the session still runs them both).
LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
# One optimizer step of the tiny model, with its checkpoint and adapter written.
ONE_STEP = ("--kind", "pt", "--max-steps", "1", "--block", "32", "--batch", "2", "--grad-accum", "1")
ONE_STEP += ("--save-every", "1")


@dataclass(frozen=True)
class Guard:
    """The environment that loads the guard, the file of refused attempts, and the file each
    guarded process signs at start (the proof that the guard was there)."""

    env: dict[str, str]
    refused: Path
    signed: Path

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """`llamadesk ARGS` under the guard."""
        return subprocess.run(
            cli_command(*args), env=self.env, capture_output=True, text=True, timeout=300, cwd=REPO
        )


@pytest.fixture
def guard(tmp_path: Path, home: Path) -> Guard:
    folder = tmp_path / "guard"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    refused, signed = tmp_path / "refused.txt", tmp_path / "guarded-pids.txt"
    refused.touch()
    env = cli_env(
        home,
        PYTHONPATH=f"{folder}{os.pathsep}{REPO}",
        LLAMADESK_SOCKET_RECORD=str(refused),
        LLAMADESK_SOCKET_GUARD=str(signed),
    )
    return Guard(env, refused, signed)


def _offline_session(run: Runner, tmp_path: Path, tiny_model_dir: Path, starter_gguf: Path) -> None:
    """Imports (a Hugging Face folder, the starter GGUF), a saved chat with the starter on llama.cpp
    (where installed) and one on torch, and a training step on raw text: each must succeed."""

    def succeeds(*args: str) -> subprocess.CompletedProcess:
        done = run(*args)
        assert done.returncode == 0, f"`llamadesk {' '.join(args)}` failed offline: {done.stderr[-2000:]}"
        return done

    notes = write_text_records(tmp_path / "notes.jsonl", count=40)
    succeeds("models", "import", str(tiny_model_dir), "--name", "tiny")
    succeeds("models", "import", str(starter_gguf), "--name", "starter")
    chat = succeeds("chat", "starter", "--save", "--temperature", "0", "--max-new-tokens", "8", "Hello!")
    if LLAMA_CPP:  # the CLI names llama.cpp on stderr only when it could not use it
        assert "llama.cpp" not in chat.stderr, chat.stderr
    succeeds("models", "set", "starter", "--engine", "torch")
    succeeds("chat", "starter", "--temperature", "0", "--max-new-tokens", "4", "Hello!")
    succeeds("train", "--base", "tiny", "--data", str(notes), "--out", "private", *ONE_STEP)
    assert [row["id"] for row in json.loads(succeeds("adapters", "list", "--json").stdout)] == ["private"]
    assert len(json.loads(succeeds("chats", "list", "--json").stdout)) == 1


def test_guard_refuses_and_records(guard: Guard, tmp_path: Path) -> None:
    """The guard itself works: a connection, a lookup and an IPv6 socket are refused and written
    down, while a local (AF_UNIX) socket is made as usual."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import socket\n"
        "socket.socket(socket.AF_UNIX).close()\n"
        "for attempt in (lambda: socket.create_connection(('example.com', 80)),\n"
        "                lambda: socket.getaddrinfo('example.com', 443),\n"
        "                lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)):\n"
        "    try:\n"
        "        attempt()\n"
        "    except OSError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit('not refused')\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(probe)], env=guard.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = guard.refused.read_text(encoding="utf-8")
    assert "create_connection" in text and "getaddrinfo" in text and "AF_INET6" in text, text


@pytest.mark.slow
def test_no_network_socket_is_opened(
    guard: Guard, tmp_path: Path, tiny_model_dir: Path, starter_gguf: Path
) -> None:
    """Every process the commands start loads the guard, and not one of them tries the network."""
    _offline_session(guard.run, tmp_path, tiny_model_dir, starter_gguf)
    assert guard.signed.read_text(encoding="utf-8").strip(), "the guard was not loaded by the commands"
    attempts = guard.refused.read_text(encoding="utf-8")
    assert attempts == "", f"network sockets were attempted:\n{attempts}"


def _namespace_problem() -> str | None:
    """Why this machine cannot give a process a network namespace of its own; None if it can."""
    if shutil.which("unshare") is None:
        return "no `unshare` command (util-linux)"
    try:
        done = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return f"`unshare -n` cannot run ({exc})"
    if done.returncode != 0:
        return f"`unshare -n` is not permitted here ({done.stderr.strip() or done.returncode})"
    return None


@pytest.mark.slow
def test_works_without_a_network(
    home: Path, tmp_path: Path, tiny_model_dir: Path, starter_gguf: Path
) -> None:
    """The same commands in a network namespace with no interface up, where even C code's sockets
    find nothing to reach."""
    problem = _namespace_problem()
    if problem:
        pytest.skip(problem)
    env = cli_env(home)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["unshare", "-n", *cli_command(*args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )

    _offline_session(run, tmp_path, tiny_model_dir, starter_gguf)
