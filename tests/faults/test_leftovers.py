"""Staging folders of a killed process are cleaned when any command starts, wherever in the library
they lie, while a live process's are left alone."""

import os
import subprocess
import sys

from llamadesk.core.atomic import STAGING_PREFIX


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_any_command_cleans_what_killed_writers_left(home, cli):
    dead = _dead_pid()
    left = [
        home / "models" / f"{STAGING_PREFIX}{dead}-big-abc",
        home / "adapters" / f"{STAGING_PREFIX}{dead}-lora-abc",
        home / "corpora" / f"{STAGING_PREFIX}{dead}-notes-abc",
        home / "runs" / "r1" / "checkpoints" / f"{STAGING_PREFIX}{dead}-step-4-abc",
    ]
    alive = home / "models" / f"{STAGING_PREFIX}{os.getpid()}-mine-abc"
    for folder in [*left, alive]:
        folder.mkdir(parents=True)
        (folder / "weights.bin").write_bytes(b"\0" * 1024)
    done = cli("chats", "list")  # a command that touches none of these folders itself
    assert done.returncode == 0, done.stderr
    assert not any(folder.exists() for folder in left)
    assert alive.exists()
