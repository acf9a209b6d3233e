"""What every metric shares: a prompt turned into token ids (raw or as a chat turn).

Raw text is tokenised as `tokenizer(text)` does (BOS where the model adds one). A chat-wrapped
prompt already carries the template's own special tokens, so none are added a second time. A
model without a chat template of its own is wrapped in the same fallback format the chat engine
talks to it in, so a chat-wrapped score measures the model as the user chats with it."""

from llamadesk.core.chat_templates import FALLBACK_TEMPLATES, fallback_template_name


def encode_prompt(tokenizer, prompt: str, chat_template: bool) -> list[int]:
    if not chat_template:
        return list(tokenizer(prompt)["input_ids"])
    extra = {}
    if not getattr(tokenizer, "chat_template", None):
        extra["chat_template"] = FALLBACK_TEMPLATES[fallback_template_name(tokenizer.get_vocab())]
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True, **extra
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
