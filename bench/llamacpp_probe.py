"""Raw llama-cpp-python's decode speed on a model's GGUF file: the yardstick for the app's.

    python bench/llamacpp_probe.py --gguf FILE --prompt-ids FILE --n-ctx N --threads N
                                   [--repeats R] [--max-new-tokens 128]

Runs in its own subprocess (started by `bench/run_all.py`, ABBA with `engine_probe.py decode`).
It is `llama_cpp.Llama` of the very build the app uses, on the very file (the library model's GGUF,
whose path the app's side reports), with the app engine's context size, batch size and thread
count, fed the very prompt ids the app's engine encoded (`engine_probe.py decode` prints them; the
runner writes them to FILE), decoding greedily with llama-cpp-python's own `Llama.generate`
(temperature 0: its greedy sampler) until `--max-new-tokens` tokens or an end-of-generation token.
Tokens/s counts from the first generated token to the last, as the app's side counts from its
first streamed piece to its last, so prompt processing is left out on both sides. Prints one JSON
line `{"event": "result", ...}` with the generated text (the runner checks it is the app's), or
exits 3 with the reason when llama-cpp-python is not installed.

Nothing of LlamaDesk is imported here. The environment is the runner's, which is the app's own:
OMP_NUM_THREADS, and GOMP_SPINCOUNT as `import llamadesk` sets it (for torch's OpenMP threads; it
also sets how long llama.cpp's spin at a barrier), so both sides' threads wait alike. Each side
reports the value it ran with."""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", required=True, type=Path, help="the GGUF file the app's engine runs")
    parser.add_argument("--prompt-ids", required=True, type=Path, help="JSON list of token ids")
    parser.add_argument("--n-ctx", type=int, required=True, help="the app engine's context size")
    parser.add_argument("--n-batch", type=int, default=512, help="the app engine's prompt batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args(argv)
    try:
        import llama_cpp
    except ImportError as exc:
        print(f"llama-cpp-python is not installed ({exc}); install the bench extra.", file=sys.stderr)
        return 3

    gguf = args.gguf
    prompt = [int(t) for t in json.loads(args.prompt_ids.read_text(encoding="utf-8"))]
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(gguf),
        n_gpu_layers=0,
        use_mmap=True,
        n_ctx=args.n_ctx,
        n_batch=min(args.n_batch, args.n_ctx),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    load_s = time.perf_counter() - started
    vocab = llama_cpp.llama_model_get_vocab(llm.model)

    def run(max_new: int) -> dict:
        llm.reset()  # no reuse of the previous run's KV cache
        stamps: list[float] = []
        tokens: list[int] = []
        started = time.perf_counter()
        for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            stamps.append(time.perf_counter())
            tokens.append(token)
            if len(tokens) >= max_new:
                break
        decoded = len(stamps) - 1
        return {
            "tokens": len(tokens),
            "decode_tokens_per_s": decoded / (stamps[-1] - stamps[0]) if decoded > 0 else 0.0,
            "ttft_s": stamps[0] - started if stamps else None,
            "text": llm.detokenize(tokens).decode("utf-8", errors="replace"),
        }

    run(8)  # warm-up
    runs = [run(args.max_new_tokens) for _ in range(args.repeats)]
    text = runs[-1].pop("text")
    for r in runs:
        r.pop("text", None)
    print(
        json.dumps(
            {
                "event": "result",
                "backend": "llama.cpp",
                "decode_tokens_per_s": statistics.median(r["decode_tokens_per_s"] for r in runs),
                "tokens": runs[-1]["tokens"],
                "prompt_tokens": len(prompt),
                "text": text,
                "runs": runs,
                "load_s": load_s,
                "llama_cpp_python": llama_cpp.__version__,
                "gguf": gguf.name,
                "gguf_bytes": gguf.stat().st_size,
                "threads": int(llama_cpp.llama_n_threads(llm.ctx)),
                "n_ctx": int(llama_cpp.llama_n_ctx(llm.ctx)),
                "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
            }
        ),
        flush=True,
    )
    llm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
