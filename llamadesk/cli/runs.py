"""`llamadesk runs list|show|cancel|import-adapter`: training runs, past and present."""

import argparse
from pathlib import Path

from llamadesk.cli._output import print_json, stderr_progress
from llamadesk.cli.train import print_learning
from llamadesk.core.training import runs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="training runs: status, curves, cancel")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("list", help="every run, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)

    p = verbs.add_parser("show", help="a run's state, spec and loss curves")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_show)

    p = verbs.add_parser("cancel", help="stop a running job within seconds (it keeps its last whole step)")
    p.add_argument("id")
    p.set_defaults(handler=_cancel)

    p = verbs.add_parser("import-adapter", help="bring back an adapter trained elsewhere (cluster export)")
    p.add_argument("folder", type=Path)
    p.add_argument("--name", help="the adapter's id here (default: its id there)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_import)


def _list(args: argparse.Namespace) -> int:
    rows = [run.summary() for run in runs.list_runs()]
    if args.json:
        print_json(rows)
    elif not rows:
        print("No training runs yet. Start one with `llamadesk train`.")
    else:
        for row in rows:
            progress = f"{row['step'] or 0}/{row['total_steps'] or '?'}"
            print(
                f"{row['id']:<44} {row['status']:<12} {row['kind'] or '?':<4} {progress:>11}  {row['base']}"
            )
    return 0


def _show(args: argparse.Namespace) -> int:
    run = runs.get_run(args.id)
    info = run.summary() | {"spec": run.spec.to_json(), "curves": run.curves()}
    if args.json:
        print_json(info)
        return 0
    print(f"{info['id']}: {info['status']}, step {info['step'] or 0} of {info['total_steps'] or '?'}")
    print(f"  {info['kind']} LoRA of '{info['base']}' into '{info['out']}'")
    if info["adapter_id"]:
        print(f"  adapter: {info['adapter_id']}")
    if info["last_checkpoint"] is not None:
        print(f"  last checkpoint: step {info['last_checkpoint']}")
    if info["message"]:
        print(f"  {info['message']}")
    curves = info["curves"]
    if curves["loss"]:
        print(f"  loss: first {curves['loss'][0]:.4f}, last {curves['loss'][-1]:.4f}")
    if curves["eval_loss"]:
        print(f"  eval loss: first {curves['eval_loss'][0]:.4f}, last {curves['eval_loss'][-1]:.4f}")
    if run.state.get("learn"):
        print_learning(run.state["learn"])
    return 0


def _cancel(args: argparse.Namespace) -> int:
    runs.request_cancel(args.id)
    print(f"Asked '{args.id}' to stop; it keeps a checkpoint of its last whole step.")
    return 0


def _import(args: argparse.Namespace) -> int:
    entry = runs.import_trained_adapter(args.folder, args.name, stderr_progress())
    if args.json:
        print_json({"id": entry.id, "base_id": entry.base_id})
    else:
        print(f"Imported adapter '{entry.id}' for '{entry.base_id}'.")
    return 0
