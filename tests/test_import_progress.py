"""A GGUF import's progress moves with its work: each step has its share, and a step that reports
nothing itself (a library call) still moves the bar, without claiming it done."""

import time

from llamadesk.core.formats import gguf
from llamadesk.core.progress import Progress


def test_a_silent_step_creeps_towards_its_end_and_ends_at_it():
    reports: list[tuple[float, str]] = []
    progress = Progress(lambda fraction, message: reports.append((fraction, message)))
    with gguf._creeping(progress.sub(0.2, 0.6), "Reading tokenizer", expected_s=0.5):
        time.sleep(1.2)
    fractions = [fraction for fraction, _message in reports]
    assert fractions[0] == 0.2 and fractions[-1] == 0.6
    inside = fractions[1:-1]
    assert len(inside) >= 3 and inside == sorted(inside)
    assert all(0.2 < fraction < 0.6 * 0.99 for fraction in inside)  # never claims the step done
    assert {message for _fraction, message in reports} == {"Reading tokenizer"}


def test_a_cancel_during_a_silent_step_stops_at_the_next_report():
    import pytest

    from llamadesk.core.errors import Cancelled

    progress = Progress(lambda *_: None)
    with pytest.raises(Cancelled), gguf._creeping(progress, "Reading tokenizer", expected_s=1.0):
        progress.cancel.set()
        time.sleep(0.4)  # the timer's reports raise nothing on their own thread
