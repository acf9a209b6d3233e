"""Corpora kept in the data dir: `corpora/<id>/` with the normalised units and `manifest.json`.

The user's files are read once, when the corpus is added; training and evaluation then read only
these JSON-lines files (UTF-8, one passage or conversation per line, already split), so a source
file that later moves or changes does not change a corpus a run was made from. A corpus is built
in a staging folder and renamed into place, so it is listed only once complete."""

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadesk.core import paths as data_paths
from llamadesk.core.atomic import remove_folder, write_json
from llamadesk.core.corpus.instructions import Conversation
from llamadesk.core.corpus.reading import OnError, ReadReport
from llamadesk.core.corpus.scan import SPLITS, UNIT_KINDS, CorpusSummary, Scanner, Split, UnitKind, scan_units
from llamadesk.core.errors import AlreadyExistsError, CorpusError, NotFoundError
from llamadesk.core.i18n import _
from llamadesk.core.library import (
    DamagedEntry,
    adding_entry,
    damaged_entries,
    entry_folder,
    read_manifest,
    readable_entries,
)
from llamadesk.core.names import is_valid_name, shown
from llamadesk.core.progress import Progress

MANIFEST = "manifest.json"
FORMAT = 1
UNIT_FILES: dict[UnitKind, dict[Split, str]] = {
    "text": {"train": "text-train.jsonl", "validation": "text-validation.jsonl"},
    "conversation": {"train": "conversations-train.jsonl", "validation": "conversations-validation.jsonl"},
}


@dataclass(frozen=True)
class CorpusEntry:
    id: str
    folder: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.id

    @property
    def kind(self) -> str:
        """ "text", "instructions" or "mixed"."""
        return self.manifest["kind"]

    @property
    def created(self) -> str:
        return self.manifest["created"]

    def summary(self) -> CorpusSummary:
        return CorpusSummary.from_json(self.manifest)

    def iter_records(self, kind: UnitKind, split: Split = "train") -> Iterator[dict]:
        """The stored lines ({"source", "text"} or {"source", "messages"}), read lazily."""
        if kind not in UNIT_KINDS or split not in SPLITS:
            raise ValueError(f"unknown unit kind or split: {kind!r}, {split!r}")
        path = self.folder / UNIT_FILES[kind][split]
        if not path.is_file():
            return
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)

    def iter_texts(self, split: Split = "train") -> Iterator[str]:
        """Text passages of one split (empty for an instructions-only corpus)."""
        for record in self.iter_records("text", split):
            yield record["text"]

    def iter_conversations(self, split: Split = "train") -> Iterator[Conversation]:
        """Conversations of one split (empty for a text-only corpus)."""
        for record in self.iter_records("conversation", split):
            yield record["messages"]


def add_corpus(
    paths: Iterable[Path | str],
    name: str | None = None,
    progress: Progress | None = None,
    *,
    on_error: OnError = "skip",
    seed: int = 0,
    val_fraction: float = 0.05,
    tokenizer: Any = None,
    dedupe_paragraphs: bool = False,
) -> CorpusEntry:
    """Read files and folders into a new corpus.

    `name` becomes the id (AlreadyExistsError if taken); without one the id comes from the first
    path, made unique. Tokens are counted only when a tokenizer is given. CorpusError when nothing
    usable was found, or under on_error="stop" at the first malformed record."""
    progress = progress or Progress()
    # resolve() raises on a NUL byte, where reading then says the path does not exist.
    named = [Path(p).expanduser() for p in paths]
    sources = [path.resolve() if path.exists() else path.absolute() for path in named]
    if not sources:
        raise CorpusError(_("Choose at least one file or folder for the corpus."))
    root = data_paths.corpora_dir()
    corpus_id = _new_id(name, sources[0], root)
    report = ReadReport()
    scanner = Scanner(
        seed=seed, val_fraction=val_fraction, tokenizer=tokenizer, dedupe_paragraphs=dedupe_paragraphs
    )
    # No space check up front: what is stored is the text, far smaller than a folder of PDFs.
    with adding_entry(
        root,
        corpus_id,
        taken=_("A corpus named '{corpus_id}' already exists; choose another name.").format(
            corpus_id=corpus_id
        ),
        busy=_(
            "Another process (PID {pid}) is adding a corpus named '{corpus_id}' right now; wait for "
            "it to finish or choose another name."
        ).format(corpus_id=corpus_id, pid="{pid}"),
        failed=_("Adding the corpus failed: {reason}. Nothing was stored."),
    ) as staging:
        with ExitStack() as stack:
            writers = {
                (kind, split): stack.enter_context(open(staging / file, "w", encoding="utf-8"))
                for kind, files in UNIT_FILES.items()
                for split, file in files.items()
            }
            for unit in scan_units(sources, scanner, report, on_error=on_error, progress=progress):
                line = json.dumps(unit.record(), ensure_ascii=False)
                writers[(unit.kind, unit.split)].write(line + "\n")
        summary = scanner.finish(report)
        for kind, ordinal in scanner.promoted.items():
            _move_line(staging / UNIT_FILES[kind]["train"], staging / UNIT_FILES[kind]["validation"], ordinal)
        manifest = {
            "format": FORMAT,
            "id": corpus_id,
            "name": name or corpus_id,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "inputs": [str(p) for p in sources],
            "split": {"seed": seed, "validation_fraction": val_fraction},
            "files": UNIT_FILES,
        } | summary.to_json()
        write_json(staging / MANIFEST, manifest)
    return get_corpus(corpus_id)


def _new_id(name: str | None, first: Path, root: Path) -> str:
    if name is not None:
        corpus_id = name.strip()
        if not is_valid_name(corpus_id):
            raise CorpusError(
                _(
                    "'{name}' cannot be used as a corpus name: use letters, digits, '.', '-' "
                    "or '_' (at most 100)."
                ).format(name=shown(name))
            )
        if (root / corpus_id).exists():
            raise AlreadyExistsError(
                _("A corpus named '{corpus_id}' already exists; choose another name.").format(
                    corpus_id=corpus_id
                )
            )
        return corpus_id
    stem = first.stem if first.is_file() else first.name
    base = re.sub(r"[^\w.\-]+", "-", stem).strip("-.")[:90] or "corpus"
    corpus_id, number = base, 2
    while (root / corpus_id).exists():
        corpus_id, number = f"{base}-{number}", number + 1
    return corpus_id


def _move_line(source: Path, target: Path, ordinal: int) -> None:
    """Move line `ordinal` (0-based) of `source` to the end of `target`, streaming."""
    rewritten = source.with_name(source.name + ".tmp")
    moved = None
    with open(source, encoding="utf-8") as reader, open(rewritten, "w", encoding="utf-8") as writer:
        for number, line in enumerate(reader):
            if number == ordinal:
                moved = line
            else:
                writer.write(line)
    if moved is None:
        raise AssertionError(f"line {ordinal} missing from {source}")
    rewritten.replace(source)
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(moved)


def list_corpora() -> list[CorpusEntry]:
    """The usable corpora; damaged ones are listed by `damaged_corpora`."""
    return [CorpusEntry(f.name, f, m) for f, m in readable_entries(data_paths.corpora_dir(), MANIFEST)]


def damaged_corpora() -> list[DamagedEntry]:
    return damaged_entries(data_paths.corpora_dir(), MANIFEST)


def _not_found(corpus_id: str) -> NotFoundError:
    return NotFoundError(_("There is no corpus '{corpus_id}'.").format(corpus_id=shown(corpus_id)))


def get_corpus(corpus_id: str) -> CorpusEntry:
    folder = entry_folder(data_paths.corpora_dir(), corpus_id)
    if folder is None:
        raise _not_found(corpus_id)
    manifest = read_manifest(folder, MANIFEST)
    if isinstance(manifest, DamagedEntry):
        raise CorpusError(
            _("The corpus '{corpus_id}' is damaged: {reason}; remove it and add it again.").format(
                corpus_id=corpus_id, reason=manifest.reason
            )
        )
    return CorpusEntry(folder.name, folder, manifest)


def remove_corpus(corpus_id: str) -> None:
    """Remove a corpus; a damaged one too, the way out for one whose manifest no longer reads."""
    from llamadesk.core.grounding.index import remove_corpus_indexes  # grounding reads corpora

    folder = entry_folder(data_paths.corpora_dir(), corpus_id)
    if folder is None:
        raise _not_found(corpus_id)
    remove_folder(folder)
    remove_corpus_indexes(corpus_id)
