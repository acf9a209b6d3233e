"""Shared CLI output: JSON, human sizes, a progress line on stderr."""

import json
import sys

from llamadesk.core.progress import Progress


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def stderr_progress() -> Progress:
    """Progress shown as one rewritten line on a terminal, or nothing when stderr is not a TTY."""
    if not sys.stderr.isatty():
        return Progress()
    last = {"text": ""}

    def show(fraction: float, message: str) -> None:
        text = f"\r{fraction * 100:5.1f}%  {message[:60]:<60}"
        if text != last["text"]:
            sys.stderr.write(text)
            sys.stderr.flush()
            last["text"] = text

    return Progress(show)
