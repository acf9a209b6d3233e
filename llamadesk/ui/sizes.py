"""Sizes as the window shows them: binary units (MiB, GiB), as memory is counted, for memory and
files alike, so a model's file and its memory needs compare at a glance."""


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"
