"""`llamadesk eval ppl|mc|gen MODEL [--adapter A] --data PATH`, and the stored results.

Every run is stored (see `eval runs`, `eval show`) before its score is printed. Without --data a
run uses the sample set LlamaDesk ships for that kind, so the first try needs no files at all;
`sample:NAME` names a shipped set (`eval samples` lists them), `corpus:ID` the held-out text of a
library corpus. The data is read and checked before the model loads.

`eval gen --docs CORPUS_OR_PATH` measures retrieval against training: the questions are asked
without and with passages from the documents, on the base and (with --adapter) on the adapter, and
the four results are printed side by side (`--replies` adds what each variant answered)."""

import argparse
import sys
from collections.abc import Sequence

from llamadesk.cli._output import print_json, stderr_progress
from llamadesk.core import evaluation
from llamadesk.core.evaluation import report, results
from llamadesk.core.evaluation.comparison import run_variants
from llamadesk.core.evaluation.data import resolve_data, sample_names, samples_root
from llamadesk.core.evaluation.generation_metrics import DOCS_K, MAX_DOCS_K

DEFAULT_DATA = {"ppl": "sample:ppl_en.txt", "mc": "sample:ceval_sample", "gen": "sample:qa_sample.jsonl"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a model: perplexity, benchmarks, generation")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("ppl", help="perplexity on a text file or folder (sliding window)")
    _common(p, "ppl")
    p.add_argument("--window", type=int, help="tokens per window (default: the context, at most 2048)")
    p.add_argument("--stride", type=int, help="tokens each window moves on (default: half the window)")
    p.set_defaults(handler=_ppl)

    p = verbs.add_parser("mc", help="multiple-choice accuracy (C-Eval / MMLU style CSV or JSONL)")
    _common(p, "mc")
    p.add_argument("--shots", type=int, default=0, help="worked examples from the dev file (default 0)")
    p.add_argument("--dev", help="the dev file or folder for --shots (default: found beside the data)")
    p.add_argument("--chat", action="store_true", help="wrap each prompt in the model's chat template")
    p.add_argument("--language", choices=["auto", "zh", "en"], default="auto", help="prompt header language")
    p.set_defaults(handler=_mc)

    p = verbs.add_parser("gen", help="exact match, ROUGE-L and containment of greedy replies")
    _common(p, "gen")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        help="ask as a chat turn (default: when the model has a chat template)",
    )
    p.add_argument("--limit", type=int, help="score only the first N pairs")
    p.add_argument(
        "--docs",
        metavar="CORPUS_OR_PATH",
        help="also ask each question with passages from these documents (a library corpus, a file or "
        "a folder): compares the base and the adapter, each without and with them",
    )
    p.add_argument(
        "--docs-k",
        type=int,
        default=DOCS_K,
        metavar="N",
        help=f"passages given with each question (default {DOCS_K}, at most {MAX_DOCS_K})",
    )
    p.add_argument("--replies", action="store_true", help="print every variant's reply to each question")
    p.set_defaults(handler=_gen)

    p = verbs.add_parser("runs", help="stored evaluation runs, newest first")
    p.add_argument("--kind", choices=["ppl", "mc", "gen"])
    p.add_argument("--model", help="only runs of this model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_runs)

    p = verbs.add_parser("show", help="one stored run, with its per-item detail on request")
    p.add_argument("run", type=int)
    p.add_argument("--items", action="store_true", help="include every item's detail")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_show)

    p = verbs.add_parser("winrates", help="blind A/B votes: wins, losses and ties per pair")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_winrates)

    p = verbs.add_parser("samples", help="the sample sets LlamaDesk ships")
    p.set_defaults(handler=_samples)


def _common(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument("model", help="the model's id in the library")
    parser.add_argument("--adapter", help="evaluate with this LoRA adapter on top of the model")
    where = "a file, a folder, sample:NAME" + (", corpus:ID[:train]" if kind == "ppl" else "")
    parser.add_argument("--data", default=DEFAULT_DATA[kind], help=f"{where} (default: {DEFAULT_DATA[kind]})")
    parser.add_argument("--json", action="store_true")


def _evaluate(
    args: argparse.Namespace, job: evaluation.EvalJob, adapters: Sequence[str | None] | None = None
) -> list[results.RunRecord]:
    """Load the model once, run the prepared job on each variant (by default the one asked for),
    free the model; the stored runs in the order run."""
    try:
        return run_variants(args.model, adapters or [args.adapter], job, stderr_progress())
    finally:
        if sys.stderr.isatty():
            print(file=sys.stderr)


def _ppl(args: argparse.Namespace) -> int:
    settings = evaluation.PerplexitySettings(window=args.window, stride=args.stride)
    [record] = _evaluate(args, evaluation.prepare_perplexity(resolve_data(args.data), settings))
    s = record.summary
    if args.json:
        print_json(record.to_json())
    else:
        print(
            f"Perplexity {s['perplexity']:.4f} (mean NLL {s['mean_nll']:.4f}) over {s['tokens']:,} tokens "
            f"in {s['documents']} document(s); window {s['window']}, stride {s['stride']}. "
            f"Stored as run {record.id}."
        )
    return 0


def _mc(args: argparse.Namespace) -> int:
    settings = evaluation.MCSettings(shots=args.shots, chat_template=args.chat, language=args.language)
    dev = resolve_data(args.dev) if args.dev else None
    [record] = _evaluate(args, evaluation.prepare_multiple_choice(resolve_data(args.data), settings, dev))
    s = record.summary
    if args.json:
        print_json(record.to_json())
        return 0
    for key, subject in s["subjects"].items():
        label = key if subject["name"] == key.replace("_", " ") else f"{key} ({subject['name']})"
        print(f"  {label:<44} {subject['correct']:>4}/{subject['total']:<4} {subject['accuracy']:7.1%}")
    prompt = "chat template" if s["chat_template"] else "raw prompt"
    print(
        f"Average accuracy {s['average_accuracy']:.1%} over {len(s['subjects'])} subject(s) "
        f"({s['correct']}/{s['questions']} questions), {s['shots']}-shot, {prompt}. "
        f"Stored as run {record.id}."
    )
    return 0


def _gen(args: argparse.Namespace) -> int:
    settings = evaluation.GenSettings(
        max_new_tokens=args.max_new_tokens,
        chat_template=args.chat,
        limit=args.limit,
        docs=args.docs,
        docs_k=args.docs_k,
    )
    job = evaluation.prepare_generation(resolve_data(args.data), settings, stderr_progress())
    # With documents: the base is always one of the rows, so the comparison has its reference.
    adapters = [None, args.adapter] if args.docs and args.adapter else [args.adapter]
    records = _evaluate(args, job, adapters)
    if args.json:
        print_json([r.to_json() for r in records] if args.docs else records[0].to_json())
    elif len(records) == 1:
        s = records[0].summary
        print(
            f"Exact match {s['exact_match']:.1%}, ROUGE-L {s['rouge_l']:.3f}, answer contained "
            f"{s['contains']:.1%} over {s['items']} pairs (greedy, at most {s['max_new_tokens']} new "
            f"tokens). Stored as run {records[0].id}."
        )
    else:
        _print_comparison(records)
    if args.replies and not args.json:
        _print_replies(records)
    return 0


def _print_comparison(records: list[results.RunRecord]) -> None:
    """The variants side by side, one row each, the best of each column starred."""
    table = report.build_table(records)
    first = records[0].summary
    chat = "chat template" if first["chat_template"] else "raw prompt"
    print(
        f"{report.dataset_label(records[0].dataset_path)}: {first['items']} questions, greedy, at most "
        f"{first['max_new_tokens']} new tokens, {chat}."
    )
    width = max(len(v.label) for v in table.variants) + 2
    names = [c.metric.name for c in table.columns]
    room = max(len(n) for n in names) + 3
    print(f"  {'variant':<{width}}" + "".join(f"{n:>{room}}" for n in names) + f"{'run':>6}")
    best = {c: table.best(c) for c in table.columns}
    for variant in table.variants:
        cells = [table.latest(variant, c) for c in table.columns]
        shown = [
            (c.metric.format(cell.value) + (" *" if variant in best[c] else "  ")) if cell else ""
            for c, cell in zip(table.columns, cells, strict=True)
        ]
        run_id = next(cell.run_id for cell in cells if cell)
        print(f"  {variant.label:<{width}}" + "".join(f"{t:>{room}}" for t in shown) + f"{run_id:>6}")
    print(f"* best in its column. Stored as runs {', '.join(str(r.id) for r in records)}.")


def _print_replies(records: list[results.RunRecord]) -> None:
    table = report.build_table(records)
    variants, questions = report.replies_by_question(table, table.columns[0])
    width = max(len(v.label) for v in variants) + 1
    for number, entry in enumerate(questions, 1):
        print(f"\n{number}. {entry.question}\n   expected: {entry.answer}")
        for variant in variants:
            item = entry.replies.get(variant)
            if item is not None:
                mark = "=" if item["exact_match"] else "~" if item["contains"] else " "
                reply = " ".join(item["reply"].split()) or "(empty)"
                print(f"   {mark} {variant.label + ':':<{width}} {reply}")
    print("\n= exact match, ~ answer contained in the reply")


def _runs(args: argparse.Namespace) -> int:
    runs = results.list_runs(kind=args.kind, model_id=args.model)
    if args.json:
        print_json([r.to_json() for r in runs])
    elif not runs:
        print("No evaluation has been run yet. Try `llamadesk eval ppl MODEL`.")
    else:
        for r in runs:
            model = report.Variant.of(r).label
            print(f"{r.id:>5}  {r.created}  {r.kind:<4} {r.status:<9} {model:<32} {_headline(r)}")
    return 0


def _headline(record: results.RunRecord) -> str:
    s = record.summary
    if record.status != "complete":
        return s.get("error", "")
    if record.kind == "ppl":
        return f"ppl {s['perplexity']:.3f} ({s['tokens']:,} tokens)"
    if record.kind == "mc":
        return f"accuracy {s['average_accuracy']:.1%} ({s['shots']}-shot)"
    return f"EM {s['exact_match']:.1%}  ROUGE-L {s['rouge_l']:.3f}  contains {s['contains']:.1%}"


def _show(args: argparse.Namespace) -> int:
    record = results.get_run(args.run)
    data = record.to_json()
    if args.items:
        data["items"] = report.readable_items(record)
    if args.json:
        print_json(data)
        return 0
    model = report.Variant.of(record).label
    print(f"Run {record.id}: {record.kind} of {model}, {record.status}, {record.created}")
    print(f"  data:     {record.dataset_path} (sha256 {record.dataset_sha256[:16]}…)")
    print(f"  settings: {record.settings}")
    print(f"  result:   {_headline(record)}")
    for item in data.get("items", []):
        print(f"  {item}")
    return 0


def _winrates(args: argparse.Namespace) -> int:
    tallies = results.win_rates()
    if args.json:
        print_json([t.to_json() for t in tallies])
    elif not tallies:
        print("No blind A/B votes yet.")
    else:
        for t in tallies:
            row = t.to_json()
            print(
                f"{t.first} vs {t.second}: {t.first_wins}–{t.second_wins}, {t.ties} tie(s) of {t.total} "
                f"({row['first_win_rate']:.0%} / {row['second_win_rate']:.0%})"
            )
    return 0


def _samples(args: argparse.Namespace) -> int:
    print(f"Sample sets in {samples_root()} (use --data sample:NAME):")
    for name in sample_names():
        print(f"  {name}")
    return 0
