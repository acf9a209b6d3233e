"""The Qt binding itself: a fault in it takes the whole window down, so the pinned version is checked.

PySide6 6.12.0's Signal.emit dropped one reference to Python's True on every call (it returned it
without owning it). A streamed reply emits once per token, so after some thousands of tokens True
was freed and the interpreter aborted ("bool_dealloc"), mid-chat or at exit; the llama.cpp engine,
fast and without torch's many references to True, hit it within a few replies."""

import sys

from PySide6.QtCore import QObject, QThread, Signal


class _Source(QObject):
    happened = Signal(int, str)


def test_emitting_a_signal_keeps_true_alive(qapp):
    source = _Source()
    source.happened.connect(lambda _n, _s: None)
    before = sys.getrefcount(True)
    for index in range(200):
        source.happened.emit(index, "token")
    assert sys.getrefcount(True) - before > -10


def test_emitting_from_a_worker_thread_keeps_true_alive(qapp):
    source = _Source()
    source.happened.connect(lambda _n, _s: None)  # queued: the receiver lives in the GUI thread
    deltas = []

    class Worker(QThread):
        def run(self) -> None:
            before = sys.getrefcount(True)
            for index in range(200):
                source.happened.emit(index, "token")
            deltas.append(sys.getrefcount(True) - before)

    worker = Worker()
    worker.start()
    worker.wait()
    qapp.processEvents()
    assert deltas and deltas[0] > -10
