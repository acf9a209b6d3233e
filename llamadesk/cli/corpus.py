"""`llamadesk corpus add|preview|list|show|remove`: training and evaluation data."""

import argparse
from pathlib import Path

from llamadesk.cli._output import print_json, stderr_progress
from llamadesk.core.corpus import scan, store
from llamadesk.core.corpus.scan import CorpusSummary

_SHOWN_PROBLEMS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("corpus", help="corpora: text and instruction data for training")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("add", help="read files and folders into a new corpus")
    _reading_options(p)
    p.add_argument("--name", help="the corpus id (default: from the first path's name)")
    p.set_defaults(handler=_add)

    p = verbs.add_parser("preview", help="what `corpus add` would store, without storing it")
    _reading_options(p)
    p.set_defaults(handler=_preview)

    p = verbs.add_parser("list", help="list corpora")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)

    p = verbs.add_parser("show", help="a corpus's sources, counts, split and language mix")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_show)

    p = verbs.add_parser("remove", help="remove a corpus (the original files are untouched)")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_remove)


def _reading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument(
        "--on-error",
        choices=["skip", "stop"],
        default="skip",
        help="a malformed record: leave it out with a warning (default), or stop",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the train/validation split")
    p.add_argument("--validation-fraction", type=float, default=0.05, help="share held out (default 0.05)")
    p.add_argument("--dedupe-paragraphs", action="store_true", help="also drop repeated paragraphs")
    p.add_argument("--json", action="store_true")


def _add(args: argparse.Namespace) -> int:
    entry = store.add_corpus(
        args.paths,
        args.name,
        stderr_progress(),
        on_error=args.on_error,
        seed=args.seed,
        val_fraction=args.validation_fraction,
        dedupe_paragraphs=args.dedupe_paragraphs,
    )
    if args.json:
        print_json(entry.manifest)
    else:
        print(f"\nAdded corpus '{entry.id}' in {entry.folder}")
        _print_summary(entry.summary())
    return 0


def _preview(args: argparse.Namespace) -> int:
    summary = scan.preview(
        args.paths,
        on_error=args.on_error,
        seed=args.seed,
        val_fraction=args.validation_fraction,
        dedupe_paragraphs=args.dedupe_paragraphs,
        progress=stderr_progress(),
    )
    if args.json:
        print_json(summary.to_json())
    else:
        print()
        _print_summary(summary)
    return 0


def _list(args: argparse.Namespace) -> int:
    """Usable corpora, then damaged ones with the reason: their names stay taken until removed."""
    rows = [
        {
            "id": e.id,
            "kind": e.kind,
            "passages": sum(e.manifest["passages"].values()),
            "conversations": sum(e.manifest["conversations"].values()),
            "characters": e.manifest["characters"],
            "created": e.created,
            "damaged": None,
        }
        for e in store.list_corpora()
    ]
    damaged = store.damaged_corpora()
    if args.json:
        rows += [{"id": d.id, "damaged": d.reason} for d in damaged]
        print_json(sorted(rows, key=lambda row: row["id"]))
        return 0
    if not rows and not damaged:
        print("There are no corpora yet. Add one with `llamadesk corpus add PATH`.")
    for row in rows:
        units = f"{row['passages']:,} passages, {row['conversations']:,} conversations"
        print(f"{row['id']:<32} {row['kind']:<12} {units:<40} {row['created']}")
    for entry in damaged:
        print(f"{entry.id:<32} damaged: {entry.reason} (remove it with `llamadesk corpus remove {entry.id}`)")
    return 0


def _show(args: argparse.Namespace) -> int:
    entry = store.get_corpus(args.id)
    if args.json:
        print_json(entry.manifest)
        return 0
    split = entry.manifest["split"]
    print(f"{entry.id}  ({entry.kind}, created {entry.created})")
    print(f"  folder:        {entry.folder}")
    print(
        f"  split:         seed {split['seed']}, {split['validation_fraction']:.0%} held out for validation"
    )
    _print_summary(entry.summary())
    return 0


def _remove(args: argparse.Namespace) -> int:
    store.remove_corpus(args.id)
    if args.json:
        print_json({"removed": args.id})
    else:
        print(f"Removed corpus '{args.id}'.")
    return 0


def _print_summary(summary: CorpusSummary) -> None:
    encodings = ", ".join(f"{name} ×{count}" for name, count in summary.encodings.items()) or "-"
    tokens = f"{summary.tokens:,}" if summary.tokens is not None else "not counted"
    print(f"  kind:          {summary.kind}")
    print(f"  files:         {len(summary.files_read)} read, {len(summary.skipped)} skipped")
    print(f"  encodings:     {encodings}")
    print(
        f"  passages:      {summary.passages['train']:,} train, {summary.passages['validation']:,} validation"
    )
    print(
        f"  conversations: {summary.conversations['train']:,} train, "
        f"{summary.conversations['validation']:,} validation"
    )
    print(f"  duplicates:    {summary.duplicates:,} dropped")
    print(f"  characters:    {summary.characters:,}   tokens: {tokens}")
    print(f"  language:      {summary.language.describe()}")
    for skipped in summary.skipped[:_SHOWN_PROBLEMS]:
        print(f"  skipped:       {skipped.path}: {skipped.reason}")
    if len(summary.skipped) > _SHOWN_PROBLEMS:
        print(f"  ... and {len(summary.skipped) - _SHOWN_PROBLEMS} more skipped files")
    for warning in summary.warnings[:_SHOWN_PROBLEMS]:
        print(f"  warning:       {warning}")
    if summary.warning_count > _SHOWN_PROBLEMS:
        print(f"  ... and {summary.warning_count - _SHOWN_PROBLEMS} more warnings")
