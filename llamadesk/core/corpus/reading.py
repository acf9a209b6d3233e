"""Reading the user's files into text and conversations.

Every supported type ends as NFC text with `\\n` newlines. Plain-text files are decoded lazily in
chunks, so a 2 GB file never sits in memory; the other types are parsed whole (their libraries
need that, and such files are small). A file that cannot be read (binary, undecodable, broken) is
skipped with a reason rather than failing the whole corpus; a malformed record inside a readable
data file follows the caller's `on_error` choice."""

import codecs
import csv
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from llamadesk.core.corpus.instructions import (
    Conversation,
    RecordError,
    detect_shape,
    normalise_record,
    table_layout,
    table_row,
)
from llamadesk.core.errors import CorpusError, NotFoundError
from llamadesk.core.i18n import _
from llamadesk.core.names import shown

OnError = Literal["skip", "stop"]
ByteCallback = Callable[[int], None]

DEFAULT_CHUNK_CHARS = 1 << 20
SNIFF_BYTES = 1 << 20  # enough text to tell the encodings apart, small enough to sniff every file
MAX_WARNINGS = 200  # a million bad lines must not become a million strings in the manifest

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
DATA_SUFFIXES = frozenset({".jsonl", ".json", ".csv"})
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | DATA_SUFFIXES | {".pdf", ".docx"}

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Tried in order after the marks. GB18030 (a superset of GBK) decodes most byte soup, hence the
# sanity check; Windows-1252 is the last resort for Western text saved by older Windows programs.
_FALLBACKS = ("utf-8", "gb18030", "cp1252")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")  # where GB18030 puts user-defined (random) byte pairs
_MAX_ODD_SHARE = 0.01


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class ReadReport:
    """What happened to each file: read (with the encoding found), skipped (with why), and warnings
    about records left out under on_error="skip"."""

    files: dict[str, str | None] = field(default_factory=dict)  # path -> encoding (None: PDF, DOCX)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the first MAX_WARNINGS
    warning_count: int = 0

    def warn(self, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def encodings(self) -> dict[str, int]:
        """How many files were decoded with each encoding."""
        counts: dict[str, int] = {}
        for encoding in self.files.values():
            if encoding is not None:
                counts[encoding] = counts.get(encoding, 0) + 1
        return counts


class UnreadableFile(CorpusError):
    """A file that holds no usable text: binary, undecodable, damaged, empty or password-protected."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(_("{path} cannot be read: {reason}.").format(path=path, reason=reason))


@dataclass(frozen=True)
class TextItem:
    """Plain text: a whole file, or one text record of a data file (`source` is then `path:line`)."""

    source: str
    chunks: Iterable[str]  # lazily decoded for plain-text files
    encoding: str | None


@dataclass(frozen=True)
class ConversationItem:
    source: str  # path:line, or path:record N for a JSON array
    messages: Conversation


Item = TextItem | ConversationItem


# --- encodings and streaming ------------------------------------------------------------------


def detect_encoding(sample: bytes, complete: bool = True) -> str:
    """The codec that decodes `sample` into plausible text; ValueError (with the reason) if none.

    `complete` is False when the sample is the start of a longer file, so a character cut at its end
    is not held against it."""
    for mark, name in _BOMS:
        if sample.startswith(mark):
            return name
    if b"\x00" in sample:
        raise ValueError(_("it is a binary file (it contains NUL bytes)"))
    for name in _FALLBACKS:
        try:
            text = codecs.getincrementaldecoder(name)().decode(sample, final=complete)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text, name):
            return name
    raise ValueError(_("it is binary or in an unknown encoding (not UTF-8, UTF-16, GB18030 or Windows-1252)"))


def _looks_like_text(text: str, encoding: str) -> bool:
    if not text:
        return True
    odd = len(_CONTROL.findall(text))
    if encoding == "gb18030":
        odd += len(_PRIVATE_USE.findall(text))
    return odd <= _MAX_ODD_SHARE * len(text)


class TextStream:
    """A text file decoded lazily: iterating yields NFC chunks with `\\n` newlines, each about
    `chunk_chars` long and cut where normalisation cannot change (see `_safe_cut`).

    The encoding comes from the first SNIFF_BYTES; should a later byte not decode, it becomes
    U+FFFD rather than failing a multi-gigabyte read halfway."""

    def __init__(self, path: Path, encoding: str, chunk_chars: int, on_read: ByteCallback | None) -> None:
        self.path = path
        self.encoding = encoding
        self.chunk_chars = chunk_chars
        self._on_read = on_read

    def __iter__(self) -> Iterator[str]:
        return _normalised(self._decoded(), self.chunk_chars)

    def _decoded(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        with open(self.path, "rb") as handle:
            while block := handle.read(self.chunk_chars):
                if self._on_read is not None:
                    self._on_read(len(block))
                yield decoder.decode(block)
        yield decoder.decode(b"", final=True)

    def read(self) -> str:
        return "".join(self)


def open_text(
    path: Path, *, chunk_chars: int = DEFAULT_CHUNK_CHARS, on_read: ByteCallback | None = None
) -> TextStream:
    """Sniff a text file's encoding now (UnreadableFile if it is not text) and stream it later."""
    with open(path, "rb") as handle:
        sample = handle.read(SNIFF_BYTES)
        complete = len(sample) < SNIFF_BYTES or not handle.read(1)
    if not sample:
        raise UnreadableFile(path, _("the file is empty"))
    try:
        encoding = detect_encoding(sample, complete)
    except ValueError as exc:
        raise UnreadableFile(path, str(exc)) from None
    return TextStream(Path(path), encoding, chunk_chars, on_read)


def _normalised(pieces: Iterator[str], chunk_chars: int) -> Iterator[str]:
    carry = ""
    for piece in pieces:
        buffer = carry + piece
        held = ""
        if buffer.endswith("\r"):  # may be the first half of a \r\n split between blocks
            buffer, held = buffer[:-1], "\r"
        buffer = buffer.replace("\r\n", "\n").replace("\r", "\n")
        if len(buffer) < chunk_chars:
            carry = buffer + held
            continue
        cut = _safe_cut(buffer)
        yield unicodedata.normalize("NFC", buffer[:cut])
        carry = buffer[cut:] + held
    tail = carry.replace("\r", "\n")
    if tail:
        yield unicodedata.normalize("NFC", tail)


def _safe_cut(text: str) -> int:
    """Where to end a chunk so NFC of the parts equals NFC of the whole: after a newline, else
    before an ASCII or CJK ideograph character (neither composes with what precedes it). Prefers
    the second half of the text so chunks stay near the requested size."""
    half = len(text) // 2
    newline = text.rfind("\n", half)
    if newline != -1:
        return newline + 1
    for index in range(len(text) - 1, 0, -1):
        code = ord(text[index])
        if code < 0x80 or 0x4E00 <= code <= 0x9FFF:
            return index
    return len(text)


def iter_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines with their `\\n`, across chunk boundaries (what the csv module expects)."""
    carry = ""
    for chunk in chunks:
        lines = (carry + chunk).split("\n")
        carry = lines.pop()
        for line in lines:
            yield line + "\n"
    if carry:
        yield carry


# --- file types --------------------------------------------------------------------------------


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf._encryption import PasswordType

    # pypdf raises a zoo of exception types on damaged files; any of them means "skip this file".
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise UnreadableFile(path, _("the PDF is password-protected"))
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableFile:
        raise
    except Exception as exc:
        raise UnreadableFile(path, _("it is not a readable PDF ({exc})").format(exc=exc)) from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise UnreadableFile(path, _("the PDF has no text layer (scanned pages are images)"))
    return text


def _docx_text(path: Path) -> str:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        blocks = []
        for block in document.iter_inner_content():  # paragraphs and tables in reading order
            if isinstance(block, Table):
                rows = ("\t".join(cell.text.strip() for cell in row.cells) for row in block.rows)
                blocks.append("\n".join(rows))
            else:
                blocks.append(block.text)
    except Exception as exc:  # python-docx fails on damaged zips in many ways; all mean "skip"
        raise UnreadableFile(path, _("it is not a readable Word document ({exc})").format(exc=exc)) from None
    return "\n\n".join(b.strip() for b in blocks if b.strip())


class _HtmlText(HTMLParser):
    """Visible text of a page: scripts and styles dropped, blocks on their own lines, runs of
    whitespace collapsed as a browser would (except inside <pre>)."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template"})
    _PARAGRAPH = frozenset(
        {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "ul", "ol", "table"}
    )
    _LINE = frozenset({"br", "div", "li", "tr", "section", "article", "header", "footer", "dt", "dd", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._hidden = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._on_tag(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        self._on_tag(tag, opening=False)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        # <br/> is one line break; a self-closed <script/> or <pre/> encloses nothing.
        if tag not in self._HIDDEN and tag != "pre":
            self._on_tag(tag, opening=True)

    def _on_tag(self, tag: str, opening: bool) -> None:
        step = 1 if opening else -1
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden + step)
        elif tag == "pre":
            self._pre = max(0, self._pre + step)
        if tag in self._PARAGRAPH:
            self._parts.append("\n\n")
        elif tag in self._LINE:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._parts.append(data if self._pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = (line.strip() for line in "".join(self._parts).split("\n"))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.text()


def _whole(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def _place(where: str) -> str:
    """A record's place ("line 3", "record 3": also the `path:3` of its source) as the user reads it."""
    kind, _space, number = where.partition(" ")
    return (_("record {number}") if kind == "record" else _("line {number}")).format(number=number)


class _Records:
    """Turns the records of one data file into items, applying `on_error` to the bad ones."""

    def __init__(self, path: Path, on_error: OnError, report: ReadReport, encoding: str) -> None:
        self.path = path
        self.on_error = on_error
        self.report = report
        self.encoding = encoding

    def item(self, where: str, record: object) -> Item | None:
        try:
            value = normalise_record(record)
        except RecordError as exc:
            self.fail(where, str(exc))
            return None
        return self.wrap(where, value)

    def wrap(self, where: str, value: Conversation | str) -> Item:
        source = f"{self.path}:{where.removeprefix('line ')}"
        if isinstance(value, str):
            return TextItem(source, (value,), self.encoding)
        return ConversationItem(source, value)

    def fail(self, where: str, reason: str) -> None:
        if self.on_error == "stop":
            raise CorpusError(
                _("{path}, {where}: {reason}.").format(path=self.path, where=_place(where), reason=reason)
            )
        self.report.warn(f"{self.path}:{where.removeprefix('line ')}: {reason}")


def _jsonl_items(stream: TextStream, records: _Records) -> Iterator[Item]:
    for number, line in enumerate(iter_lines(stream), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            records.fail(f"line {number}", _("invalid JSON ({reason})").format(reason=exc.msg))
            continue
        item = records.item(f"line {number}", record)
        if item is not None:
            yield item


def _json_items(stream: TextStream, records: _Records) -> Iterator[Item]:
    try:
        data = json.loads(stream.read())
    except json.JSONDecodeError as exc:
        records.fail(f"line {exc.lineno}", _("invalid JSON ({reason})").format(reason=exc.msg))
        return
    if isinstance(data, dict):
        # One record (e.g. one chat), or {"data": [...]} wrapping the records.
        lists = [v for v in data.values() if isinstance(v, list)]
        wrapper = detect_shape(data) is None and len(data) == 1 and len(lists) == 1
        data = lists[0] if wrapper else [data]
    if not isinstance(data, list):
        records.fail("line 1", _("expected a list of records or one record object"))
        return
    for number, record in enumerate(data, 1):
        item = records.item(f"record {number}", record)
        if item is not None:
            yield item


def _csv_items(stream: TextStream, records: _Records) -> Iterator[Item]:
    reader = csv.reader(iter_lines(stream))
    try:
        header = next(reader, None)
        if header is None:
            return
        try:
            layout = table_layout(header)
        except RecordError as exc:
            records.fail("line 1", str(exc))
            return
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            if not any(cell.strip() for cell in row):
                continue
            try:
                value = table_row(layout, row)
            except RecordError as exc:
                records.fail(f"line {start}", str(exc))
                continue
            yield records.wrap(f"line {start}", value)
    except csv.Error as exc:  # unterminated quotes, oversized fields: the rest cannot be trusted
        records.fail(f"line {reader.line_num}", _("broken CSV ({exc})").format(exc=exc))


def read_file(
    path: Path,
    *,
    on_error: OnError = "skip",
    report: ReadReport | None = None,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    on_read: ByteCallback | None = None,
) -> Iterator[Item]:
    """The items of one file; UnreadableFile if it has none (binary, empty, broken)."""
    report = report if report is not None else ReadReport()
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UnreadableFile(path, _("'{suffix}' files are not supported").format(suffix=suffix or path.name))
    if suffix in (".pdf", ".docx"):
        text = _pdf_text(path) if suffix == ".pdf" else _docx_text(path)
        if on_read is not None:
            on_read(path.stat().st_size)
        text = _whole(text)
        if not text.strip():
            raise UnreadableFile(path, _("it contains no text"))
        report.files[str(path)] = None
        yield TextItem(str(path), (text,), None)
        return
    stream = open_text(path, chunk_chars=chunk_chars, on_read=on_read)
    if suffix in TEXT_SUFFIXES:
        report.files[str(path)] = stream.encoding
        yield TextItem(str(path), stream, stream.encoding)
        return
    if suffix in HTML_SUFFIXES:
        text = html_to_text(stream.read())
        if not text:
            raise UnreadableFile(path, _("the page has no visible text"))
        report.files[str(path)] = stream.encoding
        yield TextItem(str(path), (text,), stream.encoding)
        return
    records = _Records(path, on_error, report, stream.encoding)
    readers = {".jsonl": _jsonl_items, ".json": _json_items, ".csv": _csv_items}
    found = False
    for item in readers[suffix](stream, records):
        if not found:
            report.files[str(path)] = stream.encoding
            found = True
        yield item
    if not found:
        raise UnreadableFile(path, _("it has no usable records"))


# --- folders and many files --------------------------------------------------------------------


def collect_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files named, and those inside the folders named (recursively, sorted, hidden ones
    such as .git left out). A path that does not exist is the user's mistake: NotFoundError."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for folder, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                files.extend(Path(folder) / f for f in sorted(filenames) if not f.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise NotFoundError(_("{path} does not exist.").format(path=shown(str(path))))
    return files


def iter_items(
    paths: Iterable[Path | str],
    *,
    on_error: OnError = "skip",
    report: ReadReport | None = None,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    on_read: ByteCallback | None = None,
) -> Iterator[Item]:
    """Every item of every file, in order; unreadable files go to `report.skipped`."""
    report = report if report is not None else ReadReport()
    for path in collect_files(paths):
        try:
            yield from read_file(
                path, on_error=on_error, report=report, chunk_chars=chunk_chars, on_read=on_read
            )
        except UnreadableFile as exc:
            report.skipped.append(Skipped(exc.path, exc.reason))
        except OSError as exc:
            report.skipped.append(Skipped(str(path), exc.strerror or str(exc)))


@dataclass(frozen=True)
class Document:
    source: str
    text: str
    encoding: str | None


def read_documents(
    paths: Iterable[Path | str], *, on_error: OnError = "skip", report: ReadReport | None = None
) -> list[Document]:
    """The plain text of files and folders, whole, for evaluation (perplexity on held-out text).
    Conversations in data files are not text and are left out. CorpusError if nothing is left."""
    report = report if report is not None else ReadReport()
    documents = []
    for item in iter_items(paths, on_error=on_error, report=report):
        if isinstance(item, TextItem):
            text = "".join(item.chunks).strip()
            if text:
                documents.append(Document(item.source, text, item.encoding))
    if not documents:
        raise CorpusError(nothing_found_message(_("text"), report))
    return documents


def read_instruction_file(
    path: Path | str, *, on_error: OnError = "stop", report: ReadReport | None = None
) -> list[Conversation]:
    """The conversations of one instruction file (JSONL, JSON or CSV in any recognised shape).

    Text records are not instructions: under "stop" they are an error, under "skip" a warning."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise NotFoundError(_("{path} does not exist.").format(path=shown(str(path))))
    report = report if report is not None else ReadReport()
    conversations = []
    for item in read_file(path, on_error=on_error, report=report):
        if isinstance(item, ConversationItem):
            conversations.append(item.messages)
        elif on_error == "stop":
            raise CorpusError(
                _("{source}: this record is plain text, not a conversation.").format(source=item.source)
            )
        else:
            report.warn(_("{source}: plain text, not a conversation").format(source=item.source))
    if not conversations:
        raise CorpusError(
            _("{path} holds no conversations (instruction/output, messages or question/answer).").format(
                path=path
            )
        )
    return conversations


def nothing_found_message(what: str, report: ReadReport) -> str:
    """One sentence for an empty result that says why, naming the first few skipped files."""
    if not report.skipped:
        return _("No usable {what} was found in the files given.").format(what=what)
    shown = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in report.skipped[:3])
    more = _(" and {count} more").format(count=len(report.skipped) - 3) if len(report.skipped) > 3 else ""
    count = len(report.skipped)
    template = (
        _("No usable {what} was found; {count} file skipped ({shown}{more}).")
        if count == 1
        else _("No usable {what} was found; {count} files skipped ({shown}{more}).")
    )
    return template.format(what=what, count=count, shown=shown, more=more)
