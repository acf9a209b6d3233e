"""Chat-engine measurements that `bench/run_all.py` runs, each in a subprocess of its own.

    python bench/engine_probe.py MODE --threads N [options]      (LLAMADESK_HOME holds the starter)

Modes, each printing one JSON line `{"event": "result", ...}`:

  overhead  the streaming path the GUI uses (ChatController: worker QThread, queued token signals,
            the conversation written to ChatHistory) against a bare `model.generate` on the very
            same model object, prompt and greedy settings, timed in pairs in ABBA order
  decode    ChatEngine's own decode speed (tokens/s after the first token) on the counting prompt,
            the figure `llamacpp_probe.py` is compared with
  ttft      time to first token at every turn of a ten-turn conversation, three conversations
  rss       peak RSS over a five-turn chat (counted from the end of the load) against the bytes of
            the weights; `imports` the RSS of the bare imports (python + torch, then + transformers
            and the engine) for scale

The thread count is fixed twice: OMP_NUM_THREADS in the environment (set by the runner) and the
app's own `runtime.configure`, which is what the Settings dialog calls."""

import argparse
import json
import resource
import statistics
import sys
import threading
import time

# Long greedy output on every backend: the model counts rather than stopping after a sentence.
COUNT_PROMPT = "Count from 1 to 300, separated by commas."
STORY_PROMPT = "Tell me a long story about a lighthouse keeper and a storm."
TURN_QUESTIONS = [
    "What is the capital of France?",
    "Tell me one fact about it.",
    "Name a famous museum there.",
    "What can one see in that museum?",
    "Which river flows through the city?",
    "Name a bridge over that river.",
    "What is a typical French dish?",
    "How is it cooked?",
    "Which wine goes with it?",
    "Summarise our conversation in one sentence.",
]


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _peak_rss_bytes() -> int:
    """This process's own high-water RSS. Not getrusage's ru_maxrss: Linux carries that across
    fork and exec, so a child of a large parent would report the parent's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB; other systems


def _restart_peak_rss() -> bool:
    """Start the high-water mark afresh from the current RSS (Linux: clear_refs "5"), so the next
    peak is that of what follows; False where the system cannot, and the peak counts from the start."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _engine(threads: int):
    from llamadesk.core import runtime, starter
    from llamadesk.core.engine import ChatEngine

    runtime.configure(runtime.RuntimeOptions(threads=threads))
    engine = ChatEngine()
    engine.load(starter.STARTER_ID)
    return engine


def _greedy(max_new_tokens: int):
    from llamadesk.core.generation import GenerationSettings

    return GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=max_new_tokens, seed=0)


def _reply(engine, messages: list[dict], max_new_tokens: int) -> str:
    return "".join(engine.stream(messages, _greedy(max_new_tokens), threading.Event()))


def overhead(args: argparse.Namespace) -> None:
    """Pairs of (streaming path, bare generate) on one prompt, timed in ABBA order."""
    import torch
    from PySide6.QtCore import QCoreApplication, QEventLoop

    from llamadesk.core import runtime, starter
    from llamadesk.core.history import ChatHistory
    from llamadesk.ui.chat_worker import ChatController

    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    runtime.configure(runtime.RuntimeOptions(threads=args.threads))
    controller = ChatController()
    history = ChatHistory()
    loop = QEventLoop()
    outcome: dict = {}

    def finished(_request: int, text: str, figures: dict) -> None:
        outcome.update(text=text, figures=figures, at=time.perf_counter())
        loop.quit()

    def failed(_request: int, message: str, _partial: str) -> None:
        outcome.update(error=message)
        loop.quit()

    controller.model_loaded.connect(lambda _info: loop.quit())
    controller.load_failed.connect(lambda message: (outcome.update(error=message), loop.quit()))
    controller.generation_finished.connect(finished)
    controller.generation_failed.connect(failed)
    controller.load(starter.STARTER_ID)
    loop.exec()
    if "error" in outcome:
        raise SystemExit(outcome["error"])
    engine = controller.worker.engine
    settings = _greedy(args.max_new_tokens)

    def through_app(messages: list[dict]) -> dict:
        outcome.clear()
        started = time.perf_counter()
        conversation = history.create(system_prompt=messages[0]["content"], settings=settings)
        history.add_message(conversation.id, "user", messages[1]["content"])
        controller.generate(messages, settings)
        loop.exec()
        if "error" in outcome:
            raise SystemExit(outcome["error"])
        figures = outcome["figures"]
        history.add_message(
            conversation.id,
            "assistant",
            outcome["text"],
            tokens=figures["new_tokens"],
            tokens_per_s=figures["tokens_per_s"],
            ttft_s=figures["ttft_s"],
            finish_reason=figures["finish_reason"],
        )
        wall = time.perf_counter() - started
        return {"tokens": figures["new_tokens"], "wall_s": wall, "reused_tokens": figures["reused_tokens"]}

    def bare_generate(messages: list[dict], tokens: int) -> dict:
        ids = engine.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )["input_ids"]
        started = time.perf_counter()
        with torch.inference_mode():
            out = engine.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                repetition_penalty=1.0,
                pad_token_id=engine.tokenizer.eos_token_id,
            )
        wall = time.perf_counter() - started
        return {
            "tokens": int(out.shape[1] - ids.shape[1]),
            "wall_s": wall,
            "prompt_tokens": int(ids.shape[1]),
        }

    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": STORY_PROMPT},
    ]

    def fresh_app_run() -> dict:
        # A one-token reply to another message first, so the timed one cannot reuse the previous
        # run's KV cache: both sides then encode the whole prompt.
        controller.generate([{"role": "user", "content": "Hello."}], _greedy(1))
        loop.exec()
        return through_app(messages)

    tokens = fresh_app_run()["tokens"]  # warm-up; greedy, so every later run writes as many tokens
    bare_generate(messages, 8)
    pairs = []
    for index in range(args.repeats):
        if index % 2 == 0:
            app_run, bare_run = fresh_app_run(), bare_generate(messages, tokens)
        else:
            bare_run, app_run = bare_generate(messages, tokens), fresh_app_run()
        ratio = (app_run["tokens"] / app_run["wall_s"]) / (bare_run["tokens"] / bare_run["wall_s"])
        pairs.append({"app": app_run, "generate": bare_run, "ratio": ratio})
        emit({"event": "pair", "index": index, "ratio": round(ratio, 4), "tokens": app_run["tokens"]})
    controller.shutdown()
    history.close()
    app.quit()
    emit(
        {
            "event": "result",
            "engine_overhead_ratio": statistics.median(p["ratio"] for p in pairs),
            "app_tokens_per_s": statistics.median(p["app"]["tokens"] / p["app"]["wall_s"] for p in pairs),
            "generate_tokens_per_s": statistics.median(
                p["generate"]["tokens"] / p["generate"]["wall_s"] for p in pairs
            ),
            "pairs": pairs,
            "torch_threads": torch.get_num_threads(),
        }
    )


def decode(args: argparse.Namespace) -> None:
    import torch

    engine = _engine(args.threads)
    messages = [{"role": "user", "content": COUNT_PROMPT}]
    _reply(engine, messages, 8)  # warm-up
    runs = []
    for _ in range(args.repeats):
        # A fresh engine cache each time: a different first message breaks the shared prefix.
        _reply(engine, [{"role": "user", "content": "Hello."}], 1)
        _reply(engine, messages, args.max_new_tokens)
        stats = engine.last_stats
        runs.append(
            {"tokens": stats.new_tokens, "decode_tokens_per_s": stats.tokens_per_s, "ttft_s": stats.ttft_s}
        )
    emit(
        {
            "event": "result",
            "backend": "llamadesk",
            "decode_tokens_per_s": statistics.median(r["decode_tokens_per_s"] for r in runs),
            "prompt_tokens": engine.last_stats.prompt_tokens,
            "runs": runs,
            "dtype": engine.dtype,
            "quantization": engine.quantization,
            "torch_threads": torch.get_num_threads(),
        }
    )


def ttft(args: argparse.Namespace) -> None:
    engine = _engine(args.threads)
    _reply(engine, [{"role": "user", "content": "Hello."}], 4)  # warm-up
    conversations = []
    for index in range(args.repeats):
        messages = [{"role": "system", "content": f"You are a concise assistant (conversation {index})."}]
        turns = []
        for question in TURN_QUESTIONS:
            messages.append({"role": "user", "content": question})
            answer = _reply(engine, messages, args.max_new_tokens)
            messages.append({"role": "assistant", "content": answer})
            stats = engine.last_stats
            turns.append(
                {
                    "ttft_s": stats.ttft_s,
                    "prompt_tokens": stats.prompt_tokens,
                    "reused_tokens": stats.reused_tokens,
                }
            )
        conversations.append({"turns": turns, "ratio": turns[-1]["ttft_s"] / turns[0]["ttft_s"]})
        emit({"event": "conversation", "index": index, "ratio": round(conversations[-1]["ratio"], 3)})
    emit(
        {
            "event": "result",
            "ttft_turn10_over_turn1": statistics.median(c["ratio"] for c in conversations),
            "ttft_turn1_s": statistics.median(c["turns"][0]["ttft_s"] for c in conversations),
            "ttft_turn10_s": statistics.median(c["turns"][-1]["ttft_s"] for c in conversations),
            "prompt_tokens_turn1": conversations[0]["turns"][0]["prompt_tokens"],
            "prompt_tokens_turn10": conversations[0]["turns"][-1]["prompt_tokens"],
            "conversations": conversations,
        }
    )


def rss(args: argparse.Namespace) -> None:
    engine = _engine(args.threads)
    weights = sum(p.numel() * p.element_size() for p in engine.model.parameters())
    weights += sum(b.numel() * b.element_size() for b in engine.model.buffers())
    after_load = _peak_rss_bytes()
    chat_only = _restart_peak_rss()  # "while chatting": the load's own peak is reported beside it
    messages: list[dict] = []
    for question in TURN_QUESTIONS[:5]:
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": _reply(engine, messages, args.max_new_tokens)})
    peak = _peak_rss_bytes()
    emit(
        {
            "event": "result",
            "chat_peak_rss_over_weights": peak / weights,
            "peak_rss_bytes": peak,
            "peak_rss_after_load_bytes": after_load,
            "peak_counts_from": "after the load" if chat_only else "process start",
            "weight_bytes": weights,
            "dtype": engine.dtype,
            "quantization": engine.quantization,
            "prompt_tokens_last_turn": engine.last_stats.prompt_tokens,
        }
    )


def imports(_args: argparse.Namespace) -> None:
    """RSS of what every chat process carries before it holds a single weight."""
    import torch  # noqa: F401

    after_torch = _peak_rss_bytes()
    import transformers  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    import llamadesk.core.engine  # noqa: F401

    emit(
        {
            "event": "result",
            "python_torch_rss_bytes": after_torch,
            "plus_transformers_engine_rss_bytes": _peak_rss_bytes(),
        }
    )


MODES = {"overhead": overhead, "decode": decode, "ttft": ttft, "rss": rss, "imports": imports}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args(argv)
    MODES[args.mode](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
