"""`llamadesk --self-test`: the whole path a user's first minutes take, run headless in one go.

It exists for the packaged app: a frozen build can start and still lack a data file, a lazily
imported transformers module or a tokenizer library, and only running the model finds that out.
So it imports the starter model, generates, makes a LoRA adapter with peft, imports, loads and
switches it, and generates again, timing each step. The adapter is random (rank 4): what is
tested is that the machinery works, not what the adapter says."""

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llamadesk.core import adapters, library, starter
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _

ADAPTER_ID = "selftest-lora"
PROMPT = "Name one colour."
NEW_TOKENS = 8


class SelfTestError(LlamaDeskError):
    """A step of the self-test failed; the message names the step."""


def _make_random_adapter(entry: library.ModelEntry, out: Path) -> None:
    """A rank-4 LoRA on the attention projections with random (not zero) B, so it changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model

    model = library.load_causal_lm(entry, torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)


def _reply(engine: Any) -> str:
    from llamadesk.core.generation import GenerationSettings

    settings = GenerationSettings(temperature=0.0, max_new_tokens=NEW_TOKENS, seed=0)
    return "".join(engine.stream([{"role": "user", "content": PROMPT}], settings, threading.Event()))


def run_self_test() -> dict[str, Any]:
    """Run every step; returns a report (timings in seconds). Raises SelfTestError naming the step."""
    from llamadesk.core.engines import SwitchingEngine

    timings: dict[str, float] = {}
    report: dict[str, Any] = {"ok": False, "timings_s": timings}

    def step(name: str, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            result = action()
        except Exception as exc:  # any failure is the answer the self-test exists to give
            raise SelfTestError(_("self-test failed at '{name}': {exc}").format(name=name, exc=exc)) from exc
        timings[name] = round(time.perf_counter() - started, 3)
        return result

    entry = step("starter", starter.ensure_starter_model)
    if entry is None:
        raise SelfTestError(_("self-test failed at 'starter': the starter model file was not found."))
    report["model"] = entry.id
    engine = SwitchingEngine()
    try:
        step("load", lambda: engine.load(entry.id))
        report["device"] = engine.device
        # Which engine answers, and why (llama.cpp missing is said here, not as a traceback).
        report["engine"], report["engine_reason"] = engine.kind, engine.reason
        base = step("generate_base", lambda: _reply(engine))
        if not base.strip():
            raise SelfTestError(_("self-test failed at 'generate_base': the model produced no text."))
        report["base_reply"] = base
        if any(a.id == ADAPTER_ID for a in adapters.list_adapters()):
            adapters.remove_adapter(ADAPTER_ID)  # left by an earlier run that was killed
        with tempfile.TemporaryDirectory(prefix="llamadesk-selftest-") as tmp:
            folder = Path(tmp) / ADAPTER_ID
            step("make_adapter", lambda: _make_random_adapter(entry, folder))
            step("import_adapter", lambda: adapters.import_adapter(folder, entry.id, ADAPTER_ID))
        try:
            step("load_adapter", lambda: engine.set_adapter(ADAPTER_ID))
            report["adapter_reply"] = step("generate_adapter", lambda: _reply(engine))
            step("switch_back", lambda: engine.set_adapter(None))
            again = step("generate_base_again", lambda: _reply(engine))
        finally:
            adapters.remove_adapter(ADAPTER_ID)  # the user's library stays as it was
    finally:
        engine.unload()
    if again != base:
        raise SelfTestError(
            _(
                "self-test failed at 'switch_back': the base model answered {again!r}, before {base!r}."
            ).format(again=again, base=base)
        )
    report["adapter_changed_reply"] = report["adapter_reply"] != base
    report["ok"] = True
    return report
