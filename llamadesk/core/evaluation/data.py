"""Evaluation data on disk: decoding dropped files, hashing a data set, the shipped sample sets.

Files are decoded by the corpus reader, so a benchmark saved in GBK, UTF-16 or with a BOM reads
exactly as a training corpus would, and a file that is not text is refused with its name."""

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from llamadesk.core import paths
from llamadesk.core.corpus.reading import Document, ReadReport, open_text
from llamadesk.core.corpus.reading import read_documents as read_corpus_documents
from llamadesk.core.corpus.store import MANIFEST, UNIT_FILES, get_corpus
from llamadesk.core.errors import CorpusError, NotFoundError
from llamadesk.core.i18n import _
from llamadesk.core.resources import resource

SAMPLE_PREFIX = "sample:"
CORPUS_PREFIX = "corpus:"


def decode_file(path: Path) -> tuple[str, str]:
    """The whole text of `path` and the encoding that decoded it."""
    try:
        stream = open_text(path)
        text = stream.read()
    except OSError as exc:
        raise CorpusError(
            _("{path} cannot be read: {reason}.").format(path=path, reason=exc.strerror or exc)
        ) from exc
    if not text.strip():
        raise CorpusError(_("{path} is empty.").format(path=path))
    return text, stream.encoding


def jsonl_records(path: Path) -> Iterator[tuple[str, dict]]:
    """Each non-blank line of a JSONL file as (where, object), `where` naming file and line so
    that any later complaint about a record points the user at it."""
    text, _encoding = decode_file(path)
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = _("{path} line {line}").format(path=path, line=line)
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CorpusError(
                _("{where}: not valid JSON ({reason}).").format(where=where, reason=exc.msg)
            ) from exc
        if not isinstance(record, dict):
            raise CorpusError(_("{where}: expected a JSON object per line.").format(where=where))
        yield where, record


def dataset_files(path: Path) -> list[Path]:
    """The files a data set consists of, in a stable order (a folder: every file under it)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = (p for p in path.rglob("*") if p.is_file())
        return sorted(p for p in files if not any(part.startswith(".") for part in p.relative_to(path).parts))
    raise NotFoundError(_("{path} does not exist.").format(path=path))


def dataset_sha256(path: Path) -> str:
    """A hash of the data set's content and layout, so results on different data never compare."""
    root = path if path.is_dir() else path.parent
    digest = hashlib.sha256()
    for file in dataset_files(path):
        digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def samples_root() -> Path:
    return resource("samples")


def sample_names() -> list[str]:
    return sorted(p.name for p in samples_root().iterdir() if not p.name.startswith("."))


def resolve_data(spec: str | Path) -> Path:
    """A path; `sample:NAME` for a set LlamaDesk ships (`sample:ppl_en.txt`); or `corpus:ID` for
    the held-out text of a library corpus (`corpus:ID:train` for its training text)."""
    text = str(spec)
    if text.startswith(SAMPLE_PREFIX):
        name = text[len(SAMPLE_PREFIX) :]
        path = samples_root() / name
        if not name or not path.exists():
            raise NotFoundError(
                _("There is no sample set '{name}'; the samples are: {names}.").format(
                    name=name, names=", ".join(sample_names())
                )
            )
        return path
    if text.startswith(CORPUS_PREFIX):
        corpus_id, _colon, split = text[len(CORPUS_PREFIX) :].partition(":")
        files = UNIT_FILES["text"]
        if split and split not in files:
            raise NotFoundError(
                _("A corpus has no '{split}' part; use {files}.").format(
                    split=split, files=" or ".join(files)
                )
            )
        return get_corpus(corpus_id).folder / files[split or "validation"]
    path = Path(text).expanduser()
    if not path.exists():
        raise NotFoundError(_("{path} does not exist.").format(path=path))
    return path.resolve()


def _library_corpus_documents(path: Path) -> list[Document] | None:
    """The passages of a library corpus's text file, or None when `path` is not one: they are
    scored one by one, so no window spans two passages."""
    folder = path.parent
    splits = {name: split for split, name in UNIT_FILES["text"].items()}
    in_library = folder.parent.resolve() == paths.corpora_dir().resolve() and (folder / MANIFEST).is_file()
    if path.name not in splits or not in_library:
        return None
    entry = get_corpus(folder.name)
    split = splits[path.name]
    documents = [Document(r["source"], r["text"], "utf-8") for r in entry.iter_records("text", split)]
    if not documents:
        if split == "validation":
            message = _(
                "Corpus '{corpus}' has no validation text to score (score its training text with "
                "corpus:{corpus}:train)."
            )
        else:
            message = _("Corpus '{corpus}' has no {split} text to score.")
        raise CorpusError(message.format(corpus=entry.id, split=split))
    return documents


def read_documents(path: Path) -> list[Document]:
    """The texts to score for perplexity: a file, or every readable document in a folder
    (text, Markdown, HTML, PDF, Word), as the corpus reader gives it: NFC, `\n` newlines, without
    leading and trailing whitespace. Any file that cannot be read stops the evaluation, naming it,
    rather than being left out of a score that would then silently cover less. A library corpus's
    text file gives its stored passages."""
    corpus = _library_corpus_documents(path)
    if corpus is not None:
        return corpus
    report = ReadReport()
    documents = read_corpus_documents([path], on_error="stop", report=report)
    if report.skipped:
        first = report.skipped[0]
        raise CorpusError(
            _("{path} cannot be scored: {reason}.").format(path=first.path, reason=first.reason)
        )
    return documents
