"""Cross-process locks: a second process waits, then is refused with the holder's process id."""

import subprocess
import sys
import time

import pytest

from llamadesk.core import locks
from llamadesk.core.errors import BusyError

HOLD = """
import sys, time
from llamadesk.core import locks
with locks.holding("job", wait=0, busy="busy {pid}"):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def _holder(seconds: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_process_is_refused_with_the_holders_pid():
    child = _holder(30)
    try:
        assert locks.is_held("job")
        with (
            pytest.raises(BusyError, match=f"busy {child.pid}"),
            locks.holding("job", wait=0.2, busy="busy {pid}"),
        ):
            pass
    finally:
        child.kill()
        child.wait()


def test_a_killed_holder_releases_the_lock():
    child = _holder(30)
    child.kill()
    child.wait()
    assert not locks.is_held("job")
    with locks.holding("job", wait=0, busy="busy {pid}"):
        pass


def test_waiting_outlasts_a_short_holder():
    child = _holder(0.5)
    started = time.monotonic()
    with locks.holding("job", wait=30, busy="busy {pid}"):
        assert time.monotonic() - started < 30
    child.wait()


def test_the_lock_is_reentrant_within_a_process_and_not_counted_as_another_holder():
    with locks.holding("job", wait=0, busy="busy {pid}"):
        assert not locks.is_held("job")
        with locks.holding("job", wait=0, busy="busy {pid}"):
            pass
