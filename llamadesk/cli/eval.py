"""`llamadesk eval ppl|mc|gen MODEL [--adapter A] --data PATH`, and the stored results.

Every run is stored (see `eval runs`, `eval show`) before its score is printed. Without --data a
run uses the sample set LlamaDesk ships for that kind, so the first try needs no files at all;
`sample:NAME` names a shipped set (`eval samples` lists them), `corpus:ID` the held-out text of a
library corpus. The data is read and checked before the model loads."""

import argparse
import sys

from llamadesk.cli._output import print_json, stderr_progress
from llamadesk.core import evaluation
from llamadesk.core.evaluation import results
from llamadesk.core.evaluation.data import resolve_data, sample_names, samples_root

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


def _evaluate(args: argparse.Namespace, job) -> results.RunRecord:
    """Load the model (with its adapter), run the prepared job on it, free the model."""
    from llamadesk.core.engine import ChatEngine

    progress = stderr_progress()
    engine = ChatEngine()
    try:
        engine.load(args.model, progress.sub(0.0, 0.15))
        if args.adapter:
            engine.load_adapters([args.adapter], progress.sub(0.15, 0.2))
            engine.set_adapter(args.adapter)
        return job.run(
            engine.model,
            engine.tokenizer,
            model_id=args.model,
            adapter_id=args.adapter,
            progress=progress.sub(0.2, 1.0),
        )
    finally:
        engine.unload()
        if sys.stderr.isatty():
            print(file=sys.stderr)


def _ppl(args: argparse.Namespace) -> int:
    settings = evaluation.PerplexitySettings(window=args.window, stride=args.stride)
    record = _evaluate(args, evaluation.prepare_perplexity(resolve_data(args.data), settings))
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
    record = _evaluate(args, evaluation.prepare_multiple_choice(resolve_data(args.data), settings, dev))
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
        max_new_tokens=args.max_new_tokens, chat_template=args.chat, limit=args.limit
    )
    record = _evaluate(args, evaluation.prepare_generation(resolve_data(args.data), settings))
    s = record.summary
    if args.json:
        print_json(record.to_json())
    else:
        print(
            f"Exact match {s['exact_match']:.1%}, ROUGE-L {s['rouge_l']:.3f}, answer contained "
            f"{s['contains']:.1%} over {s['items']} pairs (greedy, at most {s['max_new_tokens']} new "
            f"tokens). Stored as run {record.id}."
        )
    return 0


def _runs(args: argparse.Namespace) -> int:
    runs = results.list_runs(kind=args.kind, model_id=args.model)
    if args.json:
        print_json([r.to_json() for r in runs])
    elif not runs:
        print("No evaluation has been run yet. Try `llamadesk eval ppl MODEL`.")
    else:
        for r in runs:
            model = f"{r.model_id}+{r.adapter_id}" if r.adapter_id else r.model_id
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
        data["items"] = results.run_items(record.id)
    if args.json:
        print_json(data)
        return 0
    model = f"{record.model_id} + adapter {record.adapter_id}" if record.adapter_id else record.model_id
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
