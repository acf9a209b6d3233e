"""Training runs under faults, as a user meets them from the CLI: two resumes of one run at once
(one is refused, the run stays whole), a disk that fills up mid-run (one sentence, the last complete
checkpoint kept, resumable once space is freed) or has no room at all (refused up front), and a
one-document corpus whose only passage the split sent to validation."""

import json
import os
import selectors
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from llamadesk.core.corpus.scan import content_digest, iter_paragraphs, iter_passages, split_score
from tests.faults.conftest import REPO, cli_command, cli_env, fill, one_sentence
from tests.training_fixtures import write_text_records

SMALL_JOB = ["--kind", "pt", "--block", "32", "--batch", "2", "--grad-accum", "1", "--eval-every", "1000"]
DISK = 96 * 1024**2  # above the 64 MB margin every write is checked against, so a run may start


def start(home: Path, *args: str) -> subprocess.Popen:
    """`llamadesk train --json ARGS` in a process of its own, its events readable line by line."""
    return subprocess.Popen(
        cli_command("train", "--json", *args),
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def events_until(child: subprocess.Popen, kind: str) -> dict:
    for line in child.stdout:
        event = json.loads(line)
        if event["event"] == kind:
            return event
    raise AssertionError(f"no {kind} event; stderr: {child.stderr.read()}")


def import_tiny(cli, tiny_model_dir: Path, home: Path) -> None:
    done = cli("models", "import", str(tiny_model_dir), "--name", "tiny", "--in-place", data_home=home)
    assert done.returncode == 0, done.stderr


def interrupted_run(cli, home: Path, tiny_model_dir: Path, tmp_path: Path, steps: int) -> str:
    """A run killed after its first checkpoint: what a resume continues."""
    import_tiny(cli, tiny_model_dir, home)
    data = write_text_records(tmp_path / "notes.jsonl")
    args = [
        "--base",
        "tiny",
        "--data",
        str(data),
        "--out",
        "a",
        "--max-steps",
        str(steps),
        "--save-every",
        "2",
    ]
    child = start(home, *args, *SMALL_JOB)
    run_id = events_until(child, "checkpoint")["run_id"]
    child.kill()
    child.communicate()
    return run_id


def check_whole(home: Path, run_id: str) -> list[int]:
    """The run's checkpoints, each complete, with nothing half-written beside them; their steps."""
    folder = home / "runs" / run_id / "checkpoints"
    names = sorted(p.name for p in folder.iterdir())
    assert all(name.startswith("step-") for name in names), names
    for name in names:
        assert {"trainable.safetensors", "optimizer.bin", "trainer_state.json"} <= {
            p.name for p in (folder / name).iterdir()
        }
    return sorted(int(name.removeprefix("step-")) for name in names)


def test_a_second_resume_of_a_running_run_is_refused_and_the_run_stays_whole(
    cli, home, tiny_model_dir, tmp_path
):
    run_id = interrupted_run(cli, home, tiny_model_dir, tmp_path, steps=40)
    first, second = start(home, "--resume", run_id), start(home, "--resume", run_id)  # as close as can be
    selector = selectors.DefaultSelector()
    for child in (first, second):
        selector.register(child.stdout, selectors.EVENT_READ, child)
    winner = None
    while winner is None:  # the one that starts training; held there while the other tries
        for key, _mask in selector.select(timeout=120):
            line = key.fileobj.readline()
            if line and json.loads(line)["event"] == "start":
                winner = key.data
                winner.send_signal(signal.SIGSTOP)
                break
            assert line or key.data.poll() is None or key.data.returncode == 2, key.data.stderr.read()
    selector.close()
    state = (home / "runs" / run_id / "state.json").read_text(encoding="utf-8")
    loser = second if winner is first else first
    _out, err = loser.communicate(timeout=120)
    assert loser.returncode == 2
    assert one_sentence(err) == f"llamadesk: Run '{run_id}' is already running in process {winner.pid}."
    assert (home / "runs" / run_id / "state.json").read_text(encoding="utf-8") == state  # untouched
    assert json.loads(state)["pid"] == winner.pid

    winner.kill()  # killed mid-run: the OS drops its lock, and the run resumes to the end
    winner.communicate()
    done = cli("train", "--resume", run_id)
    assert done.returncode == 0, done.stderr
    assert "Done: adapter 'a' is in the library" in done.stdout
    assert json.loads((home / "adapters" / "a" / "llamadesk.json").read_text())["run_id"] == run_id
    log = (home / "runs" / run_id / "progress.jsonl").read_text(encoding="utf-8").splitlines()
    assert {e["step"] for e in map(json.loads, log) if e["event"] == "step"} == set(range(1, 41))


def test_a_disk_filling_up_mid_run_keeps_the_last_checkpoint_and_resumes(
    cli, small_disk, tiny_model_dir, tmp_path
):
    home = small_disk(DISK)
    import_tiny(cli, tiny_model_dir, home)
    data = write_text_records(tmp_path / "notes.jsonl")
    args = ["--base", "tiny", "--data", str(data), "--out", "a", "--max-steps", "40", "--save-every", "4"]
    child = start(home, *args, *SMALL_JOB)
    event = events_until(child, "checkpoint")
    child.send_signal(signal.SIGSTOP)  # the disk fills up between two checkpoints
    fill(home, 0)
    child.send_signal(signal.SIGCONT)
    _out, err = child.communicate(timeout=120)
    run_id = event["run_id"]

    assert child.returncode == 2
    sentence = one_sentence(err)
    assert sentence.startswith(f"llamadesk: The disk holding {home / 'runs'} is full (")
    assert "needed), so training stopped and its last good checkpoint is step " in sentence
    assert sentence.endswith(f"free some space and continue with `llamadesk train --resume {run_id}`.")
    kept = check_whole(home, run_id)
    assert kept and kept[-1] >= event["step"] and f"checkpoint is step {kept[-1]}:" in sentence
    assert not (home / "adapters").exists() or os.listdir(home / "adapters") == []

    (home / ".filler").unlink()
    done = cli("train", "--resume", run_id, data_home=home)
    assert done.returncode == 0, done.stderr
    assert f"resuming after step {kept[-1]}" in done.stdout
    assert json.loads((home / "adapters" / "a" / "llamadesk.json").read_text())["run_id"] == run_id


def test_train_is_refused_up_front_on_a_disk_without_room(cli, small_disk, tiny_model_dir, tmp_path):
    home = small_disk(16 * 1024**2)
    import_tiny(cli, tiny_model_dir, home)
    data = write_text_records(tmp_path / "notes.jsonl")
    args = ["--base", "tiny", "--data", str(data), "--out", "a", "--max-steps", "4", *SMALL_JOB]
    done = cli("train", *args, data_home=home)
    assert done.returncode == 2
    sentence = one_sentence(done.stderr)
    assert sentence.startswith(f"llamadesk: The disk holding {home / 'runs'} is full: this needs about ")
    assert sentence.endswith("nothing was changed. Free some space and try again.")
    assert not any((home / "runs").iterdir()) and not (home / "corpora").exists()


def one_passage_in_validation(path: Path, texts: Iterable[str], seed: int = 42) -> Path:
    """The first of `texts` whose single passage the corpus split (at the spec's default seed)
    sends to validation, as it does 1 document in 20, written to `path` as a one-document corpus."""
    for text in texts:
        (passage,) = iter_passages(iter_paragraphs([text]))
        if split_score(content_digest(passage), seed) < 0.05:
            path.write_text(text, encoding="utf-8")
            return path
    raise AssertionError("no such text")


def test_a_one_document_corpus_trains(cli, home, tiny_model_dir, tmp_path):
    import_tiny(cli, tiny_model_dir, home)
    long_texts = (" ".join(f"Sentence {i} about llamas." for i in range(n)) for n in range(100, 1000))
    document = one_passage_in_validation(tmp_path / "one.txt", long_texts)
    done = cli(
        "train", "--base", "tiny", "--data", str(document), "--out", "one", "--max-steps", "2", *SMALL_JOB
    )
    assert done.returncode == 0, done.stderr
    assert (
        "The corpus's own training split is too small to train on, so this run trains on all of its data "
        "except every 20th example, kept for the eval loss." in done.stdout
    )
    summary = json.loads((home / "adapters" / "one" / "llamadesk.json").read_text())["data_summary"]
    assert summary["resplit"] and summary["train_examples"] > summary["validation_examples"] > 0


def test_a_one_document_corpus_too_short_for_a_block_says_what_to_do(cli, home, tiny_model_dir, tmp_path):
    import_tiny(cli, tiny_model_dir, home)
    document = one_passage_in_validation(tmp_path / "short.txt", (f"Llamas, {n}." for n in range(1000)))
    done = cli("train", "--base", "tiny", "--data", str(document), "--out", "one", *SMALL_JOB)
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        "llamadesk: The corpus 'short' gives no training examples: its text is shorter than one block "
        "of 32 tokens; lower the block size or add text."
    )
