"""`llamadesk train`: run a LoRA training job in this process (the GUI starts it as a child process
and reads its `--json` lines; `python -m llamadesk.train` and `accelerate launch` run the same).

Exit codes: 0 done (the adapter is in the library), 3 cancelled (a checkpoint was kept; resume with
`--resume RUN_ID`), 2 a problem the message explains, 1 an unexpected error (see the log)."""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from llamadesk.cli._output import human_bytes, print_json, stderr_progress
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _
from llamadesk.core.training.spec import KINDS, TrainSpec

# flag dest -> spec field, for the fields a flag may set or override
_SPEC_FLAGS = {
    "base": "base",
    "kind": "kind",
    "data": "data",
    "out": "out",
    "epochs": "epochs",
    "max_steps": "max_steps",
    "rank": "rank",
    "alpha": "alpha",
    "dropout": "dropout",
    "lr": "lr",
    "block": "block_size",
    "batch": "batch_size",
    "grad_accum": "grad_accum",
    "seed": "seed",
    "extend_vocab": "extend_vocab",
    "modules_to_save": "modules_to_save",
    "eval_every": "eval_every",
    "save_every": "save_every",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a LoRA adapter (pre-training on text, or instruction tuning)",
        description="Train from a JSON spec, from flags, or both (flags override the spec's fields).",
    )
    p.add_argument("spec", nargs="?", type=Path, metavar="SPEC", help="a training spec (JSON)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a run from its last checkpoint")
    p.add_argument("--base", help="library model to adapt")
    p.add_argument("--kind", choices=KINDS, help="pt: raw text; sft: instruction pairs")
    p.add_argument("--data", nargs="+", metavar="PATH", help="corpus ids, or files and folders to read")
    p.add_argument("--out", metavar="NAME", help="the adapter's name; it lands in adapters/NAME/")
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--rank", type=int)
    p.add_argument("--alpha", type=int, help="LoRA alpha (default 2 × rank)")
    p.add_argument("--dropout", type=float)
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-4 pt, 1e-4 sft)")
    p.add_argument("--block", type=int, help="tokens per block / longest example (default 512)")
    p.add_argument("--batch", type=int, help="sequences per forward pass (default 2)")
    p.add_argument("--grad-accum", type=int, help="forward passes per optimizer step (default 4)")
    p.add_argument("--seed", type=int)
    p.add_argument("--gradient-checkpointing", action="store_true", default=None)
    p.add_argument(
        "--extend-vocab", type=int, metavar="N", help="pt: add up to N pieces learnt from the text"
    )
    p.add_argument(
        "--modules-to-save", nargs="+", metavar="MODULE", help="train fully, e.g. embed_tokens lm_head"
    )
    p.add_argument("--eval-every", type=int)
    p.add_argument("--save-every", type=int)
    p.add_argument("--force", action="store_true", help="skip the memory check")
    p.add_argument("--estimate", action="store_true", help="only print the memory estimate")
    p.add_argument("--export-cluster", type=Path, metavar="DIR", help="write a folder to train elsewhere")
    p.add_argument("--strategy", choices=["ddp", "zero2", "fsdp"], default="ddp", help="for --export-cluster")
    p.add_argument("--processes", type=int, default=8, help="for --export-cluster: GPUs in all")
    p.add_argument("--machines", type=int, default=1, help="for --export-cluster")
    p.add_argument("--json", action="store_true", help="one JSON event per line on stdout")
    p.set_defaults(handler=_train)


def spec_from_args(args: argparse.Namespace) -> TrainSpec:
    """The spec file's fields, overridden by any flag given."""
    data = {}
    if args.spec is not None:
        try:
            data = json.loads(args.spec.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise LlamaDeskError(_("There is no training spec at {spec}.").format(spec=args.spec)) from exc
        except (OSError, ValueError) as exc:
            raise LlamaDeskError(
                _("{spec} is not a readable JSON training spec ({exc}).").format(spec=args.spec, exc=exc)
            ) from exc
    for flag, field in _SPEC_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            data[field] = value
    if args.gradient_checkpointing:
        data["gradient_checkpointing"] = True
    missing = [f"--{flag}" for flag in ("base", "kind", "data", "out") if flag not in data]
    if missing:
        raise LlamaDeskError(_("Give a spec file, or {missing}.").format(missing=", ".join(missing)))
    return TrainSpec.from_json(data)


def _train(args: argparse.Namespace) -> int:
    from llamadesk.core.training import runner, runs

    if args.resume:
        if args.spec is not None or args.export_cluster or args.estimate:
            raise LlamaDeskError(_("--resume takes no spec, --estimate or --export-cluster."))
        return runner.train(run_id=args.resume, force=args.force, emit=_printer(args.json))
    spec = spec_from_args(args)
    if args.estimate:
        return _estimate(spec, args.json)
    if args.export_cluster:
        folder = runs.export_cluster(
            spec,
            args.export_cluster,
            strategy=args.strategy,
            num_processes=args.processes,
            num_machines=args.machines,
            progress=stderr_progress(),
        )
        if args.json:
            print_json({"exported": str(folder), "command": runs.LAUNCH_COMMAND})
        else:
            print(f"Exported to {folder}; on the cluster run {folder.name}/launch.sh")
        return 0
    return runner.train(spec, force=args.force, emit=_printer(args.json))


def _estimate(spec: TrainSpec, as_json: bool) -> int:
    from llamadesk.core import library
    from llamadesk.core.training import memory

    config = library.get_model(spec.base).config
    device = memory.compute_device()
    estimate = replace(memory.estimate(spec, config, device), available=memory.available_memory(device))
    if as_json:
        print_json(estimate.to_json())
    else:
        verdict = "fits" if estimate.fits else "does not fit"
        need, free = human_bytes(estimate.total), human_bytes(estimate.available)
        print(f"about {need} on {device}, {free} free: {verdict}")
    return 0


def _printer(as_json: bool):
    if as_json:

        def emit_json(event: dict) -> None:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
            sys.stdout.flush()

        return emit_json
    return _print_human


def _print_human(event: dict) -> None:
    kind = event["event"]
    run_id = event.get("run_id")
    if kind == "start":
        resumed = f", resuming after step {event['start_step']}" if event["start_step"] else ""
        print(
            f"Run {run_id}: {event['total_steps']} steps of {event['examples']} examples "
            f"on {event['processes']} × {event['device']}{resumed}; "
            f"about {human_bytes(event['memory']['total'])} of memory."
        )
        if event.get("plan"):
            step_plan = event["plan"]
            print(
                f"  {step_plan['effective_batch']} examples per optimizer step "
                f"(batch {step_plan['batch_size']} × {step_plan['grad_accum']} accumulated), "
                f"{step_plan['warmup_steps']} warm-up steps."
            )
            for warning in step_plan["warnings"]:
                print(f"  {warning['message']}")
        if event.get("note"):
            print(event["note"])
    elif kind == "step":
        speed = f"  {event['tokens_per_s']:,.0f} tok/s" if event.get("tokens_per_s") else ""
        print(
            f"step {event['step']}/{event['total_steps']}  loss {event['loss']:.4f}  "
            f"lr {event['lr']:.2e}{speed}  ETA {_duration(event['eta_s'])}"
        )
    elif kind == "eval":
        print(f"step {event['step']}/{event['total_steps']}  eval loss {event['eval_loss']:.4f}")
    elif kind == "checkpoint":
        print(f"checkpoint at step {event['step']}")
    elif kind == "done":
        losses = f"final loss {event['final_loss']:.4f}" if event.get("final_loss") is not None else ""
        print(f"Done: adapter '{event['adapter_id']}' is in the library ({losses}).")
        if event.get("learn"):
            print_learning(event["learn"])
    elif kind == "learn":
        print("Comparing the answers before and after training…")
    elif kind == "cancelled":
        print(f"Cancelled after step {event['step']}; continue with `llamadesk train --resume {run_id}`.")
    sys.stdout.flush()


def print_learning(learn: dict) -> None:
    """Whether the run learnt: the loss of its examples before and after, and the sample answers."""
    for name, label in (("train_loss", "training"), ("validation_loss", "validation")):
        losses = learn.get(name)
        if losses and losses["before"] is not None and losses["after"] is not None:
            count = learn["examples"]["train" if name == "train_loss" else "validation"]
            print(
                f"  {label} loss ({count} examples): {losses['before']:.4f} before, "
                f"{losses['after']:.4f} after ({losses['after'] / losses['before']:.0%})"
            )
    for sample in learn.get("samples", []):
        print(f"  Q: {sample['prompt']}")
        print(f"     expected: {sample['reference']}")
        print(f"     base:     {sample['base']}")
        print(f"     adapter:  {sample['adapter']}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
