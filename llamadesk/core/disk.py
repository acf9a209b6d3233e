"""A full disk, said as a full disk: checked before a large write where its size is known, and
recognised afterwards in whatever exception the write raised (OSError, safetensors' own error,
an error wrapping either), so the user reads "the disk is full" and the space needed, never a
library's internals or advice to throw data away."""

import contextlib
import errno
import shutil
from collections.abc import Iterator
from pathlib import Path

from llamadesk.core.errors import ResourceError
from llamadesk.core.i18n import _

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_WORDS = ("No space left on device", "Disk quota exceeded", "database or disk is full")
MARGIN = 64 * 1024**2  # beyond the estimate: manifests, logs, the file system's own blocks


def size_text(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds `path`, or would hold it once created."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def full_disk_error(folder: Path, needed: int | None = None) -> ResourceError:
    if needed:
        return ResourceError(
            _(
                "The disk holding {folder} is full: this needs about {needed} and {free} is free; "
                "nothing was changed. Free some space and try again."
            ).format(folder=folder, needed=size_text(needed), free=size_text(free_bytes(folder)))
        )
    return ResourceError(
        _(
            "The disk holding {folder} is full ({free} free); nothing was changed. "
            "Free some space and try again."
        ).format(folder=folder, free=size_text(free_bytes(folder)))
    )


def ensure_room(folder: Path, needed: int) -> None:
    """Refuse, before writing anything, a write of about `needed` bytes into `folder` that the disk
    cannot hold."""
    if free_bytes(folder) < needed + MARGIN:
        raise full_disk_error(folder, needed + MARGIN)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        if any(words in str(current) for words in _FULL_WORDS):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def reporting_full_disk(folder: Path, needed: int | None = None) -> Iterator[None]:
    """Turn a full disk met inside the block into the one sentence, keeping any other error as is."""
    try:
        yield
    except ResourceError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise full_disk_error(folder, needed) from exc
        raise
