"""The training process wrapper: a detached runner followed through its progress log, to the end,
through cancel and resume, and when it fails or is killed. No test leaves a runner behind."""

import os
import signal
import sys

import pytest

from llamadesk.core import adapters, paths
from llamadesk.core.training import runs
from llamadesk.ui import train_process
from llamadesk.ui.train_process import TrainProcess
from tests.training_fixtures import import_tiny, text_corpus, tiny_spec

RUN_TIMEOUT_MS = 120_000  # a runner imports torch first: seconds on a busy machine


def kill_runners() -> None:
    """Kill every runner this test process started that is still working, and reap it."""
    for process in list(train_process._launched.values()):
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    train_process._launched.clear()


@pytest.fixture(autouse=True)
def no_runner_left():
    yield
    kill_runners()


@pytest.fixture
def corpus(tiny_model_dir, tmp_path) -> str:
    import_tiny(tiny_model_dir)
    return text_corpus(tmp_path)


def follow(qtbot, job: TrainProcess) -> tuple[list[dict], list[tuple[str, str]]]:
    events: list[dict] = []
    ended: list[tuple[str, str]] = []
    job.event_received.connect(events.append)
    job.finished.connect(lambda status, message: ended.append((status, message)))
    return events, ended


def test_runner_command_resumes_the_created_run():
    assert train_process.runner_command("r1") == [sys.executable, "-m", "llamadesk.train", "--resume", "r1"]


def test_a_started_job_runs_detached_to_the_end(qtbot, corpus):
    run = runs.create_run(tiny_spec(corpus, "notes-lora", max_steps=4))
    job = TrainProcess.start(run.id)
    events, ended = follow(qtbot, job)
    assert os.getsid(job.pid) != os.getsid(0)  # its own session: closing the window leaves it alone
    qtbot.waitUntil(lambda: bool(ended), timeout=RUN_TIMEOUT_MS)
    assert ended == [("done", "notes-lora")] and not job.is_running()
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done" and kinds.count("step") == 4 and "start" in kinds
    assert [a.id for a in adapters.list_adapters("tiny")] == ["notes-lora"]
    assert (run.folder / train_process.RUNNER_LOG).is_file()
    assert job.pid not in train_process._launched  # reaped


def test_cancel_while_starting_up_then_resume_to_the_end(qtbot, corpus):
    run = runs.create_run(tiny_spec(corpus, "resumed", max_steps=6))
    job = TrainProcess.start(run.id)
    job.cancel()  # before the runner is up: delivered as soon as it reports running
    events, ended = follow(qtbot, job)
    qtbot.waitUntil(lambda: bool(ended), timeout=RUN_TIMEOUT_MS)
    assert ended == [("cancelled", "")] and events[-1]["event"] == "cancelled"
    assert runs.get_run(run.id).status == "cancelled"

    job = TrainProcess.start(run.id)  # Resume: the same run, from its last checkpoint if any
    events, ended = follow(qtbot, job)
    qtbot.waitUntil(lambda: bool(ended), timeout=RUN_TIMEOUT_MS)
    assert ended == [("done", "resumed")]
    assert [e["event"] for e in events].count("cancelled") == 1  # the whole log replays
    assert runs.get_run(run.id).curves()["steps"] == [1, 2, 3, 4, 5, 6]


def test_a_refusal_before_the_run_starts_is_reported(qtbot, corpus):
    run = runs.create_run(tiny_spec(corpus, "taken"))
    (paths.adapters_dir() / "taken").mkdir()  # the name was taken after the run was made
    job = TrainProcess.start(run.id)
    _events, ended = follow(qtbot, job)
    qtbot.waitUntil(lambda: bool(ended), timeout=RUN_TIMEOUT_MS)
    status, message = ended[0]
    assert status == "failed" and "already exists" in message


def test_a_killed_runner_reads_as_interrupted_and_attach_follows_a_live_run(qtbot, corpus):
    run = runs.create_run(tiny_spec(corpus, "killed", max_steps=400, save_every=2, eval_every=1000))
    starter = TrainProcess.start(run.id)
    qtbot.waitUntil(lambda: runs.get_run(run.id).last_checkpoint() is not None, timeout=RUN_TIMEOUT_MS)
    starter.stop_following()

    job = TrainProcess.attach(run.id)  # as a reopened window does
    events, ended = follow(qtbot, job)
    qtbot.waitUntil(lambda: any(e["event"] == "checkpoint" for e in events), timeout=RUN_TIMEOUT_MS)
    assert events[0]["event"] in ("prepare", "start")  # the whole log, from its first line
    os.kill(starter.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(ended), timeout=RUN_TIMEOUT_MS)
    status, message = ended[0]
    assert status == "interrupted" and "Resume" in message
    assert runs.get_run(run.id).status == "interrupted"


def test_a_runner_stopped_by_a_full_disk_is_reported_as_one(qtbot, corpus, monkeypatch):
    """On a full disk the runner may have written neither its state nor its last words: the window
    says the disk is full all the same, in the runner's sentence."""
    run = runs.create_run(tiny_spec(corpus, "full"))
    runs.write_state(run, state="running")  # and then it died, with nothing more written
    monkeypatch.setattr(train_process.disk, "free_bytes", lambda _path: 1000)
    job = TrainProcess.attach(run.id)
    _events, ended = follow(qtbot, job)
    qtbot.waitUntil(lambda: bool(ended), timeout=RUN_TIMEOUT_MS)
    status, message = ended[0]
    assert status == "interrupted"
    assert message.startswith(f"The disk holding {run.folder.parent} is full (1.0 KB free, about ")
    assert message.endswith(
        f"needed), so training stopped and it has no checkpoint yet: free some space and continue "
        f"with `llamadesk train --resume {run.id}`."
    )
