"""The training loop on the tiny model: registration with a manifest, cancel and exact resume,
checkpoints that survive a full disk, a base removed mid-job, a killed process, and a run that
another process is training."""

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors import safe_open

from llamadesk.cli import main
from llamadesk.core import adapters, library, paths
from llamadesk.core.errors import BusyError, ResourceError
from llamadesk.core.training import runner, runs
from tests.training_fixtures import import_tiny, sft_corpus, text_corpus, tiny_spec


@pytest.fixture
def tiny(tiny_model_dir):
    return import_tiny(tiny_model_dir)


_HOLD = """
import sys
from llamadesk.core.training import runs
with runs.training(runs.get_run(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def trained_elsewhere(run_id: str) -> Iterator[int]:
    """Another process holding the run's lock, as a process training it does; yields its id."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert holder.stdout.readline() == "held\n"
        yield holder.pid
    finally:
        holder.communicate()


def collect():
    events: list[dict] = []
    return events, events.append


def losses(run_id: str) -> tuple[list[float], list[float]]:
    curves = runs.get_run(run_id).curves()
    return curves["loss"], curves["eval_loss"]


def test_pretraining_registers_an_adapter_with_its_manifest(tiny, tmp_path):
    events, emit = collect()
    assert runner.train(tiny_spec(text_corpus(tmp_path), "notes-lora"), emit=emit) == runner.EXIT_DONE
    kinds = [e["event"] for e in events]
    assert set(kinds[: kinds.index("start")]) <= {"prepare"} and kinds[-1] == "done"
    assert kinds.count("step") == 6 and kinds.count("eval") == 3 and kinds.count("checkpoint") == 3
    step = next(e for e in events if e["event"] == "step")
    assert {"loss", "lr", "tokens_per_s", "eta_s", "rss_bytes", "epoch", "total_steps"} <= step.keys()
    assert events[-1]["adapter_id"] == "notes-lora"

    entry = adapters.get_adapter("notes-lora")
    assert [a.id for a in adapters.list_adapters("tiny")] == ["notes-lora"]  # in the chat dropdown at once
    manifest = entry.manifest
    assert manifest["base_id"] == "tiny" and manifest["base_sha256"] == tiny.manifest["sha256"]
    assert (manifest["kind"], manifest["source"]) == ("pt", "trained")
    assert (manifest["rank"], manifest["alpha"], manifest["dropout"]) == (8, 16, 0.05)
    assert manifest["run_id"] == events[-1]["run_id"]
    assert manifest["final_loss"] == pytest.approx(sum(losses(manifest["run_id"])[0]) / 6)
    assert manifest["final_eval_loss"] == events[-1]["final_eval_loss"] is not None
    assert manifest["data_summary"]["corpora"][0]["id"] == "notes"
    assert manifest["hyperparameters"]["lr"] == 2e-4

    run = runs.get_run(manifest["run_id"])
    assert run.status == "done" and [s for s, _ in run.checkpoints()] == [4, 6]  # the last two kept
    assert run.events() == events  # the log holds exactly what was printed


def test_sft_run_and_the_cli(tiny, tmp_path, capsys):
    corpus = sft_corpus(tmp_path)
    argv = [
        "train",
        "--base",
        "tiny",
        "--kind",
        "sft",
        "--data",
        corpus,
        "--out",
        "qa-lora",
        "--max-steps",
        "2",
    ]
    assert main([*argv, "--block", "64", "--batch", "2", "--grad-accum", "1"]) == 0
    out = capsys.readouterr().out
    assert "step 2/2  loss" in out and "Done: adapter 'qa-lora' is in the library" in out
    assert adapters.get_adapter("qa-lora").manifest["kind"] == "sft"

    assert main(["runs", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["status"] == "done" and rows[0]["adapter_id"] == "qa-lora"
    # Whether it learnt: the answers' loss with the adapter off and on, and two sample answers.
    learn = rows[0]["learn"]
    assert learn == runs.get_run(rows[0]["id"]).state["learn"]
    assert learn["examples"]["train"] == 32 and learn["examples"]["validation"] > 0
    for name in ("train_loss", "validation_loss"):
        assert learn[name]["before"] > 0 and learn[name]["after"] > 0
    assert len(learn["samples"]) == 2
    for sample in learn["samples"]:  # the question as asked, not the chat template around it
        assert sample["prompt"].startswith(("Question", "问题")) and sample["reference"]
        assert isinstance(sample["base"], str) and isinstance(sample["adapter"], str)
    assert f"training loss (32 examples): {learn['train_loss']['before']:.4f} before" in out
    assert main(["runs", "show", rows[0]["id"]]) == 0
    assert "done, step 2 of 2" in capsys.readouterr().out
    assert main([*argv]) == 2  # the name is taken now
    assert "already exists" in capsys.readouterr().err


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tiny, tmp_path):
    corpus = text_corpus(tmp_path)
    # dropout on, an epoch boundary inside the run (3 steps per epoch), and a cancel in between
    spec = dict(max_steps=8, max_eval_examples=4, save_every=100, dropout=0.1)
    runner.train(tiny_spec(corpus, "straight", **spec))
    straight = runs.get_run(adapters.get_adapter("straight").manifest["run_id"])

    cancel = threading.Event()
    events, emit = collect()

    def stop_at_step_3(event: dict) -> None:
        emit(event)
        if event["event"] == "step" and event["step"] == 3:
            cancel.set()

    assert runner.train(tiny_spec(corpus, "resumed", **spec), emit=stop_at_step_3, cancel=cancel) == 3
    assert events[-1]["event"] == "cancelled" and events[-1]["checkpoint"] == 3
    run = runs.get_run(events[-1]["run_id"])
    assert run.status == "cancelled" and [s for s, _ in run.checkpoints()] == [3]
    resumed_events, emit = collect()
    assert runner.train(run_id=run.id, emit=emit) == 0
    assert resumed_events[0]["event"] == "start" and resumed_events[0]["start_step"] == 3

    assert len(losses(run.id)[0]) == 8
    assert losses(run.id) == losses(straight.id)  # exactly, eval losses too
    resumed_manifest = adapters.get_adapter("resumed").manifest
    assert resumed_manifest["final_loss"] == adapters.get_adapter("straight").manifest["final_loss"]


@pytest.mark.parametrize("where", ["forward", "backward", "between micro-batches"])
def test_cancel_inside_a_step_keeps_the_last_whole_step_and_resumes_exactly(
    tiny, tmp_path, monkeypatch, where
):
    """A cancel noticed mid-step abandons the step (a layer's forward or backward hook raises) and
    checkpoints the one before with its random state, so the resumed run equals an unbroken one."""
    import torch

    corpus = text_corpus(tmp_path)
    spec = dict(max_steps=5, max_eval_examples=4, save_every=100, eval_every=100, dropout=0.1)
    runner.train(tiny_spec(corpus, "straight", **spec))
    straight = adapters.get_adapter("straight").manifest["run_id"]

    cancel = threading.Event()
    seen = {"step": 0, "micro": 0}
    real_collate, real_backward = runner.data.collate, torch.Tensor.backward

    def collate(examples, pad_id):  # the second micro-batch of step 3 (grad_accum 2)
        seen["micro"] += 1
        if seen["step"] == 2 and seen["micro"] == 2 and where == "forward":
            cancel.set()
        return real_collate(examples, pad_id)

    def backward(self, *args, **kwargs):  # the first micro-batch of step 3
        in_step_3 = seen["step"] == 2 and seen["micro"] == 1
        if in_step_3 and where == "backward":
            cancel.set()
        real_backward(self, *args, **kwargs)
        if in_step_3 and where == "between micro-batches":
            cancel.set()

    def on_event(event: dict) -> None:
        if event["event"] == "step":
            seen["step"], seen["micro"] = event["step"], 0

    monkeypatch.setattr(runner.data, "collate", collate)
    monkeypatch.setattr(torch.Tensor, "backward", backward)
    assert runner.train(tiny_spec(corpus, "resumed", **spec), emit=on_event, cancel=cancel) == 3
    (run,) = [r for r in runs.list_runs() if r.id != straight]
    assert run.status == "cancelled" and [s for s, _ in run.checkpoints()] == [2]
    assert run.events()[-1] | {"time": 0} == {
        "event": "cancelled",
        "run_id": run.id,
        "step": 2,
        "total_steps": 5,
        "checkpoint": 2,
        "state": "cancelled",
        "time": 0,
    }
    assert len(losses(run.id)[0]) == 2  # step 3 was abandoned, not logged
    monkeypatch.setattr(runner.data, "collate", real_collate)
    monkeypatch.setattr(torch.Tensor, "backward", real_backward)
    assert runner.train(run_id=run.id) == 0
    assert losses(run.id) == losses(straight)


def test_cancel_file_stops_a_run_from_another_process(tiny, tmp_path):
    def request_at_step_2(event: dict) -> None:
        if event["event"] == "step" and event["step"] == 2:
            (runs.get_run(event["run_id"]).folder / runs.CANCEL).touch()

    assert runner.train(tiny_spec(text_corpus(tmp_path), "a"), emit=request_at_step_2) == 3
    (run,) = runs.list_runs()
    assert run.status == "cancelled" and run.last_checkpoint()[0] == 2
    assert not (run.folder / runs.CANCEL).exists()


def test_sigterm_cancels_at_the_next_step_and_restores_the_handler(tiny, tmp_path):
    def terminate_at_step_2(event: dict) -> None:
        if event["event"] == "step" and event["step"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    assert runner.train(tiny_spec(text_corpus(tmp_path), "a"), emit=terminate_at_step_2) == 3
    assert signal.getsignal(signal.SIGTERM) is before
    (run,) = runs.list_runs()
    assert run.status == "cancelled" and run.last_checkpoint()[0] == 2


def test_disk_full_while_checkpointing_keeps_earlier_checkpoints(tiny, tmp_path, monkeypatch):
    from accelerate import Accelerator

    real_save = Accelerator.save_state
    calls = []

    def save_state(self, output_dir, **kwargs):
        calls.append(output_dir)
        if len(calls) == 2:
            real_save(self, output_dir, **kwargs)  # half written, then the disk fills
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", save_state)
    events, emit = collect()
    with pytest.raises(
        ResourceError,
        match=r"is full \(.* needed\), so training stopped and its last good checkpoint is step 2:",
    ):
        runner.train(tiny_spec(text_corpus(tmp_path), "a"), emit=emit)
    run = runs.get_run(events[-1]["run_id"])
    assert events[-1]["event"] == "error" and run.status == "failed"
    assert [s for s, _ in run.checkpoints()] == [2]
    assert [p.name for p in run.checkpoints_dir.iterdir()] == ["step-2"]  # no half-written folder
    monkeypatch.setattr(Accelerator, "save_state", real_save)
    assert runner.train(run_id=run.id) == 0
    assert adapters.get_adapter("a").manifest["run_id"] == run.id


def test_base_removed_mid_job_keeps_the_work_and_resume_registers(tiny, tiny_model_dir, tmp_path):
    def remove_base(event: dict) -> None:
        if event["event"] == "step" and event["step"] == 2:
            library.remove_model("tiny")

    with pytest.raises(runner.RunFailed, match="'tiny' was removed from the library during training"):
        runner.train(tiny_spec(text_corpus(tmp_path), "a"), emit=remove_base)
    (run,) = runs.list_runs()
    assert run.status == "failed" and run.last_checkpoint()[0] == 6
    assert adapters.list_adapters() == []
    import_tiny(tiny_model_dir)
    events, emit = collect()
    assert runner.train(run_id=run.id, emit=emit) == 0
    assert [e["event"] for e in events] == ["start", "learn", "done"]  # nothing left to train
    assert adapters.get_adapter("a").manifest["final_loss"] == pytest.approx(sum(losses(run.id)[0]) / 6)


def test_vocabulary_extension_saves_embeddings_and_tokenizer(tiny, tmp_path):
    path = tmp_path / "zh.jsonl"
    lines = [{"text": f"{i} 人工智能正在改变世界。北京是中国的首都。机器学习和深度学习。"} for i in range(60)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines), encoding="utf-8")
    spec = tiny_spec(str(path), "zh", extend_vocab=100, max_steps=2)
    assert runner.train(spec) == 0
    entry = adapters.get_adapter("zh")
    added = entry.manifest["vocab_added"]
    assert added > 0 and entry.manifest["modules_to_save"] == ["embed_tokens", "lm_head"]
    assert (entry.folder / "tokenizer.json").is_file()
    with safe_open(entry.folder / "adapter_model.safetensors", "pt") as weights:
        shapes = {k: weights.get_slice(k).get_shape() for k in weights.keys()}  # noqa: SIM118
    embed = next(v for k, v in shapes.items() if k.endswith("embed_tokens.weight"))
    assert embed[0] == tiny.config["vocab_size"] + added


def test_bad_data_is_refused_before_a_run_exists(tiny, tmp_path, capsys):
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "bad.jsonl").write_text('{"text": "unterminated\n{nope}\n', encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    argv = ["train", "--base", "tiny", "--kind", "pt", "--out", "a", "--block", "32", "--data"]
    for name in ("blob.bin", "bad.jsonl", "empty.txt"):
        assert main([*argv, str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("llamadesk: No usable text") and err.count("\n") == 1
        assert name in err
    assert main([*argv, str(tmp_path / "missing.txt")]) == 2
    assert "neither a corpus nor an existing file" in capsys.readouterr().err
    assert main(["train", "--base", "gone", "--kind", "pt", "--out", "a", "--data", "x"]) == 2
    assert "no model 'gone'" in capsys.readouterr().err
    assert list(paths.runs_dir().iterdir()) == [] and adapters.list_adapters() == []


def test_killed_process_is_seen_live_then_interrupted_and_resumes(tiny, tmp_path, home):
    """The GUI's path: a child process printing JSON lines, re-attached to by run id, killed."""
    spec_path = tmp_path / "spec.json"
    tiny_spec(text_corpus(tmp_path), "a", max_steps=60, save_every=2, eval_every=1000).save(spec_path)
    env = os.environ | {"LLAMADESK_HOME": str(home)}
    child = subprocess.Popen(
        [sys.executable, "-m", "llamadesk.train", str(spec_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        for line in child.stdout:
            event = json.loads(line)  # nothing but JSON lines on stdout
            if event["event"] == "checkpoint":
                break
        (live,) = runs.live_runs()
        assert live.id == event["run_id"] and live.state["pid"] == child.pid
        assert any(e["event"] == "checkpoint" for _, e in runs.follow(live))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    run = runs.get_run(event["run_id"])
    assert run.status == "interrupted" and runs.live_runs() == []
    assert run.last_checkpoint()[0] >= 2
    assert runner.train(run_id=run.id) == 0
    assert adapters.get_adapter("a").manifest["run_id"] == run.id
    assert runs.get_run(run.id).curves()["steps"] == list(range(1, 61))


def test_a_run_another_process_trains_is_refused_before_it_is_touched(tiny, tmp_path, capsys):
    run = runs.create_run(tiny_spec(text_corpus(tmp_path), "a", max_steps=2))
    runs.write_state(run, state="cancelled")
    state = (run.folder / runs.STATE).read_text(encoding="utf-8")
    sentence = f"Run '{run.id}' is already running in process "
    with trained_elsewhere(run.id) as pid:
        assert run.status == "running" and not run.is_live()  # listed as running; nothing to signal
        assert str(runs.running_elsewhere(run)) == f"{sentence}{pid}."
        with pytest.raises(BusyError, match="is starting; cancel it again in a moment"):
            runs.request_cancel(run.id)  # no signal to a process that cannot take it yet
        events, emit = collect()
        with pytest.raises(BusyError, match=f"^{sentence}{pid}\\.$"):
            runner.train(run_id=run.id, emit=emit)
        assert events == [
            {"event": "error", "run_id": run.id, "state": "failed", "message": f"{sentence}{pid}."}
        ]
        assert main(["train", "--resume", run.id]) == 2
        assert capsys.readouterr().err == f"llamadesk: {sentence}{pid}.\n"
        assert (run.folder / runs.STATE).read_text(encoding="utf-8") == state
        assert not (run.folder / runs.PROGRESS).exists() and not run.data_dir.exists()
    assert run.status == "cancelled" and runs.running_elsewhere(run) is None
    assert runner.train(run_id=run.id) == 0


def test_a_checkpoint_failing_for_another_reason_says_so(tiny, tmp_path, monkeypatch):
    from accelerate import Accelerator

    def save_state(self, output_dir, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Accelerator, "save_state", save_state)
    with pytest.raises(
        ResourceError, match=r"step 2 failed \(Permission denied\); there is no earlier checkpoint: fix this"
    ):
        runner.train(tiny_spec(text_corpus(tmp_path), "a"))
