"""`llamadesk`: with no arguments opens the app; with a subcommand runs the same core headless.

Every module in this package that defines `register(subparsers)` contributes subcommands, so a
new verb is one new module. Handlers return an exit code; a LlamaDeskError becomes one sentence on
stderr and exit code 2, never a traceback."""

import argparse
import importlib
import logging
import pkgutil
import sys

import llamadesk
from llamadesk.core.errors import LlamaDeskError

log = logging.getLogger("llamadesk")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llamadesk", description="Run, customise and evaluate Llama models on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"LlamaDesk {llamadesk.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from llamadesk.ui.app import run_app

        return run_app()
    args = build_parser().parse_args(argv)
    if not getattr(args, "handler", None):
        build_parser().print_help()
        return 2
    from llamadesk.core.logs import setup_logging

    log_file = setup_logging()
    try:
        return int(args.handler(args) or 0)
    except LlamaDeskError as exc:
        print(f"llamadesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("llamadesk: interrupted.", file=sys.stderr)
        return 130
    except Exception:
        log.exception("unexpected error in `llamadesk %s`", " ".join(argv))
        print(f"llamadesk: unexpected error; the details are in {log_file}", file=sys.stderr)
        return 1
