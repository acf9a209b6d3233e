"""A full disk is recognised in whatever exception carries it, and said as one sentence."""

import errno

import pytest

from llamadesk.core import disk
from llamadesk.core.errors import ResourceError


def test_full_disk_is_found_through_wrapping_exceptions():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("safetensors could not write") from inner
    except RuntimeError as outer:
        assert disk.is_disk_full(outer)
    assert disk.is_disk_full(Exception("I/O error: No space left on device (os error 28)"))
    assert not disk.is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_ensure_room_refuses_with_the_space_needed(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "free_bytes", lambda path: 10 * 1000**2)
    with pytest.raises(ResourceError, match=r"is full: this needs about .* and 10\.0 MB is free"):
        disk.ensure_room(tmp_path / "not-yet" / "made", 2 * 1000**3)


def test_reporting_full_disk_keeps_other_errors(tmp_path):
    with pytest.raises(ResourceError, match="is full"), disk.reporting_full_disk(tmp_path):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(ValueError), disk.reporting_full_disk(tmp_path):
        raise ValueError("something else")


@pytest.mark.parametrize(("n_bytes", "text"), [(512, "512 bytes"), (1_500_000, "1.5 MB"), (7.2e9, "7.2 GB")])
def test_sizes_read_as_a_person_writes_them(n_bytes, text):
    assert disk.size_text(n_bytes) == text
