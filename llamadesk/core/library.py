"""The model library: `models/<id>/` folders, each a Hugging Face model plus `llamadesk.json`.

A folder without its manifest is not in the library, and a folder only appears once complete
(built in a staging folder and renamed), so a crash or kill during import leaves the library as it
was. A model "referenced in place" has only the manifest here, pointing at the user's folder."""

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llamadesk.core import paths
from llamadesk.core.atomic import clean_stale_staging, registering, remove_folder, write_json
from llamadesk.core.errors import AlreadyExistsError, InvalidModelError, LlamaDeskError, NotFoundError
from llamadesk.core.formats import hf
from llamadesk.core.formats.gguf import convert_gguf, gguf_weight_precision, is_gguf
from llamadesk.core.i18n import _
from llamadesk.core.params import ParamBreakdown, breakdown_from_config, count_from_shapes
from llamadesk.core.progress import Progress

MANIFEST = "llamadesk.json"
# How a model's weights are held for inference on a CPU (see core/quantize.py); "none" is full precision.
QUANTIZATION_MODES = ("none", "int8", "int4")
_ID_PATTERN = re.compile(r"^[\w][\w.\-]{0,99}$")


@dataclass(frozen=True)
class ModelEntry:
    id: str
    folder: Path  # models/<id>/, where the manifest lives
    manifest: dict

    @property
    def path(self) -> Path:
        """Where the weights are: the library folder, or the user's folder for in-place models."""
        return Path(self.manifest["path"]) if self.manifest.get("in_place") else self.folder

    @property
    def config(self) -> dict:
        return hf.read_config(self.path)

    def breakdown(self) -> ParamBreakdown:
        return breakdown_from_config(self.config)

    def counted_parameters(self) -> int:
        """Parameters counted from the weight files' headers (no loading)."""
        return count_from_shapes(hf.weight_shapes(self.path))

    @property
    def context_length(self) -> int | None:
        return self.config.get("max_position_embeddings")

    @property
    def quantization(self) -> str:
        """The user's per-model choice for CPU inference; models imported before it existed: none."""
        return self.manifest.get("quantization", "none")


def validate_id(model_id: str) -> str:
    if not _ID_PATTERN.match(model_id):
        raise InvalidModelError(
            _(
                "'{model_id}' cannot be used as a name: use letters, digits, '.', '-' or '_' (at most 100)."
            ).format(model_id=model_id)
        )
    return model_id


def derive_id(src: Path) -> str:
    stem = src.stem if src.is_file() else src.name
    cleaned = re.sub(r"[^\w.\-]+", "-", stem).strip("-.") or "model"
    return cleaned[:100]


def detect_format(src: Path) -> str:
    """'gguf', 'meta_pth' or 'hf'; anything else is refused with what we expected to find."""
    if src.is_file():
        if is_gguf(src):
            return "gguf"
        raise InvalidModelError(
            _("{src} is not a GGUF file; import a .gguf file or a model folder.").format(src=src.name)
        )
    if (src / "config.json").is_file():
        return "hf"
    from llamadesk.core.formats.meta_pth import is_meta_checkpoint

    if is_meta_checkpoint(src):
        return "meta_pth"
    raise InvalidModelError(
        _(
            "{src} is not a model: expected a Hugging Face folder (config.json), Meta's "
            "release (params.json + consolidated.*.pth) or a .gguf file."
        ).format(src=src)
    )


def _load_entry(folder: Path) -> ModelEntry | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ModelEntry(folder.name, folder, manifest)


def list_models() -> list[ModelEntry]:
    root = paths.models_dir()
    entries = (_load_entry(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return [e for e in entries if e is not None]


def get_model(model_id: str) -> ModelEntry:
    folder = paths.models_dir() / model_id
    entry = _load_entry(folder) if folder.is_dir() else None
    if entry is None:
        raise NotFoundError(_("There is no model '{model_id}' in the library.").format(model_id=model_id))
    return entry


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def register_model_folder(
    model_id: str,
    build: Callable[[Path, Progress], None],
    manifest: dict,
    progress: Progress,
) -> ModelEntry:
    """Build a model into a staging folder with `build(folder, progress)`, verify and register it.

    The one way anything enters the library: imports, conversions and merges all come here."""
    validate_id(model_id)
    root = paths.models_dir()
    clean_stale_staging(root)
    target = root / model_id
    if target.exists():
        raise AlreadyExistsError(
            _("A model named '{model_id}' already exists; choose another name.").format(model_id=model_id)
        )
    in_place = bool(manifest.get("in_place"))
    with registering(
        target,
        taken=_("A model named '{model_id}' already exists; choose another name.").format(model_id=model_id),
        failed=_("The import failed: {reason}. The library is unchanged."),
    ) as staging:
        weights = Path(manifest["path"]) if in_place else staging
        build(staging, progress.sub(0.0, 0.7))
        hf.validate_hf_folder(weights)
        verified = _verify(weights, progress.sub(0.7, 0.9))
        sha = hf.weights_sha256(weights, progress.sub(0.9, 1.0))
        full = manifest | verified | {"id": model_id, "sha256": sha, "created": _now()}
        write_json(staging / MANIFEST, full)
    return get_model(model_id)


def _verify(folder: Path, progress: Progress) -> dict:
    from llamadesk.core.verify import verify_model

    return verify_model(folder, progress)


def import_model(
    src: Path,
    name: str | None = None,
    *,
    in_place: bool = False,
    progress: Progress | None = None,
) -> ModelEntry:
    """Import a Hugging Face folder (copied, or referenced in place), a .gguf or a Meta release."""
    progress = progress or Progress()
    src = Path(src).expanduser().resolve()
    if not src.exists():
        raise NotFoundError(_("{src} does not exist.").format(src=src))
    fmt = detect_format(src)
    if in_place and fmt != "hf":
        raise InvalidModelError(
            _("Only a Hugging Face folder can be referenced in place; others are converted.")
        )
    model_id = validate_id(name or derive_id(src))
    if fmt == "hf":
        hf.validate_hf_folder(src)

    def build(staging: Path, step: Progress) -> None:
        if fmt == "gguf":
            convert_gguf(src, staging, step)
            manifest["quantization"] = gguf_weight_precision(src)  # read once the file proved whole
        elif fmt == "meta_pth":
            from llamadesk.core.formats.meta_pth import convert_meta_checkpoint

            convert_meta_checkpoint(src, staging, step)
        elif not in_place:
            hf.copy_hf_folder(src, staging, step)

    manifest = {"source": str(src), "format": fmt, "in_place": in_place}
    if in_place:
        manifest["path"] = str(src)
    return register_model_folder(model_id, build, manifest, progress)


def remove_model(model_id: str) -> None:
    """Remove a model from the library (an in-place model's own folder is left untouched)."""
    entry = get_model(model_id)
    remove_folder(entry.folder)


def set_quantization(model_id: str, mode: str) -> ModelEntry:
    """Choose how `model_id` is held in memory for CPU inference from its next load on.

    Only the manifest changes (rewritten atomically); the weights on disk stay full precision, and
    merging and training read them from disk, so they never see a quantised weight. Chat and
    evaluation load through ChatEngine, which applies the setting."""
    if mode not in QUANTIZATION_MODES:
        raise LlamaDeskError(
            _("Unknown quantization '{mode}'; choose one of: {choices}.").format(
                mode=mode, choices=", ".join(QUANTIZATION_MODES)
            )
        )
    entry = get_model(model_id)
    write_json(entry.folder / MANIFEST, entry.manifest | {"quantization": mode})
    return get_model(model_id)


def model_info(entry: ModelEntry) -> dict:
    """Everything `models info` and the details view show, computed from files without loading."""
    from llamadesk.core.params import kv_cache_bytes_per_token, memory_bytes

    config = entry.config
    breakdown = breakdown_from_config(config)
    counted = entry.counted_parameters()
    return {
        "id": entry.id,
        "architecture": (config.get("architectures") or [entry.manifest.get("architecture", "?")])[0],
        "model_type": config.get("model_type"),
        "context_length": config.get("max_position_embeddings"),
        "source": entry.manifest.get("source"),
        "format": entry.manifest.get("format"),
        "in_place": entry.manifest.get("in_place", False),
        "path": str(entry.path),
        "sha256": entry.manifest.get("sha256"),
        "created": entry.manifest.get("created"),
        "lineage": entry.manifest.get("lineage"),
        "dtype": entry.manifest.get("dtype"),
        "quantization": entry.quantization,
        "parameters": {
            "counted": counted,
            "formula": breakdown.total,
            "match": counted == breakdown.total,
            "breakdown": breakdown.to_json(),
        },
        "memory_bytes": memory_bytes(breakdown.total),
        "kv_cache_bytes_per_token": {
            "bf16": kv_cache_bytes_per_token(config, 2),
            "fp32": kv_cache_bytes_per_token(config, 4),
        },
    }
