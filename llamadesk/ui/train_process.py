"""A training job seen from the GUI: the runner started as a process of its own, followed through its
run's progress log.

The runner is started detached (its own session, output to `runs/<id>/runner.log`), so closing
the window neither kills it nor breaks a pipe it writes to. The GUI never reads its stdout:
it tails `runs/<id>/progress.jsonl`, the log the runner writes every event to. One mechanism
serves a job started a second ago and one a reopened window re-attaches to, and a window can
follow a job that the CLI started.

`subprocess.Popen` rather than `QProcess.startDetached`: PySide6's instance `startDetached()`
returns no process id, and the static one cannot redirect output; the GUI needs both, the id to
notice a runner that dies before it writes its state, the output for a refusal it prints then."""

import contextlib
import json
import os
import subprocess
import sys
from itertools import islice

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from llamadesk.core import disk, i18n, library
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.training import runs

RUNNER_LOG = "runner.log"
POLL_MS = 250
EVENTS_PER_TICK = 2000  # a re-attached window replays a long log over several ticks, not one freeze
_LOG_TAIL_BYTES = 64 * 1024

# Runners this GUI process started, by pid: polling them reaps them, so a finished one never
# lingers as a zombie that looks alive.
_launched: dict[int, subprocess.Popen] = {}


def runner_command(run_id: str) -> list[str]:
    """The command line that runs (or continues) a created run. A frozen build has no interpreter to
    take `-m`: its executable is the app, whose `train --json` is what `llamadesk.train` runs."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "train", "--json", "--resume", run_id]
    return [sys.executable, "-m", "llamadesk.train", "--resume", run_id]


def launch_runner(run_id: str) -> int:
    """Start the runner for `run_id` detached from this process; returns its process id."""
    run = runs.get_run(run_id)
    if os.name == "nt":
        detach = {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}
    else:
        detach = {"start_new_session": True}  # no SIGHUP or Ctrl-C from the window's terminal
    try:
        with open(run.folder / RUNNER_LOG, "ab") as log:
            process = subprocess.Popen(
                runner_command(run_id),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                # its progress texts and errors in the window's language, whatever the system locale
                env=os.environ | {i18n.LANGUAGE_VARIABLE: i18n.language()},
                **detach,
            )
    except OSError as exc:
        text = QCoreApplication.translate("train_process", "The training process could not be started ({0}).")
        raise LlamaDeskError(text.format(exc)) from exc
    _launched[process.pid] = process
    return process.pid


def process_alive(pid: int | None) -> bool:
    """Is this process still working? A zombie (exited, not yet reaped) is not."""
    if not pid:
        return False
    if pid in _launched:
        return _launched[pid].poll() is None
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class TrainProcess(QObject):
    """Follows one run: every event of its progress log (from the first, so a re-attached window
    redraws the whole curve), then how it ended once its process is gone.

    Signals: event_received(event dict), finished(status, message) where status is the run's:
    "done", "cancelled", "failed" or "interrupted", or "running" when this process was refused
    because another one trains the run (message: "Run R is already running in process P.")."""

    event_received = Signal(object)
    finished = Signal(str, str)

    def __init__(self, run_id: str, pid: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run = runs.get_run(run_id)
        self.pid = pid  # the process this window started; None when following one it found running
        self._offset = 0
        self._cancel_pending = False
        self._running = True
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @classmethod
    def start(cls, run_id: str, parent: QObject | None = None) -> "TrainProcess":
        """Run (or resume) `run_id` in a new process and follow it."""
        job = cls(run_id, launch_runner(run_id), parent)
        job._timer.start()
        return job

    @classmethod
    def attach(cls, run_id: str, parent: QObject | None = None) -> "TrainProcess":
        """Follow a run whose process is already working (started by an earlier window or the CLI)."""
        job = cls(run_id, None, parent)
        job._timer.start()
        return job

    @property
    def run_id(self) -> str:
        return self.run.id

    def is_running(self) -> bool:
        return self._running

    def cancel(self) -> None:
        """Ask the runner to stop (within a layer's time; it keeps the last checkpoint). Only files
        and a signal: nothing here waits for the runner, whose "cancelled" event the next poll reads.
        A runner still starting up cannot take the request yet; it gets it as soon as it reports
        running."""
        if self.run.is_live():
            with contextlib.suppress(LlamaDeskError):  # it finished in between
                runs.request_cancel(self.run_id)
                return
        self._cancel_pending = True

    def stop_following(self) -> None:
        """Stop watching (the window closes); the process itself goes on."""
        self._timer.stop()

    def _alive(self) -> bool:
        if self.pid is not None:
            return process_alive(self.pid)
        return self.run.is_live() and process_alive(self.run.state.get("pid"))

    def _poll(self) -> None:
        read = self._read(EVENTS_PER_TICK)
        if read == EVENTS_PER_TICK:
            return  # more is waiting; the process can be checked once the log is caught up
        if self._cancel_pending and self.run.is_live():
            self._cancel_pending = False
            self.cancel()
        if self._alive():
            return
        self._read(None)  # what it wrote just before exiting
        self._timer.stop()
        self._running = False
        status, message = self._outcome()
        _launched.pop(self.pid, None)
        self.finished.emit(status, message)

    def _read(self, limit: int | None) -> int:
        count = 0
        for offset, event in islice(runs.follow(self.run, self._offset), limit):
            self._offset = offset
            count += 1
            self.event_received.emit(event)
        return count

    def _outcome(self) -> tuple[str, str]:
        """How the run ended, in the words its state or its output give."""
        status = self.run.status
        state = self.run.state
        if status == "done":
            return status, state.get("adapter_id") or ""
        if status == "cancelled":
            return status, ""
        reason = state.get("message") if status == "failed" else None
        reason = reason or self._reason_from_output()
        if status == "running":  # the process exited, yet another one trains the run: refused
            return status, reason or ""
        if status == "failed" or (reason and status == "created"):
            return "failed", reason or ""
        if reason is None and disk.free_bytes(self.run.folder) < disk.MARGIN:
            reason = self._full_disk_reason()
        process = _launched.get(self.pid)
        if process is not None:
            text = QCoreApplication.translate(
                "train_process",
                "The training process ended unexpectedly (exit code {0}); "
                "Resume continues from the last checkpoint.",
            ).format(process.returncode)
        else:
            text = QCoreApplication.translate(
                "train_process",
                "The training process ended unexpectedly; Resume continues from the last checkpoint.",
            )
        return "interrupted", reason or text

    def _full_disk_reason(self) -> str:
        """The runner's sentence for a full disk, which that disk may not have let it write down."""
        needed = None
        with contextlib.suppress(LlamaDeskError):
            spec = self.run.spec
            needed = runs.checkpoint_bytes(spec, library.get_model(spec.base).config)
        return str(runs.disk_full_error(self.run, needed))

    def _reason_from_output(self) -> str | None:
        """The runner's last error: its JSON "error" event, else the one line the CLI prints for a
        problem the user can fix."""
        path = self.run.folder / RUNNER_LOG
        try:
            with open(path, "rb") as handle:
                handle.seek(max(0, path.stat().st_size - _LOG_TAIL_BYTES))
                lines = handle.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "error":
                    return event.get("message")
        for line in reversed(lines):
            if line.startswith("llamadesk: "):
                return line.removeprefix("llamadesk: ")
        return None
