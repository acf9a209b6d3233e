"""The yardstick for LlamaDesk's training runner: a plain `transformers.Trainer` + PEFT LoRA run on
the same token blocks, with the same hyperparameters, printing one JSON line per optimizer step.

`bench/train_vs_trainer.py` starts it as a subprocess next to `python -m llamadesk.train`; it can
also be run by hand. It reads the blocks the runner wrote (`runs/<id>/data/train-ids.npy` and
`train-offsets.npy`), so both train on exactly the same tokens; only the order differs (the
Trainer's own seeded sampler), which does not change the cost of a step when every block is full.

Settings kept identical to the runner's loop: fp32 weights, `use_cache` off, the same LoraConfig
(rank, alpha, dropout, targets, no bias), AdamW with no weight decay, gradient clipping at 1.0, a
cosine schedule with round(warmup_ratio × steps) warm-up steps, the seed set before LoRA is made.
Everything else is the Trainer's own default (notably its optimizer implementation, reported in the
`done` line), because that is what "a plain Trainer run" means."""

import argparse
import json
import sys
import time
from pathlib import Path

LINEAR_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--base", required=True, type=Path, help="a Hugging Face model folder, or a library model's folder"
    )
    p.add_argument("--data-dir", required=True, type=Path, help="a runner's runs/<id>/data folder")
    p.add_argument("--out-dir", required=True, type=Path, help="scratch folder for the Trainer")
    p.add_argument("--max-steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--grad-accum", type=int, default=4)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, default=16)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--targets", nargs="+", default=LINEAR_PROJECTIONS)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup-ratio", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--optim", default=None, help="override the Trainer's default optimizer")
    return p.parse_args(argv)


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class Blocks:
    """Pre-training blocks as the Trainer wants them: labels are the ids (the model shifts them)."""

    def __init__(self, folder: Path) -> None:
        import numpy as np

        self.ids = np.load(folder / "train-ids.npy", mmap_mode="r")
        self.offsets = np.load(folder / "train-offsets.npy")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> dict:
        import torch

        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        ids = torch.from_numpy(self.ids[start:end].astype("int64"))
        return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones_like(ids)}


def load_base(folder: Path, dtype):
    """The base model in `dtype`. A library folder holding a GGUF file (the starter since imports keep
    GGUF as it is) has no Hugging Face weights: it is dequantised in memory, as the runner does."""
    manifest = folder / "llamadesk.json"
    if manifest.is_file():
        from llamadesk.core import library

        entry = library.ModelEntry(folder.name, folder, json.loads(manifest.read_text(encoding="utf-8")))
        if entry.format == "gguf":
            return library.load_causal_lm(entry, dtype)
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import psutil
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    process = psutil.Process()
    dataset = Blocks(args.data_dir)
    set_seed(args.seed)
    model = load_base(args.base, torch.float32)
    model.config.use_cache = False
    lora = LoraConfig(
        r=args.rank,
        lora_alpha=args.alpha,
        lora_dropout=args.dropout,
        target_modules=args.targets,
        task_type="CAUSAL_LM",
        bias="none",
    )
    model = get_peft_model(model, lora)

    class StepLines(TrainerCallback):
        """One line per optimizer step, stamped when the step (optimizer and scheduler) is done, as
        the runner stamps its own step events; printed when the Trainer logs that step's loss."""

        def __init__(self) -> None:
            self.ended: dict = {}
            self.loss: float | None = None

        def on_step_end(self, _args, _state, _control, **_kwargs) -> None:
            self.ended = {"time": time.time(), "rss_bytes": process.memory_info().rss}

        def on_log(self, _args, state, _control, logs=None, **_kwargs) -> None:
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])
                step = {"event": "step", "step": state.global_step, "total_steps": state.max_steps}
                emit(step | {"loss": self.loss} | self.ended)

    callback = StepLines()
    options = {
        "output_dir": str(args.out_dir),
        "max_steps": args.max_steps,
        "per_device_train_batch_size": args.batch,
        "gradient_accumulation_steps": args.grad_accum,
        "learning_rate": args.lr,
        "lr_scheduler_type": "cosine",
        "warmup_steps": round(args.warmup_ratio * args.max_steps),
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "seed": args.seed,
        "use_cpu": not torch.cuda.is_available(),
        "logging_steps": 1,
        "save_strategy": "no",
        "eval_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    if args.optim:
        options["optim"] = args.optim
    training_args = TrainingArguments(**options)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=default_data_collator,
        callbacks=[callback],
    )
    emit({"event": "start", "total_steps": args.max_steps, "examples": len(dataset)})
    result = trainer.train()
    emit(
        {
            "event": "done",
            "step": result.global_step,
            "final_loss": callback.loss,
            "train_loss": result.training_loss,
            "optim": str(training_args.optim.value if hasattr(training_args.optim, "value") else args.optim),
            "torch_threads": torch.get_num_threads(),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
