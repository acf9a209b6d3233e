"""Passages and their BM25 index, built once per corpus and kept on disk.

An index lives in `indexes/<key>/` of the data folder: the passages (JSON lines, with their source)
and bm25s's arrays. For a corpus the key holds a digest of its manifest, so an index is never used
for a corpus that changed (a corpus removed and added again under its name gets a new one); for
files named on the spot it is a digest of their paths, sizes and times. Building goes through a
staging folder like every other write of the library, so a killed build leaves no half index."""

import errno
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from llamadesk.core import paths
from llamadesk.core.atomic import remove_folder, staged_folder
from llamadesk.core.corpus import store
from llamadesk.core.corpus.reading import (
    ConversationItem,
    ReadReport,
    TextItem,
    collect_files,
    iter_items,
    nothing_found_message,
)
from llamadesk.core.corpus.scan import iter_paragraphs, iter_passages
from llamadesk.core.errors import CorpusError, NotFoundError
from llamadesk.core.grounding.terms import terms
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress

log = logging.getLogger(__name__)

FORMAT = 1  # raise when passages are cut differently: older indexes are then built again
PASSAGE_CHARS = 500  # three fit a small model's prompt with room for the conversation
# A heading (a short line that ends no sentence) joins the paragraph after it: alone it would be
# found for its few words and tell the model nothing.
HEADING_CHARS = 80
_SENTENCE_END = (".", "!", "?", "。", "！", "？", "…", '"', "”", "」")
# Hits scoring below this share of the best hit are left out: a small model given one passage that
# answers and two that merely share a word follows the wrong one as often as the right one.
RELATIVE_SCORE = 0.5
PASSAGES_FILE = "passages.jsonl"
META_FILE = "index.json"


@dataclass(frozen=True)
class Passage:
    source: str  # the file (and line or page) it came from
    text: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


def passages_of(records: Iterable[tuple[str, str]]) -> Iterator[Passage]:
    """Cut (source, text) pairs into passages: a paragraph each (a heading joined to the next), a
    long one cut at sentence ends into pieces of at most PASSAGE_CHARS. Small passages keep what the
    model reads to the point: the 135M starter answers from the one sentence that holds a fact,
    and loses it in a page."""
    for source, text in records:
        pending = ""
        for paragraph in iter_paragraphs([text], PASSAGE_CHARS):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            pending = f"{pending}\n\n{paragraph}" if pending else paragraph
            if not _is_heading(paragraph):
                yield from (Passage(source, p) for p in iter_passages([pending], PASSAGE_CHARS))
                pending = ""
        if pending:
            yield Passage(source, pending)


def _is_heading(paragraph: str) -> bool:
    return len(paragraph) < HEADING_CHARS and not paragraph.endswith(_SENTENCE_END)


def _conversation_text(messages: list[dict]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


class DocumentIndex:
    def __init__(self, passages: list[Passage], retriever: object, label: str) -> None:
        self.passages = passages
        self._retriever = retriever
        self.label = label  # the corpus name or the files, for messages

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """Up to `k` passages that match `question` best; those sharing no word with it are left
        out, so an unrelated question gets none rather than noise."""
        query = terms(question)
        if not query or not self.passages:
            return []
        found, scores = self._retriever.retrieve(
            [query], k=min(k, len(self.passages)), show_progress=False, n_threads=1
        )
        hits = [Hit(self.passages[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True)]
        best = max((h.score for h in hits), default=0.0)
        return [h for h in hits if h.score > 0 and h.score >= RELATIVE_SCORE * best]


def _build(passages: list[Passage], folder: Path) -> object:
    import bm25s

    retriever = bm25s.BM25()
    retriever.index([terms(p.text) for p in passages], show_progress=False)
    retriever.save(folder, show_progress=False)
    with open(folder / PASSAGES_FILE, "w", encoding="utf-8") as handle:
        for passage in passages:
            handle.write(
                json.dumps({"source": passage.source, "text": passage.text}, ensure_ascii=False) + "\n"
            )
    return retriever


def _load(folder: Path, label: str) -> DocumentIndex | None:
    import bm25s

    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            return None
        with open(folder / PASSAGES_FILE, encoding="utf-8") as handle:
            passages = [Passage(**json.loads(line)) for line in handle]
        return DocumentIndex(passages, bm25s.BM25.load(folder, show_progress=False), label)
    except (OSError, ValueError, TypeError, KeyError) as exc:  # damaged: built again
        log.warning("index %s unreadable (%s); building it again", folder, exc)
        return None


# The index opened last, by its folder: a chat grounded in a corpus asks for it at every message,
# and the server at every request, where opening a 20 MB corpus's index takes 0.25 s and ~200 MiB
# each time (bench/RESULTS.md). Its key changes with the documents, so it is never stale.
_open: dict[Path, DocumentIndex] = {}
_open_lock = threading.Lock()


def _cached(
    key: str, stale_prefix: str, label: str, read: Iterator[Passage], progress: Progress
) -> DocumentIndex:
    root = paths.data_home() / "indexes"
    folder = root / key
    with _open_lock:
        if folder in _open and folder.is_dir():
            return _open[folder]
    index = _opened(folder, label) or _built(key, stale_prefix, label, read, progress)
    with _open_lock:
        _open.clear()
        _open[folder] = index
    return index


def _opened(folder: Path, label: str) -> DocumentIndex | None:
    if folder.is_dir() and (index := _load(folder, label)) is not None:
        return index
    return None


def _built(
    key: str, stale_prefix: str, label: str, read: Iterator[Passage], progress: Progress
) -> DocumentIndex:
    root = paths.data_home() / "indexes"
    folder = root / key
    if folder.is_dir():
        remove_folder(folder)
    progress(0.1, _("Indexing {label}").format(label=label))
    passages = list(read)
    if not passages:
        raise CorpusError(_("{label} holds no text to search.").format(label=label))
    try:
        with staged_folder(folder) as staging:
            retriever = _build(passages, staging)
            (staging / META_FILE).write_text(
                json.dumps({"format": FORMAT, "passages": len(passages)}), encoding="utf-8"
            )
    except FileExistsError:  # another process built the same index meanwhile: it is as good
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise
    _remove_indexes(stale_prefix, keep=key)  # the same documents' index from before they changed
    progress(1.0, _("Indexed {count} passages").format(count=len(passages)))
    return DocumentIndex(passages, retriever, label)


def _remove_indexes(prefix: str, keep: str | None = None) -> None:
    """Every kept index named `prefix` + a digest, except `keep`. Only a digest may follow: corpus
    ids may hold "-", and the index of "notes-2024" also starts with "corpus-notes-"."""
    root = paths.data_home() / "indexes"
    if not root.is_dir():
        return
    for old in root.iterdir():
        if old.name != keep and old.name.startswith(prefix) and _is_digest(old.name[len(prefix) :]):
            remove_folder(old)


def remove_corpus_indexes(corpus_id: str) -> None:
    """A removed corpus's kept index goes with it."""
    _remove_indexes(_corpus_prefix(corpus_id))


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def _is_digest(text: str) -> bool:
    """Whether `text` is one digest as _digest makes them (a stale index's key ends in one)."""
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def corpus_index(corpus_id: str, progress: Progress | None = None) -> DocumentIndex:
    corpus = store.get_corpus(corpus_id)

    def read() -> Iterator[Passage]:
        for split in ("train", "validation"):
            yield from passages_of((r["source"], r["text"]) for r in corpus.iter_records("text", split))
            yield from passages_of(
                (r["source"], _conversation_text(r["messages"]))
                for r in corpus.iter_records("conversation", split)
            )

    prefix = _corpus_prefix(corpus.id)
    return _cached(prefix + _digest(corpus.manifest), prefix, corpus.name, read(), progress or Progress())


def _corpus_prefix(corpus_id: str) -> str:
    return f"corpus-{corpus_id}-"


def files_index(sources: list[Path], progress: Progress | None = None) -> DocumentIndex:
    files = collect_files(sources)
    report = ReadReport()
    label = ", ".join(p.name for p in sources)
    if not files:
        raise CorpusError(nothing_found_message(_("text"), report))
    stamp = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]

    def read() -> Iterator[Passage]:
        for item in iter_items(files, report=report):
            if isinstance(item, TextItem):
                yield from passages_of([(item.source, "".join(item.chunks))])
            elif isinstance(item, ConversationItem):
                yield from passages_of([(item.source, _conversation_text(item.messages))])

    same_files = f"files-{_digest([s[0] for s in stamp])}-"  # earlier versions of these files: stale
    return _cached(same_files + _digest(stamp), same_files, label, read(), progress or Progress())


def open_index(source: str, progress: Progress | None = None) -> DocumentIndex:
    """The index for `source`: a corpus of the library by its id, else files or folders by path."""
    if any(c.id == source for c in store.list_corpora()):
        return corpus_index(source, progress)
    path = Path(source).expanduser()
    if path.exists():
        return files_index([path], progress)
    raise NotFoundError(
        _("'{source}' is neither a corpus in the library nor a file or folder.").format(source=source)
    )
