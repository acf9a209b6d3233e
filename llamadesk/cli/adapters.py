"""`llamadesk adapters list|import|info|remove|merge|compare`."""

import argparse
from pathlib import Path

from llamadesk.cli._output import print_json, stderr_progress
from llamadesk.core import adapters
from llamadesk.core.i18n import _


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("adapters", help="LoRA adapters: import, inspect, merge into a model")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("list", help="list adapters and the model each was made for")
    p.add_argument("--base", help="only adapters made for this model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)

    p = verbs.add_parser("import", help="import a PEFT LoRA folder (adapter_config.json + safetensors)")
    p.add_argument("src", type=Path)
    p.add_argument("--base", required=True, help="the library model the adapter was made for")
    p.add_argument("--name", help="the adapter's id in the library (default: the folder's name)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_import)

    p = verbs.add_parser("info", help="base, kind, LoRA settings, training data and scores")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_info)

    p = verbs.add_parser("remove", help="remove an adapter from the library")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_remove)

    p = verbs.add_parser("merge", help="merge an adapter into its base as a new library model")
    p.add_argument("id")
    p.add_argument("--name", required=True, help="the new model's id in the library")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_merge)

    p = verbs.add_parser("compare", help="one prompt to the base and its adapters, replies side by side")
    p.add_argument("model", help="the base model")
    p.add_argument("--prompt", required=True)
    p.add_argument("--adapter", action="append", default=[], help="an adapter to compare (repeat for more)")
    p.add_argument("--no-base", action="store_true", help="leave out the base model's own reply")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 (the default) is greedy")
    p.add_argument("--seed", type=int, help="the same seed is used for every reply")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_compare)


def _row(entry: adapters.AdapterEntry) -> dict:
    m = entry.manifest
    return {
        "id": entry.id,
        "base_id": m.get("base_id"),
        "kind": m.get("kind"),
        "rank": m.get("rank"),
        "alpha": m.get("alpha"),
        "created": m.get("created"),
        "path": str(entry.path),
        "damaged": None,
    }


def _list(args: argparse.Namespace) -> int:
    """Usable adapters, then damaged ones with the reason (whose base cannot be told, so only
    without --base): their names stay taken until removed."""
    rows = [_row(e) for e in adapters.list_adapters(args.base)]
    damaged = [] if args.base else adapters.damaged_adapters()
    if args.json:
        rows += [{"id": d.id, "path": str(d.folder), "damaged": d.reason} for d in damaged]
        print_json(sorted(rows, key=lambda row: row["id"]))
        return 0
    if not rows and not damaged:
        print("No adapters yet. Import one with `llamadesk adapters import PATH --base MODEL`.")
    for row in rows:
        print(f"{row['id']:<32} {row['kind']:<9} r={row['rank']:<4} on {row['base_id']}  {row['created']}")
    for entry in damaged:
        print(
            f"{entry.id:<32} damaged: {entry.reason} (remove it with `llamadesk adapters remove {entry.id}`)"
        )
    return 0


def _import(args: argparse.Namespace) -> int:
    entry = adapters.import_adapter(args.src, args.base, args.name, progress=stderr_progress())
    if args.json:
        print_json(entry.manifest)
    else:
        print(f"Imported adapter '{entry.id}' for '{entry.base_id}' into {entry.folder}")
    return 0


def _info(args: argparse.Namespace) -> int:
    m = adapters.get_adapter(args.id).manifest
    if args.json:
        print_json(m)
        return 0
    targets = m.get("target_modules")
    print(f"{m['id']}  ({m.get('kind')} adapter for '{m.get('base_id')}')")
    print(f"  LoRA:        rank {m.get('rank')}, alpha {m.get('alpha')}, dropout {m.get('dropout')}")
    print(f"  targets:     {', '.join(targets) if isinstance(targets, list) else targets}")
    if m.get("modules_to_save"):
        print(f"  also saves:  {', '.join(m['modules_to_save'])}")
    if m.get("data_summary"):
        print(f"  trained on:  {m['data_summary']}")
    if m.get("scores"):
        print(f"  scores:      {m['scores']}")
    print(f"  source:      {m.get('source')}")
    print(f"  created:     {m.get('created')}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    adapters.remove_adapter(args.id)
    if args.json:
        print_json({"removed": args.id})
    else:
        print(f"Removed adapter '{args.id}'.")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from llamadesk.core import library
    from llamadesk.core.merge import merge_adapter

    entry = merge_adapter(args.id, args.name, progress=stderr_progress())
    if args.json:
        print_json(library.model_info(entry))
    else:
        print(f"Merged '{args.id}' into '{entry.manifest['lineage']['base']}' as the new model '{entry.id}'.")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from llamadesk.core.compare import compare_replies
    from llamadesk.core.errors import LlamaDeskError
    from llamadesk.core.generation import GenerationSettings

    variants: list[str | None] = ([] if args.no_base else [None]) + args.adapter
    if not variants:
        raise LlamaDeskError(_("Nothing to compare: name an adapter with --adapter, or keep the base."))
    settings = GenerationSettings(
        temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    messages = [{"role": "user", "content": args.prompt}]
    replies = compare_replies(args.model, variants, messages, settings, progress=stderr_progress())
    if args.json:
        print_json(replies)
        return 0
    for reply in replies:
        title = reply["adapter_id"] or f"{args.model} (base)"
        print(f"── {title} " + "─" * max(0, 60 - len(title)))
        print(reply["text"].strip() or "(empty reply)")
        print()
    return 0
