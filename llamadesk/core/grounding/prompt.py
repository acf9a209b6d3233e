"""Retrieved passages in the conversation: numbered, with their sources, in the question's own turn
(small models follow what stands next to the question better than a long system message), and in
the question's language, so a Chinese question gets a Chinese instruction."""

import dataclasses
import re
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from llamadesk.core.generation import GenerationSettings
from llamadesk.core.grounding.index import Hit

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_INSTRUCTIONS = {
    "en": (
        "Answer the question using these passages from my documents, and cite the passages you use "
        "as [1], [2]. If they do not hold the answer, say so.",
        "Question:",
    ),
    "zh": (
        "请根据下面摘自我的文档的段落回答问题，并用 [1]、[2] 标明所依据的段落。如果段落中没有答案，请直说。",
        "问题：",
    ),
}


def grounded(messages: list[dict], hits: list[Hit]) -> list[dict]:
    """`messages` with the passages put before the last (user) message's text; unchanged when
    nothing was found."""
    if not hits:
        return messages
    question = messages[-1]["content"]
    instruction, label = _INSTRUCTIONS["zh" if _CJK.search(question) else "en"]
    # The source after the text, and only its file's name: the starter then answers from the text
    # rather than repeating a header, and the same documents give the same prompt wherever they lie.
    numbered = "\n\n".join(
        f"[{n}] {hit.passage.text} ({PurePath(hit.passage.source).name})" for n, hit in enumerate(hits, 1)
    )
    return [*messages[:-1], {"role": "user", "content": f"{instruction}\n\n{numbered}\n\n{label} {question}"}]


def fit_passages(
    messages: list[dict], hits: list[Hit], count_tokens: Callable[[list[dict]], int], budget: int
) -> tuple[list[dict], list[Hit]]:
    """`grounded(messages, hits)` with as many passages as leave its last turn (and the system
    prompt) within `budget` tokens, the lowest-ranked dropped first; the passages kept beside it.

    A chat engine drops older turns to fit, never the question: three long passages in Chinese
    (one to two tokens a character) can fill a 2k context alone, and the question would then be
    refused as too long although the user typed a line."""
    system = [m for m in messages[:-1] if m["role"] == "system"]
    kept = list(hits)
    while kept:
        prompt = grounded(messages, kept)
        if count_tokens(system + prompt[-1:]) <= budget:
            return prompt, kept
        kept.pop()
    return messages, []


def fit_for(
    engine: Any, messages: list[dict], hits: list[Hit], settings: GenerationSettings
) -> tuple[list[dict], list[Hit]]:
    """`fit_passages` for a loaded chat engine and the reply room `settings` ask for."""
    return fit_passages(messages, hits, engine.count_tokens, engine.prompt_budget(settings.max_new_tokens))


def sources(hits: list[Hit]) -> list[dict]:
    """The passages a reply was given, as the CLI, the server and the history keep them."""
    return [
        {"number": n, "source": hit.passage.source, "text": hit.passage.text, "score": round(hit.score, 3)}
        for n, hit in enumerate(hits, 1)
    ]


def quoting_allowed(settings: GenerationSettings) -> GenerationSettings:
    """`settings` without a repetition penalty, for a grounded reply where the user set none: the
    penalty counts the passages' own tokens and steers the model away from quoting the very facts
    it was given (measured on the starter: with 1.1 it answers the Chinese questions of the tests'
    notes with invented text, with 1.0 from the passage)."""
    return dataclasses.replace(settings, repetition_penalty=1.0)
