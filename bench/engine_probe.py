"""Chat-engine measurements that `bench/run_all.py` runs, each in a subprocess of its own.

    python bench/engine_probe.py MODE [--engine app|torch] [--model ID] --threads N [options]

`--engine app` (the default) is the app's own path: `SwitchingEngine`, which picks llama.cpp for a
GGUF model on a CPU (the starter and the synthetic 1.1B here); every result says which engine
answered. `--engine torch` is the torch `ChatEngine` used directly, as the app ran before llama.cpp
(a GGUF model dequantised in memory, then held int4 by default): its figures go beside the app's
in `details`. `--model` is a library id (default: the starter), LLAMADESK_HOME the library.

Modes, each printing one JSON line `{"event": "result", ...}`:

  overhead  the streaming path the GUI uses (ChatController: worker QThread, queued token signals,
            the conversation written to ChatHistory) against a bare generation on the very same
            model object (llama-cpp-python's `Llama.generate` on the engine's own `Llama`, or
            `model.generate` on torch), same prompt and greedy settings, pairs in ABBA order
  decode    the engine's decode speed (tokens/s from the first streamed piece to the last, as the
            caller sees them) on the counting prompt, the figure `llamacpp_probe.py` is compared
            with; it also prints the prompt's token ids, so llama.cpp is fed the very same ones
  ttft      time to first token at every turn of a ten-turn conversation, `--repeats` conversations
  rss       the process's peak RSS (VmHWM: from its start, so the imports and the load count) over
            a chat of `--turns` turns, against the bytes of the model's GGUF file; the peak counted
            from the end of the load is reported beside it
  imports   the RSS of the bare imports of each path: python + the llama.cpp engine, then + torch,
            transformers and the torch engine

Threads: the torch engine gets them from `runtime.configure` (what the Settings dialog calls) and
OMP_NUM_THREADS (set by the runner). The app's llama.cpp engine uses the user's choice or else one
thread per physical core; where that default already is `--threads` nothing is configured, because
`runtime.configure` imports torch, which a user with default settings never pays for on this path.
Every llama.cpp result reports the threads its context really ran with."""

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from typing import Any

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
STARTER = "SmolLM2-135M-Instruct"  # llamadesk.core.starter.STARTER_ID, without importing it here


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def status_bytes(field: str, pid: int | str = "self") -> int | None:
    """A size field of /proc/PID/status (VmRSS, VmHWM) in bytes; None where there is none."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss_bytes() -> int:
    """This process's own high-water RSS. Not getrusage's ru_maxrss: Linux carries that across
    fork and exec, so a child of a large parent would report the parent's size."""
    peak = status_bytes("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB; other systems


def _rss_bytes() -> int:
    now = status_bytes("VmRSS")
    return now if now is not None else _peak_rss_bytes()


class _RssSampler:
    """Samples this process's RSS every few milliseconds on a thread of its own. The kernel's
    high-water mark (VmHWM) is only brought up to date when memory is unmapped, so a peak that is
    handed back with madvise (glibc's malloc_trim, which the torch engine calls after a load) can be
    missing from it; the sampled peak catches those. The figure reported is the higher of the two."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.peak = 0
        self._interval = interval_s
        self._done = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open("/proc/self/statm", encoding="ascii") as statm:
                while not self._done.wait(self._interval):
                    statm.seek(0)
                    self.peak = max(self.peak, int(statm.read().split()[1]) * self._page)
        except OSError:  # no /proc: VmHWM (or ru_maxrss) alone
            pass

    def restart(self) -> None:
        self.peak = 0

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


def _restart_peak_rss() -> bool:
    """Start the high-water mark afresh from the current RSS (Linux: clear_refs "5"), so the next
    peak is that of what follows; False where the system cannot, and the peak counts from the start."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _app_threads(threads: int) -> str:
    """Give the app's engine `threads` CPU threads the way a user would; says how."""
    import psutil

    default = psutil.cpu_count(logical=False) or os.cpu_count() or 1  # llamacpp_engine's default
    if default == threads:
        return "the app's default (one per physical core)"
    from llamadesk.core import runtime

    runtime.configure(runtime.RuntimeOptions(threads=threads))
    return "runtime.configure (imports torch)"


def _force_torch() -> None:
    """Make the app's SwitchingEngine pick the torch engine in this process (for the figures kept
    beside the app's); nothing else in the app changes."""
    from llamadesk.core import engines

    engines.pick = lambda _entry: (engines.TORCH, "the benchmark asked for the torch engine")


def use_engine(engine: str, threads: int) -> str:
    """Make the app's own path pick `engine` ("app": its choice; "torch": forced) with `threads`
    CPU threads, the way a user would set them; says how the threads were set."""
    if engine != "torch":
        return _app_threads(threads)
    from llamadesk.core import runtime

    _force_torch()
    runtime.configure(runtime.RuntimeOptions(threads=threads))
    return "runtime.configure"


def _llama_of(engine: Any) -> Any:
    """The `llama_cpp.Llama` the engine runs, or None on the torch engine."""
    return getattr(engine, "llm", None)


def _llama_figures(engine: Any) -> dict:
    """The threads and context the engine's llama.cpp context really has, and its KV cache's size
    as llama.cpp allocates it (f16 keys and values for every context position, every layer)."""
    llm = _llama_of(engine)
    if llm is None:
        return {}
    import llama_cpp

    meta = llm.metadata
    arch = meta.get("general.architecture", "llama")
    n_ctx = int(llama_cpp.llama_n_ctx(llm.ctx))
    figures = {
        "engine_threads": int(llama_cpp.llama_n_threads(llm.ctx)),
        "engine_threads_batch": int(llama_cpp.llama_n_threads_batch(llm.ctx)),
        "n_ctx": n_ctx,
    }
    try:
        layers = int(meta[f"{arch}.block_count"])
        heads = int(meta[f"{arch}.attention.head_count"])
        kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
        head_dim = int(meta[f"{arch}.embedding_length"]) // heads
        figures["kv_cache_bytes_estimate"] = 2 * layers * n_ctx * kv_heads * head_dim * 2
    except (KeyError, ValueError):
        pass
    return figures


def _load(args: argparse.Namespace) -> tuple[Any, dict]:
    """The engine args.engine names, with args.model loaded, and how it was set up."""
    setup: dict = {"model": args.model, "threads": args.threads}
    if args.engine == "torch":
        from llamadesk.core import runtime
        from llamadesk.core.engine import ChatEngine

        runtime.configure(runtime.RuntimeOptions(threads=args.threads))
        setup["threads_set_by"] = "runtime.configure"
        engine = ChatEngine()
    else:
        setup["threads_set_by"] = _app_threads(args.threads)
        from llamadesk.core.engines import SwitchingEngine

        engine = SwitchingEngine()
    started = time.perf_counter()
    engine.load(args.model)
    setup["load_s"] = time.perf_counter() - started
    gguf = engine.entry.gguf_path
    setup["gguf_path"] = str(gguf) if gguf else None
    # llamadesk's import sets it for torch; libgomp reads it when llama.cpp's library loads.
    setup["gomp_spincount"] = os.environ.get("GOMP_SPINCOUNT")
    info = engine.info()
    setup.update(
        engine=info.get("engine", "torch"),
        engine_reason=info.get("engine_reason"),
        dtype=info["dtype"],
        quantization=info["quantization"],
        context_length=info["context_length"],
        torch_imported="torch" in sys.modules,
    )
    if "torch" in sys.modules:
        import torch

        setup["torch_threads"] = torch.get_num_threads()
    return engine, setup


def _greedy(max_new_tokens: int):
    from llamadesk.core.generation import GenerationSettings

    return GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=max_new_tokens, seed=0)


def _reply(engine, messages: list[dict], max_new_tokens: int) -> str:
    return "".join(engine.stream(messages, _greedy(max_new_tokens), threading.Event()))


def _timed_reply(engine, messages: list[dict], max_new_tokens: int) -> dict:
    """One greedy reply, stamped as the caller receives its pieces. Decode tokens/s is the tokens
    after the first over the time from the first piece to the last, as llamacpp_probe counts."""
    stamps, pieces = [], []
    started = time.perf_counter()
    for piece in engine.stream(messages, _greedy(max_new_tokens), threading.Event()):
        stamps.append(time.perf_counter())
        pieces.append(piece)
    stats = engine.last_stats
    span = stamps[-1] - stamps[0] if stamps else 0.0
    return {
        "tokens": stats.new_tokens,
        "pieces": len(pieces),
        "decode_tokens_per_s": (stats.new_tokens - 1) / span if stats.new_tokens > 1 and span > 0 else 0.0,
        "engine_tokens_per_s": stats.tokens_per_s,  # the engine's own stamps, for comparison
        "ttft_s": stamps[0] - started if stamps else None,
        "prompt_tokens": stats.prompt_tokens,
        "reused_tokens": stats.reused_tokens,
        "finish_reason": stats.finish_reason,
        "text": "".join(pieces),
    }


def overhead(args: argparse.Namespace) -> None:
    """Pairs of (streaming path, bare generation) on one prompt, timed in ABBA order."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    from llamadesk.core.history import ChatHistory
    from llamadesk.ui.chat_worker import ChatController

    threads_set_by = use_engine(args.engine, args.threads)
    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
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

    controller.model_loaded.connect(lambda info: (outcome.update(info=info), loop.quit()))
    controller.load_failed.connect(lambda message: (outcome.update(error=message), loop.quit()))
    controller.generation_finished.connect(finished)
    controller.generation_failed.connect(failed)
    controller.load(args.model)
    loop.exec()
    if "error" in outcome:
        raise SystemExit(outcome["error"])
    info = outcome["info"]
    engine = controller.worker.engine
    llm = _llama_of(engine)
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
        return {
            "tokens": figures["new_tokens"],
            "wall_s": wall,
            "reused_tokens": figures["reused_tokens"],
            # The engine's own view from the worker thread: where the wall time went.
            "engine_ttft_s": figures["ttft_s"],
            "engine_tokens_per_s": figures["tokens_per_s"],
        }

    def bare_llama(messages: list[dict], tokens: int) -> dict:
        # The engine's own prompt ids (a private method: the bench needs the very same tokens), then
        # llama-cpp-python's own generator on the engine's own Llama, its cache emptied first.
        ids = engine._encode(messages)
        llm.reset()
        count = 0
        started = time.perf_counter()
        for _token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            count += 1
            if count >= tokens:
                break
        wall = time.perf_counter() - started
        return {"tokens": count, "wall_s": wall, "prompt_tokens": len(ids)}

    def bare_torch(messages: list[dict], tokens: int) -> dict:
        import torch

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

    bare_generate = bare_llama if llm is not None else bare_torch
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
    figures = _llama_figures(engine)
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
            # Each side's best pair, which a burst of other work on a shared CPU cannot lower.
            "best_ratio": max(p["app"]["tokens"] / p["app"]["wall_s"] for p in pairs)
            / max(p["generate"]["tokens"] / p["generate"]["wall_s"] for p in pairs),
            "bare": "Llama.generate on the engine's Llama" if llm is not None else "model.generate",
            "pairs": pairs,
            "engine": info.get("engine"),
            "threads_set_by": threads_set_by,
        }
        | figures
    )


def decode(args: argparse.Namespace) -> None:
    engine, setup = _load(args)
    messages = [{"role": "user", "content": COUNT_PROMPT}]
    _reply(engine, messages, 8)  # warm-up
    runs = []
    for _ in range(args.repeats):
        # A fresh engine cache each time: a different first message breaks the shared prefix.
        _reply(engine, [{"role": "user", "content": "Hello."}], 1)
        runs.append(_timed_reply(engine, messages, args.max_new_tokens))
    text = runs[-1].pop("text")
    for run in runs:
        run.pop("text", None)
    emit(
        {
            "event": "result",
            "backend": "llamadesk",
            "decode_tokens_per_s": statistics.median(r["decode_tokens_per_s"] for r in runs),
            "engine_tokens_per_s": statistics.median(r["engine_tokens_per_s"] for r in runs),
            "tokens": runs[-1]["tokens"],
            "prompt_tokens": runs[-1]["prompt_tokens"],
            # The engine's own encoding of `messages` (private: llama.cpp must get these very ids).
            "prompt_ids": [int(t) for t in engine._encode(messages)],
            "text": text,
            "runs": runs,
            "peak_rss_bytes": _peak_rss_bytes(),  # VmHWM: imports, load and replies
        }
        | setup
        | _llama_figures(engine)
    )


def ttft(args: argparse.Namespace) -> None:
    engine, setup = _load(args)
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
        | setup
        | _llama_figures(engine)
    )


def rss(args: argparse.Namespace) -> None:
    """Peak RSS of a fresh process that loads the model and chats, over the GGUF file's bytes."""
    from llamadesk.core import library

    sampler = _RssSampler()
    entry = library.get_model(args.model)
    file_bytes = entry.gguf_path.stat().st_size if entry.gguf_path else None
    engine, setup = _load(args)
    load_peak = max(_peak_rss_bytes(), sampler.peak)
    after_load = _rss_bytes()
    chat_only = _restart_peak_rss()
    sampler.restart()
    messages: list[dict] = []
    started = time.perf_counter()
    for question in (TURN_QUESTIONS if args.turns > 1 else [COUNT_PROMPT])[: args.turns]:
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": _reply(engine, messages, args.max_new_tokens)})
    chat_s = time.perf_counter() - started
    vm_hwm = _peak_rss_bytes()
    chat_peak = max(vm_hwm, sampler.stop())
    peak = max(load_peak, chat_peak)
    result = {
        "event": "result",
        "peak_rss_bytes": peak,  # the whole process: imports, load and chat
        "peak_rss_over_file": peak / file_bytes if file_bytes else None,
        "load_peak_rss_bytes": load_peak,
        "rss_after_load_bytes": after_load,
        "chat_peak_rss_bytes": chat_peak,
        "chat_peak_counts_from": "after the load" if chat_only else "process start",
        "chat_vm_hwm_bytes": vm_hwm,
        "gguf_bytes": file_bytes,
        "turns": args.turns,
        "tokens_last_turn": engine.last_stats.new_tokens,
        "prompt_tokens_last_turn": engine.last_stats.prompt_tokens,
        "chat_s": chat_s,
    }
    model = getattr(engine, "model", None) if setup["engine"] == "torch" else None
    if model is not None:  # the old figure: torch's weight bytes (quantised) as the denominator
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        weights += sum(b.numel() * b.element_size() for b in model.buffers())
        result |= {"weight_bytes": weights, "chat_peak_rss_over_weights": chat_peak / weights}
    emit(result | setup | _llama_figures(engine))


def imports(_args: argparse.Namespace) -> None:
    """RSS of what each chat path carries before it holds a single weight."""
    start = _peak_rss_bytes()
    import llama_cpp  # noqa: F401

    import llamadesk.core.engines  # noqa: F401
    import llamadesk.core.engines.llamacpp_engine  # noqa: F401

    after_llamacpp = _peak_rss_bytes()
    llamacpp_pulls_torch = "torch" in sys.modules
    import torch  # noqa: F401

    after_torch = _peak_rss_bytes()
    import transformers  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    import llamadesk.core.engine  # noqa: F401

    emit(
        {
            "event": "result",
            "python_rss_bytes": start,
            "python_llamacpp_engine_rss_bytes": after_llamacpp,
            "llamacpp_path_imports_torch": llamacpp_pulls_torch,
            "plus_torch_rss_bytes": after_torch,
            "plus_transformers_engine_rss_bytes": _peak_rss_bytes(),
        }
    )


MODES = {"overhead": overhead, "decode": decode, "ttft": ttft, "rss": rss, "imports": imports}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--engine", choices=["app", "torch"], default="app")
    parser.add_argument("--model", default=STARTER, help="library model id (default: the starter)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--turns", type=int, default=5, help="rss: user turns in the chat")
    args = parser.parse_args(argv)
    MODES[args.mode](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
