"""llama.cpp's decode speed on the starter's own GGUF file: the yardstick for ChatEngine's.

    python bench/llamacpp_probe.py --threads N [--repeats R] [--max-new-tokens 128]

Runs in its own subprocess (started by `bench/run_all.py`, ABBA with `engine_probe.py decode`), so
llama.cpp's thread pool and torch's never share a process. The prompt is the very token ids
ChatEngine would feed (the starter's chat template applied by its tokenizer from the library), and
decoding is greedy with no repetition penalty, as on the LlamaDesk side. Tokens/s counts from the
first generated token to the last, like `GenerationStats.tokens_per_s`, so prompt processing is
left out on both sides. Prints one JSON line `{"event": "result", ...}`, or exits 3 with the
reason when llama-cpp-python is not installed (it is only in the `bench` extra)."""

import argparse
import json
import statistics
import sys
import time

from engine_probe import COUNT_PROMPT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args(argv)
    try:
        import llama_cpp
    except ImportError as exc:
        print(f"llama-cpp-python is not installed ({exc}); install the bench extra.", file=sys.stderr)
        return 3

    from transformers import AutoTokenizer

    from llamadesk.core import library, starter

    gguf = starter.find_starter_gguf()
    tokenizer = AutoTokenizer.from_pretrained(library.get_model(starter.STARTER_ID).path)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": COUNT_PROMPT}], add_generation_prompt=True, return_dict=False
    )
    llm = llama_cpp.Llama(
        model_path=str(gguf),
        n_ctx=2048,
        # One token per batch: on machines whose CPU lists AMX but whose kernel does not grant it
        # (this development VM), ggml's AMX matrix-matrix kernel dies on `ldtilecfg` for any batch
        # of 2 or more tokens. Decoding is one token per batch anyway, so the figure compared is
        # unchanged; only the prompt (not timed) is fed token by token.
        n_batch=1,
        n_ubatch=1,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    stop = {llm.token_eos(), *(tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>"))}

    def run(max_new: int) -> dict:
        llm.reset()  # no reuse of the previous run's KV cache
        stamps = []
        started = time.perf_counter()
        for token in llm.generate(prompt, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
            stamps.append(time.perf_counter())
            if token in stop or len(stamps) >= max_new:
                break
        decoded = len(stamps) - 1
        return {
            "tokens": len(stamps),
            "decode_tokens_per_s": decoded / (stamps[-1] - stamps[0]) if decoded > 0 else 0.0,
            "ttft_s": stamps[0] - started,
        }

    run(8)  # warm-up
    runs = [run(args.max_new_tokens) for _ in range(args.repeats)]
    print(
        json.dumps(
            {
                "event": "result",
                "backend": "llama.cpp",
                "decode_tokens_per_s": statistics.median(r["decode_tokens_per_s"] for r in runs),
                "prompt_tokens": len(prompt),
                "runs": runs,
                "llama_cpp_python": llama_cpp.__version__,
                "gguf": gguf.name,
                "threads": args.threads,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
