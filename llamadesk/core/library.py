"""The model library: `models/<id>/` folders, each a model plus `llamadesk.json`.

A model is a Hugging Face folder, or a GGUF file kept exactly as imported (`model.gguf`) beside
its metadata as Hugging Face side files (config and tokenizer, a few kilobytes). A float model may
also carry a GGUF written for chat (`models quantize`). A folder only appears once complete (built
in a staging folder and renamed), so a crash or kill during import leaves the library as it was. A
model "referenced in place" has only the manifest (and side files) here, pointing at the user's
folder or file.

A folder whose manifest is missing or unreadable (edited by hand, a disk fault) is a damaged entry:
never used (the lists the rest of the app reads skip it), but listed with the reason where the
library is managed, and removable there, since its name stays taken."""

import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadesk.core import locks, paths
from llamadesk.core.atomic import clean_stale_staging, registering, remove_folder, write_json
from llamadesk.core.disk import ensure_room, reporting_full_disk
from llamadesk.core.errors import AlreadyExistsError, InvalidModelError, LlamaDeskError, NotFoundError
from llamadesk.core.formats import gguf, hf
from llamadesk.core.i18n import _
from llamadesk.core.names import is_valid_name, shown
from llamadesk.core.params import ParamBreakdown, breakdown_from_config, count_from_shapes
from llamadesk.core.progress import Progress

MANIFEST = "llamadesk.json"
GGUF_FILE = "model.gguf"  # an imported GGUF file, kept as it is
# How a model's weights are held for inference on a CPU (see core/quantize.py); "none" is full precision.
QUANTIZATION_MODES = ("none", "int8", "int4")
ENGINE_CHOICES = ("auto", "llama.cpp", "torch")  # which chat engine runs a model (core/engines)
# How fast an import copies and hashes a file on a common disk: sizes the copy's share of the bar.
COPY_BYTES_PER_S = 200e6
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelEntry:
    id: str
    folder: Path  # models/<id>/, where the manifest lives
    manifest: dict

    @property
    def format(self) -> str:
        """ "gguf", "hf", "meta_pth" or "merged": how the model came in."""
        return self.manifest.get("format", "hf")

    @property
    def path(self) -> Path:
        """Where the config and tokenizer are: the library folder, or the user's folder for a
        Hugging Face model referenced in place (a GGUF model's side files are always here)."""
        if self.manifest.get("in_place") and self.format != "gguf":
            return Path(self.manifest["path"])
        return self.folder

    @property
    def gguf_path(self) -> Path | None:
        """The GGUF file llama.cpp runs: the imported file, or one written for chat; else None."""
        name = self.manifest.get("gguf")
        return None if not name else self.folder / name  # an absolute name (in place) stays itself

    @property
    def config(self) -> dict:
        return hf.read_config(self.path)

    def breakdown(self) -> ParamBreakdown:
        return breakdown_from_config(self.config)

    def weight_shapes(self) -> dict[str, list[int]]:
        """Every weight's shape under its Hugging Face name, from file headers (no loading)."""
        if self.format == "gguf":
            return gguf.hf_shapes(gguf.read_summary(self.gguf_path))
        return hf.weight_shapes(self.path)

    def counted_parameters(self) -> int:
        """Parameters counted from the weight files' headers (no loading)."""
        return count_from_shapes(self.weight_shapes())

    @property
    def context_length(self) -> int | None:
        return self.config.get("max_position_embeddings")

    @property
    def quantization(self) -> str:
        """The user's per-model choice for CPU inference; models imported before it existed: none."""
        return self.manifest.get("quantization", "none")


@dataclass(frozen=True)
class DamagedEntry:
    """A folder of a library (models, adapters, corpora) whose manifest cannot be read."""

    id: str
    folder: Path
    reason: str  # a clause for the user: "its llamadesk.json cannot be read (...)"


def read_manifest(folder: Path, file: str) -> dict | DamagedEntry:
    """The manifest `file` of a library folder, or the damaged entry saying why it cannot be read."""
    path = folder / file
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        reason = _("its {file} is missing").format(file=file)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = _("its {file} cannot be read ({exc})").format(file=file, exc=shown(str(exc)))
    else:
        if isinstance(manifest, dict):
            return manifest
        reason = _("its {file} does not hold a manifest").format(file=file)
    return DamagedEntry(folder.name, folder, reason)


def entry_folders(root: Path) -> list[Path]:
    """The folders of a library's entries: every sub-folder except hidden ones (staging folders)."""
    if not root.is_dir():
        return []
    return [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]


def readable_entries(root: Path, file: str) -> list[tuple[Path, dict]]:
    """(folder, manifest) of the entries of the library at `root` whose manifest `file` reads."""
    found = ((folder, read_manifest(folder, file)) for folder in entry_folders(root))
    return [(folder, manifest) for folder, manifest in found if isinstance(manifest, dict)]


def damaged_entries(root: Path, file: str) -> list[DamagedEntry]:
    """The entries of the library at `root` whose manifest `file` cannot be read."""
    found = (read_manifest(folder, file) for folder in entry_folders(root))
    return [entry for entry in found if isinstance(entry, DamagedEntry)]


def entry_folder(root: Path, entry_id: str) -> Path | None:
    """The folder of entry `entry_id` under `root`, or None: only a valid name can reach one, so
    '..' or a path never leads out of the library (removing it would delete elsewhere)."""
    folder = root / entry_id
    return folder if is_valid_name(entry_id) and folder.is_dir() else None


def validate_id(model_id: str) -> str:
    if not is_valid_name(model_id):
        raise InvalidModelError(
            _(
                "'{model_id}' cannot be used as a name: use letters, digits, '.', '-' or '_' (at most 100)."
            ).format(model_id=shown(model_id))
        )
    return model_id


def derive_id(src: Path) -> str:
    stem = src.stem if src.is_file() else src.name
    cleaned = re.sub(r"[^\w.\-]+", "-", stem).strip("-.") or "model"
    return cleaned[:100]


def detect_format(src: Path) -> str:
    """'gguf', 'meta_pth' or 'hf'; anything else is refused with what we expected to find."""
    if src.is_file():
        if gguf.is_gguf(src):
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


def list_models() -> list[ModelEntry]:
    """The usable models; damaged ones are listed by `damaged_models`."""
    return [ModelEntry(f.name, f, manifest) for f, manifest in readable_entries(paths.models_dir(), MANIFEST)]


def damaged_models() -> list[DamagedEntry]:
    return damaged_entries(paths.models_dir(), MANIFEST)


def get_model(model_id: str) -> ModelEntry:
    folder = entry_folder(paths.models_dir(), model_id)
    if folder is None:
        raise NotFoundError(
            _("There is no model '{model_id}' in the library.").format(model_id=shown(model_id))
        )
    manifest = read_manifest(folder, MANIFEST)
    if isinstance(manifest, DamagedEntry):
        raise InvalidModelError(
            _("The model '{model_id}' is damaged: {reason}; remove it and import it again.").format(
                model_id=model_id, reason=manifest.reason
            )
        )
    return ModelEntry(folder.name, folder, manifest)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def adding_entry(
    root: Path, entry_id: str, *, taken: str, busy: str, failed: str, needed: int | None = None
) -> Iterator[Path]:
    """How every library (models, adapters, corpora, under `root`) adds an entry: a staging folder
    that becomes `root/entry_id` once the block ends, or vanishes.

    The import lock for the name is held throughout, so a second import under it (another process,
    another window) is refused at once with `busy` (its `{pid}` filled in) instead of copying
    gigabytes to lose the race; a taken name is refused with `taken`. `needed`, the bytes the block
    writes where the caller can tell, is checked against the free space first, and a disk that
    fills up anyway is reported as full; any other failure of the OS is `failed` with its reason."""
    with locks.holding(f"import-{root.name}-{entry_id}", wait=0, busy=busy):
        clean_stale_staging(root)
        target = root / entry_id
        if target.exists():
            raise AlreadyExistsError(taken)
        if needed:
            ensure_room(root, needed)
        with registering(target, taken=taken, failed=failed) as staging, reporting_full_disk(root, needed):
            yield staging


def register_model_folder(
    model_id: str,
    build: Callable[[Path, Progress], dict | None],
    manifest: dict,
    progress: Progress,
    needed: int | None = None,
    build_share: float = 0.7,
) -> ModelEntry:
    """Build a model into a staging folder with `build(folder, progress)`, verify and register it.

    The one way anything enters the library: imports, conversions and merges all come here. A
    build that writes a Hugging Face folder returns None and the folder is verified here; a GGUF
    import verifies its file itself and returns what it found (sha256 included). `needed`, the
    bytes the build will write where the caller can tell, is checked against the free space first;
    a disk that fills up anyway is reported as full, and the staging folder goes either way.
    `build_share` is the part of the progress bar the build covers (the checks take the rest)."""
    validate_id(model_id)
    taken = _("A model named '{model_id}' already exists; choose another name.").format(model_id=model_id)
    busy = _(
        "Another process (PID {pid}) is adding a model named '{model_id}' right now; wait for it to "
        "finish or choose another name."
    ).format(model_id=model_id, pid="{pid}")
    in_place = bool(manifest.get("in_place"))
    failed = _("The import failed: {reason}. The library is unchanged.")
    with adding_entry(
        paths.models_dir(), model_id, taken=taken, busy=busy, failed=failed, needed=needed
    ) as staging:
        verified = build(staging, progress.sub(0.0, build_share))
        if verified is None:
            weights = Path(manifest["path"]) if in_place else staging
            hf.validate_hf_folder(weights)
            verified = _verify(weights, progress.sub(0.7, 0.9))
            verified["sha256"] = hf.weights_sha256(weights, progress.sub(0.9, 1.0))
        full = manifest | verified | {"id": model_id, "created": _now()}
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
    """Import a Hugging Face folder or a .gguf file (copied, or referenced in place), or a Meta
    release (converted). A GGUF file stays as it is: llama.cpp runs its quantised blocks."""
    progress = progress or Progress()
    src = Path(src).expanduser()
    if not src.exists():  # before resolve(), which raises on a NUL byte: no such path can exist
        raise NotFoundError(_("{src} does not exist.").format(src=shown(str(src.absolute()))))
    src = src.resolve()
    fmt = detect_format(src)
    if in_place and fmt == "meta_pth":
        raise InvalidModelError(
            _(
                "Only a Hugging Face folder or a GGUF file can be referenced in place; "
                "a Meta release is converted."
            )
        )
    # An empty --name is a mistake to say, not a wish for the default.
    model_id = validate_id(derive_id(src) if name is None else name)
    if fmt == "gguf":
        return _import_gguf(src, model_id, in_place, progress)
    if fmt == "hf":
        hf.validate_hf_folder(src)

    def build(staging: Path, step: Progress) -> None:
        if fmt == "meta_pth":
            from llamadesk.core.formats.meta_pth import convert_meta_checkpoint

            convert_meta_checkpoint(src, staging, step)
        elif not in_place:
            hf.copy_hf_folder(src, staging, step)

    manifest = {"source": str(src), "format": fmt, "in_place": in_place}
    if in_place:
        manifest["path"] = str(src)
    # The copy, or the conversion, is about the size of the source: Meta's release converts at its
    # own precision. A folder referenced in place adds only its manifest.
    needed = None if in_place else sum(p.stat().st_size for p in src.iterdir() if p.is_file())
    return register_model_folder(model_id, build, manifest, progress, needed)


def _import_gguf(src: Path, model_id: str, in_place: bool, progress: Progress) -> ModelEntry:
    """Keep the file (copied beside the manifest, or referenced where it is) with its side files.

    Library disk use is the file itself plus a few kilobytes, and nothing is dequantised: the
    header is checked for truncation and architecture first, then llama.cpp runs one forward
    pass over the staged file where it is installed (the proof a torch import got from loading)."""
    summary = gguf.read_summary(src)
    gguf.check_architecture(src, summary)

    # Each step's share of the bar is its share of the time: on the starter the copy takes a
    # fraction of a second and reading the tokenizer most of the import; on a large file the copy
    # and the test run grow with its size.
    seconds = [src.stat().st_size / COPY_BYTES_PER_S, gguf.side_files_seconds(), gguf.test_run_seconds(src)]
    copied, read = seconds[0] / sum(seconds), (seconds[0] + seconds[1]) / sum(seconds)

    def build(staging: Path, step: Progress) -> dict:
        target = None if in_place else staging / GGUF_FILE
        sha = gguf.copy_and_hash(src, target, step.sub(0.0, copied))
        gguf.write_side_files(src, staging, step.sub(copied, read))
        gguf.verify_runs(target or src, step.sub(read, 1.0))
        return {
            "sha256": sha,
            "gguf": str(src) if in_place else GGUF_FILE,
            "architecture": "LlamaForCausalLM",
            "dtype": summary.main_type,
            "counted_parameters": summary.parameters,
            "has_chat_template": "tokenizer.chat_template" in summary.fields,
            # The torch engine's precision for this file, when llama.cpp is not there to run it.
            "quantization": gguf.torch_precision(summary.main_type),
        }

    manifest = {"source": str(src), "format": "gguf", "in_place": in_place}
    needed = None if in_place else src.stat().st_size
    # The build verifies the file itself: it covers the whole bar, which would otherwise sit at
    # 70 % until the end.
    return register_model_folder(model_id, build, manifest, progress, needed, build_share=1.0)


def load_causal_lm(entry: ModelEntry, dtype: Any, progress: Progress | None = None, **kwargs: Any) -> Any:
    """The model's weights as a transformers model in `dtype`, for the torch side (training,
    evaluation, merging, the torch engine). A GGUF model is dequantised in memory for this use
    only, one tensor at a time; the library keeps the file as it is."""
    from safetensors import SafetensorError

    progress = progress or Progress()
    check_intact(entry)
    try:
        if entry.format == "gguf":
            return gguf.build_model(entry.path, entry.gguf_path, dtype, progress, **kwargs)
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(entry.path, dtype=dtype, **kwargs)
    except SafetensorError as exc:  # damage the headers did not show: safetensors' own error
        log.warning("the weights of %s do not load: %s", entry.id, exc)
        raise damaged_error(entry.id) from exc


def damaged_error(model_id: str) -> InvalidModelError:
    return InvalidModelError(
        _(
            "The files of model '{model_id}' are damaged or incomplete, so it cannot be loaded; "
            "remove it from the library and import it again."
        ).format(model_id=model_id)
    )


def check_intact(entry: ModelEntry) -> None:
    """Refuse, in one sentence, a model whose files changed after import (a weight file cut short
    or overwritten, a shard gone), so chat, evaluation, merging and training say so instead of
    failing deep inside a loader. Reads headers only: milliseconds, even for a large model."""
    try:
        if entry.format == "gguf":
            gguf.read_summary(entry.gguf_path)
        else:
            hf.validate_hf_folder(entry.path)
    except InvalidModelError as exc:
        log.warning("model %s is damaged: %s", entry.id, exc)
        raise damaged_error(entry.id) from exc


def remove_model(model_id: str) -> None:
    """Remove a model from the library (an in-place model's own folder is left untouched); a
    damaged one too, which is the way out for a model whose manifest no longer reads."""
    folder = entry_folder(paths.models_dir(), model_id)
    if folder is None:
        raise NotFoundError(
            _("There is no model '{model_id}' in the library.").format(model_id=shown(model_id))
        )
    remove_folder(folder)


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
    with reporting_full_disk(entry.folder):
        write_json(entry.folder / MANIFEST, entry.manifest | {"quantization": mode})
    return get_model(model_id)


def set_engine(model_id: str, engine: str) -> ModelEntry:
    """Choose the engine `model_id` chats on: "auto" (llama.cpp for a GGUF on a CPU), or one of
    them where the user measured the other faster on their machine. Manifest only, from the next
    load; a choice the model or machine cannot honour falls back to auto with the reason shown."""
    if engine not in ENGINE_CHOICES:
        raise LlamaDeskError(
            _("Unknown engine '{engine}'; choose one of: {choices}.").format(
                engine=engine, choices=", ".join(ENGINE_CHOICES)
            )
        )
    entry = get_model(model_id)
    with reporting_full_disk(entry.folder):
        write_json(entry.folder / MANIFEST, entry.manifest | {"engine": engine})
    return get_model(model_id)


def quantize_for_chat(model_id: str, qtype: str, progress: Progress | None = None) -> ModelEntry:
    """Write a GGUF of a float model beside it, so it chats through llama.cpp.

    The float weights stay for training, evaluation and merging; the GGUF (quantised with the
    `gguf` package's own quantisers) is what chat runs from then on, and every adapter of the
    model gets its GGUF LoRA so switching stays reload-free. A GGUF written earlier is replaced
    only once the new one is complete."""
    from llamadesk.core import adapters
    from llamadesk.core.formats.gguf_export import EXPORT_TYPES, export_gguf

    progress = progress or Progress()
    entry = get_model(model_id)
    if entry.format == "gguf":
        raise InvalidModelError(
            _("'{model_id}' is a GGUF model already; llama.cpp runs its own file.").format(
                model_id=shown(model_id)
            )
        )
    if qtype not in EXPORT_TYPES:
        raise InvalidModelError(
            _("{qtype} is not a GGUF type LlamaDesk writes; choose one of {types}.").format(
                qtype=qtype, types=", ".join(EXPORT_TYPES)
            )
        )
    name = f"chat-{qtype}.gguf"
    export_gguf(entry.path, entry.folder / name, qtype, progress.sub(0.0, 0.9))
    old = entry.gguf_path
    try:
        with reporting_full_disk(entry.folder):
            write_json(entry.folder / MANIFEST, entry.manifest | {"gguf": name, "gguf_type": qtype})
    except BaseException:
        if old is None or old.name != name:  # the model stays as it was, without a stray file
            (entry.folder / name).unlink(missing_ok=True)
        raise
    if old is not None and old.name != name:
        old.unlink(missing_ok=True)
    entry = get_model(model_id)
    mine = adapters.list_adapters(model_id)
    for index, adapter in enumerate(mine):
        progress(0.9 + 0.1 * index / len(mine), _("Converting adapter {adapter}").format(adapter=adapter.id))
        adapters.add_gguf_lora(adapter, entry)
    progress(1.0, _("{model_id} chats through llama.cpp").format(model_id=shown(model_id)))
    return entry


def model_info(entry: ModelEntry) -> dict:
    """Everything `models info` and the details view show, computed from files without loading:
    with the engine that would chat it and the RAM it needs to chat and to train (`memory_plan`;
    None, with the reason in "memory_plan_error", where its files do not say)."""
    from llamadesk.core import engines, memory_plan
    from llamadesk.core.params import kv_cache_bytes_per_token, memory_bytes

    config = entry.config
    breakdown = breakdown_from_config(config)
    counted = entry.counted_parameters()
    engine, engine_reason = engines.pick(entry)
    try:
        plan, plan_error = memory_plan.plan_for_entry(entry).to_json(), None
    except InvalidModelError as exc:
        plan, plan_error = None, str(exc)
    return {
        "id": entry.id,
        "architecture": (config.get("architectures") or [entry.manifest.get("architecture", "?")])[0],
        "model_type": config.get("model_type"),
        "context_length": config.get("max_position_embeddings"),
        "source": entry.manifest.get("source"),
        "format": entry.manifest.get("format"),
        "in_place": entry.manifest.get("in_place", False),
        "path": str(entry.gguf_path if entry.format == "gguf" else entry.path),
        "gguf": str(entry.gguf_path) if entry.gguf_path else None,
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
        "engine": engine,
        "engine_reason": engine_reason,
        "memory_plan": plan,
        "memory_plan_error": plan_error,
    }
