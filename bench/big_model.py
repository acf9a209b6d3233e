"""The real-size model of the suite: a synthetic ~1.1B Llama GGUF, written and imported into the library.

    python bench/big_model.py write OUT.gguf
    python bench/big_model.py import FILE.gguf --id ID

`write` calls `bench/synthetic_gguf.py` (TinyLlama-1.1B's shape, the starter's tokenizer, random
Q4_1 weights: ~715 MB) and reports what it wrote. `import` runs `library.import_model(FILE, ID)`,
the app's own import (a GGUF file is copied as it is and hashed, its side files written, one test
forward pass run by llama.cpp), then measures the library folder it made: the bytes of every file
in it (`gguf_import_disk_ratio` = those ÷ the file's bytes) and the disk blocks they take.

Both run in a subprocess of their own under `bench/run_all.py`, with LLAMADESK_HOME its temporary
library, and print one JSON line `{"event": "result", ...}`."""

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from engine_probe import _peak_rss_bytes, emit


def write(args: argparse.Namespace) -> int:
    from synthetic_gguf import write_synthetic_gguf

    summary = write_synthetic_gguf(args.path)
    emit({"event": "result"} | summary | {"peak_rss_bytes": _peak_rss_bytes()})
    return 0


def folder_bytes(folder: Path) -> tuple[int, int, int]:
    """(bytes of the files, bytes of disk blocks they take, file count) under `folder`."""
    size = blocks = count = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            size += stat.st_size
            blocks += stat.st_blocks * 512
            count += 1
    return size, blocks, count


def import_(args: argparse.Namespace) -> int:
    from llamadesk.core import library

    if not os.environ.get("LLAMADESK_HOME"):
        print("set LLAMADESK_HOME to a library of its own (bench/run_all.py does)", file=sys.stderr)
        return 2
    file_bytes = args.path.stat().st_size
    with contextlib.suppress(library.NotFoundError):  # a library kept by --home: measured afresh
        library.remove_model(args.id)
    started = time.perf_counter()
    entry = library.import_model(args.path, args.id)
    seconds = time.perf_counter() - started
    size, blocks, count = folder_bytes(entry.folder)
    emit(
        {
            "event": "result",
            "gguf_import_disk_ratio": size / file_bytes,
            "library_folder_bytes": size,
            "library_folder_disk_bytes": blocks,
            "library_files": count,
            "gguf_bytes": file_bytes,
            "import_s": seconds,
            "import_peak_rss_bytes": _peak_rss_bytes(),
            "model_id": entry.id,
            "format": entry.format,
            "dtype": entry.manifest.get("dtype"),
            "counted_parameters": entry.manifest.get("counted_parameters"),
            "torch_quantization": entry.quantization,
        }
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["write", "import"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--id", default="synthetic-1.1b", help="import: the library id")
    args = parser.parse_args(argv)
    return write(args) if args.command == "write" else import_(args)


if __name__ == "__main__":
    raise SystemExit(main())
