"""Names the user gives to models, adapters, corpora and runs, and how a name is echoed back.

One rule for every kind of entry: a name is a folder name on every OS and an argument a shell
passes unquoted."""

import re

_NAME = re.compile(r"\w[\w.\-]{0,99}")


def is_valid_name(name: str) -> bool:
    """Letters, digits, '.', '-' and '_', starting with a letter or digit, at most 100 characters.
    `fullmatch`, not `match` with `$`, which accepts a trailing newline."""
    return _NAME.fullmatch(name) is not None


def shown(text: str) -> str:
    """`text` as it can be echoed in a one-line message: control characters (a NUL, a newline)
    written as escapes instead of raw, long text shortened."""
    escaped = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return escaped if len(escaped) <= 120 else escaped[:117] + "..."
