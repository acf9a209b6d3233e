"""Samples of a corpus as decoded: the starts of its first passages with the encoding found, from
dropped files (before adding) and from a stored corpus (its records and manifest)."""

import json

from llamadesk.core.corpus import scan, store

ZH = "北京是中国的首都。人工智能正在改变世界。"


def test_each_file_shows_its_first_passage_with_its_encoding(tmp_path):
    (tmp_path / "a-en.txt").write_text("Llamas live in the Andes.\n\nThey carry loads.", encoding="utf-8")
    (tmp_path / "b-zh.txt").write_bytes(f"{ZH}\n\n第二段。".encode("gbk"))
    (tmp_path / "c-qa.jsonl").write_text(
        json.dumps({"instruction": "Where?", "output": "Here."}) + "\n", encoding="utf-8"
    )
    (tmp_path / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))  # passed over

    samples = scan.sample_paths([tmp_path])
    assert [(s.source.rsplit("/", 1)[-1], s.encoding) for s in samples] == [
        ("a-en.txt", "utf-8"),
        ("b-zh.txt", "gb18030"),
        ("c-qa.jsonl:1", "utf-8"),
    ]
    assert samples[1].text.startswith(ZH)  # decoded right, not mojibake
    assert samples[2].text == "user: Where?\nassistant: Here."


def test_one_long_file_shows_its_first_passages_cut_short(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("\n\n".join(f"Paragraph {i}. " + "word " * 2000 for i in range(5)), encoding="utf-8")
    samples = scan.sample_paths([path], count=3, chars=50)
    assert len(samples) == 3 and all(s.cut and len(s.text) == 50 for s in samples)
    assert [s.text.split(".")[0] for s in samples] == ["Paragraph 0", "Paragraph 1", "Paragraph 2"]


def test_a_stored_corpus_shows_samples_from_its_records(tmp_path):
    (tmp_path / "zh.txt").write_bytes(ZH.encode("gb18030"))
    (tmp_path / "en.txt").write_text("Hello there.", encoding="utf-8")
    entry = store.add_corpus([tmp_path / "en.txt", tmp_path / "zh.txt"], "mixed-docs")
    summary = entry.summary()
    records = [*entry.iter_records("text", "train"), *entry.iter_records("text", "validation")]
    samples = scan.sample_records(records, summary.files_read)
    assert {s.text: s.encoding for s in samples} == {"Hello there.": "utf-8", ZH: "gb18030"}
