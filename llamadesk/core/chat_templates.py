"""Prompt formats for models that ship without a chat template, and fitting history into the context.

A model's own template always wins. Without one we pick the format its tokenizer was built for,
recognised by its special tokens: Llama 3 headers, ChatML markers, else Llama 2's [INST]."""

from collections.abc import Callable, Sequence

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _

# Jinja, rendered by transformers with trim_blocks/lstrip_blocks: newlines are written as '\n'
# string literals so that block tags cannot eat them; a tokenizer may lack bos or eos (None).
LLAMA2_TEMPLATE = (
    "{% set ns = namespace(system='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set ns.system = message['content'] %}"
    "{% elif message['role'] == 'user' %}"
    "{{ (bos_token or '') + '[INST] ' }}"
    "{% if ns.system %}{{ '<<SYS>>\\n' + ns.system + '\\n<</SYS>>\\n\\n' }}"
    "{% set ns.system = '' %}{% endif %}"
    "{{ message['content'] | trim }}{{ ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + (message['content'] | trim) + ' ' + (eos_token or '') }}"
    "{% endif %}"
    "{% endfor %}"
)

LLAMA3_TEMPLATE = (
    "{{ bos_token or '' }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{ message['content'] | trim }}{{ '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

FALLBACK_TEMPLATES = {"llama3": LLAMA3_TEMPLATE, "chatml": CHATML_TEMPLATE, "llama2": LLAMA2_TEMPLATE}

# Tokens that close a turn in some format; a reply ends at any of them that the vocabulary has,
# even where a converted model's eos points elsewhere.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "</s>")


class PromptTooLongError(LlamaDeskError):
    """The newest message (with the system prompt) alone does not fit the context window."""


def fallback_template_name(vocab: Sequence[str] | set[str] | dict) -> str:
    """Which fallback format a tokenizer with this vocabulary was built for."""
    if "<|start_header_id|>" in vocab and "<|eot_id|>" in vocab:
        return "llama3"
    if "<|im_start|>" in vocab and "<|im_end|>" in vocab:
        return "chatml"
    return "llama2"


def fit_history(
    messages: list[dict],
    count_tokens: Callable[[list[dict]], int],
    budget: int,
) -> tuple[list[dict], int]:
    """Drop the oldest turns until the prompt fits `budget` tokens; return (kept, messages dropped).

    Leading system messages and the newest turn are always kept. Whole turns go (a user message
    with the replies that follow it) so roles still alternate, which some templates insist on.
    Dropping more never makes a prompt longer, so a binary search finds the fewest turns to drop
    with a handful of tokenisations even for a long conversation."""
    head = 0
    while head < len(messages) and messages[head]["role"] == "system":
        head += 1
    system, rest = messages[:head], messages[head:]
    # Where each turn starts; keeping rest[starts[i]:] drops the first i turns.
    starts = [
        i for i, m in enumerate(rest) if m["role"] == "user" and (i == 0 or rest[i - 1]["role"] != "user")
    ]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)

    def fits(i: int) -> bool:
        return count_tokens(system + rest[starts[i] :]) <= budget

    if fits(0):
        return messages, 0
    low, high = 1, len(starts) - 1  # answer is in [low, high] if the last turn fits at all
    if not fits(high):
        needed = count_tokens(system + rest[starts[high] :])
        raise PromptTooLongError(
            _(
                "The message is too long: with the system prompt it takes {needed:,} tokens, "
                "but this model has room for {budget:,} before its reply; shorten it, or "
                "lower max new tokens."
            ).format(needed=needed, budget=budget)
        )
    while low < high:
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid + 1
    return system + rest[starts[low] :], starts[low]
