"""Atomic writes: a crash, a kill or a full disk leaves either the old state or the new, never half.

Folders are built in a hidden staging folder beside the target and renamed into place at the end;
files are written to a temp file, fsynced and renamed."""

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llamadesk.core.errors import AlreadyExistsError, ResourceError

STAGING_PREFIX = ".staging-"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(dirpath))


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it becomes `target`, on any exception it vanishes.

    `target` must not exist yet: registering never overwrites."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{STAGING_PREFIX}{os.getpid()}-{target.name}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield staging
        fsync_tree(staging)
        os.rename(staging, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def registering(target: Path, *, taken: str, failed: str) -> Iterator[Path]:
    """`staged_folder` for an entry of a library (models, adapters, corpora), with the ways the
    write can fail turned into one sentence for the user: `taken` when another process registered
    the same name meanwhile, else `failed` with `{reason}` filled in by the OS's own words."""
    try:
        with staged_folder(target) as staging:
            yield staging
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise AlreadyExistsError(taken) from exc
        where = f" ({exc.filename})" if exc.filename else ""
        raise ResourceError(failed.format(reason=f"{exc.strerror or exc}{where}")) from exc


def remove_folder(target: Path) -> None:
    """Remove a registered folder so that a crash midway never leaves a half-deleted entry listed:
    rename it out of the way first, then delete."""
    trash = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-removed-", dir=target.parent))
    os.rmdir(trash)
    os.rename(target, trash)
    _fsync_dir(target.parent)
    shutil.rmtree(trash, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(parent: Path) -> None:
    """Delete staging folders left by a process that was killed mid-write (never a live one's:
    the GUI and a training process may both be writing into the same library)."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if not entry.name.startswith(STAGING_PREFIX):
            continue
        pid_text = entry.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and _pid_alive(int(pid_text)):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def clean_leftovers(root: Path) -> None:
    """Clean the staging folders of killed processes throughout the library at `root`: every
    command and the window's start call this, so a killed import or merge never keeps its space
    until the next write of the same kind."""
    if not root.is_dir():
        return
    clean_stale_staging(root)
    for folder in root.iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            clean_stale_staging(folder)
            for entry in folder.iterdir():
                if entry.is_dir() and (entry / "checkpoints").is_dir():  # a training run's
                    clean_stale_staging(entry / "checkpoints")
