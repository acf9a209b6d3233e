"""Training runs on disk: `runs/<id>/` holds everything about one job, so a run outlives the window
that started it and can be watched, cancelled, resumed or exported from anywhere.

    spec.json         the job, with raw data paths already turned into a corpus
    state.json        created | running | cancelled | done | failed, the process id, the adapter made
    progress.jsonl    one JSON event per line, as the runner printed them (the curves come from here)
    data/             token ids of the train and validation splits (built once per run)
    tokenizer/        the extended tokenizer, when the job grows the vocabulary
    checkpoints/      step-N/ folders, each complete or absent (written under a staging name)
    cancel            present while a cancel is requested (the way to stop a job one did not start)

A run whose state says running but whose process is gone was killed: it reads as "interrupted",
and resumes from its last checkpoint. The process training a run also holds its cross-process lock
(`run-<id>`, see core/locks.py) from before it touches the run until it ends, so two processes never
train one run: the second is refused, whichever of the CLI and the window started it."""

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from llamadesk.core import disk, locks, paths
from llamadesk.core.atomic import staged_folder, write_json
from llamadesk.core.errors import BusyError, LlamaDeskError, NotFoundError, ResourceError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress
from llamadesk.core.training import plan
from llamadesk.core.training.spec import DEFAULT_BATCH, TrainSpec

SPEC = "spec.json"
STATE = "state.json"
PROGRESS = "progress.jsonl"
CANCEL = "cancel"
CHECKPOINT_PREFIX = "step-"
STATES = ("created", "running", "cancelled", "done", "failed", "interrupted")


@dataclass(frozen=True)
class Run:
    id: str
    folder: Path

    @property
    def spec(self) -> TrainSpec:
        return TrainSpec.load(self.folder / SPEC)

    @property
    def state(self) -> dict:
        try:
            return json.loads((self.folder / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"state": "created"}

    @property
    def status(self) -> str:
        """The recorded state, except that a "running" run whose process is gone is "interrupted",
        and a run another process holds the lock of is "running" (a resume that has not yet
        recorded itself, as the window's list should show it)."""
        state = self.state
        recorded = state.get("state", "created")
        if recorded == "running" and _process_alive(state):
            return "running"
        if recorded != "done" and _held_elsewhere(self.id):
            return "running"
        return "interrupted" if recorded == "running" else recorded

    def is_live(self) -> bool:
        """Whether the process that recorded this run as running still works: the one a cancel
        signals and a reopened window follows."""
        state = self.state
        return state.get("state") == "running" and _process_alive(state)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def tokenizer_dir(self) -> Path:
        return self.folder / "tokenizer"

    @property
    def checkpoints_dir(self) -> Path:
        return self.folder / "checkpoints"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, folder) of every complete checkpoint, oldest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for entry in self.checkpoints_dir.iterdir():
            number = entry.name.removeprefix(CHECKPOINT_PREFIX)
            if entry.name.startswith(CHECKPOINT_PREFIX) and number.isdigit() and entry.is_dir():
                found.append((int(number), entry))
        return sorted(found)

    def last_checkpoint(self) -> tuple[int, Path] | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def events(self) -> list[dict]:
        """Every event logged so far; a line torn by a kill mid-write is skipped."""
        path = self.folder / PROGRESS
        if not path.is_file():
            return []
        events = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                with contextlib.suppress(ValueError):
                    events.append(json.loads(line))
        return events

    def curves(self) -> dict:
        """Loss and eval loss by step, for the chart. A step logged twice (run again after a kill
        between checkpoints) keeps its latest value, which is the one the adapter descends from."""
        loss: dict[int, float] = {}
        eval_loss: dict[int, float] = {}
        for event in self.events():
            if event.get("event") == "step" and event.get("loss") is not None:
                loss[event["step"]] = event["loss"]
            elif event.get("event") == "eval" and event.get("eval_loss") is not None:
                eval_loss[event["step"]] = event["eval_loss"]
        return {
            "steps": sorted(loss),
            "loss": [loss[s] for s in sorted(loss)],
            "eval_steps": sorted(eval_loss),
            "eval_loss": [eval_loss[s] for s in sorted(eval_loss)],
        }

    def summary(self) -> dict:
        """What `runs list` and the Training panel's history show."""
        state = self.state
        try:
            spec = self.spec.to_json()
        except LlamaDeskError:
            spec = {}
        last = self.last_checkpoint()
        return {
            "id": self.id,
            "status": self.status,
            "kind": spec.get("kind"),
            "base": spec.get("base"),
            "out": spec.get("out"),
            "step": state.get("step"),
            "total_steps": state.get("total_steps"),
            "last_checkpoint": last[0] if last else None,
            "adapter_id": state.get("adapter_id"),
            "pid": state.get("pid"),
            "created": state.get("created"),
            "updated": state.get("updated"),
            "message": state.get("message"),
            "learn": state.get("learn"),  # whether it learnt: runner._Learning's report, once done
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _process_alive(state: dict) -> bool:
    """Is the process that wrote `state` still running? A pid is reused by the OS, so its start
    time must match too; a run started on another machine (a shared home) is taken at its word."""
    pid = state.get("pid")
    if not pid:
        return False
    if state.get("host") not in (None, socket.gethostname()):
        return True
    import psutil

    try:
        process = psutil.Process(pid)
        started = process.create_time()
        if process.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped: not working
            return False
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False
    return abs(started - state.get("process_started", started)) < 1.0


def lock_name(run_id: str) -> str:
    return f"run-{run_id}"


def _held_elsewhere(run_id: str) -> bool:
    """Whether another process holds the run's lock now. A run never trained has no lock file, and
    is not given one by looking."""
    name = lock_name(run_id)
    try:
        return locks.lock_file(name).exists() and locks.is_held(name)
    except OSError:  # a data folder this process cannot write to: nothing trains from here either
        return False


def _busy_text(run_id: str) -> str:
    """The refusal, with `{pid}` left for the lock to fill in."""
    return _("Run '{run}' is already running in process {pid}.").format(run=run_id, pid="{pid}")


def running_elsewhere(run: Run) -> BusyError | None:
    """The refusal for a run that another process is training now, else None: its lock is held,
    or its state names a live process other than this one that holds no lock (a machine sharing
    this data folder over a network file system, whose locks may not reach here)."""
    if _held_elsewhere(run.id):
        pid = locks.holder(lock_name(run.id))
    elif run.is_live() and run.state.get("pid") != os.getpid():
        pid = run.state.get("pid")
    else:
        return None
    return BusyError(_busy_text(run.id).format(pid=pid if pid is not None else "?"))


@contextlib.contextmanager
def training(run: Run) -> Iterator[None]:
    """Hold the run's lock for the block, or raise BusyError at once ("Run R is already running in
    process P") when another process trains it; the run is not touched either way. The OS drops the
    lock when the process dies, so a killed run is resumable at once."""
    with locks.holding(lock_name(run.id), wait=0, busy=_busy_text(run.id)):
        refusal = running_elsewhere(run)
        if refusal is not None:
            raise refusal
        yield


def disk_full_error(run: Run, needed: int | None = None) -> ResourceError:
    """A full disk met while training `run`, said as one sentence: what it needs, what is kept (the
    last complete checkpoint: a half-written one never counts) and how to go on."""
    last = run.last_checkpoint()
    kept = (
        _("its last good checkpoint is step {step}").format(step=last[0])
        if last
        else _("it has no checkpoint yet")
    )
    free = disk.size_text(disk.free_bytes(run.folder))
    if needed:
        space = _("{free} free, about {needed} needed").format(free=free, needed=disk.size_text(needed))
    else:
        space = _("{free} free").format(free=free)
    return ResourceError(
        _(
            "The disk holding {folder} is full ({space}), so training stopped and {kept}: free some "
            "space and continue with `llamadesk train --resume {run}`."
        ).format(folder=run.folder.parent, space=space, kept=kept, run=run.id)
    )


def checkpoint_bytes(spec: TrainSpec, config: dict) -> int:
    """About what one checkpoint takes on disk: the trainable weights and AdamW's two moments (the
    frozen base is never saved)."""
    from llamadesk.core.training import memory

    estimate = memory.estimate(spec, config)
    return estimate.trainable + estimate.optimizer


def process_identity() -> dict:
    """What `_process_alive` checks later: this process's id, machine and start time."""
    import psutil

    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "process_started": psutil.Process().create_time(),
    }


def write_state(run: Run, **fields: object) -> dict:
    state = run.state | fields | {"updated": _now()}
    write_json(run.folder / STATE, state)
    return state


def append_event(run: Run, event: dict) -> None:
    with open(run.folder / PROGRESS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, ensure_ascii=False) + "\n")


# -- making and finding runs ------------------------------------------------------------------------


def resolve_data(spec: TrainSpec, progress: Progress | None = None) -> TrainSpec:
    """The spec with its raw file and folder paths read into one new corpus (split by the spec's
    seed and stored), so the run trains on a fixed copy; corpus ids are kept as they are."""
    from dataclasses import replace

    from llamadesk.core.corpus import store

    known = {c.id for c in store.list_corpora()}
    ids = [d for d in spec.data if d in known]
    raw = [d for d in spec.data if d not in known]
    for item in raw:
        if not Path(item).expanduser().exists():
            raise NotFoundError(
                _("'{item}' is neither a corpus nor an existing file or folder.").format(item=item)
            )
    if raw:
        entry = store.add_corpus(raw, None, progress or Progress(), seed=spec.seed)
        ids.append(entry.id)
    return replace(spec, data=ids)


def create_run(spec: TrainSpec, progress: Progress | None = None) -> Run:
    """A new run folder for `spec` (raw data paths become a corpus first)."""
    spec = resolve_data(spec, progress)
    root = paths.runs_dir()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_id, number = f"{spec.out}-{stamp}", 2
    while (root / run_id).exists():
        run_id, number = f"{spec.out}-{stamp}-{number}", number + 1
    with staged_folder(root / run_id) as staging:
        spec.save(staging / SPEC)
        write_json(staging / STATE, {"state": "created", "created": _now(), "updated": _now()})
    return Run(run_id, root / run_id)


def get_run(run_id: str) -> Run:
    folder = paths.runs_dir() / run_id
    if not run_id or run_id.startswith(".") or "/" in run_id or not (folder / SPEC).is_file():
        raise NotFoundError(
            _("There is no training run '{run_id}'; `llamadesk runs list` shows them.").format(run_id=run_id)
        )
    return Run(run_id, folder)


def list_runs() -> list[Run]:
    """Every run, newest first."""
    root = paths.runs_dir()
    runs = [Run(p.name, p) for p in root.iterdir() if not p.name.startswith(".") and (p / SPEC).is_file()]
    return sorted(runs, key=lambda r: (r.state.get("created", ""), r.id), reverse=True)


def live_runs() -> list[Run]:
    """Runs whose process is still working: what a reopened window re-attaches to."""
    return [run for run in list_runs() if run.is_live()]


def request_cancel(run_id: str) -> None:
    """Ask a run to stop (within seconds; it keeps a checkpoint of its last whole step): a flag file
    any process can leave, plus SIGTERM when the process is on this machine."""
    run = get_run(run_id)
    if not run.is_live():
        status = run.status
        if status == "running":  # locked by a process that has not yet recorded itself: no handler yet
            raise BusyError(
                _("Run '{run_id}' is starting; cancel it again in a moment.").format(run_id=run_id)
            )
        raise LlamaDeskError(
            _("Run '{run_id}' is not running ({status}).").format(run_id=run_id, status=status)
        )
    (run.folder / CANCEL).touch()
    state = run.state
    if state.get("host") == socket.gethostname():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(state["pid"], signal.SIGTERM)


def follow(run: Run, start: int = 0) -> Iterator[tuple[int, dict]]:
    """Events logged from byte offset `start`, each with the offset after it, so a reader that
    re-attaches (a reopened window) can poll without re-reading the whole log."""
    path = run.folder / PROGRESS
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        handle.seek(start)
        for line in handle:
            if not line.endswith(b"\n"):
                return  # being written; read it next time
            start += len(line)
            with contextlib.suppress(ValueError):
                yield start, json.loads(line)


# -- beyond one machine ---------------------------------------------------------------------------

STRATEGIES = ("ddp", "zero2", "fsdp")


def export_cluster(
    spec: TrainSpec,
    target: Path,
    *,
    strategy: str = "ddp",
    num_processes: int = 8,
    num_machines: int = 1,
    progress: Progress | None = None,
) -> Path:
    """A self-contained folder to train `spec` elsewhere: a small LlamaDesk home holding the base
    model and the corpora, the spec unchanged, an accelerate config and `launch.sh` with the exact
    command. The adapter lands in `home/adapters/<out>/`; `import_trained_adapter` brings it back."""
    from llamadesk.core import library
    from llamadesk.core.corpus import store

    progress = progress or Progress()
    if strategy not in STRATEGIES:
        raise LlamaDeskError(
            _("Choose a strategy among {strategies}, not '{strategy}'.").format(
                strategies=", ".join(STRATEGIES), strategy=strategy
            )
        )
    if num_processes < 1 or num_machines < 1 or num_processes % num_machines:
        raise LlamaDeskError(_("The process count must be a positive multiple of the machine count."))
    target = Path(target).expanduser().resolve()
    if target.exists():
        raise LlamaDeskError(
            _("{target} already exists; choose a new folder for the export.").format(target=target)
        )
    spec = resolve_data(spec, progress.sub(0.0, 0.1))
    if spec.batch_size is None or spec.grad_accum is None:
        # DeepSpeed's config needs the accumulation before the data is read; a cluster's data is
        # large, so the recipe's effective batch (split over the processes) is the plan's choice.
        batch = spec.batch_size or DEFAULT_BATCH
        accum = spec.grad_accum or max(1, plan.RECIPE_EFFECTIVE_BATCH // (batch * num_processes))
        spec = replace(spec, batch_size=batch, grad_accum=accum)
    base = library.get_model(spec.base)
    corpora = [store.get_corpus(c) for c in spec.data]
    with staged_folder(target) as staging:
        home = staging / "home"
        progress(0.1, _("Copying {base}").format(base=base.id))
        model_folder = home / "models" / base.id
        _copy_tree(base.path, model_folder)
        manifest = base.manifest | {"in_place": False}
        manifest.pop("path", None)
        write_json(model_folder / "llamadesk.json", manifest)
        for index, corpus in enumerate(corpora):
            progress(0.8 + 0.15 * index / len(corpora), _("Copying corpus {corpus}").format(corpus=corpus.id))
            _copy_tree(corpus.folder, home / "corpora" / corpus.id)
        spec.save(staging / "spec.json")
        config = accelerate_config(spec, strategy, num_processes, num_machines)
        (staging / "accelerate_config.yaml").write_text(config, encoding="utf-8")
        launch = staging / "launch.sh"
        launch.write_text(launch_script(num_machines), encoding="utf-8")
        launch.chmod(0o755)
        (staging / "README.txt").write_text(_export_readme(spec, strategy, num_machines), encoding="utf-8")
    progress(1.0, _("Exported"))
    return target


LAUNCH_COMMAND = "accelerate launch --config_file accelerate_config.yaml -m llamadesk.train spec.json"


def launch_script(num_machines: int) -> str:
    machines = ""
    if num_machines > 1:
        machines = (
            ' --machine_rank "${MACHINE_RANK:?set MACHINE_RANK (0 on the main node)}"'
            ' --main_process_ip "${MAIN_PROCESS_IP:?set MAIN_PROCESS_IP to the main node}"'
        )
    return (
        "#!/bin/sh\n"
        "# Run on every machine, from any directory. Needs LlamaDesk installed (and deepspeed for zero2).\n"
        "set -e\n"
        'cd "$(dirname "$0")"\n'
        'export LLAMADESK_HOME="$PWD/home"\n'
        f"exec {LAUNCH_COMMAND.replace(' -m ', machines + ' -m ')}\n"
    )


def accelerate_config(spec: TrainSpec, strategy: str, num_processes: int, num_machines: int) -> str:
    """`accelerate launch` settings: bf16 on every GPU, and ZeRO-2 or FSDP where asked. The
    accumulation and clipping match the spec, which DeepSpeed otherwise takes from its own config."""
    import yaml

    config: dict = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": {"ddp": "MULTI_GPU", "zero2": "DEEPSPEED", "fsdp": "FSDP"}[strategy],
        "mixed_precision": "bf16",
        "num_machines": num_machines,
        "num_processes": num_processes,
        "machine_rank": 0,
        "main_process_port": 29500,
        "rdzv_backend": "static",
        "same_network": True,
        "gpu_ids": "all",
        "use_cpu": False,
    }
    if strategy == "zero2":
        config["deepspeed_config"] = {
            "zero_stage": 2,
            "gradient_accumulation_steps": spec.grad_accum,
            "gradient_clipping": spec.max_grad_norm,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "zero3_init_flag": False,
        }
    elif strategy == "fsdp":
        config["fsdp_config"] = {
            "fsdp_version": 1,
            "fsdp_sharding_strategy": "FULL_SHARD",
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_transformer_layer_cls_to_wrap": "LlamaDecoderLayer",
            "fsdp_backward_prefetch": "BACKWARD_PRE",
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",
            "fsdp_use_orig_params": True,  # LoRA mixes frozen and trained parameters in one layer
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_sync_module_states": True,
            "fsdp_offload_params": False,
        }
    return yaml.safe_dump(config, sort_keys=False)


def _export_readme(spec: TrainSpec, strategy: str, num_machines: int) -> str:
    nodes = (
        "On each node set MACHINE_RANK (0 on the main one) and MAIN_PROCESS_IP, then run ./launch.sh.\n"
        if num_machines > 1
        else "Run ./launch.sh.\n"
    )
    return (
        f"LlamaDesk training job: {spec.kind} LoRA of '{spec.base}' into adapter '{spec.out}' "
        f"({strategy}).\n\n"
        f"{nodes}"
        f"The command it runs: {LAUNCH_COMMAND}\n"
        "Edit accelerate_config.yaml for the number of GPUs (num_processes counts all machines).\n\n"
        f"The adapter lands in home/adapters/{spec.out}/. Copy that folder back and import it in LlamaDesk\n"
        f"(`llamadesk runs import-adapter FOLDER`); the curves are in home/runs/*/progress.jsonl.\n"
    )


def _copy_tree(src: Path, dst: Path) -> None:
    """Hard links where the file system allows (a 14 GB model exports in a second), else copies."""

    def link_or_copy(source: str, destination: str) -> None:
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)

    shutil.copytree(src, dst, copy_function=link_or_copy)


def import_trained_adapter(folder: Path, name: str | None = None, progress: Progress | None = None):
    """Register an adapter trained elsewhere by LlamaDesk (its folder with llamadesk.json), keeping
    its training record; the base is found by its weights hash, whatever it is called here."""
    from llamadesk.core import adapters, library

    folder = Path(folder).expanduser().resolve()
    try:
        manifest = json.loads((folder / adapters.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NotFoundError(
            _(
                "{folder} holds no LlamaDesk training record ({manifest}); import it as a "
                "plain PEFT adapter instead."
            ).format(folder=folder, manifest=adapters.MANIFEST)
        ) from exc
    wanted = manifest.get("base_sha256")
    bases = [m for m in library.list_models() if wanted and m.manifest.get("sha256") == wanted]
    if not bases:
        raise NotFoundError(
            _(
                "The base this adapter was trained on ('{base}') is not in the library; "
                "import that model first."
            ).format(base=manifest.get("base_id"))
        )
    wanted_files = (adapters.ADAPTER_CONFIG, adapters.ADAPTER_WEIGHTS, "README.md", *adapters.TOKENIZER_FILES)
    copied = [folder / n for n in wanted_files if (folder / n).is_file()]

    def build(staging: Path, step: Progress) -> None:
        for index, path in enumerate(copied):
            step(index / len(copied), _("Copying {path}").format(path=path.name))
            shutil.copy2(path, staging / path.name)

    kept = {k: v for k, v in manifest.items() if k not in ("id", "created", "base_id", "base_sha256")}
    adapter_id = name or manifest.get("id") or folder.name
    return adapters.register_adapter(adapter_id, build, kept, bases[0], progress)
