"""What the fault-injection tests share: the CLI run as a separate process (as a user runs it, so
kill -9, locks and exit codes are real) and a small disk that fills up."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMADESK_")}
    env.update(LLAMADESK_HOME=str(home), LLAMADESK_LANG="en", PYTHONPATH=str(REPO))
    env["LLAMADESK_SETTINGS"] = str(home / "settings.ini")
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "llamadesk", *args]


@pytest.fixture
def cli(home: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `llamadesk ARGS` in a process of its own on the test's data home; returns the completed
    process (text output). `home=` runs it on another data home."""

    def run(*args: str, timeout: float = 300, data_home: Path | None = None, **env: str):
        return subprocess.run(
            cli_command(*args),
            env=cli_env(data_home or home, **env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    return run


def one_sentence(stderr: str) -> str:
    """The user's message, checked to be one line with no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and lines[0].startswith("llamadesk: "), stderr
    return lines[0]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """A factory: `small_disk(n_bytes)` mounts a tmpfs of that size and returns its folder. Skipped
    with the reason where this machine cannot mount one (not root, or no mount namespace rights)."""
    mounts: list[Path] = []

    def make(n_bytes: int) -> Path:
        if sys.platform != "linux" or shutil.which("mount") is None:
            pytest.skip("a small disk needs Linux's tmpfs")
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        size_kb = max(n_bytes // 1024, 64)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not permitted'})")
        mounts.append(point)
        return point

    yield make
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the disk holding `folder` until about `leave` bytes are free."""
    free = shutil.disk_usage(folder).free
    if free > leave:
        with open(folder / ".filler", "wb") as handle:
            chunk = b"\0" * (1 << 20)
            remaining = free - leave
            while remaining > 0:
                part = chunk[: min(len(chunk), remaining)]
                try:
                    handle.write(part)
                    handle.flush()
                except OSError:
                    break
                remaining -= len(part)
