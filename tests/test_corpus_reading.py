"""Reading files: every type, every encoding, binary skips, folders, and streaming big files."""

import os
import tracemalloc
import unicodedata
from pathlib import Path

import pytest

from llamadesk.core.corpus.reading import (
    ReadReport,
    TextItem,
    detect_encoding,
    html_to_text,
    iter_items,
    open_text,
    read_documents,
)
from llamadesk.core.errors import CorpusError, NotFoundError

CHINESE = "北京是中国的首都。人工智能正在改变世界。\n第二段：你好，世界！"


def make_pdf(path: Path, text: str) -> Path:
    """A minimal one-page PDF with a text stream, byte offsets computed so the xref is exact."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(out)
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("First paragraph of the report.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "cell one"
    table.rows[0].cells[1].text = "cell two"
    document.add_paragraph("中文段落。")
    document.save(str(path))
    return path


def texts(paths, **kwargs) -> dict[str, str]:
    return {Path(d.source).name: d.text for d in read_documents(paths, **kwargs)}


def test_plain_markdown_and_html(tmp_path):
    (tmp_path / "a.txt").write_text("Plain text.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Title\n\nBody *text*.", encoding="utf-8")
    (tmp_path / "c.html").write_text(
        "<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><h1>Heading</h1><p>First &amp; second   words.</p><div>Line<br/>break</div>"
        "<pre>  keep\n    indent</pre></body></html>",
        encoding="utf-8",
    )
    found = texts([tmp_path])
    assert found["a.txt"] == "Plain text."
    assert found["b.md"] == "# Title\n\nBody *text*."
    html = found["c.html"]
    assert "color" not in html and "var x" not in html
    assert "Heading\n\nFirst & second words." in html
    assert "Line\nbreak" in html
    assert "keep\nindent" in html or "keep\n    indent" in html


def test_html_self_closed_script_hides_nothing():
    assert html_to_text("<p>before</p><script/><p>after</p>") == "before\n\nafter"


def test_pdf_and_docx(tmp_path):
    make_pdf(tmp_path / "report.pdf", "Hello from a PDF")
    make_docx(tmp_path / "notes.docx")
    report = ReadReport()
    found = texts([tmp_path], report=report)
    assert "Hello from a PDF" in found["report.pdf"]
    assert found["notes.docx"] == "First paragraph of the report.\n\ncell one\tcell two\n\n中文段落。"
    assert set(report.files.values()) == {None}  # no text encoding for binary formats


@pytest.mark.parametrize(
    ("encoding", "prefix", "found"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("utf-16", b"", "utf-16"),  # Python writes the BOM
        ("utf-16-be", b"\xfe\xff", "utf-16"),
        ("gbk", b"", "gb18030"),
        ("gb18030", b"", "gb18030"),
    ],
)
def test_encodings_detected_and_recorded(tmp_path, encoding, prefix, found):
    path = tmp_path / "zh.txt"
    path.write_bytes(prefix + CHINESE.replace("\n", "\r\n").encode(encoding))
    report = ReadReport()
    [document] = read_documents([path], report=report)
    assert document.text == CHINESE  # BOM gone, CRLF -> LF
    assert document.encoding == found and report.files[str(path)] == found
    assert report.encodings() == {found: 1}


def test_text_is_nfc(tmp_path):
    path = tmp_path / "nfd.txt"
    path.write_text(unicodedata.normalize("NFD", "café naïve"), encoding="utf-8")
    assert read_documents([path])[0].text == "café naïve"


def test_windows_1252_fallback(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("Café “quoted” — déjà vu.".encode("cp1252"))
    [document] = read_documents([path])
    assert document.text == "Café “quoted” — déjà vu." and document.encoding == "cp1252"


def test_detect_encoding_refuses_binary():
    with pytest.raises(ValueError, match="NUL"):
        detect_encoding(b"abc\x00def")
    noise = bytes((i * 7919 + 13) % 256 for i in range(4096)).replace(b"\x00", b"\x01")
    with pytest.raises(ValueError, match="binary or in an unknown encoding"):
        detect_encoding(noise)
    # A sample cut inside a multi-byte character is still UTF-8 when more follows.
    assert detect_encoding("中文".encode()[:-1], complete=False) == "utf-8"


def test_binary_and_broken_files_are_skipped_with_reasons(tmp_path):
    (tmp_path / "good.txt").write_text("Usable text.", encoding="utf-8")
    (tmp_path / "nul.txt").write_bytes(b"text\x00\x00binary")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (tmp_path / "broken.docx").write_bytes(b"PK not a zip")
    (tmp_path / "empty.md").write_bytes(b"")
    report = ReadReport()
    documents = read_documents([tmp_path], report=report)
    assert [Path(d.source).name for d in documents] == ["good.txt"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"nul.txt", "photo.png", "broken.pdf", "broken.docx", "empty.md"}
    assert "NUL" in reasons["nul.txt"]
    assert "not supported" in reasons["photo.png"]
    assert "PDF" in reasons["broken.pdf"]
    assert "Word" in reasons["broken.docx"]
    assert "empty" in reasons["empty.md"]


def test_nothing_usable_is_one_clear_error(tmp_path):
    (tmp_path / "a.bin.txt").write_bytes(b"\x00\x01\x02")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(CorpusError) as exc:
        read_documents([tmp_path])
    message = str(exc.value)
    assert message.startswith("No usable text was found; 2 files skipped")
    assert "a.bin.txt" in message and "\n" not in message


def test_missing_path(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        read_documents([tmp_path / "nope"])


def test_folders_recursive_sorted_hidden_left_out(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD.txt").write_text("ref", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("hidden", encoding="utf-8")
    (tmp_path / "b.txt").write_text("b", encoding="utf-8")
    (tmp_path / "sub" / "a.txt").write_text("a", encoding="utf-8")
    (tmp_path / "sub" / "deeper" / "c.md").write_text("c", encoding="utf-8")
    assert [d.text for d in read_documents([tmp_path])] == ["b", "a", "c"]


def _big_text(lines: int = 80_000) -> str:
    line = "The quick brown fox 北京是中国的首都 cafe\u0301 jumps.\r\n"
    return line * lines + "end"


def test_streaming_matches_whole_decode_in_small_chunks(tmp_path):
    text = _big_text()[:200_000]
    expected = unicodedata.normalize("NFC", text.replace("\r\n", "\n"))
    for encoding in ("utf-8", "gbk", "utf-16"):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(
            text.replace("\u0301", "").encode(encoding) if encoding == "gbk" else text.encode(encoding)
        )
        chunks = list(open_text(path, chunk_chars=4099))
        want = expected.replace("é", "e") if encoding == "gbk" else expected
        assert "".join(chunks) == want, encoding
        assert len(chunks) > 10


def test_large_file_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "big.txt"
    text = _big_text(200_000)
    path.write_text(text, encoding="utf-8", newline="")
    size = path.stat().st_size
    assert size > 10_000_000
    chunk_chars = 64 * 1024
    stream = open_text(path, chunk_chars=chunk_chars)  # sniffing reads a fixed 1 MiB sample
    tracemalloc.start()
    try:
        lengths = []
        total = 0
        for chunk in stream:
            lengths.append(len(chunk))
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(lengths) > 20 and max(lengths) <= 2 * chunk_chars
    assert total == len(unicodedata.normalize("NFC", text.replace("\r\n", "\n")))
    # The whole text as one str would take about twice the file's size (CJK is 2 bytes a char).
    assert peak < size / 5, f"peak {peak} bytes for a {size}-byte file"


def test_plain_text_items_are_lazy(tmp_path):
    path = tmp_path / "big.md"
    path.write_text("x" * 100_000, encoding="utf-8")
    read = []
    [item] = list(iter_items([path], chunk_chars=10_000, on_read=read.append))
    assert isinstance(item, TextItem) and read == []  # nothing decoded until the chunks are asked for
    assert sum(len(c) for c in item.chunks) == 100_000
    assert sum(read) == os.path.getsize(path)


def test_streaming_without_newlines_keeps_nfc_across_cuts(tmp_path):
    text = ("Cafe\u0301 " + "中文" + "e\u0301" * 3) * 20_000  # no newline to cut at
    path = tmp_path / "one-line.txt"
    path.write_text(text, encoding="utf-8")
    chunks = list(open_text(path, chunk_chars=1000))
    assert len(chunks) > 50
    assert "".join(chunks) == unicodedata.normalize("NFC", text)
    assert all(unicodedata.is_normalized("NFC", c) for c in chunks)
