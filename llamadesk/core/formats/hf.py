"""Hugging Face model folders: validation without loading, copying, hashing and weight shapes.

Validation reads only file headers, so a truncated or half-copied folder is refused in milliseconds,
before anything heavy is loaded."""

import hashlib
import json
import shutil
import struct
from pathlib import Path

from llamadesk.core.errors import InvalidModelError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

# Architectures whose weights follow Llama's layout (q/k/v/o, gate/up/down, RMSNorm), so that the
# parameter formula, LoRA targets and chat engine all apply unchanged.
SUPPORTED_MODEL_TYPES = {"llama", "mistral"}

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_COPY_CHUNK = 16 * 1024 * 1024


def read_config(folder: Path) -> dict:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise InvalidModelError(
            _("{folder} is not a model folder: it has no config.json.").format(folder=folder)
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelError(
            _("{config_path} is not valid JSON ({exc}).").format(config_path=config_path, exc=exc)
        ) from exc
    if not isinstance(config, dict):
        raise InvalidModelError(
            _("{config_path} does not hold a model configuration.").format(config_path=config_path)
        )
    return config


def weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def safetensors_header(path: Path) -> dict:
    """The tensor table of a .safetensors file, checked against the file's real size."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            raw_len = handle.read(8)
            if len(raw_len) < 8:
                raise ValueError("file shorter than its header")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len > size - 8 or header_len > 100 * 1024 * 1024:
                raise ValueError("header length beyond end of file")
            header = json.loads(handle.read(header_len))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidModelError(
            _("{path} is damaged or incomplete ({exc}).").format(path=path.name, exc=exc)
        ) from exc
    data_end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + data_end > size:
        raise InvalidModelError(
            _(
                "{path} is truncated: it holds {size:,} bytes but its header needs {needed:,}; copy it again."
            ).format(path=path.name, size=size, needed=8 + header_len + data_end)
        )
    return header


def validate_hf_folder(folder: Path) -> dict:
    """Check a folder is a complete Llama-family model; return its config. Loads nothing."""
    if not folder.is_dir():
        raise InvalidModelError(_("{folder} is not a folder.").format(folder=folder))
    config = read_config(folder)
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise InvalidModelError(
            _(
                "{folder} is a '{model_type}' model; LlamaDesk supports Llama-family models ({supported})."
            ).format(
                folder=folder.name,
                model_type=model_type,
                supported=", ".join(sorted(SUPPORTED_MODEL_TYPES)),
            )
        )
    files = weight_files(folder)
    if not files:
        raise InvalidModelError(_("{folder} has no .safetensors weights.").format(folder=folder.name))
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            needed = set(index["weight_map"].values())
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidModelError(
                _("{index_path} is damaged ({exc}).").format(index_path=index_path.name, exc=exc)
            ) from exc
        missing = sorted(name for name in needed if not (folder / name).is_file())
        if missing:
            raise InvalidModelError(
                _("{folder} is incomplete: weight shard {missing} is missing.").format(
                    folder=folder.name, missing=missing[0]
                )
            )
    for path in files:
        safetensors_header(path)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise InvalidModelError(
            _("{folder} has no tokenizer (tokenizer.json or tokenizer.model).").format(folder=folder.name)
        )
    return config


def weight_shapes(folder: Path) -> dict[str, list[int]]:
    """Every tensor's shape, read from the safetensors headers (nothing is loaded)."""
    shapes: dict[str, list[int]] = {}
    for path in weight_files(folder):
        for name, info in safetensors_header(path).items():
            if name != "__metadata__":
                shapes[name] = info["shape"]
    return shapes


def weights_sha256(folder: Path, progress: Progress) -> str:
    """One digest over all weight files in name order: identifies a base model for its adapters."""
    files = weight_files(folder)
    total = sum(p.stat().st_size for p in files) or 1
    digest = hashlib.sha256()
    done = 0
    for path in files:
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(_COPY_CHUNK):
                digest.update(chunk)
                done += len(chunk)
                progress(done / total, _("Hashing weights"))
    return digest.hexdigest()


def copy_hf_folder(src: Path, dest: Path, progress: Progress) -> None:
    """Copy the files a model needs (not sub-folders such as checkpoints or .git)."""
    files = [p for p in sorted(src.iterdir()) if p.is_file() and not p.name.startswith(".")]
    total = sum(p.stat().st_size for p in files) or 1
    done = 0
    for path in files:
        with open(path, "rb") as reader, open(dest / path.name, "wb") as writer:
            while chunk := reader.read(_COPY_CHUNK):
                writer.write(chunk)
                done += len(chunk)
                progress(done / total, _("Copying {path}").format(path=path.name))
        shutil.copystat(path, dest / path.name)
