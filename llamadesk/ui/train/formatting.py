"""Numbers and names as the Train panel shows them: durations and adapter ids."""

import re


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def safe_id(text: str) -> str:
    """An adapter id made from model and corpus names: the characters the library accepts."""
    return re.sub(r"[^\w.\-]+", "-", text).strip("-.")[:90] or "adapter"
