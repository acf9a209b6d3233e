"""`llamadesk models list|import|info|set|remove`."""

import argparse
from pathlib import Path

from llamadesk.cli._output import human_bytes, print_json, stderr_progress
from llamadesk.core import library


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="the model library")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("list", help="list library models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)

    p = verbs.add_parser("import", help="import a Hugging Face folder, a .gguf file or Meta's .pth release")
    p.add_argument("src", type=Path)
    p.add_argument("--name", help="the model's id in the library (default: from the source's name)")
    p.add_argument(
        "--in-place", action="store_true", help="reference a Hugging Face folder instead of copying"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_import)

    p = verbs.add_parser("info", help="architecture, context length, parameter breakdown, memory")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_info)

    p = verbs.add_parser("set", help="change a model's settings (how it is held in memory on a CPU)")
    p.add_argument("id")
    p.add_argument(
        "--quantization",
        metavar="MODE",
        help=f"weights for CPU inference: {', '.join(library.QUANTIZATION_MODES)} (none: full precision)",
    )
    p.add_argument(
        "--engine",
        metavar="ENGINE",
        help=f"chat engine: {', '.join(library.ENGINE_CHOICES)} (auto: llama.cpp for a GGUF on a CPU)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_set)

    p = verbs.add_parser(
        "quantize", help="write a GGUF of a float model so it chats through llama.cpp (faster, less memory)"
    )
    p.add_argument("id")
    p.add_argument("--type", default="q8_0", help="q8_0 (default), q4_0, q4_1 or f16")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_quantize)

    p = verbs.add_parser("remove", help="remove a model from the library")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_remove)


def _list(args: argparse.Namespace) -> int:
    """Usable models, then damaged ones with the reason: their names stay taken until removed."""
    rows = [
        {
            "id": e.id,
            "format": e.manifest.get("format"),
            "parameters": e.manifest.get("counted_parameters"),
            "created": e.manifest.get("created"),
            "quantization": e.quantization,
            "path": str(e.path),
            "damaged": None,
        }
        for e in library.list_models()
    ]
    damaged = [{"id": d.id, "path": str(d.folder), "damaged": d.reason} for d in library.damaged_models()]
    if args.json:
        print_json(sorted(rows + damaged, key=lambda row: row["id"]))
        return 0
    if not rows and not damaged:
        print("The library is empty. Import a model with `llamadesk models import PATH`.")
    for row in rows:
        params = f"{row['parameters'] / 1e6:,.1f}M" if row["parameters"] else "?"
        print(f"{row['id']:<40} {row['format']:<9} {params:>10}  {row['created']}")
    for row in damaged:
        remove = f"llamadesk models remove {row['id']}"
        print(f"{row['id']:<40} damaged: {row['damaged']} (remove it with `{remove}`)")
    return 0


def _import(args: argparse.Namespace) -> int:
    entry = library.import_model(args.src, args.name, in_place=args.in_place, progress=stderr_progress())
    if args.json:
        print_json(library.model_info(entry))
    else:
        print(f"\nImported '{entry.id}' ({entry.manifest['format']}) into {entry.folder}")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = library.model_info(library.get_model(args.id))
    if args.json:
        print_json(info)
        return 0
    params = info["parameters"]
    print(f"{info['id']}  ({info['architecture']}, imported from {info['format']})")
    print(f"  context length: {info['context_length']:,} tokens")
    print(f"  parameters:     {params['counted']:,} counted from weights, {params['formula']:,} by formula")
    print("  breakdown:")
    for c in params["breakdown"]["components"]:
        times = f" × {c['repeats']} layers" if c["repeats"] > 1 else ""
        print(f"    {c['name']:<34} {c['total']:>16,}   ({c['formula']}{times})")
    mem = ", ".join(f"{k} {human_bytes(v)}" for k, v in info["memory_bytes"].items())
    print(f"  weights at:     {mem} (parameters × bytes per weight)")
    kv = info["kv_cache_bytes_per_token"]
    print(f"  KV cache:       {human_bytes(kv['bf16'])} per token of context at 16 bits")
    print(f"  quantization:   {info['quantization']} (how the torch engine holds it on a CPU)")
    print(f"  chat engine:    {info['engine']} ({info['engine_reason']})")
    plan = info["memory_plan"]
    if plan is None:
        print(f"  memory:         unknown: {info['memory_plan_error']}")
        return 0
    print(f"  memory:         {plan['text']}")
    chat = plan["chat"]
    parts = [
        ("weights", chat["weights"]),
        ("KV cache", chat["kv_cache"]),
        ("compute", chat["compute"]),
        ("runtime", chat["runtime"]),
    ]
    held = ""
    if chat["engine"] == "torch" and chat["quantization"] != "none":
        held = f", linear layers in {chat['quantization']} and the rest in {chat['dtype']}"
    elif chat["engine"] == "torch":
        held = f", in {chat['dtype']}"
    detail = ", ".join(f"{name} {human_bytes(n)}" for name, n in parts)
    load = f"; {human_bytes(chat['load'] + chat['runtime'])} while loading" if chat["load"] else ""
    print(
        f"    to chat:      {human_bytes(plan['chat_bytes'])} at {chat['n_ctx']:,} tokens of context"
        f"{held} ({detail}{load})"
    )
    train = plan["train"]
    suggestion = ""
    if plan["train_suggestion_bytes"]:
        changes = ", ".join(f"{k} {v}" for k, v in plan["train_suggestion"].items())
        suggestion = f"; {human_bytes(plan['train_suggestion_bytes'])} with {changes}"
    print(
        f"    to train:     {human_bytes(plan['train_bytes'])} for a LoRA with the default settings in "
        f"{plan['train_precision']} (weights {human_bytes(train['weights'])}, activations "
        f"{human_bytes(train['activations'])}, logits {human_bytes(train['logits'])}){suggestion}"
    )
    usable = f"{human_bytes(plan['usable_ram'])} of {human_bytes(plan['total_ram'])} usable"
    print(f"    this computer: {usable}, {human_bytes(plan['available_ram'])} free now")
    return 0


def _set(args: argparse.Namespace) -> int:
    entry = library.get_model(args.id)
    if args.quantization is not None:
        entry = library.set_quantization(entry.id, args.quantization)
    if args.engine is not None:
        entry = library.set_engine(entry.id, args.engine)
    engine = entry.manifest.get("engine", "auto")
    if args.json:
        print_json({"id": entry.id, "quantization": entry.quantization, "engine": engine})
    else:
        print(f"'{entry.id}': engine {engine}, quantization {entry.quantization} (from its next load).")
    return 0


def _quantize(args: argparse.Namespace) -> int:
    entry = library.quantize_for_chat(args.id, args.type, stderr_progress())
    if args.json:
        print_json({"id": entry.id, "gguf": str(entry.gguf_path), "bytes": entry.gguf_path.stat().st_size})
    else:
        size = human_bytes(entry.gguf_path.stat().st_size)
        print(f"\n'{entry.id}' chats through llama.cpp from {entry.gguf_path.name} ({size}).")
    return 0


def _remove(args: argparse.Namespace) -> int:
    library.remove_model(args.id)
    if args.json:
        print_json({"removed": args.id})
    else:
        print(f"Removed '{args.id}'.")
    return 0
