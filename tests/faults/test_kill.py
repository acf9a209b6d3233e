"""kill -9 at random points of every command that writes (import, merge, training, chat-save),
each repeated, with the library checked after every kill: the lists all work, no half entry is on
disk or listed, no staging folder outlives the next command, the chat history passes SQLite's
integrity check, a killed name can be used again and a killed training run resumes to the loss an
unbroken run reaches. One more kill is placed exactly, where chance would rarely land it: between
a run's adapter being registered and the run being recorded as done.

Each command's work (from its first write in the data home to its end) is timed once unbroken on
this machine, and the kills are spread over it from a seeded random source (LLAMADESK_FAULT_SEED
replays a failure; every message names the seed and the delay)."""

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.training_fixtures import write_text_records

from .kill_helpers import (
    Args,
    Outcome,
    check_library,
    kill_rounds,
    killing_at,
    run_killed,
    run_whole,
    staging_folders,
)

ROUNDS = 3
# Six steps of the tiny model with a checkpoint every two: a kill can land before the run exists,
# between checkpoints, while one is written, or while the adapter is registered.
TRAIN = ("--kind", "pt", "--data", "notes", "--max-steps", "6", "--block", "32", "--batch", "2")
TRAIN += ("--grad-accum", "2", "--eval-every", "2", "--save-every", "2")
# Long enough a reply (the tiny model rarely stops early) that kills land while it is written.
CHAT = ("--save", "--temperature", "0", "--max-new-tokens", "200")


@dataclass(frozen=True)
class Prepared:
    """A data home with a model, a corpus and a trained adapter, and how long each command worked."""

    home: Path
    work: dict[str, float]  # seconds from a command's first write in the data home to its end
    final_loss: float  # the trained adapter's, which a resumed run of the same spec must reach


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Prepared:
    """Built once through the CLI, so each command's time is measured on this machine."""
    home = tmp_path_factory.mktemp("kill-template")
    notes = write_text_records(tmp_path_factory.mktemp("kill-data") / "notes.jsonl")
    run_whole(home, ("corpus", "add", str(notes), "--name", "notes"))
    runs = {
        "import": run_whole(home, ("models", "import", str(tiny_model_dir), "--name", "tiny")),
        "train": run_whole(home, ("train", "--base", "tiny", "--out", "trained", *TRAIN)),
        "merge": run_whole(home, ("adapters", "merge", "trained", "--name", "merged")),
        "chat": run_whole(home, ("chat", "tiny", *CHAT, "Where do llamas live?")),
    }
    work = {name: outcome.work for name, outcome in runs.items()}
    assert None not in work.values(), [outcome.describe() for outcome in runs.values()]
    return Prepared(home, work, _final_loss(home, "trained"))


def _final_loss(home: Path, adapter: str) -> float:
    manifest = home / "adapters" / adapter / "llamadesk.json"
    return json.loads(manifest.read_text(encoding="utf-8"))["final_loss"]


@pytest.fixture
def library(prepared: Prepared, home: Path) -> Path:
    """The test's own copy of the prepared data home."""
    shutil.copytree(prepared.home, home, dirs_exist_ok=True)
    return home


def _name_usable_again(
    home: Path,
    kind: str,
    killed: dict[str, Outcome],
    listed: dict[str, list[dict]],
    make_args: Callable[[str], Args],
) -> None:
    """The first name a kill kept out of the library can be used at once: nothing half-made holds it."""
    present = {row["id"] for row in listed[kind]}
    for entry, outcome in killed.items():
        if entry not in present:
            run_whole(home, make_args(entry), f"{outcome.describe()}: ")
            assert entry in {row["id"] for row in check_library(home, f"redoing {entry}")[kind]}
            return


def test_kill_during_hf_import(library: Path, prepared: Prepared, tiny_model_dir: Path) -> None:
    def args(entry: str) -> Args:
        return ("models", "import", str(tiny_model_dir), "--name", entry)

    killed, listed = kill_rounds(library, "hf", ROUNDS, prepared.work["import"], args)
    _name_usable_again(library, "models", killed, listed, args)


@pytest.mark.slow
def test_kill_during_gguf_import(library: Path, starter_gguf: Path) -> None:
    """The starter's copy, hash, side files and llama.cpp test pass (the name left usable by a kill
    is shown by the Hugging Face import's test: both register through the same staging)."""

    def args(entry: str) -> Args:
        return ("models", "import", str(starter_gguf), "--name", entry)

    work = run_whole(library, args("starter")).work
    assert work is not None
    kill_rounds(library, "gguf", ROUNDS, work, args)


def test_kill_during_merge(library: Path, prepared: Prepared) -> None:
    def args(entry: str) -> Args:
        return ("adapters", "merge", "trained", "--name", entry)

    killed, listed = kill_rounds(library, "merged", ROUNDS, prepared.work["merge"], args)
    _name_usable_again(library, "models", killed, listed, args)


def test_kill_during_training_then_resume(library: Path, prepared: Prepared) -> None:
    """Each killed run resumes (or, killed before its folder existed, starts afresh) and ends with
    the final loss of the unbroken run of the same spec: a resume repeats nothing and skips nothing."""

    def args(entry: str) -> Args:
        return ("train", "--base", "tiny", "--out", entry, *TRAIN)

    killed, listed = kill_rounds(library, "trained", ROUNDS, prepared.work["train"], args)
    for entry, outcome in killed.items():
        runs = [r for r in listed["runs"] if r["out"] == entry]
        assert len(runs) <= 1, f"{outcome.describe()}: one train command made {len(runs)} runs"
        print(f"{entry}: " + (f"run {runs[0]['status']} at step {runs[0]['step']}" if runs else "no run"))
        if not runs:
            run_whole(library, args(entry), f"{outcome.describe()} (no run yet, so afresh): ")
        elif runs[0]["status"] != "done":
            run_whole(library, ("train", "--resume", runs[0]["id"]), f"{outcome.describe()}: resuming: ")
    listed = check_library(library, "finishing the killed runs")
    for entry, outcome in killed.items():
        assert entry in {row["id"] for row in listed["adapters"]}, outcome.describe()
        assert [r["status"] for r in listed["runs"] if r["out"] == entry] == ["done"], outcome.describe()
        assert _final_loss(library, entry) == pytest.approx(prepared.final_loss, rel=1e-4), outcome.describe()


# Killed in the narrowest window of a run: its adapter is in the library, "done" not yet recorded.
KILL_BEFORE_DONE = """
import os
import signal

from llamadesk.core.training import runs

_write_state = runs.write_state


def write_state(run, **fields):
    if fields.get("state") == "done":
        os.kill(os.getpid(), signal.SIGKILL)
    return _write_state(run, **fields)


runs.write_state = write_state
"""


def test_kill_after_registering_the_adapter(library: Path, tmp_path: Path) -> None:
    """The run's adapter is whole and listed; resuming the run records it as done instead of
    refusing the adapter's name as taken by another."""
    train = ("train", "--base", "tiny", "--out", "registered", *TRAIN)
    outcome = run_killed(library, train, None, **killing_at(tmp_path / "inject", KILL_BEFORE_DONE))
    assert outcome.killed, (
        f"the kill point (runs.write_state(state='done')) was not reached: {outcome.stderr}"
    )
    listed = check_library(library, "a kill between the adapter and the run's end")
    assert "registered" in {row["id"] for row in listed["adapters"]}
    (run,) = [r for r in listed["runs"] if r["out"] == "registered"]
    resumed = run_killed(library, ("train", "--resume", run["id"]), None)
    assert "choose another name" not in resumed.stderr, resumed.describe()
    (run,) = [r for r in check_library(library, "resuming it")["runs"] if r["out"] == "registered"]
    assert (run["status"], run["adapter_id"]) == ("done", "registered"), resumed.describe()


# Killed with checkpoint step-4 written whole but not yet renamed into place (the staging folder
# is fsynced just before the rename).
KILL_IN_CHECKPOINT = """
import os
import signal

from llamadesk.core import atomic

_fsync_tree = atomic.fsync_tree


def fsync_tree(root):
    if root.parent.name == "checkpoints" and "-step-4-" in root.name:
        os.kill(os.getpid(), signal.SIGKILL)
    return _fsync_tree(root)


atomic.fsync_tree = fsync_tree
"""


def test_kill_while_a_checkpoint_is_renamed(library: Path, tmp_path: Path, prepared: Prepared) -> None:
    """The unfinished checkpoint's staging folder goes at the next command, and the run resumes
    from step 2 to the unbroken run's final loss."""
    train = ("train", "--base", "tiny", "--out", "checkpointed", *TRAIN)
    outcome = run_killed(library, train, None, **killing_at(tmp_path / "inject", KILL_IN_CHECKPOINT))
    assert outcome.killed, f"the kill point (checkpoint step-4's fsync) was not reached: {outcome.describe()}"
    assert any("checkpoints/.staging-" in path for path in staging_folders(library)), outcome.describe()
    (run,) = [r for r in check_library(library, outcome.describe())["runs"] if r["out"] == "checkpointed"]
    assert (run["status"], run["last_checkpoint"]) == ("interrupted", 2), run
    run_whole(library, ("train", "--resume", run["id"]), f"{outcome.describe()}: resuming: ")
    assert _final_loss(library, "checkpointed") == pytest.approx(prepared.final_loss, rel=1e-4)
    check_library(library, "the resumed run")


def test_kill_during_chat_save(library: Path, prepared: Prepared) -> None:
    """From no history at all (the first kill may land while it is created) to one with chats."""
    for path in library.glob("chats.sqlite3*"):
        path.unlink()
    killed, listed = kill_rounds(
        library, "chat", ROUNDS, prepared.work["chat"], lambda entry: ("chat", "tiny", *CHAT, f"Say {entry}.")
    )
    last = list(killed.values())[-1]
    run_whole(library, ("chat", "tiny", *CHAT, "And now to the end."), f"{last.describe()}: ")
    chats = check_library(library, "a whole chat after the kills")["chats"]
    assert len(chats) == len(listed["chats"]) + 1 and chats[0]["title"].startswith("And now"), chats
    for chat in chats:  # every conversation the kills left reads back, and holds its question
        done = run_whole(library, ("chats", "export", str(chat["id"]), "--format", "json"))
        exported = json.loads(done.stdout)
        assert exported["title"] == chat["title"] and exported["messages"], done.stdout
