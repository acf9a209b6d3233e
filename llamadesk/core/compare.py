"""One prompt, several adapters (and the bare base): replies side by side.

The base is loaded once and every adapter sits beside it, so switching costs nothing and each reply
comes from exactly the same base weights. All replies share one seed, so with sampling on the
differences come from the adapters, not from the dice."""

import secrets
from dataclasses import replace

from llamadesk.core.generation import GenerationSettings
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress


def compare_replies(
    model_id: str,
    adapter_ids: list[str | None],
    messages: list[dict],
    settings: GenerationSettings,
    progress: Progress | None = None,
) -> list[dict]:
    """Reply to `messages` once per entry of `adapter_ids` (None: the base model alone), in order.

    Each result is {"adapter_id", "text", "stats"}; the model is freed before returning."""
    from llamadesk.core.engines import SwitchingEngine

    progress = progress or Progress()
    if settings.seed is None:
        settings = replace(settings, seed=secrets.randbits(63))
    engine = SwitchingEngine()
    try:
        engine.load(model_id, progress.sub(0.0, 0.3))
        engine.load_adapters(list(dict.fromkeys(a for a in adapter_ids if a)), progress.sub(0.3, 0.4))
        replies = []
        for index, adapter_id in enumerate(adapter_ids):
            step = progress.sub(
                0.4 + 0.6 * index / len(adapter_ids), 0.4 + 0.6 * (index + 1) / len(adapter_ids)
            )
            step(0.0, _("Writing the reply of {variant}").format(variant=adapter_id or model_id))
            engine.set_adapter(adapter_id)
            text = "".join(engine.stream(messages, settings, progress.cancel))
            progress.check()  # a Stop during the reply ends the whole comparison
            stats = engine.last_stats
            replies.append(
                {"adapter_id": adapter_id, "text": text, "stats": stats.to_json() if stats else None}
            )
        progress(1.0, _("Replies ready"))
        return replies
    finally:
        engine.unload()
