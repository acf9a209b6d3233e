"""One run as it goes or as it went: its title and status, progress, the live numbers, the loss
chart, whether it learnt (once done), and its log.

The followed job's events arrive through `on_event` (the panel owns the process); a past run is
read in the background on `show_run`, so the chart and the learn report show for it too.

Signals: row_changed(run id, status, steps) when an event changes what the run list shows."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QSplitter, QVBoxLayout, QWidget

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.training import runs
from llamadesk.ui.charts import LineChart
from llamadesk.ui.headings import SectionTitle
from llamadesk.ui.sizes import human_bytes
from llamadesk.ui.train.background import LatestTask
from llamadesk.ui.train.formatting import duration
from llamadesk.ui.train.learn_report import LearnReport
from llamadesk.ui.train.run_list import status_word

LOG_LINES = 5000  # the log keeps this many lines, live or read back


def _read_run(run_id: str) -> tuple[str, dict, dict, list[dict]]:
    """A past run's curves, summary (with its learn report) and events (background work: the whole
    log is read)."""
    run = runs.get_run(run_id)
    return run_id, run.curves(), run.summary(), run.events()[-LOG_LINES:]


class RunMonitor(QWidget):
    row_changed = Signal(str, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.following: str | None = None  # the run whose events arrive through on_event
        self._kind: str | None = None  # the followed run's kind, for the learn report's words
        self._shown: str | None = None  # the run whose curves the chart shows
        self._live: dict[str, list[tuple[float, float]]] = {"loss": [], "eval": []}
        self._last_eval: float | None = None
        self._reads = LatestTask(self)

        self.run_title = SectionTitle(self.tr("No job running"))
        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName(self.tr("Training progress"))
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.stats_label = QLabel()
        self.stats_label.setObjectName("trainStats")
        self.stats_label.setWordWrap(True)
        self.chart = LineChart(title=self.tr("Loss"), x_label=self.tr("step"), y_label=self.tr("loss"))
        self.chart.set_placeholder(self.tr("Loss and evaluation loss appear here as the job runs."))
        self.chart.set_x_format(lambda v: f"{v:,.0f}", min_step=1)
        self.chart.set_y_format(lambda v: f"{v:.3g}")
        self.learn_report = LearnReport()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setAccessibleName(self.tr("Training log"))

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.run_title)
        top_layout.addWidget(self.progress_bar)
        top_layout.addWidget(self.stats_label)
        top_layout.addWidget(self.chart, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.learn_report)
        self.splitter.addWidget(self.log_view)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    # -- the followed job ------------------------------------------------------------------------------

    def follow(self, run_id: str) -> None:
        """Start afresh on a job about to send its events (from the first, for a re-attached one)."""
        self.following = self._shown = run_id
        try:
            self._kind = runs.get_run(run_id).spec.kind
        except LlamaDeskError:
            self._kind = None
        self._live = {"loss": [], "eval": []}
        self._last_eval = None
        self.log_view.clear()
        self.chart.clear()
        self.learn_report.set_report(None, None)
        self._show_title(run_id, "running")
        self.progress_bar.setRange(0, 0)  # busy until the runner reports its steps
        self.stats_label.setText(self.tr("Starting the training process…"))

    def stopping(self) -> None:
        """Cancel was pressed: said at once; the runner stops within a layer's time."""
        self.stats_label.setText(self.tr("Stopping… (the last checkpoint is kept)"))

    def on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "prepare":
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(event.get("fraction", 0) * 1000))
            self.progress_bar.setFormat("%p%")
            self.stats_label.setText(event.get("message", ""))
        elif kind == "start":
            self._on_start_event(event)
        elif kind == "step":
            self._on_step_event(event)
        elif kind == "eval":
            self._last_eval = event["eval_loss"]
            self._add_point("eval", event["step"], event["eval_loss"])
        elif kind == "learn":
            self.progress_bar.setRange(0, 0)
            self.stats_label.setText(self.tr("Training done; comparing answers before and after…"))
        elif kind == "done":
            self.progress_bar.setRange(0, event.get("total_steps") or event["step"])
            self.progress_bar.setValue(self.progress_bar.maximum())
            self.learn_report.set_report(event.get("learn"), self._kind)
        elif kind == "cancelled":
            self._on_cancelled_event(event)
        line = self.describe_event(event)
        if line:
            self.log_view.appendPlainText(line)

    def _on_start_event(self, event: dict) -> None:
        # A resumed run logs again the steps after its checkpoint: the curve restarts there.
        start = event.get("start_step", 0)
        for name in self._live:
            self._live[name] = [p for p in self._live[name] if p[0] <= start]
        if self._shown == self.following:
            self._draw_live()
        self.row_changed.emit(event["run_id"], "running", f"{start}/{event['total_steps']}")
        self.progress_bar.setRange(0, event["total_steps"])
        self.progress_bar.setValue(start)
        self.progress_bar.setFormat(self.tr("step %v of %m"))
        self.stats_label.setText(
            self.tr("{0} optimizer steps on {1}; about {2} of memory.").format(
                event["total_steps"], event.get("device", "?"), human_bytes(event["memory"]["total"])
            )
        )

    def _on_step_event(self, event: dict) -> None:
        self._add_point("loss", event["step"], event["loss"])
        self.row_changed.emit(event["run_id"], "running", f"{event['step']}/{event['total_steps']}")
        self.progress_bar.setRange(0, event["total_steps"])
        self.progress_bar.setValue(event["step"])
        parts = [self.tr("loss {0:.4f}").format(event["loss"])]
        if self._last_eval is not None:
            parts.append(self.tr("eval {0:.4f}").format(self._last_eval))
        if event.get("tokens_per_s"):
            parts.append(self.tr("{0:,.0f} tokens/s").format(event["tokens_per_s"]))
        parts.append(self.tr("ETA {0}").format(duration(event.get("eta_s"))))
        used = event.get("gpu_bytes") or event.get("rss_bytes")
        if used:
            parts.append(self.tr("memory {0}").format(human_bytes(used)))
        self.stats_label.setText(" · ".join(parts))

    def _show_title(self, run_id: str, status: str) -> None:
        self.run_title.set_title(run_id, f"— {status_word(status)}")

    def _on_cancelled_event(self, event: dict) -> None:
        """The runner stopped: said now, while its process may still be exiting."""
        run_id = event.get("run_id") or self.following or ""
        self._show_title(run_id, "cancelled")
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
        if event.get("checkpoint"):
            text = self.tr("Stopped; Resume continues from step {0}.").format(event["checkpoint"])
        else:
            text = self.tr("Stopped before the first checkpoint; Resume starts again from the beginning.")
        self.stats_label.setText(text)
        self.row_changed.emit(
            run_id, "cancelled", f"{event.get('step') or 0}/{event.get('total_steps') or '?'}"
        )

    def job_ended(self, run_id: str, status: str, message: str) -> None:
        """The job's process is gone: its outcome, in the title and the numbers line."""
        self.following = None
        self._show_title(run_id, status)
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
        if status == "done":
            self.progress_bar.setValue(self.progress_bar.maximum())
            verdict = self.learn_report.verdict(self.learn_report.report or {}, self._kind)
            done = self.tr("Done: the adapter {0} is in the library.").format(message)
            self.stats_label.setText(f"{done} {verdict}".strip())
        elif status != "cancelled":  # a cancelled run's line was set by its event
            self.stats_label.setText(message)
            self.log_view.appendPlainText(self.tr("Stopped: {0}").format(message))

    def _add_point(self, name: str, step: float, value: float) -> None:
        self._live[name].append((step, value))
        if self.following is not None and self._shown == self.following:
            self.chart.append_point(self._series_name(name), step, value)

    def _series_name(self, name: str) -> str:
        return self.tr("loss") if name == "loss" else self.tr("eval loss")

    def _draw_live(self) -> None:
        self.chart.clear()
        for name, points in self._live.items():
            if points:
                self.chart.set_series(self._series_name(name), points)

    def describe_event(self, event: dict) -> str | None:
        """One log line per event (preparation shows in the status line instead)."""
        kind = event.get("event")
        if kind == "start":
            resumed = (
                self.tr(", resuming after step {0}").format(event["start_step"])
                if event.get("start_step")
                else ""
            )
            started = self.tr("Started: {0} steps over {1} examples on {2}{3}.").format(
                event["total_steps"], event["examples"], event["device"], resumed
            )
            if event.get("note"):  # the runner's own words on how it split the data
                started += " " + event["note"]
            elif not event.get("validation_examples"):
                started += " " + self.tr("The data has no validation split, so there is no eval loss.")
            for warning in (event.get("plan") or {}).get("warnings", []):
                started += " " + warning["message"]
            return started
        if kind == "step":
            line = self.tr("step {0}/{1}  loss {2:.4f}  lr {3:.2e}").format(
                event["step"], event["total_steps"], event["loss"], event["lr"]
            )
            if event.get("tokens_per_s"):
                line += "  " + self.tr("{0} tokens/s").format(f"{event['tokens_per_s']:,.0f}")
            return line
        if kind == "eval":
            return self.tr("step {0}  eval loss {1:.4f}").format(event["step"], event["eval_loss"])
        if kind == "checkpoint":
            return self.tr("Checkpoint saved at step {0}.").format(event["step"])
        if kind == "learn":
            return self.tr(
                "Measuring what the run learnt: the base and the adapter answer the same examples."
            )
        if kind == "done":
            return self.tr("Done: the adapter {0} is in the library.").format(event["adapter_id"])
        if kind == "cancelled":
            return self.tr("Stopped after step {0}; Resume continues from there.").format(event["step"])
        if kind == "error":
            return self.tr("Error: {0}").format(event.get("message", ""))
        return None

    # -- any run ---------------------------------------------------------------------------------------

    def show_run(self, run_id: str) -> None:
        """Chart a run's curves and show its learn report: the live ones for the job being followed,
        else read from its folder in the background."""
        self._shown = run_id
        if run_id == self.following:
            self._draw_live()
            return
        self._reads.request(lambda _progress: _read_run(run_id), self._on_run_read)

    def _on_run_read(self, result: tuple[str, dict, dict, list[dict]]) -> None:
        run_id, curves, summary, events = result
        if run_id != self._shown:
            return  # another run was selected meanwhile
        if self.following is None:  # nothing live to show: the chosen run's own state
            self._show_title(run_id, summary["status"])
            self.progress_bar.setFormat(self.tr("step %v of %m"))
            self.progress_bar.setRange(0, summary["total_steps"] or 1)
            self.progress_bar.setValue(summary["step"] or 0)
            self.stats_label.setText(summary.get("message") or "")
            lines = (self._describe_logged(event) for event in events)
            self.log_view.setPlainText("\n".join(line for line in lines if line))
        self.chart.clear()
        if curves["steps"]:
            self.chart.set_series(self.tr("loss"), zip(curves["steps"], curves["loss"], strict=True))
        if curves["eval_steps"]:
            self.chart.set_series(
                self.tr("eval loss"), zip(curves["eval_steps"], curves["eval_loss"], strict=True)
            )
        self.learn_report.set_report(summary.get("learn"), summary["kind"])

    def _describe_logged(self, event: dict) -> str | None:
        """A past run's event as its log line; one an older runner wrote without a field today's
        lines show is left out rather than failing the whole log."""
        try:
            return self.describe_event(event)
        except (KeyError, TypeError, ValueError):
            return None

    def shutdown(self) -> None:
        self._reads.shutdown()
