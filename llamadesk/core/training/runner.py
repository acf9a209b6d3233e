"""The training loop: LoRA on a library model, one process or many, with exact resume.

A hand-written loop on accelerate's `Accelerator` (not HF's Trainer), so the same code runs alone
on a laptop's CPU and unchanged under `accelerate launch` on many GPUs (DDP, ZeRO-2 or FSDP from
the launch config). Only the main process logs, checkpoints and registers; anything that must be
decided once (the run's id, a memory refusal, the tokenized data) is decided there and shared.

Exactness of resume rests on three things: example order is a pure function of (seed, epoch, step)
(see `data.epoch_order`), every RNG state (python, numpy, torch, CUDA) is saved with the
optimizer and scheduler in each checkpoint, and a step is never cut in half: a cancel noticed inside
a step (between micro-batches, or in a layer's forward or backward pass) abandons it and checkpoints
the step before, with the random state as that step left it, so resuming redoes the abandoned step
exactly. One process stops within a layer's time; many agree between optimizer steps (a process that
stopped alone would leave the others waiting in a collective).

How many examples make a step is chosen from the data (`plan.plan_steps`). When the run ends it
measures whether it learnt (`learn`, below): the teacher-forced loss (SFT: the answer tokens in the
model's chat template) on training and validation examples with the adapter off (the base: LoRA starts
at zero) and on, and greedy sample answers from both. The run's state.json keeps it as "learn".

Events go to `emit` (the CLI prints them as JSON lines) and to runs/<id>/progress.jsonl:
  prepare     fraction, message (tokenizing; at most twice a second)
  start       run_id, total_steps, start_step, steps_per_epoch, examples, validation_examples,
              processes, device, memory (the estimate), adapter, note (how the data was split,
              when not as the corpus says; else null), plan (plan.StepPlan.to_json(): batch,
              accumulation, effective batch, warm-up, warnings as {code, message})
  step        step, total_steps, epoch, loss, lr, tokens_per_s, eta_s, rss_bytes (+ gpu_bytes)
  eval        step, eval_loss
  checkpoint  step, path
  learn       measuring: the answers are being compared (before "done"; can take a minute)
  done        step, adapter_id, final_loss, final_eval_loss, learn (see `_Learning.report`)
  cancelled   step, checkpoint (the step it can resume from)
  error       message (also when refused before the run exists: run_id is then null)
Every event also carries event, run_id, state and time."""

import contextlib
import itertools
import json
import logging
import math
import random
import re
import signal
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadesk.core import disk, library, paths
from llamadesk.core.atomic import clean_stale_staging, remove_folder, staged_folder, write_json
from llamadesk.core.errors import AlreadyExistsError, Cancelled, LlamaDeskError, NotFoundError, ResourceError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress
from llamadesk.core.training import data, memory, plan, runs
from llamadesk.core.training.spec import SpecError, TrainSpec

log = logging.getLogger(__name__)

EXIT_DONE = 0
EXIT_CANCELLED = 3  # stopped on request; a checkpoint was written and the run can be resumed
TRAINABLE_FILE = "trainable.safetensors"
TRAINER_STATE = "trainer_state.json"
FINAL_LOSS_WINDOW = 10  # steps averaged for the manifest's final_loss: one step's loss is noisy
CANCEL_POLL_S = 0.2  # how often the run's cancel file is looked for
# Examples per split whose loss the learn report compares: the first LEARN_EXAMPLES, or fewer when
# they pass LEARN_TOKENS (pre-training blocks are long): enough to tell, and quick.
LEARN_EXAMPLES = 32
LEARN_TOKENS = 4096
SAMPLES = 2  # sample answers, base vs adapter, in the learn report
SAMPLE_TOKENS = 48  # greedy tokens per sample answer
PT_PROMPT_TOKENS = 32  # pre-training samples continue the first tokens of a block

Emit = Callable[[dict], None]


class RunFailed(LlamaDeskError):
    """A run stopped for a reason the user can act on; the message says how to continue."""


class _Stopped(Exception):
    """Cancel noticed inside a forward or backward pass, or between micro-batches: the work under
    way is abandoned, and `_Job` keeps the last completed step."""


def train(
    spec: TrainSpec | None = None,
    run_id: str | None = None,
    *,
    force: bool = False,
    emit: Emit | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Run a new job (`spec`) or continue one (`run_id`, from its last checkpoint, or from the
    start when it has none). Return EXIT_DONE or EXIT_CANCELLED; raise LlamaDeskError for anything
    the user can fix (also logged as an "error" event): BusyError, before anything of the run is
    read or written, when another process trains it; a full disk as one sentence, the last complete
    checkpoint kept. `force` skips the memory check."""
    if (spec is None) == (run_id is None):
        raise ValueError("give a spec or a run id")
    if spec is None:
        spec = runs.get_run(run_id).spec
    accelerator = _accelerator(spec)
    main = accelerator.is_main_process
    try:
        with contextlib.ExitStack() as held:  # the run's lock, from before it is touched to the end
            try:
                run, estimate, room = _decide(accelerator, lambda: _prepare(spec, run_id, force, held))
            except LlamaDeskError as exc:
                if emit is not None and main:  # no run folder yet: the reader still gets its event
                    emit({"event": "error", "run_id": run_id, "state": "failed", "message": str(exc)})
                raise
            sink = _EventSink(run, emit if main else None, main)
            with _CancelWatch(run, cancel) as watch:
                return _Job(accelerator, run, run.spec, sink, watch, room).execute(estimate)
    finally:
        _release(accelerator)


def _prepare(
    spec: TrainSpec, run_id: str | None, force: bool, held: contextlib.ExitStack
) -> tuple[runs.Run, dict, "_Room"]:
    """Everything refused before a run starts (and before a new run's folder is made): a run that
    another process trains or that is finished, a missing base, a taken adapter name, a job too big
    for memory, a disk without room for a checkpoint and the adapter. The run's lock is taken into
    `held` first, so a second process is refused before it reads or writes anything of the run."""
    run = runs.get_run(run_id) if run_id is not None else None
    if run is not None:
        held.enter_context(runs.training(run))
        if run.status != "done" and _registered_by(run, spec.out):
            # Killed after registering its adapter and before saying so: the adapter is its result.
            runs.write_state(run, state="done", step=run.state.get("total_steps"), adapter_id=spec.out)
            run = runs.get_run(run.id)
        if run.status == "done":
            raise LlamaDeskError(
                _("Run '{run}' is finished; its adapter is '{adapter}'.").format(
                    run=run.id, adapter=run.state.get("adapter_id")
                )
            )
    base = library.get_model(spec.base)
    if (paths.adapters_dir() / spec.out).exists():
        raise AlreadyExistsError(
            _("An adapter named '{out}' already exists; choose another name.").format(out=spec.out)
        )
    context = base.context_length
    if context and spec.block_size > context:
        raise SpecError(
            _(
                "The block size {block_size} is longer than '{base}' can attend to "
                "({context} tokens); choose at most {context}."
            ).format(block_size=spec.block_size, base=base.id, context=context)
        )
    device = memory.compute_device()
    if force:
        estimate = memory.estimate(spec, base.config, device)
    else:
        estimate = memory.check_fits(spec, base.config, device)
    room = _Room(runs.checkpoint_bytes(spec, base.config), estimate.trainable)
    disk.ensure_room(paths.runs_dir(), room.checkpoint + room.adapter)
    if run is None:
        run = runs.create_run(spec)
        held.enter_context(runs.training(run))
    return run, estimate.to_json(), room


def _registered_by(run: runs.Run, adapter_id: str) -> bool:
    """Whether the library's adapter `adapter_id` is the one this run trained."""
    from llamadesk.core import adapters

    try:
        return adapters.get_adapter(adapter_id).manifest.get("run_id") == run.id
    except LlamaDeskError:  # none, or damaged: not a finished result to record
        return False


@dataclass(frozen=True)
class _Room:
    """Disk space the run writes, in bytes: each checkpoint (trainable weights and the optimizer's
    moments), and the adapter at the end (the trainable weights once more)."""

    checkpoint: int
    adapter: int


def _accelerator(spec: TrainSpec) -> Any:
    import os

    import torch
    from accelerate import Accelerator

    cuda = torch.cuda.is_available()
    if "ACCELERATE_MIXED_PRECISION" in os.environ and spec.precision == "auto":
        precision = None  # `accelerate launch` was given a config: it decides
    elif spec.precision == "bf16" or (spec.precision == "auto" and cuda and torch.cuda.is_bf16_supported()):
        precision = "bf16"
    else:
        precision = "no"
    # The scheduler steps once per optimizer step here; accelerate's default would step it once
    # per process, making the schedule depend on how many processes run.
    return Accelerator(
        cpu=not cuda,
        mixed_precision=precision,
        gradient_accumulation_steps=spec.grad_accum or 1,  # None: set once the data is counted
        step_scheduler_with_optimizer=False,
    )


def _release(accelerator: Any) -> None:
    """Forget accelerate's process-wide state, so the next job in this process starts clean."""
    from accelerate.state import AcceleratorState, GradientState

    accelerator.free_memory()
    if accelerator.num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def _decide(accelerator: Any, decide: Callable[[], Any]) -> Any:
    """Run `decide` on the main process only and give every process its result, or its error:
    a refusal on the main process must stop the others too, not leave them waiting."""
    if accelerator.num_processes == 1:
        return decide()
    from accelerate.utils import broadcast_object_list

    box: list[Any] = [None]
    if accelerator.is_main_process:
        try:
            box[0] = ("ok", decide())
        except LlamaDeskError as exc:
            box[0] = ("error", exc)
        except Exception as exc:  # noqa: BLE001 - re-raised on every process below
            box[0] = ("error", RunFailed(_("The main process failed: {exc}").format(exc=exc)))
    broadcast_object_list(box)
    outcome, value = box[0]
    if outcome == "error":
        raise value
    return value


class _EventSink:
    """Events to the log file (main process) and to `emit`; a closed stdout (the window that
    started the job went away) stops the echo, never the job."""

    def __init__(self, run: runs.Run, emit: Emit | None, main: bool) -> None:
        self.run, self._emit, self._main = run, emit, main

    def __call__(self, event: str, **fields: Any) -> None:
        if self._main:
            record = self._record(event, fields)
            runs.append_event(self.run, record)
            self._echo(record)

    def last_words(self, event: str, **fields: Any) -> None:
        """An event the run's log may no longer take (the disk is full): echoed all the same."""
        if self._main:
            record = self._record(event, fields)
            with contextlib.suppress(OSError):
                runs.append_event(self.run, record)
            self._echo(record)

    def _record(self, event: str, fields: dict) -> dict:
        record = {"event": event, "run_id": self.run.id} | fields
        record.setdefault("state", "running")
        record["time"] = round(time.time(), 3)
        return record

    def _echo(self, record: dict) -> None:
        if self._emit is not None:
            try:
                self._emit(record)
            except OSError:  # BrokenPipeError and friends: nobody is reading any more
                self._emit = None


class _CancelWatch:
    """Cancel requests from SIGTERM/SIGINT, the run's cancel file, or a threading.Event, all turned
    into `event`: a thread looks for the file, so the per-layer check is a flag read, and a cancel
    from another machine (the file alone) is seen during preparation too. A second Ctrl-C
    interrupts at once (the last checkpoint stays)."""

    def __init__(self, run: runs.Run, cancel: threading.Event | None) -> None:
        self.run = run
        self.event = cancel or threading.Event()
        self._previous: dict[int, Any] = {}
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="cancel-file", daemon=True)

    def __enter__(self) -> "_CancelWatch":
        with contextlib.suppress(FileNotFoundError):
            (self.run.folder / runs.CANCEL).unlink()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        self._poller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._poller.join()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        with contextlib.suppress(FileNotFoundError):
            (self.run.folder / runs.CANCEL).unlink()

    def _poll(self) -> None:
        while not self._closed.wait(CANCEL_POLL_S):
            if (self.run.folder / runs.CANCEL).exists():
                self.event.set()
                return

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def requested(self) -> bool:
        if (self.run.folder / runs.CANCEL).exists():
            self.event.set()
        return self.event.is_set()


class _Job:
    def __init__(
        self,
        accelerator: Any,
        run: runs.Run,
        spec: TrainSpec,
        sink: _EventSink,
        watch: _CancelWatch,
        room: _Room,
    ) -> None:
        self.acc, self.run, self.spec, self.emit, self.watch = accelerator, run, spec, sink, watch
        self.room = room
        self.main = accelerator.is_main_process
        self.recent_losses: deque[float] = deque(maxlen=FINAL_LOSS_WINDOW)
        self.last_eval_loss: float | None = None

    # -- the whole job ---------------------------------------------------------------------------

    def execute(self, estimate: dict) -> int:
        try:
            return self._run(estimate)
        except Cancelled:
            if self.main:
                runs.write_state(self.run, state="cancelled")
            self.emit("cancelled", step=0, checkpoint=None, state="cancelled")
            return EXIT_CANCELLED
        except LlamaDeskError as exc:
            self._fail(str(exc))
            raise
        except KeyboardInterrupt:
            self._fail("Interrupted; resume from the last checkpoint.")
            raise
        except Exception as exc:
            if disk.is_disk_full(exc):  # a log line, the token data, a checkpoint's own error
                error = runs.disk_full_error(self.run, self.room.checkpoint)
                self._fail(str(error))
                raise error from exc
            log.exception("training run %s failed", self.run.id)
            self._fail(f"Unexpected error ({type(exc).__name__}: {exc}); the log has the details.")
            raise

    def _fail(self, message: str) -> None:
        """Record the failure where the disk still allows: on a full one the state may stay
        "running", which reads as interrupted once this process is gone; resumable either way."""
        if self.main:
            self.emit.last_words("error", message=message, state="failed")
            with contextlib.suppress(OSError):
                runs.write_state(self.run, state="failed", message=message)

    def _run(self, estimate: dict) -> int:
        spec = self.spec
        base = library.get_model(spec.base)
        self.base_sha = base.manifest.get("sha256")
        if self.main:
            clean_stale_staging(self.run.checkpoints_dir)
            runs.write_state(self.run, state="running", message=None, **runs.process_identity())
        tokenizer = self._tokenizer(base)
        tokens = self._token_data(tokenizer)
        self.train_set, self.eval_set = tokens.train, tokens.validation
        self.data_summary = tokens.summary
        world = self.acc.num_processes
        self.plan = plan.plan_steps(spec, len(self.train_set), processes=world)
        self.batch, self.accum = self.plan.batch_size, self.plan.grad_accum
        self.acc.gradient_accumulation_steps = self.accum
        self.per_step = self.plan.effective_batch  # examples per optimizer step
        self.steps_per_epoch = self.plan.steps_per_epoch
        self.total = self.plan.total_steps
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # The figure shown is for the sequences this data has (SFT answers are mostly far shorter
        # than the block) and the batch chosen for it; the check before the run had to assume both.
        longest = int(max(self.train_set.offsets[1:] - self.train_set.offsets[:-1]))
        estimate = memory.estimate(
            spec, base.config, memory.compute_device(), batch=self.batch, sequence=longest
        ).to_json() | {"available": estimate.get("available")}

        model, optimizer, scheduler = self._build(base, tokenizer)
        start = self._restore()
        self.completed = start  # the last optimizer step done in full: what a cancel keeps
        self.emit(
            "start",
            total_steps=self.total,
            start_step=start,
            steps_per_epoch=self.steps_per_epoch,
            examples=len(self.train_set),
            validation_examples=len(self.eval_set) if self.eval_set is not None else 0,
            processes=world,
            device=str(self.acc.device),
            memory=estimate,
            adapter=spec.out,
            note=data.split_note(self.data_summary),
            plan=self.plan.to_json(),
        )
        if self.main:
            runs.write_state(self.run, total_steps=self.total, step=start)
        try:
            learn = self._train_and_measure(model, optimizer, scheduler, tokenizer, start)
        except _Stopped:
            return self._stop_midway()
        if learn is None:  # cancelled between steps
            return EXIT_CANCELLED
        # Gathered on every process (a collective under FSDP and ZeRO-3), saved by the main one.
        state_dict = self.acc.get_state_dict(model)
        adapter_id = _decide(self.acc, lambda: self._register(model, state_dict, tokenizer, base.id))
        final_loss = self._final_loss()
        if self.main:
            runs.write_state(self.run, state="done", step=self.total, adapter_id=adapter_id, learn=learn)
        self.emit(
            "done",
            step=self.total,
            total_steps=self.total,
            adapter_id=adapter_id,
            final_loss=final_loss,
            final_eval_loss=self.last_eval_loss,
            learn=learn,
            state="done",
        )
        return EXIT_DONE

    def _train_and_measure(
        self, model: Any, optimizer: Any, scheduler: Any, tokenizer: Any, start: int
    ) -> dict | None:
        """The steps from `start` on, then the learn report; None when cancelled between steps.
        _Stopped from inside a step or a measurement, with `self.completed` the last whole step."""
        spec = self.spec
        for step in range(start + 1, self.total + 1):
            # Accelerate counts micro-batches (its checkpoints keep the count) to know which one
            # ends an accumulation: an abandoned step must not leave its micro-batches counted.
            self._before_step = (_rng_state(), self.acc.step)
            self._step(model, optimizer, scheduler, step)
            self.completed = step
            cancelled = self._agree(self.watch.requested())
            if step % spec.eval_every == 0 or step == self.total:
                self._evaluate(model, step)
            if step % spec.save_every == 0 or step == self.total or cancelled:
                self._checkpoint(step)
            if cancelled and step < self.total:
                self._record_cancel(step)
                return None
        if start >= self.total and self.last_eval_loss is None and self.eval_set is not None:
            self._evaluate(model, self.total)
        self.emit("learn", step=self.total, total_steps=self.total)
        return _Learning(self, model, tokenizer).report()

    def _stop_midway(self) -> int:
        """A cancel inside a step: the model and optimizer are still as the last whole step left
        them (the optimizer steps only after the last micro-batch), so that step is checkpointed,
        with the random state and micro-batch count it ended with, and the run resumes by redoing
        the abandoned one."""
        if self.completed > 0:
            if self.completed < self.total:  # the final step was checkpointed as it ended
                rng, self.acc.step = self._before_step
                _set_rng_state(rng)
            self._checkpoint(self.completed)
        self._record_cancel(self.completed)
        return EXIT_CANCELLED

    def _record_cancel(self, step: int) -> None:
        checkpoint = step if step > 0 else None
        if self.main:
            runs.write_state(self.run, state="cancelled", step=step)
        self.emit("cancelled", step=step, total_steps=self.total, checkpoint=checkpoint, state="cancelled")

    # -- before the loop ---------------------------------------------------------------------------

    def _tokenizer(self, base: library.ModelEntry) -> Any:
        from transformers import AutoTokenizer

        folder = self.run.tokenizer_dir
        if self.spec.extend_vocab:
            _decide(self.acc, lambda: folder.is_dir() or self._extend_vocabulary(base))
            return AutoTokenizer.from_pretrained(folder)
        return AutoTokenizer.from_pretrained(base.path)

    def _extend_vocabulary(self, base: library.ModelEntry) -> bool:
        from transformers import AutoTokenizer

        from llamadesk.core.corpus import store

        tokenizer = AutoTokenizer.from_pretrained(base.path)
        texts = (t for c in self.spec.data for t in store.get_corpus(c).iter_texts("train"))
        added = data.extend_vocabulary(tokenizer, texts, self.spec.extend_vocab)
        with staged_folder(self.run.tokenizer_dir) as staging:
            tokenizer.save_pretrained(staging)
        log.info("vocabulary extended by %d tokens", len(added))
        return True

    def _token_data(self, tokenizer: Any) -> data.TokenData:
        from llamadesk.core.corpus import store

        def build() -> bool:
            if not self.run.data_dir.is_dir():
                corpora = [store.get_corpus(c) for c in self.spec.data]
                data.build_token_data(self.spec, corpora, tokenizer, self.run.data_dir, self._progress())
            return True

        _decide(self.acc, build)
        return data.load_token_data(self.run.data_dir)

    def _progress(self) -> Progress:
        """Preparation progress as "prepare" events (twice a second at most); cancel works here too."""
        last = [0.0]

        def report(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5:
                last[0] = now
                self.emit("prepare", fraction=round(fraction, 3), message=message)

        return Progress(report, self.watch.event)

    def _build(self, base: library.ModelEntry, tokenizer: Any) -> tuple[Any, Any, Any]:
        import torch
        from accelerate.utils import set_seed
        from peft import LoraConfig, get_peft_model
        from transformers import get_cosine_schedule_with_warmup

        spec = self.spec
        set_seed(spec.seed)  # LoRA's random init (and new embedding rows) the same in every process
        # Frozen weights in bf16 under bf16 mixed precision (LoRA stays fp32: PEFT upcasts it).
        dtype = torch.bfloat16 if self.acc.mixed_precision == "bf16" else torch.float32
        try:
            # A GGUF base is dequantised in memory for this run only, to the compute dtype.
            model = library.load_causal_lm(base, dtype, Progress(cancel=self.watch.event))
        except OSError as exc:
            raise NotFoundError(
                _("The base model '{base}' cannot be read any more ({exc}).").format(base=base.id, exc=exc)
            ) from exc
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        model.config.use_cache = False
        if spec.gradient_checkpointing:
            model.activation_checkpointing_enable()
        config = LoraConfig(
            r=spec.rank,
            lora_alpha=spec.alpha,
            lora_dropout=spec.dropout,
            target_modules=spec.target_modules,
            modules_to_save=spec.trained_modules_to_save or None,
            task_type="CAUSAL_LM",
            bias="none",
        )
        try:
            with warnings.catch_warnings():
                # PEFT asks the model about checkpointing by the name transformers v5 deprecated.
                warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
                model = get_peft_model(model, config)
        except ValueError as exc:
            raise RunFailed(
                _("LoRA cannot be applied to '{base}' as asked: {exc}").format(base=base.id, exc=exc)
            ) from exc
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=spec.lr, weight_decay=spec.weight_decay)
        scheduler = get_cosine_schedule_with_warmup(optimizer, self.plan.warmup_steps, self.total)
        model, optimizer, scheduler = self.acc.prepare(model, optimizer, scheduler)
        if self.acc.num_processes == 1:
            self._watch_layers(model)
        self.acc.register_save_state_pre_hook(self._save_trainable)
        self.acc.register_load_state_pre_hook(self._load_trainable)
        model.train()
        return model, optimizer, scheduler

    def _save_trainable(self, models: list, weights: list, output_dir: str) -> None:
        """Checkpoint only what trains (LoRA, modules_to_save), not the frozen base: megabytes, not
        gigabytes. Under FSDP/DeepSpeed `weights` is empty and they save their own shards."""
        if not weights:
            return
        weights.clear()
        if self.main:
            from safetensors.torch import save_file

            model = self.acc.unwrap_model(models[0])
            tensors = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
            save_file(tensors, str(Path(output_dir) / TRAINABLE_FILE))

    def _load_trainable(self, models: list, input_dir: str) -> None:
        path = Path(input_dir) / TRAINABLE_FILE
        if not models or not path.is_file():
            return
        import torch
        from safetensors.torch import load_file

        model = self.acc.unwrap_model(models[0])
        saved = load_file(str(path))
        expected = {n for n, p in model.named_parameters() if p.requires_grad}
        if set(saved) != expected:
            raise RunFailed(
                _("The checkpoint in {name} does not match this run's model.").format(
                    name=Path(input_dir).name
                )
            )
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in saved:
                    parameter.copy_(saved[name])
        models.clear()

    def _restore(self) -> int:
        """Load the last checkpoint, if any; return the number of steps already done."""
        last = self.run.last_checkpoint()
        if last is None:
            return 0
        step, folder = last
        self.acc.load_state(str(folder))
        state = json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))
        self.recent_losses.extend(state.get("recent_losses", []))
        self.last_eval_loss = state.get("last_eval_loss")
        return step

    # -- the loop ------------------------------------------------------------------------------------

    def _examples(self, step: int, micro: int) -> list[tuple[Any, Any]]:
        """This process's share of micro-batch `micro` of optimizer step `step` (1-based).

        The global order is fixed by (seed, epoch); a global step covers `per_step` consecutive
        examples of it, dealt out micro-batch by micro-batch and process by process. So one process
        with batch 2b and two with batch b see the same examples per step. An epoch that does not
        divide evenly wraps around to its own start, keeping every batch full."""
        n = len(self.train_set)
        epoch, within = divmod(step - 1, self.steps_per_epoch)
        order = self._order(epoch)
        batch = self.batch
        first = within * self.per_step + (micro * self.acc.num_processes + self.acc.process_index) * batch
        return [self.train_set.example(int(order[(first + j) % n])) for j in range(batch)]

    def _order(self, epoch: int) -> Any:
        if getattr(self, "_order_epoch", None) != epoch:
            self._order_cache = data.epoch_order(len(self.train_set), self.spec.seed, epoch)
            self._order_epoch = epoch
        return self._order_cache

    def _step(self, model: Any, optimizer: Any, scheduler: Any, step: int) -> None:
        import torch

        started = time.perf_counter()
        lr = scheduler.get_last_lr()[0]  # the rate this step uses (the scheduler moves on after it)
        losses, tokens = [], 0
        for micro in range(self.accum):
            self._check_cancel()
            batch = data.collate(self._examples(step, micro), self.pad_id)
            batch = {k: v.to(self.acc.device) for k, v in batch.items()}
            tokens += int(batch["attention_mask"].sum())
            with self.acc.accumulate(model):
                loss = model(**batch).loss
                self.acc.backward(loss)
                losses.append(loss.detach().float())
                # A loss kept alive keeps its graph alive through the next forward pass: on the
                # starter model that raised each step's peak RSS by ~190 MiB (as measured).
                del loss, batch
                if self.acc.sync_gradients:
                    self.acc.clip_grad_norm_(model.parameters(), self.spec.max_grad_norm)
                optimizer.step()
                if self.acc.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
        step_loss = self.acc.reduce(torch.stack(losses).mean(), reduction="mean").item()
        tokens = int(self.acc.reduce(torch.tensor(tokens, device=self.acc.device), reduction="sum").item())
        if not math.isfinite(step_loss):
            raise RunFailed(
                _("The loss became {step_loss} at step {step}; lower the learning rate (now {lr:g}).").format(
                    step_loss=step_loss, step=step, lr=self.spec.lr
                )
            )
        self.recent_losses.append(step_loss)
        elapsed = time.perf_counter() - started
        self._timing(elapsed)
        self.emit(
            "step",
            step=step,
            total_steps=self.total,
            epoch=round(step / self.steps_per_epoch, 4),
            loss=step_loss,
            lr=lr,
            tokens_per_s=round(tokens / elapsed, 1) if elapsed > 0 else None,
            eta_s=round(self._mean_step_time * (self.total - step), 1),
            **_memory_use(),
        )

    def _timing(self, elapsed: float) -> None:
        """Mean step time over this attempt, for the ETA (the first steps include warm-up)."""
        self._times = getattr(self, "_times", deque(maxlen=50))
        self._times.append(elapsed)
        self._mean_step_time = sum(self._times) / len(self._times)

    def _agree(self, flag: bool) -> bool:
        """True on every process when any one saw it (a signal may reach only some)."""
        if self.acc.num_processes == 1:
            return flag
        import torch

        return bool(self.acc.reduce(torch.tensor(int(flag), device=self.acc.device), reduction="sum").item())

    def _evaluate(self, model: Any, step: int) -> None:
        """Token-weighted mean loss on the validation examples, shared out between processes."""
        if self.eval_set is None:
            return
        loss = self.mean_loss(model, self.eval_set, len(self.eval_set))
        if loss is not None:
            self.last_eval_loss = loss
            self.emit("eval", step=step, total_steps=self.total, eval_loss=self.last_eval_loss)

    def mean_loss(self, model: Any, examples: data.ExampleSet, count: int) -> float | None:
        """Token-weighted mean loss on the first `count` of `examples`, shared out between
        processes; None when they hold no labelled token."""
        import torch

        model.eval()
        total = torch.zeros(2, dtype=torch.float64, device=self.acc.device)  # (loss sum, tokens)
        # Every process runs as many batches (FSDP gathers weights in each forward, so a process
        # that stopped early would hang the others): past the end, example 0 fills in with every
        # label masked, so it adds nothing to the loss.
        world, size = self.acc.num_processes, self.batch
        indices = [self.acc.process_index + world * i for i in range(math.ceil(count / world))]
        try:
            with torch.no_grad():
                for start in range(0, len(indices), size):
                    chosen = [_example_or_nothing(examples, i, count) for i in indices[start : start + size]]
                    batch = {k: v.to(self.acc.device) for k, v in data.collate(chosen, self.pad_id).items()}
                    loss = model(**batch).loss.double()
                    counted = int((batch["labels"][:, 1:] != data.IGNORE_INDEX).sum())
                    if counted:
                        total[0] += loss * counted
                        total[1] += counted
        finally:
            model.train()
        total = self.acc.reduce(total, reduction="sum")
        return (total[0] / total[1]).item() if total[1] > 0 else None

    # -- cancel inside a step -----------------------------------------------------------------------

    def _check_cancel(self) -> None:
        """Stop the work under way when asked. One process only: many stop together, between steps."""
        if self.acc.num_processes == 1 and self.watch.event.is_set():
            raise _Stopped

    def _watch_layers(self, model: Any) -> None:
        """A cancel check as each decoder layer starts its forward pass and, through a hook on its
        output, its backward pass: a step on a big model takes minutes, a layer seconds at most."""

        def check_backward(grad: Any) -> None:
            self._check_cancel()

        def before(_module: Any, _args: Any) -> None:
            self._check_cancel()

        def after(_module: Any, _args: Any, output: Any) -> None:
            hidden = output[0] if isinstance(output, tuple) else output
            if getattr(hidden, "requires_grad", False):
                hidden.register_hook(check_backward)

        for name, module in self.acc.unwrap_model(model).named_modules():
            if re.fullmatch(r".*\.layers\.\d+", name):
                module.register_forward_pre_hook(before)
                module.register_forward_hook(after)

    # -- checkpoints ----------------------------------------------------------------------------------

    def _checkpoint(self, step: int) -> None:
        """Write checkpoints/step-N/ complete or not at all (staged, then renamed), then drop the
        oldest beyond keep_checkpoints. A failed write (disk full) leaves earlier ones untouched."""
        target = self.run.checkpoints_dir / f"{runs.CHECKPOINT_PREFIX}{step}"
        if target.is_dir():
            return
        with contextlib.ExitStack() as stack:
            failure: Exception | None = None
            full = False
            try:
                staging = stack.enter_context(staged_folder(target)) if self.main else None
                staging = _decide_value(self.acc, staging)
                self.acc.save_state(str(staging))
                if self.main:
                    write_json(
                        Path(staging) / TRAINER_STATE,
                        {
                            "step": step,
                            "total_steps": self.total,
                            "recent_losses": list(self.recent_losses),
                            "last_eval_loss": self.last_eval_loss,
                        },
                    )
            except Exception as exc:  # noqa: BLE001 - every process must hear of it, below
                failure = exc
                # torch.save reports a full disk only as a failed write: the free space tells.
                full = disk.is_disk_full(exc) or disk.free_bytes(self.run.folder) < self.room.checkpoint
            if self._agree(failure is not None):
                if full:  # unwinding removes the staging folder first
                    raise runs.disk_full_error(self.run, self.room.checkpoint) from failure
                if failure is None or isinstance(failure, OSError):
                    raise self._checkpoint_error(step, failure)
                raise failure  # a fault of ours, not the disk's: the log gets its traceback
            self.acc.wait_for_everyone()
        if self.main:
            for _old_step, folder in self.run.checkpoints()[: -self.spec.keep_checkpoints]:
                remove_folder(folder)
            runs.write_state(self.run, step=step)
            self.emit("checkpoint", step=step, total_steps=self.total, path=str(target))

    def _checkpoint_error(self, step: int, failure: Exception | None) -> ResourceError:
        """A checkpoint write that failed for a reason other than a full disk (a full one is said by
        runs.disk_full_error): on another process, or one the OS names."""
        last = self.run.last_checkpoint()
        kept = (
            _("the last good one is step {step}").format(step=last[0])
            if last
            else _("there is no earlier checkpoint")
        )
        reason = failure.strerror if isinstance(failure, OSError) and failure.strerror else failure
        error = ResourceError(
            _(
                "Saving the checkpoint at step {step} failed ({reason}); {kept}: fix this and "
                "continue with `llamadesk train --resume {run_id}`."
            ).format(step=step, reason=reason or _("on another process"), kept=kept, run_id=self.run.id)
        )
        error.__cause__ = failure
        return error

    # -- the end ---------------------------------------------------------------------------------------

    def _final_loss(self) -> float | None:
        return sum(self.recent_losses) / len(self.recent_losses) if self.recent_losses else None

    def _register(self, model: Any, state_dict: dict, tokenizer: Any, base_id: str) -> str:
        """Put the adapter in the library. The base is looked up again: it may have been removed
        or replaced while training ran, and an adapter must never name the wrong base."""
        from llamadesk.core import adapters

        resume = f"`llamadesk train --resume {self.run.id}`"
        try:
            base = library.get_model(base_id)
        except NotFoundError as exc:
            raise RunFailed(
                _(
                    "The base model '{base_id}' was removed from the library during "
                    "training, so the adapter was not registered; its weights are kept in "
                    "the run's last checkpoint. Import the model again as '{base_id}' and "
                    "run {resume}."
                ).format(base_id=base_id, resume=resume)
            ) from exc
        if base.manifest.get("sha256") != self.base_sha:
            raise RunFailed(
                _(
                    "The model '{base_id}' was replaced during training, so the adapter was "
                    "not registered; restore the original model and run {resume}."
                ).format(base_id=base_id, resume=resume)
            )
        unwrapped = self.acc.unwrap_model(model)
        extended = bool(self.spec.extend_vocab)

        def build(folder: Path, progress: Progress) -> None:
            # With a grown vocabulary the resized embedding rows must travel with the adapter.
            unwrapped.save_pretrained(
                str(folder), state_dict=state_dict, safe_serialization=True, save_embedding_layers=extended
            )
            if extended:
                tokenizer.save_pretrained(folder)

        manifest = {
            "kind": self.spec.kind,
            "source": "trained",
            "run_id": self.run.id,
            "rank": self.spec.rank,
            "alpha": self.spec.alpha,
            "dropout": self.spec.dropout,
            "target_modules": self.spec.target_modules,
            "modules_to_save": self.spec.trained_modules_to_save,
            "data_summary": self.data_summary,
            "hyperparameters": self.spec.hyperparameters() | {"total_steps": self.total},
            "final_loss": self._final_loss(),
            "final_eval_loss": self.last_eval_loss,
            "vocab_added": len(tokenizer) - base.config.get("vocab_size", len(tokenizer)) if extended else 0,
        }
        try:
            entry = adapters.register_adapter(self.spec.out, build, manifest, base, Progress())
        except Exception as exc:
            if disk.is_disk_full(exc):  # the adapter's staging folder is gone: nothing half-made
                raise runs.disk_full_error(self.run, self.room.adapter) from exc
            if not isinstance(exc, LlamaDeskError):
                raise
            raise RunFailed(
                _(
                    "{exc} The trained weights are kept in the run's last checkpoint: fix "
                    "this and run {resume}."
                ).format(exc=exc, resume=resume)
            ) from exc
        return entry.id


class _Learning:
    """Whether the run learnt what it was given, measured once training ends: the base is the
    model with the adapter switched off (LoRA's B matrices start at zero, so that is exactly where
    training began), measured on the same examples as the trained model. `report()` is what the
    run's state.json keeps as "learn" and the "done" event carries:

      train_loss        {"before", "after"}: mean loss per labelled token on the first
                        LEARN_EXAMPLES training examples (SFT: the answers, in the chat template)
      validation_loss   the same on the validation examples, or null when there are none
      examples          {"train", "validation"}: how many examples each figure covers
      samples           [{"prompt", "reference", "base", "adapter"}]: greedy answers (SFT) or
                        continuations (pre-training) of the first training examples; empty when
                        the run has several processes"""

    def __init__(self, job: "_Job", model: Any, tokenizer: Any) -> None:
        self.job, self.model, self.tokenizer = job, model, tokenizer
        self.peft = job.acc.unwrap_model(model)

    def report(self) -> dict:
        job = self.job
        counts = {
            "train": _measured(job.train_set),
            "validation": _measured(job.eval_set) if job.eval_set is not None else 0,
        }
        prompts = self._prompts() if job.acc.num_processes == 1 else []
        with self.peft.disable_adapter():
            before = self._losses(counts)
            base_answers = [self._answer(ids) for _text, ids, _reference in prompts]
        after = self._losses(counts)
        adapter_answers = [self._answer(ids) for _text, ids, _reference in prompts]
        return {
            "train_loss": {"before": before[0], "after": after[0]},
            "validation_loss": {"before": before[1], "after": after[1]} if counts["validation"] else None,
            "examples": counts,
            "samples": [
                {"prompt": text, "reference": reference, "base": base, "adapter": adapter}
                for (text, _ids, reference), base, adapter in zip(
                    prompts, base_answers, adapter_answers, strict=True
                )
            ],
        }

    def _losses(self, counts: dict) -> tuple[float | None, float | None]:
        job = self.job
        train = job.mean_loss(self.model, job.train_set, counts["train"])
        if not counts["validation"]:
            return train, None
        return train, job.mean_loss(self.model, job.eval_set, counts["validation"])

    def _prompts(self) -> list[tuple[str, list[int], str]]:
        """(prompt as shown, prompt token ids, the answer the data gives) for the samples."""
        if self.job.spec.kind == "pt":
            out = []
            for index in range(min(SAMPLES, len(self.job.train_set))):
                ids = [int(i) for i in self.job.train_set.example(index)[0]]
                prompt, rest = ids[:PT_PROMPT_TOKENS], ids[PT_PROMPT_TOKENS:][:SAMPLE_TOKENS]
                out.append((self._text(prompt), prompt, self._text(rest)))
            return [sample for sample in out if sample[2]]
        return list(itertools.islice(self._conversation_prompts(), SAMPLES))

    def _conversation_prompts(self) -> Any:
        """The first exchanges of the training data, rendered as the chat template renders a question
        waiting for its answer (the same tokens sft_example trains on, up to the reply)."""
        from jinja2 import TemplateError

        from llamadesk.core.corpus import store

        corpora = [store.get_corpus(c) for c in self.job.spec.data]
        for split in data.SPLITS:  # validation too: a resplit corpus may train on it
            for corpus in corpora:
                for conversation in corpus.iter_conversations(split):
                    reply = next((i for i, m in enumerate(conversation) if m["role"] == "assistant"), 0)
                    if reply == 0:
                        continue
                    try:
                        text = self.tokenizer.apply_chat_template(
                            conversation[:reply], tokenize=False, add_generation_prompt=True
                        )
                    except TemplateError:
                        return
                    ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
                    yield conversation[reply - 1]["content"], ids, conversation[reply]["content"]

    def _answer(self, prompt: list[int]) -> str:
        import torch

        device = self.job.acc.device
        ids = torch.tensor([prompt], device=device)
        self.model.eval()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # A base whose generation config samples warns that greedy decoding ignores it.
                warnings.simplefilter("ignore", UserWarning)
                out = self.peft.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=SAMPLE_TOKENS,
                    do_sample=False,
                    use_cache=True,
                    pad_token_id=self.job.pad_id,
                )
        finally:
            self.model.train()
        return self._text(out[0, len(prompt) :].tolist())

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()


def _measured(examples: data.ExampleSet) -> int:
    """How many leading examples the learn report measures (see LEARN_TOKENS)."""
    import numpy as np

    within = int(np.searchsorted(examples.offsets, LEARN_TOKENS, side="right")) - 1
    return min(max(within, 1), LEARN_EXAMPLES, len(examples))


def _example_or_nothing(examples: data.ExampleSet, index: int, count: int) -> tuple[Any, Any]:
    if index < count:
        return examples.example(index)
    ids, _labels = examples.example(0)
    return ids, ids * 0 + data.IGNORE_INDEX


def _rng_state() -> tuple:
    """Every random state a step draws from (LoRA dropout, in torch; python's and numpy's for
    anything else), as accelerate's checkpoints save them."""
    import numpy as np
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda


def _set_rng_state(state: tuple) -> None:
    import numpy as np
    import torch

    python, numpy_state, torch_state, cuda = state
    random.setstate(python)
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


def _decide_value(accelerator: Any, value: Any) -> Any:
    """The main process's `value` on every process."""
    return _decide(accelerator, lambda: value) if accelerator.num_processes > 1 else value


def _memory_use() -> dict:
    import psutil
    import torch

    use = {"rss_bytes": psutil.Process().memory_info().rss}
    if torch.cuda.is_available():
        use["gpu_bytes"] = torch.cuda.max_memory_allocated()
    return use
