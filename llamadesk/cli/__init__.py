"""`llamadesk`: with no arguments opens the app; with a subcommand runs the same core headless.

Every module in this package that defines `register(subparsers)` contributes subcommands, so a
new verb is one new module. Handlers return an exit code; a LlamaDeskError becomes one sentence on
stderr and exit code 2, never a traceback.

`--self-test` runs the packaged app's end-to-end check headless (see core.selftest): exit 0 and a
JSON report on success, exit 1 and one line naming the failed step otherwise."""

import argparse
import importlib
import json
import logging
import pkgutil
import sys

import llamadesk
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _, choose_language, set_language
from llamadesk.core.paths import pin_data_home

log = logging.getLogger("llamadesk")

# The subcommand modules, for a frozen build whose importer cannot list its own modules: there
# pkgutil finds nothing, and this list (kept equal to what pkgutil finds by a test) stands in.
FROZEN_COMMANDS = ("adapters", "chat", "corpus", "eval", "models", "runs", "serve", "train")


def command_modules() -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return found or list(FROZEN_COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llamadesk", description="Run, customise and evaluate Llama models on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"LlamaDesk {llamadesk.__version__}")
    parser.add_argument(
        "--self-test", action="store_true", help="check that models, generation and adapters work, then exit"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pin_data_home()  # the library the window uses, and the same for a whole (training) run
    if not argv:
        from llamadesk.ui.app import run_app

        return run_app()
    args = build_parser().parse_args(argv)
    # Messages from core follow LLAMADESK_LANG or the system locale, the same rule as the window.
    set_language(choose_language())
    if args.self_test:
        return _self_test()
    if not getattr(args, "handler", None):
        build_parser().print_help()
        return 2
    from llamadesk.core.atomic import clean_leftovers
    from llamadesk.core.disk import full_disk_error, is_disk_full
    from llamadesk.core.logs import setup_logging
    from llamadesk.core.paths import data_home

    try:
        log_file = setup_logging()  # fails only with a LlamaDeskError: the data folder is unusable
        clean_leftovers(data_home())
        return int(args.handler(args) or 0)
    except LlamaDeskError as exc:
        print(f"llamadesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(_("llamadesk: interrupted."), file=sys.stderr)
        return 130
    except Exception as exc:
        if is_disk_full(exc):  # a write no command foresaw: still a full disk, said as one
            log.warning("disk full in `llamadesk %s`", " ".join(argv), exc_info=True)
            print(f"llamadesk: {full_disk_error(data_home())}", file=sys.stderr)
            return 2
        log.exception("unexpected error in `llamadesk %s`", " ".join(argv))
        print(
            _("llamadesk: unexpected error; the details are in {path}").format(path=log_file), file=sys.stderr
        )
        return 1


def _self_test() -> int:
    from llamadesk.core.logs import setup_logging
    from llamadesk.core.selftest import run_self_test

    setup_logging()
    try:
        report = run_self_test()
    except LlamaDeskError as exc:
        print(f"llamadesk: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, ensure_ascii=False))
    return 0
