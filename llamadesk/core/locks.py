"""Cross-process locks: the one discipline for writes that two processes (the window and a CLI
command, two CLI commands, a training process) could make at once.

Each lock is a file under the data folder's `.locks/`, held with the OS's file locking through
`filelock`, so it is released when its process dies, kill -9 included. Beside it an `.owner` file
names the holder's process id, for the sentence a waiting process shows."""

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import filelock

from llamadesk.core.errors import BusyError
from llamadesk.core.paths import data_home

LOCKS_FOLDER = ".locks"

_locks: dict[Path, filelock.FileLock] = {}
_locks_guard = threading.Lock()


def lock_file(name: str) -> Path:
    folder = data_home() / LOCKS_FOLDER
    folder.mkdir(exist_ok=True)
    return folder / f"{name}.lock"


def _lock_for(path: Path) -> filelock.FileLock:
    """One lock object per file and process: a second object on the same file would wait for the
    first even within one thread, while one object is re-entrant there."""
    with _locks_guard:
        if path not in _locks:
            _locks[path] = filelock.FileLock(path)
        return _locks[path]


def holder(name: str) -> int | None:
    """The process id that last took lock `name`, if it said."""
    try:
        return int(lock_file(name).with_suffix(".owner").read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def holding(name: str, *, wait: float, busy: str) -> Iterator[None]:
    """Hold lock `name` for the block, waiting up to `wait` seconds for another holder to finish;
    after that raise BusyError with `busy`, whose `{pid}` is filled with the holder's process id."""
    path = lock_file(name)
    lock = _lock_for(path)
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        pid = holder(name)
        raise BusyError(busy.format(pid=pid if pid is not None else "?")) from None
    try:
        if lock.lock_counter == 1:
            with contextlib.suppress(OSError):
                path.with_suffix(".owner").write_text(f"{os.getpid()}\n", encoding="ascii")
        yield
    finally:
        lock.release()


def is_held(name: str) -> bool:
    """Whether another process holds lock `name` now (this process's own holds do not count)."""
    path = lock_file(name)
    with _locks_guard:
        if path in _locks and _locks[path].is_locked:
            return False
    probe = filelock.FileLock(path)
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return True
    probe.release()
    return False
