"""Instruction data recognised by its shape, whatever the file calls it, and normalised to one form:
a conversation, `[{"role": "system"|"user"|"assistant", "content": str}, ...]`.

Shapes: Alpaca (`instruction`/`input`/`output`), ShareGPT (`conversations` of `from`/`value`),
OpenAI chat (`messages` of `role`/`content`), and question/answer pairs (JSON records or a table
with a header). A record with only `text` is plain text for continued pre-training, not instructions.

Nothing here knows about files: callers add the file and line to a `RecordError`'s reason."""

import unicodedata
from dataclasses import dataclass
from typing import Literal

from llamadesk.core.i18n import _

Message = dict[str, str]
Conversation = list[Message]
Shape = Literal["openai", "sharegpt", "alpaca", "pair", "text"]

ROLES = ("system", "user", "assistant")

# ShareGPT exports name the speakers after the product they came from.
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
}

# (prompt, reply) key pairs seen in question/answer data, tried in order; lower-case.
PAIR_KEYS = (
    ("question", "answer"),
    ("prompt", "response"),
    ("prompt", "completion"),
    ("prompt", "answer"),
    ("query", "response"),
    ("query", "answer"),
    ("instruction", "response"),
    ("input", "output"),
    ("input", "target"),
    ("user", "assistant"),
)

TEXT_KEYS = ("text", "content")


class RecordError(ValueError):
    """A record that cannot be used; the message says why, without where (the caller adds that)."""


def clean(text: str) -> str:
    """Contents are compared and hashed, so one spelling: NFC, `\\n` newlines, no outer whitespace."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        # JSON can spell lone surrogates ("\\ud800"), which no UTF-8 file can hold.
        text = text.encode("utf-8", "replace").decode("utf-8")
    return unicodedata.normalize("NFC", text).strip()


def detect_shape(record: object) -> Shape | None:
    """Which shape a JSON value has, by its keys alone; None for anything unrecognised."""
    if isinstance(record, str):
        return "text"
    if not isinstance(record, dict):
        return None
    keys = {k.lower() for k in record if isinstance(k, str)}
    if isinstance(record.get("messages"), list):
        return "openai"
    if isinstance(record.get("conversations"), list):
        return "sharegpt"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if any({a, b} <= keys for a, b in PAIR_KEYS):
        return "pair"
    if any(isinstance(record.get(k), str) for k in TEXT_KEYS):
        return "text"
    return None


def normalise_record(record: object) -> Conversation | str:
    """A conversation for instruction shapes, the cleaned text for a text record."""
    shape = detect_shape(record)
    if shape is None:
        if isinstance(record, dict):
            keys = ", ".join(sorted(str(k) for k in record)) or "none"
            raise RecordError(
                _(
                    "unrecognised record (keys: {keys}); expected messages, conversations, "
                    "instruction/output, a question/answer pair or text"
                ).format(keys=keys)
            )
        raise RecordError(
            _("expected a JSON object or string, found {kind}").format(kind=type(record).__name__)
        )
    if shape == "text":
        text = (
            record
            if isinstance(record, str)
            else next(record[k] for k in TEXT_KEYS if isinstance(record.get(k), str))
        )
        text = clean(text)
        if not text:
            raise RecordError(_("empty text"))
        return text
    assert isinstance(record, dict)
    lowered = {k.lower(): v for k, v in record.items() if isinstance(k, str)}
    if shape == "openai":
        messages = [_openai_message(m, i) for i, m in enumerate(record["messages"], 1)]
    elif shape == "sharegpt":
        messages = [_sharegpt_message(m, i) for i, m in enumerate(record["conversations"], 1)]
        if isinstance(lowered.get("system"), str):
            messages.insert(0, {"role": "system", "content": lowered["system"]})
    elif shape == "alpaca":
        messages = _alpaca_messages(lowered)
    else:
        prompt_key, reply_key = next((a, b) for a, b in PAIR_KEYS if a in lowered and b in lowered)
        messages = _pair_messages(lowered.get("system"), lowered[prompt_key], lowered[reply_key])
    return validate_conversation(messages)


def _text_field(value: object, what: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # tables and sloppy JSON carry numeric answers
    if not isinstance(value, str):
        raise RecordError(_("{what} is {kind}, not text").format(what=what, kind=type(value).__name__))
    return value


def _openai_message(message: object, index: int) -> Message:
    if not isinstance(message, dict) or "role" not in message:
        raise RecordError(_("message {index} has no role").format(index=index))
    content = message.get("content")
    if isinstance(content, list):  # multi-part content: keep the text parts, refuse anything else
        parts = []
        for part in content:
            if not (
                isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            ):
                raise RecordError(_("message {index} has non-text content").format(index=index))
            parts.append(part["text"])
        content = "\n".join(parts)
    return {
        "role": str(message["role"]).lower(),
        "content": _text_field(content, _("message {index} content").format(index=index)),
    }


def _sharegpt_message(message: object, index: int) -> Message:
    if not isinstance(message, dict):
        raise RecordError(_("turn {index} is not an object").format(index=index))
    speaker = message.get("from", message.get("role"))
    content = message.get("value", message.get("content"))
    role = _SHAREGPT_ROLES.get(str(speaker).lower())
    if role is None:
        raise RecordError(
            _("turn {index} is from '{speaker}', which is neither human, gpt nor system").format(
                index=index, speaker=speaker
            )
        )
    return {"role": role, "content": _text_field(content, _("turn {index} value").format(index=index))}


def _alpaca_messages(record: dict) -> Conversation:
    instruction = _text_field(record["instruction"], "instruction")
    extra = record.get("input")
    extra_text = clean(_text_field(extra, "input")) if extra is not None else ""
    if extra_text:
        instruction = f"{clean(instruction)}\n\n{extra_text}"
    return _pair_messages(record.get("system"), instruction, record["output"])


def _pair_messages(system: object, prompt: object, reply: object) -> Conversation:
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": _text_field(system, "system")})
    messages.append({"role": "user", "content": _text_field(prompt, _("the prompt"))})
    messages.append({"role": "assistant", "content": _text_field(reply, _("the reply"))})
    return messages


def validate_conversation(messages: list[Message]) -> Conversation:
    """Clean contents and check what every chat template assumes: known roles, a system message
    only first, a user turn before the first reply, and at least one reply to learn from."""
    out: Conversation = []
    for index, message in enumerate(messages, 1):
        role = message["role"]
        if role not in ROLES:
            raise RecordError(
                _("message {index} has role '{role}'; only system, user and assistant are used").format(
                    index=index, role=role
                )
            )
        content = clean(message["content"])
        if role == "system":
            if out:
                raise RecordError(
                    _("message {index} is a system message after the conversation started").format(
                        index=index
                    )
                )
            if not content:
                continue  # an empty system prompt says nothing; templates render it oddly
        elif not content:
            raise RecordError(_("message {index} ({role}) is empty").format(index=index, role=role))
        out.append({"role": role, "content": content})
    roles = [m["role"] for m in out]
    if "assistant" not in roles:
        raise RecordError(_("no assistant reply to learn from"))
    first_reply = roles.index("assistant")
    if "user" not in roles[:first_reply]:
        raise RecordError(_("the first assistant reply comes before any user message"))
    return out


@dataclass(frozen=True)
class TableLayout:
    """Which columns of a table with a header hold what; `text` set means a plain-text table."""

    prompt: int | None = None
    reply: int | None = None
    system: int | None = None
    text: int | None = None


def table_layout(header: list[str]) -> TableLayout:
    """Columns by name when the header says (question/answer, prompt/response, ... or text),
    otherwise any two columns: the first is the prompt, the second the reply."""
    names = [h.strip().lower() for h in header]
    system = names.index("system") if "system" in names else None
    for prompt, reply in PAIR_KEYS:
        if prompt in names and reply in names:
            return TableLayout(prompt=names.index(prompt), reply=names.index(reply), system=system)
    for key in TEXT_KEYS:
        if names == [key]:
            return TableLayout(text=0)
    if len(names) == 2:
        return TableLayout(prompt=0, reply=1)
    raise RecordError(
        _(
            "the header has {count} columns ({header}); expected two columns (e.g. "
            "question,answer or prompt,response) or a single 'text' column"
        ).format(count=len(names), header=", ".join(header))
    )


def table_row(layout: TableLayout, row: list[str]) -> Conversation | str:
    width = 1 + max(i for i in (layout.prompt, layout.reply, layout.system, layout.text) if i is not None)
    if len(row) < width:
        raise RecordError(
            _("the row has {found} columns, expected {width}").format(found=len(row), width=width)
        )
    if layout.text is not None:
        text = clean(row[layout.text])
        if not text:
            raise RecordError(_("empty text"))
        return text
    assert layout.prompt is not None and layout.reply is not None
    system = row[layout.system] if layout.system is not None else None
    return validate_conversation(_pair_messages(system, row[layout.prompt], row[layout.reply]))
