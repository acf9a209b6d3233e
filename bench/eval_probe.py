"""Evaluation at real size, in a subprocess of its own per side: perplexity of a library model
scored where the app scores it against the torch engine.

    python bench/eval_probe.py --model ID --engine app|torch --threads N [--tokens 1024] [--window 512]

`--engine app` is `run_variants` as the CLI and the Evaluate panel call it: a GGUF model on a CPU is
scored on llama.cpp with the file mapped as it is. `--engine torch` makes the same call pick the
torch engine (the GGUF dequantised in memory at the load, then held as the model's setting says:
int4 on a CPU by default), as evaluation ran before.
The text is the shipped English perplexity sample, repeated to `--tokens` tokens.

Prints one JSON line `{"event": "result", ...}`: the load and scoring seconds, the tokens scored
per second of scoring, the process's peak RSS (the higher of VmHWM and a 5 ms sampler, from the
process's start: imports and load count) over the GGUF file's bytes, and the perplexity."""

import argparse
import tempfile
import time
from pathlib import Path

from engine_probe import _peak_rss_bytes, _RssSampler, emit, use_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="library model id")
    parser.add_argument("--engine", choices=["app", "torch"], default="app")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=1024, help="about this many tokens are scored")
    parser.add_argument("--window", type=int, default=512)
    args = parser.parse_args(argv)

    sampler = _RssSampler()
    from llamadesk.core import library
    from llamadesk.core.evaluation import PerplexitySettings, prepare_perplexity
    from llamadesk.core.evaluation.comparison import run_variants
    from llamadesk.core.evaluation.data import samples_root
    from llamadesk.core.progress import Progress

    threads_set_by = use_engine(args.engine, args.threads)
    sample = (samples_root() / "ppl_en.txt").read_text(encoding="utf-8")
    # The sample is ~400 tokens; enough copies for --tokens, as one document.
    text = "\n\n".join([sample] * max(1, round(args.tokens / 400)))
    phases: dict[str, float] = {}

    def on_progress(_fraction: float, message: str) -> None:
        # The first message naming the metric marks the end of loading.
        if "scoring_from" not in phases and message.endswith("Perplexity"):
            phases["scoring_from"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "text.txt"
        path.write_text(text, encoding="utf-8")
        job = prepare_perplexity(path, PerplexitySettings(window=args.window, stride=args.window // 2))
        started = time.perf_counter()
        [record] = run_variants(args.model, [None], job, Progress(on_progress))
        ended = time.perf_counter()
    peak = max(_peak_rss_bytes(), sampler.stop())
    gguf = library.get_model(args.model).gguf_path
    file_bytes = gguf.stat().st_size if gguf else None
    scoring_s = ended - phases.get("scoring_from", started)
    tokens = record.summary["tokens"]
    emit(
        {
            "event": "result",
            "model": args.model,
            "engine": record.settings.get("engine"),
            "dtype": record.settings.get("dtype"),
            "quantization": record.settings.get("quantization"),
            "threads": args.threads,
            "threads_set_by": threads_set_by,
            "tokens": tokens,
            "window": record.summary["window"],
            "stride": record.summary["stride"],
            "perplexity": record.summary["perplexity"],
            "load_s": phases.get("scoring_from", ended) - started,
            "scoring_s": scoring_s,
            "tokens_per_s": tokens / scoring_s if scoring_s > 0 else None,
            "peak_rss_bytes": peak,
            "gguf_bytes": file_bytes,
            "peak_rss_over_file": peak / file_bytes if file_bytes else None,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
