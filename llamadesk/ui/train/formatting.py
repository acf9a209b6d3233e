"""Numbers and names as the Train panel shows them: sizes, durations, adapter ids."""

import re


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def safe_id(text: str) -> str:
    """An adapter id made from model and corpus names: the characters the library accepts."""
    return re.sub(r"[^\w.\-]+", "-", text).strip("-.")[:90] or "adapter"
