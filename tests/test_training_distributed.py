"""Beyond one process: the same spec under `accelerate launch` with two processes gives the losses
of one process with the same global batch, and a cluster export trains unchanged and comes back.

`accelerate launch --cpu --num_processes 2` starts only ONE process in accelerate 1.15 (its CPU
launcher needs mpirun for more), so the test launches through torchrun with `--multi_gpu`; on a
machine without a GPU the runner puts both processes on the CPU, talking gloo over loopback."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llamadesk.cli import main
from llamadesk.core import adapters, paths
from llamadesk.core.training import runner, runs
from llamadesk.core.training.spec import TrainSpec
from tests.training_fixtures import import_tiny, text_corpus, tiny_spec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one_with_the_same_global_batch(tiny_model_dir, tmp_path, home):
    import_tiny(tiny_model_dir)
    corpus = text_corpus(tmp_path)
    # dropout off: each process draws its own dropout masks, so only the deterministic path can match
    common = {"dropout": 0.0, "max_steps": 4, "eval_every": 2, "grad_accum": 2}
    runner.train(tiny_spec(corpus, "one", batch_size=2, **common))
    single = runs.get_run(adapters.get_adapter("one").manifest["run_id"]).curves()

    spec_path = tmp_path / "spec.json"
    tiny_spec(corpus, "two", batch_size=1, **common).save(spec_path)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port())]
    result = subprocess.run(
        [*launch, "-m", "llamadesk.train", str(spec_path)],
        capture_output=True,
        text=True,
        env=os.environ | {"LLAMADESK_HOME": str(home), "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]  # one process printed
    assert [e["event"] for e in events].count("start") == 1
    assert events[-1]["event"] == "done" and events[-1]["adapter_id"] == "two"
    start = next(e for e in events if e["event"] == "start")
    assert start["processes"] == 2  # really distributed, not a silent single process

    double = runs.get_run(events[-1]["run_id"]).curves()
    assert double["steps"] == single["steps"] == [1, 2, 3, 4]
    assert double["loss"] == pytest.approx(single["loss"], abs=1e-5)
    assert double["eval_loss"] == pytest.approx(single["eval_loss"], abs=1e-5)
    assert adapters.get_adapter("two").manifest["final_loss"] == pytest.approx(
        adapters.get_adapter("one").manifest["final_loss"], abs=1e-5
    )


def test_cluster_export_trains_unchanged_and_comes_back(tiny_model_dir, tmp_path, home, monkeypatch):
    import yaml
    from accelerate.commands.config.config_args import load_config_from_file

    import_tiny(tiny_model_dir)
    spec = tiny_spec(text_corpus(tmp_path), "cluster-lora", max_steps=2)
    target = runs.export_cluster(
        spec, tmp_path / "export", strategy="zero2", num_processes=16, num_machines=2
    )
    assert TrainSpec.load(target / "spec.json") == spec
    files = {"spec.json", "home", "accelerate_config.yaml", "launch.sh", "README.txt"}
    assert {p.name for p in target.iterdir()} == files
    model = target / "home" / "models" / "tiny"
    assert (model / "model.safetensors").is_file()
    assert json.loads((model / "llamadesk.json").read_text())["in_place"] is False
    launch = (target / "launch.sh").read_text()
    assert 'export LLAMADESK_HOME="$PWD/home"' in launch and os.access(target / "launch.sh", os.X_OK)
    assert "accelerate launch --config_file accelerate_config.yaml --machine_rank" in launch
    assert launch.rstrip().endswith("-m llamadesk.train spec.json")
    config = load_config_from_file(str(target / "accelerate_config.yaml"))  # accelerate accepts it
    assert (config.distributed_type, config.num_processes, config.num_machines) == ("DEEPSPEED", 16, 2)
    assert config.mixed_precision == "bf16"
    written = yaml.safe_load((target / "accelerate_config.yaml").read_text())
    assert written["deepspeed_config"]["zero_stage"] == 2
    assert written["deepspeed_config"]["gradient_accumulation_steps"] == spec.grad_accum
    fsdp = runs.accelerate_config(spec, "fsdp", 8, 1)
    assert yaml.safe_load(fsdp)["fsdp_config"]["fsdp_use_orig_params"] is True

    # On the "cluster": the exported home alone, the spec as written.
    monkeypatch.setenv("LLAMADESK_HOME", str(target / "home"))
    assert runner.train(TrainSpec.load(target / "spec.json")) == 0
    trained = paths.adapters_dir() / "cluster-lora"
    assert trained.is_dir()

    # Back home: the adapter folder is imported with its training record.
    monkeypatch.setenv("LLAMADESK_HOME", str(home))
    entry = runs.import_trained_adapter(Path(trained), "from-cluster")
    assert entry.base_id == "tiny" and entry.manifest["kind"] == "pt"
    assert entry.manifest["hyperparameters"]["max_steps"] == 2 and entry.manifest["final_loss"] > 0


def test_cli_export_cluster(tiny_model_dir, tmp_path, capsys):
    import_tiny(tiny_model_dir)
    corpus = text_corpus(tmp_path)
    argv = ["train", "--base", "tiny", "--kind", "pt", "--data", corpus, "--out", "x", "--json"]
    assert main([*argv, "--export-cluster", str(tmp_path / "job"), "--strategy", "fsdp"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["command"] in (tmp_path / "job" / "launch.sh").read_text()
    assert "FSDP" in (tmp_path / "job" / "accelerate_config.yaml").read_text()
    assert main([*argv, "--export-cluster", str(tmp_path / "job")]) == 2
    assert "already exists" in capsys.readouterr().err
