"""Kill -9 at a chosen moment, and the library checked afterwards: what test_kill.py repeats for
every command that writes.

A kill is timed from the moment the command first changes the data home (a staging folder, a
run's folder, the chat history opened): before that it is only Python importing torch, where a
kill proves nothing, and that start-up time varies most with the machine's load. The delays are
drawn from one seed (LLAMADESK_FAULT_SEED, or SEED below), so a failure can be replayed: every
assertion names the command, the delay and the seed."""

import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .conftest import REPO, cli_command, cli_env

SEED = int(os.environ.get("LLAMADESK_FAULT_SEED", "1405"))
STAGING_PREFIX = ".staging-"  # atomic.STAGING_PREFIX, spelled out: the test must not trust the code
LISTS = ("models", "adapters", "corpus", "runs", "chats")
LIST_TIMEOUT = 120.0
# What every command writes at its start, whatever it does: not a sign that its own work began.
_NOT_WORK = {"logs", ".locks", "settings.ini"}
_POLL = 0.02
Args = tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """One command run; `delay` is the kill's, counted from `began`, or None for no kill."""

    args: Args
    delay: float | None
    began: float | None  # seconds from the start to the first change in the data home, if any
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    @property
    def work(self) -> float | None:
        """How long the command worked after it first wrote, when it ran to its end."""
        return None if self.began is None or self.killed else self.seconds - self.began

    def describe(self) -> str:
        command = f"`llamadesk {' '.join(self.args)}`"
        began = "never wrote" if self.began is None else f"began writing at {self.began:.2f} s"
        if self.delay is None:
            what = "killed itself" if self.killed else f"exited {self.returncode}"
            return f"{command} {what} after {self.seconds:.2f} s ({began}); stderr: {self.stderr[-600:]!r}"
        what = "killed" if self.killed else f"finished (exit {self.returncode}) before"
        return (
            f"{command} {what} {self.delay:.2f} s into its work ({began}; LLAMADESK_FAULT_SEED={SEED}); "
            f"stderr: {self.stderr[-600:]!r}"
        )


def _snapshot(home: Path) -> set[str]:
    """Every path in the data home, bar those any command writes at its start."""
    found = set()
    for folder, dirs, files in os.walk(home):
        if folder == str(home):
            dirs[:] = [d for d in dirs if d not in _NOT_WORK]
        found.update(os.path.join(folder, name) for name in dirs + files if name not in _NOT_WORK)
    return found


def run_killed(home: Path, args: Args, delay: float | None, **env: str) -> Outcome:
    """Run `llamadesk ARGS` on `home` and SIGKILL it `delay` seconds after it first changed the
    data home (None: let it finish); `env` adds to its environment.

    Output goes to files, not pipes, so a chatty command never blocks on a full pipe and shifts
    the moment the kill lands. The process gets a session of its own: the kill hits only the
    command itself, as a user's `kill -9 PID` would, and anything it started is reaped after."""
    before = _snapshot(home)
    began: float | None = None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            cli_command(*args),
            env=cli_env(home, **env),
            cwd=REPO,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        while proc.poll() is None:
            now = time.monotonic() - started
            if began is None and _snapshot(home) != before:
                began = now
            if began is not None and delay is not None:
                if now >= began + delay:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    break
                time.sleep(min(_POLL, began + delay - now))
            else:
                time.sleep(_POLL)
        seconds = time.monotonic() - started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        return Outcome(
            args,
            delay,
            began,
            proc.returncode,
            seconds,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def kill_rounds(
    home: Path, name: str, rounds: int, work: float, make_args: Callable[[str], Args]
) -> tuple[dict[str, Outcome], dict[str, list[dict]]]:
    """`rounds` kills of `make_args(entry)`, entry named after `name` and the round, spread over
    the `work` seconds the command writes for; the library is checked after each.

    The kills are stratified (one in each equal slice of the work) and seeded. A command that ends
    before its kill (the machine runs faster now than when `work` was measured) tells how long its
    work takes now; that round is run again, once, on that time. Returns the outcomes and the five
    lists as the last check saw them; the outcomes are keyed by entry name."""
    rng = random.Random(f"{SEED}:{name}")
    outcomes: dict[str, Outcome] = {}
    listed: dict[str, list[dict]] = {}
    for i in range(rounds):
        fraction = (i + rng.random()) / rounds
        for entry in (f"{name}{i}", f"{name}{i}-again"):
            outcome = run_killed(home, make_args(entry), fraction * work)
            assert outcome.killed or outcome.returncode == 0, outcome.describe()
            print(f"{outcome.describe()}; it left {staging_folders(home) or 'no staging folder'}")
            listed = check_library(home, outcome.describe())
            outcomes[entry] = outcome
            if outcome.work is None:
                break
            work = outcome.work
    assert any(o.killed for o in outcomes.values()), f"no kill landed while `{name}` worked: {outcomes}"
    return outcomes, listed


def run_whole(home: Path, args: Args, context: str = "") -> Outcome:
    """Run `llamadesk ARGS` to its end; it must succeed."""
    done = run_killed(home, args, None)
    assert done.returncode == 0, f"{context}`llamadesk {' '.join(args)}` failed: {done.stderr}"
    return done


def killing_at(folder: Path, code: str) -> dict[str, str]:
    """The environment that makes a command kill itself at an exact point: `code` runs at the
    start of every Python process (a sitecustomize module) and wraps the function to stop in."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(code, encoding="utf-8")
    return {"PYTHONPATH": f"{folder}{os.pathsep}{REPO}"}


# -- the library after a kill ---------------------------------------------------------------------------


def check_library(home: Path, context: str) -> dict[str, list[dict]]:
    """The next commands all work and the library holds no half entry. Returns the five lists.

    The five `list` commands run at once, as the window and a terminal might: each cleans the
    killed process's leftovers at its start, so they also prove that cleaning is safe to race."""
    procs = {
        name: subprocess.Popen(
            cli_command(name, "list", "--json"),
            env=cli_env(home),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in LISTS
    }
    listed: dict[str, list[dict]] = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=LIST_TIMEOUT)
        assert proc.returncode == 0, (
            f"after {context}: `llamadesk {name} list` exited {proc.returncode}: {err}"
        )
        listed[name] = json.loads(out)

    staging = staging_folders(home)
    assert not staging, f"after {context}: staging folders left after the next commands ran: {staging}"

    for kind, root, problem in (
        ("models", home / "models", model_problem),
        ("adapters", home / "adapters", adapter_problem),
        ("corpus", home / "corpora", corpus_problem),
        ("runs", home / "runs", run_problem),
    ):
        folders = _entries(root)
        half = {name: why for name, folder in folders.items() if (why := problem(folder))}
        assert not half, f"after {context}: half {kind} entries on disk: {half}"
        ids = {row["id"] for row in listed[kind]}
        assert ids == set(folders), (
            f"after {context}: `{kind} list` shows {sorted(ids)}, disk {sorted(folders)}"
        )

    history = home / "chats.sqlite3"
    if history.exists():
        assert history_check(history) == "ok", f"after {context}: the chat history is damaged"
    return listed


def staging_folders(home: Path) -> list[str]:
    """The staging folders anywhere in the library, relative to it."""
    return sorted(str(p.relative_to(home)) for p in home.rglob(f"{STAGING_PREFIX}*"))


def _entries(root: Path) -> dict[str, Path]:
    """The folders of a library part, as a user's file manager shows them (hidden ones aside)."""
    if not root.is_dir():
        return {}
    return {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_hashes: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """A file's sha256, computed once per version of the file (the checks repeat every round)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def model_problem(folder: Path) -> str | None:
    """Why a model folder is not a whole library entry, or None when it is."""
    manifest = _manifest(folder / "llamadesk.json")
    if manifest is None:
        return "no readable llamadesk.json"
    if manifest.get("in_place"):
        source = Path(manifest.get("gguf") or manifest.get("path") or "")
        return None if source.exists() else f"its source {source} is missing"
    if manifest.get("format") == "gguf":
        weights = folder / (manifest.get("gguf") or "model.gguf")
        if not weights.is_file():
            return f"no {weights.name}"
        if manifest.get("sha256") and sha256_of(weights) != manifest["sha256"]:
            return f"{weights.name} differs from the sha256 in its manifest (a partial copy)"
        return None
    if not (folder / "config.json").is_file():
        return "no config.json"
    if not any(folder.glob("*.safetensors")):
        return "no weights (*.safetensors)"
    return None


def adapter_problem(folder: Path) -> str | None:
    for name in ("llamadesk.json", "adapter_config.json", "adapter_model.safetensors"):
        if not (folder / name).is_file() or (name.endswith(".json") and _manifest(folder / name) is None):
            return f"no readable {name}"
    return None


def corpus_problem(folder: Path) -> str | None:
    return None if _manifest(folder / "manifest.json") is not None else "no readable manifest.json"


def run_problem(folder: Path) -> str | None:
    for name in ("spec.json", "state.json"):
        if _manifest(folder / name) is None:
            return f"no readable {name}"
    checkpoints = folder / "checkpoints"
    for step in sorted(checkpoints.glob("step-*")) if checkpoints.is_dir() else []:
        if _manifest(step / "trainer_state.json") is None:
            return f"checkpoint {step.name} has no trainer_state.json"
    return None


def history_check(path: Path) -> str:
    """SQLite's own verdict on the chat history (`PRAGMA integrity_check`): "ok" or the damage."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    return "; ".join(str(row[0]) for row in rows)
