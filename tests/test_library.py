import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llamadesk.core import library, paths
from llamadesk.core.errors import AlreadyExistsError, Cancelled, InvalidModelError, NotFoundError
from llamadesk.core.progress import Progress


def test_import_hf_copy_registers_verified_model(tiny_model_dir):
    entry = library.import_model(tiny_model_dir, "tiny")
    assert entry.folder == paths.models_dir() / "tiny"
    assert (entry.folder / "model.safetensors").is_file()
    manifest = json.loads((entry.folder / "llamadesk.json").read_text())
    assert manifest["format"] == "hf" and len(manifest["sha256"]) == 64
    assert manifest["counted_parameters"] == entry.breakdown().total == entry.counted_parameters()
    assert [m.id for m in library.list_models()] == ["tiny"]


def test_import_in_place_leaves_source_untouched(tiny_model_dir):
    before = sorted(p.name for p in tiny_model_dir.iterdir())
    entry = library.import_model(tiny_model_dir, "tiny-ref", in_place=True)
    assert entry.path == tiny_model_dir
    assert sorted(p.name for p in entry.folder.iterdir()) == ["llamadesk.json"]
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == before
    library.remove_model("tiny-ref")
    assert tiny_model_dir.is_dir() and not entry.folder.exists()


def test_id_is_derived_from_source_and_duplicates_refused(tiny_model_dir):
    entry = library.import_model(tiny_model_dir, in_place=True)
    assert entry.id == "tiny-llama"
    with pytest.raises(AlreadyExistsError, match="already exists"):
        library.import_model(tiny_model_dir, in_place=True)
    assert [m.id for m in library.list_models()] == ["tiny-llama"]


def test_info_reports_breakdown(tiny_model_dir):
    info = library.model_info(library.import_model(tiny_model_dir, "tiny", in_place=True))
    assert info["parameters"]["match"]
    assert info["context_length"] == 256
    assert info["kv_cache_bytes_per_token"]["bf16"] == 2 * 2 * 2 * 8 * 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "config.json").unlink(), "not a model"),
        (lambda d: (d / "tokenizer.json").unlink() or (d / "tokenizer_config.json").unlink(), "no tokenizer"),
        (
            lambda d: os.truncate(d / "model.safetensors", (d / "model.safetensors").stat().st_size // 2),
            "truncated",
        ),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00garbage"), "damaged"),
        (lambda d: (d / "config.json").write_text('{"model_type": "gpt2"}'), "Llama-family"),
    ],
)
def test_bad_folders_refused_and_library_unchanged(tmp_path, tiny_model_dir, damage, message):
    library.import_model(tiny_model_dir, "keep", in_place=True)
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    damage(bad)
    with pytest.raises(InvalidModelError, match=message):
        library.import_model(bad, "bad")
    assert [m.id for m in library.list_models()] == ["keep"]
    assert sorted(p.name for p in paths.models_dir().iterdir()) == ["keep"]


def test_missing_source_and_unknown_id():
    with pytest.raises(NotFoundError):
        library.import_model(Path("/nonexistent/model"))
    with pytest.raises(NotFoundError):
        library.get_model("nope")
    with pytest.raises(InvalidModelError, match="cannot be used as a name"):
        library.validate_id("../escape")


def test_non_gguf_file_refused(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    with pytest.raises(InvalidModelError, match="not a GGUF"):
        library.import_model(f)


def test_cancel_leaves_nothing(tiny_model_dir):
    progress = Progress()

    def cancel_when_verifying(fraction: float, message: str) -> None:
        if fraction > 0.5:
            progress.cancel.set()

    progress._callback = cancel_when_verifying
    with pytest.raises(Cancelled):
        library.import_model(tiny_model_dir, "tiny", progress=progress)
    assert list(paths.models_dir().iterdir()) == []


def test_kill_during_import_leaves_library_as_it_was(tmp_path, tiny_model_dir, home):
    """SIGKILL in the middle of an import: no model appears, the staging folder is swept later."""
    big = tmp_path / "big"
    shutil.copytree(tiny_model_dir, big)
    # A padding file makes the copy step long enough to kill the process inside it.
    with open(big / "zz-padding.bin", "wb") as handle:
        handle.truncate(1_500_000_000)
    env = os.environ | {"LLAMADESK_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llamadesk", "models", "import", str(big), "--name", "big"], env=env
    )
    models = home / "models"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.startswith(".staging-") for p in models.glob("*")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert library.list_models() == []
    library.import_model(tiny_model_dir, "after", in_place=True)
    assert sorted(p.name for p in models.iterdir()) == ["after"]


def test_disk_full_during_copy_gives_clear_error(tiny_model_dir, monkeypatch):
    import errno

    from llamadesk.core.errors import ResourceError
    from llamadesk.core.formats import hf

    def full_disk(src, dest, progress):
        raise OSError(errno.ENOSPC, "No space left on device", str(dest / "model.safetensors"))

    monkeypatch.setattr(hf, "copy_hf_folder", full_disk)
    with pytest.raises(ResourceError, match="is full: this needs about .*; nothing was changed"):
        library.import_model(tiny_model_dir, "tiny")
    assert list(paths.models_dir().iterdir()) == []
