import time

from llamadesk.core.errors import CorpusError
from llamadesk.ui.task_bar import TaskBar


def _slow(progress):
    for i in range(1000):
        progress(i / 1000, f"step {i}")
        time.sleep(0.01)


def test_result_reaches_the_gui_and_bar_hides(qtbot):
    bar = TaskBar()
    qtbot.addWidget(bar)
    results = []
    task = bar.start("adding", lambda progress: 42, results.append)
    with qtbot.waitSignal(task.finished, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: not bar.is_busy())
    assert results == [42] and bar.isHidden()


def test_failure_shows_one_sentence(qtbot):
    bar = TaskBar()
    qtbot.addWidget(bar)

    def fail(progress):
        raise CorpusError("The corpus is empty.")

    bar.start("adding", fail, lambda r: None)
    qtbot.waitUntil(lambda: bar.findChild(object, "errorDialog") is not None)
    assert bar.findChild(object, "errorDialog").text() == "The corpus is empty."


def test_shutdown_mid_task_joins_the_thread_and_is_safe_to_tear_down(qtbot):
    """Closing the window during a long task: the thread ends, and the task's queued signals
    never reach the destroyed widget (this used to crash Qt at teardown)."""
    bar = TaskBar()
    qtbot.addWidget(bar)
    cancelled = []
    bar.cancelled.connect(lambda: cancelled.append(True))
    bar.start("working", _slow, lambda r: None)
    time.sleep(0.2)
    bar.shutdown()
    assert not bar.is_busy()
    qtbot.wait(50)
    assert cancelled == []  # silenced: the widget is going away
