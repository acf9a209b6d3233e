"""From read items to corpus units, counted.

Text is cut into passages (at most PASSAGE_CHARS, at paragraph boundaries), so a 2 GB book
streams through in bounded memory and the validation split has something to choose from even in
a one-document corpus. Passages and conversations are the units: each is dropped if its content
hash was seen before (a file added twice, a copy in another folder or encoding), and assigned to
train or validation by a keyed hash of its content, so the split depends on the seed and the
content only, never on file order. Preview and storing run the same scan, so what the preview
says is what gets stored."""

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from llamadesk.core.corpus.instructions import Conversation
from llamadesk.core.corpus.reading import (
    SUFFIXES,
    ConversationItem,
    Item,
    OnError,
    ReadReport,
    Skipped,
    TextItem,
    UnreadableFile,
    collect_files,
    iter_items,
    nothing_found_message,
    read_file,
)
from llamadesk.core.errors import CorpusError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

Split = Literal["train", "validation"]
UnitKind = Literal["text", "conversation"]
SPLITS: tuple[Split, ...] = ("train", "validation")
UNIT_KINDS: tuple[UnitKind, ...] = ("text", "conversation")

# Longer than a training block of a few thousand tokens, so cutting passages rarely cuts a block;
# short enough that a single long document still yields a validation passage or two.
PASSAGE_CHARS = 16_000
TOKEN_BATCH_CHARS = 1_000_000

_BLANK_LINES = re.compile(r"\n\s*\n")
_CUT_AFTER = ("\n", " ", "。", "！", "？", "；")
# Letters by script, by code-point range: simple, fast, and enough to tell the mix apart.
_CJK = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff]+"
)
_LATIN_NON_ASCII = re.compile(r"[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+")
_OTHER_SCRIPTS = re.compile(r"[\u0370-\u1dff]+")  # Greek, Cyrillic, Hebrew, Arabic, Indic, Thai, ...
_ASCII_LETTERS = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))


# --- passages ----------------------------------------------------------------------------------


def iter_paragraphs(chunks: Iterable[str], max_chars: int = PASSAGE_CHARS) -> Iterator[str]:
    """Paragraphs (separated by blank lines) of a chunked text, none longer than `max_chars`.

    Where a paragraph is cut depends on its text alone, not on how it was chunked, so the same
    text always gives the same passages and the same hashes."""
    buffer = ""
    for chunk in chunks:
        parts = _BLANK_LINES.split(buffer + chunk)
        buffer = parts.pop()  # may continue in the next chunk
        for part in parts:
            yield from _whole_paragraph(part, max_chars)
        heads, buffer = _cut_heads(buffer, max_chars)
        yield from heads
    yield from _whole_paragraph(buffer, max_chars)


def _whole_paragraph(paragraph: str, max_chars: int) -> Iterator[str]:
    heads, rest = _cut_heads(paragraph, max_chars)
    yield from heads
    rest = rest.rstrip()
    if rest.strip():
        yield rest


def _cut_heads(text: str, max_chars: int) -> tuple[list[str], str]:
    """Pieces cut off the front of `text` while more than `max_chars` remain, and the remainder.
    Walks an index rather than re-slicing, so a megabyte without a blank line stays linear."""
    heads = []
    start = 0
    while len(text) - start > max_chars:
        window = text[start : start + max_chars]
        cut = _cut_point(window, max_chars)
        head = window[:cut].rstrip()
        if head.strip():
            heads.append(head)
        start += cut
    return heads, text[start:] if start else text


def _cut_point(text: str, limit: int) -> int:
    """After the last line break, space or CJK sentence end in the second half of text[:limit]."""
    window = text[:limit]
    for mark in _CUT_AFTER:
        index = window.rfind(mark, limit // 2)
        if index != -1:
            return index + 1
    return limit


def iter_passages(paragraphs: Iterable[str], max_chars: int = PASSAGE_CHARS) -> Iterator[str]:
    """Consecutive paragraphs joined by a blank line, up to `max_chars` each."""
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        if current and size + 2 + len(paragraph) > max_chars:
            yield "\n\n".join(current)
            current, size = [], 0
        size += len(paragraph) + (2 if current else 0)
        current.append(paragraph)
    if current:
        yield "\n\n".join(current)


# --- hashing and the split ---------------------------------------------------------------------


def content_digest(content: str | Conversation) -> bytes:
    if not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(content.encode("utf-8"), digest_size=16).digest()


def split_score(digest: bytes, seed: int) -> float:
    """A number in [0, 1) fixed by content and seed: below the validation fraction means validation."""
    keyed = hashlib.blake2b(digest, digest_size=8, key=str(seed).encode("ascii"))
    return int.from_bytes(keyed.digest(), "big") / 2**64


# --- counting ----------------------------------------------------------------------------------


@dataclass
class LanguageMix:
    """Letters by script: enough to tell a Chinese corpus from an English one, or a mix."""

    cjk: int = 0
    latin: int = 0
    other: int = 0

    def add_text(self, text: str) -> None:
        # ASCII letters are single bytes in UTF-8, so bytes.translate counts them at memory speed;
        # the regular expressions only run on text that is not pure ASCII.
        raw = text.encode("utf-8")
        self.latin += len(raw) - len(raw.translate(None, _ASCII_LETTERS))
        if not text.isascii():
            self.cjk += _count(_CJK, text)
            self.latin += _count(_LATIN_NON_ASCII, text)
            self.other += _count(_OTHER_SCRIPTS, text)

    @property
    def letters(self) -> int:
        return self.cjk + self.latin + self.other

    def share(self, script: str) -> float:
        return getattr(self, script) / self.letters if self.letters else 0.0

    def describe(self) -> str:
        if not self.letters:
            return "no letters"
        parts = [
            (self.share(s), name) for s, name in (("cjk", "CJK"), ("latin", "Latin"), ("other", "other"))
        ]
        return ", ".join(f"{share:.0%} {name}" for share, name in parts if share >= 0.005)


def _count(pattern: re.Pattern, text: str) -> int:
    return len(text) - len(pattern.sub("", text))


class _TokenCounter:
    """Counts tokens in batches of about TOKEN_BATCH_CHARS: one tokenizer call per batch is far
    faster than one per record, and a batch bounds the memory held."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._pending: list[str] = []
        self._pending_chars = 0
        self.total = 0

    def add(self, text: str) -> None:
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars >= TOKEN_BATCH_CHARS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            encoded = self._tokenizer(self._pending, add_special_tokens=False, verbose=False)
            self.total += sum(len(ids) for ids in encoded["input_ids"])
        self._pending, self._pending_chars = [], 0


@dataclass
class CorpusSummary:
    """What a corpus holds: shown before adding it, stored in its manifest."""

    kind: Literal["text", "instructions", "mixed"]
    files_read: dict[str, str | None]  # path -> encoding found (None for PDF and DOCX)
    skipped: list[Skipped]
    warnings: list[str]  # the first few; warning_count has them all
    warning_count: int
    encodings: dict[str, int]  # encoding -> files
    documents: int  # texts read: whole files, or text records of data files
    passages: dict[str, int]  # split -> text passages kept
    conversations: dict[str, int]  # split -> conversations kept
    duplicates: int  # passages and conversations dropped as exact repeats
    paragraphs_dropped: int  # repeated paragraphs removed (only when asked)
    characters: int
    tokens: int | None  # None when no tokenizer was given
    language: LanguageMix = field(default_factory=LanguageMix)

    def to_json(self) -> dict:
        data = asdict(self)
        data["files_read"] = [{"path": p, "encoding": e} for p, e in self.files_read.items()]
        data["language"]["description"] = self.language.describe()
        return data

    @classmethod
    def from_json(cls, data: dict) -> "CorpusSummary":
        language = {k: v for k, v in data["language"].items() if k != "description"}
        return cls(
            **{k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            | {
                "files_read": {f["path"]: f["encoding"] for f in data["files_read"]},
                "skipped": [Skipped(**s) for s in data["skipped"]],
                "language": LanguageMix(**language),
            }
        )


# --- the scan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    kind: UnitKind
    source: str
    split: Split
    score: float
    content: str | Conversation  # a passage, or a conversation's messages

    def record(self) -> dict:
        """The stored JSON line."""
        key = "text" if self.kind == "text" else "messages"
        return {"source": self.source, key: self.content}


class Scanner:
    """Turns items into units (deduplicated, split, counted); `finish` then gives the summary.

    Splitting by hash can leave a small corpus without the validation unit its size calls for
    (one, on average, from 10 units at 5%); `finish` then names the train unit with the lowest
    score in `promoted` (per kind, by its position among that kind's train units) to be moved,
    which is still deterministic and independent of file order."""

    def __init__(
        self,
        *,
        seed: int = 0,
        val_fraction: float = 0.05,
        tokenizer: Any = None,
        dedupe_paragraphs: bool = False,
        passage_chars: int = PASSAGE_CHARS,
    ) -> None:
        if not 0.0 <= val_fraction < 1.0:
            raise CorpusError(_("The validation fraction must be at least 0 and below 1 (e.g. 0.05)."))
        self.seed = seed
        self.val_fraction = val_fraction
        self.passage_chars = passage_chars
        self.dedupe_paragraphs = dedupe_paragraphs
        self.promoted: dict[UnitKind, int] = {}
        self._tokens = _TokenCounter(tokenizer) if tokenizer is not None else None
        self._seen: set[int] = set()
        self._seen_paragraphs: set[int] = set()
        self._counts: dict[UnitKind, dict[Split, int]] = {k: dict.fromkeys(SPLITS, 0) for k in UNIT_KINDS}
        self._lowest_train: dict[UnitKind, tuple[float, int]] = {}
        self._documents = 0
        self._duplicates = 0
        self._paragraphs_dropped = 0
        self._characters = 0
        self._language = LanguageMix()

    def units(self, items: Iterable[Item]) -> Iterator[Unit]:
        for item in items:
            if isinstance(item, ConversationItem):
                unit = self._accept("conversation", item.source, item.messages)
                if unit is not None:
                    yield unit
                continue
            self._documents += 1
            paragraphs = iter_paragraphs(item.chunks, self.passage_chars)
            if self.dedupe_paragraphs:
                paragraphs = self._unseen(paragraphs)
            for passage in iter_passages(paragraphs, self.passage_chars):
                unit = self._accept("text", item.source, passage)
                if unit is not None:
                    yield unit

    def _unseen(self, paragraphs: Iterable[str]) -> Iterator[str]:
        for paragraph in paragraphs:
            key = int.from_bytes(content_digest(paragraph)[:8], "big")
            if key in self._seen_paragraphs:
                self._paragraphs_dropped += 1
                continue
            self._seen_paragraphs.add(key)
            yield paragraph

    def _accept(self, kind: UnitKind, source: str, content: str | Conversation) -> Unit | None:
        digest = content_digest(content)
        key = int.from_bytes(digest[:8], "big")
        if key in self._seen:
            self._duplicates += 1
            return None
        self._seen.add(key)
        score = split_score(digest, self.seed)
        split: Split = "validation" if score < self.val_fraction else "train"
        if split == "train":
            ordinal = self._counts[kind]["train"]
            if kind not in self._lowest_train or score < self._lowest_train[kind][0]:
                self._lowest_train[kind] = (score, ordinal)
        self._counts[kind][split] += 1
        text = content if isinstance(content, str) else "\n".join(m["content"] for m in content)
        self._characters += len(text)
        self._language.add_text(text)
        if self._tokens is not None:
            self._tokens.add(text)
        return Unit(kind, source, split, score, content)

    def finish(self, report: ReadReport) -> CorpusSummary:
        """The summary; CorpusError if nothing usable was found."""
        counts = self._counts
        has_text = sum(counts["text"].values()) > 0
        has_conversations = sum(counts["conversation"].values()) > 0
        if not (has_text or has_conversations):
            raise CorpusError(nothing_found_message(_("text or conversation"), report))
        for kind in UNIT_KINDS:
            expected = counts[kind]["train"] * self.val_fraction  # validation units due, on average
            if counts[kind]["validation"] == 0 and expected >= 0.5:
                self.promoted[kind] = self._lowest_train[kind][1]
                counts[kind]["train"] -= 1
                counts[kind]["validation"] = 1
        if self._tokens is not None:
            self._tokens.flush()
        return CorpusSummary(
            kind="mixed" if has_text and has_conversations else "text" if has_text else "instructions",
            files_read=dict(report.files),
            skipped=list(report.skipped),
            warnings=list(report.warnings),
            warning_count=report.warning_count,
            encodings=report.encodings(),
            documents=self._documents,
            passages=dict(counts["text"]),
            conversations=dict(counts["conversation"]),
            duplicates=self._duplicates,
            paragraphs_dropped=self._paragraphs_dropped,
            characters=self._characters,
            tokens=self._tokens.total if self._tokens is not None else None,
            language=self._language,
        )


def scan_units(
    paths: Iterable[Path | str],
    scanner: Scanner,
    report: ReadReport,
    *,
    on_error: OnError = "skip",
    progress: Progress | None = None,
) -> Iterator[Unit]:
    """Read `paths` and yield their units, reporting progress by bytes read."""
    progress = progress or Progress()
    files = collect_files(paths)
    total = sum(f.stat().st_size for f in files if f.suffix.lower() in SUFFIXES) or 1
    done = 0

    def on_read(count: int) -> None:
        nonlocal done
        done += count
        progress(
            done / total,
            _("Reading: {done:,.1f} of {total:,.1f} MB").format(done=done / 1e6, total=total / 1e6),
        )

    yield from scanner.units(iter_items(files, on_error=on_error, report=report, on_read=on_read))
    progress(1.0, _("Read all files"))


def preview(
    paths: Iterable[Path | str],
    *,
    tokenizer: Any = None,
    on_error: OnError = "skip",
    seed: int = 0,
    val_fraction: float = 0.05,
    dedupe_paragraphs: bool = False,
    progress: Progress | None = None,
) -> CorpusSummary:
    """What `add_corpus` would store, without storing anything (the GUI's preview)."""
    report = ReadReport()
    scanner = Scanner(
        seed=seed, val_fraction=val_fraction, tokenizer=tokenizer, dedupe_paragraphs=dedupe_paragraphs
    )
    for _unit in scan_units(paths, scanner, report, on_error=on_error, progress=progress):
        pass
    return scanner.finish(report)


# --- samples -----------------------------------------------------------------------------------

SAMPLE_CHARS = 400
SAMPLE_SCAN_RECORDS = 50  # records a stored corpus's samples look at: its start, never all of it


@dataclass(frozen=True)
class Sample:
    """The start of one passage or conversation as it was decoded, so a person can see that a GBK
    file reads as Chinese, not as mojibake, before training on it."""

    source: str  # the file; a data file's record is `path:line`
    encoding: str | None  # as detected; None for PDF and DOCX, which carry their own
    text: str  # at most SAMPLE_CHARS characters; a conversation as "role: content" lines
    cut: bool  # the unit goes on past `text`


def _sample(source: str, content: str | Conversation, encoding: str | None, chars: int) -> Sample:
    if not isinstance(content, str):
        content = "\n".join(f"{m['role']}: {m['content']}" for m in content)
    return Sample(source, encoding, content[:chars], len(content) > chars)


def _interleave(groups: dict[str, list[Sample]], count: int) -> list[Sample]:
    """Each file's first sample before any file's second: a drop of several files shows each one's
    decoding, a single file its first few passages."""
    rounds = max((len(g) for g in groups.values()), default=0)
    ordered = [group[rank] for rank in range(rounds) for group in groups.values() if rank < len(group)]
    return ordered[:count]


def sample_paths(paths: Iterable[Path | str], count: int = 3, chars: int = SAMPLE_CHARS) -> list[Sample]:
    """The first passages (or conversations) of the first `count` readable files, as decoded.
    Reads only the start of each file; unreadable files are passed over (the preview says why)."""
    report = ReadReport()
    groups: dict[str, list[Sample]] = {}
    for path in collect_files(paths):
        if len(groups) >= count:
            break
        group: list[Sample] = []
        try:
            for item in read_file(path, report=report):
                if isinstance(item, TextItem):
                    contents: Iterable[str | Conversation] = iter_passages(iter_paragraphs(item.chunks))
                else:
                    contents = [item.messages]
                for content in contents:
                    group.append(_sample(item.source, content, report.files.get(str(path)), chars))
                    if len(group) >= count:
                        break
                if len(group) >= count:
                    break
        except (UnreadableFile, OSError):
            continue
        if group:
            groups[str(path)] = group
    return _interleave(groups, count)


def sample_records(
    records: Iterable[dict], files: dict[str, str | None], count: int = 3, chars: int = SAMPLE_CHARS
) -> list[Sample]:
    """Samples of a stored corpus from its records ({"source", "text" or "messages"}), the encodings
    from its manifest's `files_read`."""
    groups: dict[str, list[Sample]] = {}
    for number, record in enumerate(records):
        source = record["source"]
        head = source.rpartition(":")[0]
        file = head if source not in files and head in files else source
        group = groups.setdefault(file, []) if file in groups or len(groups) < count else None
        if group is not None and len(group) < count:
            content = record["text"] if "text" in record else record["messages"]
            group.append(_sample(source, content, files.get(file), chars))
        if number + 1 >= SAMPLE_SCAN_RECORDS or (
            len(groups) >= count and all(len(g) >= count for g in groups.values())
        ):
            break
    return _interleave(groups, count)
