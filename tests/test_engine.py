"""The chat engine on a tiny random Llama: streaming, stop, seeds, templates, context overflow."""

import json
import shutil
import threading
from contextlib import closing

import pytest

from llamadesk.core import library
from llamadesk.core.chat_templates import (
    CHATML_TEMPLATE,
    LLAMA2_TEMPLATE,
    LLAMA3_TEMPLATE,
    PromptTooLongError,
    fallback_template_name,
    fit_history,
)
from llamadesk.core.engine import ChatEngine
from llamadesk.core.engines.base import EmptyPromptError, GenerationBusyError, NoModelError
from llamadesk.core.errors import NotFoundError
from llamadesk.core.generation import GenerationSettings, InvalidSettingsError

# The tiny random model never picks its end-of-turn token within these lengths (checked once).
GREEDY = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=40)
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def engine(tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    engine = ChatEngine()
    engine.load("tiny")
    yield engine
    engine.unload()


def _reply(engine: ChatEngine, messages: list[dict], settings: GenerationSettings) -> str:
    return "".join(engine.stream(messages, settings, threading.Event()))


def test_streams_pieces_and_reports_figures(engine):
    pieces = list(engine.stream(HELLO, GREEDY, threading.Event()))
    stats = engine.last_stats
    assert len(pieces) > 1 and all(pieces)
    assert stats.new_tokens == 40 and stats.finish_reason == "length"
    assert stats.ttft_s > 0 and stats.tokens_per_s > 0 and stats.seconds >= stats.ttft_s
    assert stats.prompt_tokens == engine.count_tokens(HELLO)
    assert engine.info() | {"memory_bytes": 0} == {
        "model_id": "tiny",
        "device": "cpu",
        "dtype": "float32",
        "quantization": "none",
        "context_length": 256,
        "template": "model",
        "adapter": None,
        "memory_bytes": 0,
        "engine": "torch",
    }
    assert engine.memory_bytes() > 0


def test_greedy_ignores_seed_and_seed_reproduces_sampling(engine):
    assert _reply(engine, HELLO, GREEDY) == _reply(engine, HELLO, GREEDY)
    sampled = GenerationSettings(temperature=1.0, top_p=0.95, top_k=0, max_new_tokens=30, seed=7)
    first = _reply(engine, HELLO, sampled)
    assert engine.last_stats.seed == 7
    assert _reply(engine, HELLO, sampled) == first
    seeded = {
        _reply(engine, HELLO, GenerationSettings(temperature=1.0, max_new_tokens=30, seed=s))
        for s in (1, 2, 3)
    }
    assert len(seeded) > 1


def test_stop_takes_effect_before_the_next_piece(engine):
    cancel = threading.Event()
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=200)
    with closing(engine.stream(HELLO, settings, cancel)) as stream:
        first = next(stream)
        cancel.set()
        rest = list(stream)
    assert first and rest == []
    assert engine.last_stats.finish_reason == "stopped"
    assert engine.last_stats.new_tokens <= 2


def test_stop_from_another_thread(engine):
    cancel = threading.Event()
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=200)
    shown: list[str] = []
    for piece in engine.stream(HELLO, settings, cancel):
        shown.append(piece)
        if len(shown) == 3:
            stopper = threading.Thread(target=cancel.set)
            stopper.start()
            stopper.join()
    assert engine.last_stats.finish_reason == "stopped"
    assert len(shown) == 3


def test_plain_text_is_continued_without_the_template_keeping_its_end(engine):
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=5)
    text = "".join(engine.stream_text("once upon a time", settings, threading.Event()))
    assert engine.last_stats.new_tokens == 5 and text
    assert engine.last_stats.prompt_tokens == len(
        engine.tokenizer("once upon a time", add_special_tokens=False)["input_ids"]
    ) + (1 if getattr(engine.tokenizer, "add_bos_token", False) else 0)
    long = "word " * (engine.context_length * 2)
    list(engine.stream_text(long, settings, threading.Event()))
    assert engine.last_stats.prompt_tokens == engine.prompt_budget(5)
    with pytest.raises(EmptyPromptError):
        list(engine.stream_text("", settings, threading.Event()))


def test_one_reply_at_a_time(engine):
    with closing(engine.stream(HELLO, GREEDY, threading.Event())) as first:
        next(first)
        with pytest.raises(GenerationBusyError, match="still being written"):
            next(engine.stream(HELLO, GREEDY, threading.Event()))
    assert _reply(engine, HELLO, GREEDY)  # the engine is free again once the first is closed


def test_empty_prompt_and_no_model(engine):
    for messages in ([], [{"role": "user", "content": "  \n"}], [{"role": "assistant", "content": "hi"}]):
        with pytest.raises(EmptyPromptError, match="empty"):
            _reply(engine, messages, GREEDY)
    with pytest.raises(NoModelError, match="choose a model"):
        _reply(ChatEngine(), HELLO, GREEDY)


def test_overflowing_history_drops_oldest_turns_and_keeps_system(engine):
    turn = "The quick brown fox jumps over the lazy dog. " * 3
    messages = [{"role": "system", "content": "Be brief."}]
    for i in range(8):
        messages += [{"role": "user", "content": f"{i} {turn}"}, {"role": "assistant", "content": turn}]
    messages.append({"role": "user", "content": "Hello"})
    assert engine.count_tokens(messages) > engine.context_length
    reply = _reply(engine, messages, GREEDY)
    stats = engine.last_stats
    assert reply and stats.truncated_turns > 0 and stats.truncated_turns % 2 == 0
    assert stats.prompt_tokens <= engine.prompt_budget(GREEDY.max_new_tokens)


def test_a_message_longer_than_the_context_is_refused(engine):
    long = [{"role": "user", "content": "Llamas live in the Andes. " * 80}]
    with pytest.raises(PromptTooLongError, match="too long"):
        _reply(engine, long, GREEDY)
    assert _reply(engine, HELLO, GREEDY)  # the refusal left the engine usable


def test_control_tokens_typed_by_the_user_stay_text(engine):
    sneaky = [{"role": "user", "content": "<|im_end|>"}]
    plain = [{"role": "user", "content": "x"}]
    im_end = engine.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert engine._encode(sneaky).count(im_end) == engine._encode(plain).count(im_end)


def test_end_of_turn_token_stops_a_reply(engine):
    im_end = engine.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in engine._stop_ids


def test_model_without_template_gets_a_fallback(tiny_model_dir, tmp_path):
    folder = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    library.import_model(folder, "bare", in_place=True)
    engine = ChatEngine()
    engine.load("bare")
    try:
        assert engine.template == "chatml"
        text = engine.tokenizer.decode(engine._encode(HELLO))
        assert text == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
        assert _reply(engine, HELLO, GREEDY)
    finally:
        engine.unload()


def test_fallback_templates_render_each_format(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    chat = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]

    def render(template: str) -> str:
        return tokenizer.apply_chat_template(
            chat, chat_template=template, tokenize=False, add_generation_prompt=True
        )

    bos, eos = tokenizer.bos_token, tokenizer.eos_token
    assert render(LLAMA2_TEMPLATE) == (
        f"{bos}[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! {eos}{bos}[INST] Bye [/INST]"
    )
    assert render(LLAMA3_TEMPLATE) == (
        f"{bos}<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert render(CHATML_TEMPLATE) == (
        "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    )
    assert fallback_template_name({"<|start_header_id|>": 1, "<|eot_id|>": 2}) == "llama3"
    assert fallback_template_name({"<|im_start|>": 1, "<|im_end|>": 2}) == "chatml"
    assert fallback_template_name({"<s>": 1, "</s>": 2}) == "llama2"


def test_fit_history_drops_whole_turns_fewest_first():
    def count(messages: list[dict]) -> int:  # one "token" per character
        return sum(len(m["content"]) for m in messages)

    messages = [
        {"role": "system", "content": "SS"},
        {"role": "user", "content": "u1" * 5},
        {"role": "assistant", "content": "a1" * 5},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "u3"},
    ]
    assert fit_history(messages, count, 100) == (messages, 0)
    kept, dropped = fit_history(messages, count, 10)
    assert dropped == 2 and kept == [messages[0], *messages[3:]]
    kept, dropped = fit_history(messages, count, 4)
    assert dropped == 4 and kept == [messages[0], messages[5]]
    with pytest.raises(PromptTooLongError):
        fit_history(messages, count, 3)


def test_model_folder_deleted_while_loaded(tiny_model_dir, tmp_path):
    folder = tmp_path / "doomed"
    shutil.copytree(tiny_model_dir, folder)
    library.import_model(folder, "doomed", in_place=True)
    engine = ChatEngine()
    engine.load("doomed")
    try:
        shutil.rmtree(folder)
        assert _reply(engine, HELLO, GREEDY)  # the weights are in memory: the chat goes on
        with pytest.raises(NotFoundError, match="missing"):
            ChatEngine().load("doomed")
    finally:
        engine.unload()


def test_settings_validate_and_round_trip():
    settings = GenerationSettings(temperature=0.3, top_p=0.8, top_k=20, max_new_tokens=64, seed=5)
    assert GenerationSettings.from_json(settings.to_json()) == settings
    assert GenerationSettings.from_json({"temperature": "0", "future_knob": 1}).greedy
    assert GenerationSettings.from_json(None) == GenerationSettings()
    for bad in (
        {"temperature": -0.1},
        {"top_p": 0},
        {"top_k": -1},
        {"repetition_penalty": 0},
        {"max_new_tokens": 0},
        {"seed": -1},
    ):
        with pytest.raises(InvalidSettingsError):
            GenerationSettings(**bad)
    with pytest.raises(InvalidSettingsError, match="not a number"):
        GenerationSettings.from_json({"temperature": "warm"})


def test_loading_an_unknown_model_says_so():
    with pytest.raises(NotFoundError, match="no model 'ghost'"):
        ChatEngine().load("ghost")


def _make_adapter(base_dir, folder, seed: int):
    """A real PEFT LoRA for the tiny model, with lora_B randomised so it changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 2.0)
    peft_model.save_pretrained(folder)
    return folder


def test_adapters_switch_without_reloading_and_base_stays_exact(engine, tiny_model_dir, tmp_path):
    from llamadesk.core import adapters

    for name, seed in (("first", 1), ("second", 2)):
        adapters.import_adapter(_make_adapter(tiny_model_dir, tmp_path / name, seed), "tiny", name)
    base_reply = _reply(engine, HELLO, GREEDY)
    engine.load_adapters(["first"])
    assert engine.loaded_adapters == ["first"] and engine.active_adapter is None
    base_weights = engine.model.get_base_model().model.embed_tokens.weight
    assert _reply(engine, HELLO, GREEDY) == base_reply  # loaded but not chosen: the base, exactly

    engine.set_adapter("first")
    first_reply = _reply(engine, HELLO, GREEDY)
    engine.set_adapter("second")  # loaded on first use
    second_reply = _reply(engine, HELLO, GREEDY)
    assert len({base_reply, first_reply, second_reply}) == 3
    assert engine.loaded_adapters == ["first", "second"] and engine.info()["adapter"] == "second"

    engine.set_adapter(None)
    assert _reply(engine, HELLO, GREEDY) == base_reply
    engine.set_adapter("first")
    assert _reply(engine, HELLO, GREEDY) == first_reply
    assert engine.model.get_base_model().model.embed_tokens.weight is base_weights  # never reloaded


def test_adapters_are_checked_before_anything_loads(engine, tiny_model_dir, tmp_path):
    from llamadesk.core import adapters
    from llamadesk.core.errors import IncompatibleAdapterError
    from tests.tiny import make_tiny_model

    other_dir = make_tiny_model(tmp_path / "other", seed=5)
    library.import_model(other_dir, "other", in_place=True)
    adapters.import_adapter(_make_adapter(other_dir, tmp_path / "foreign", 3), "other", "foreign")
    with pytest.raises(IncompatibleAdapterError, match="foreign"):
        engine.load_adapters(["foreign"])
    with pytest.raises(NotFoundError, match="no adapter 'ghost'"):
        engine.set_adapter("ghost")
    assert engine.loaded_adapters == [] and engine.active_adapter is None
    assert _reply(engine, HELLO, GREEDY)


# -- adapters that add tokens ---------------------------------------------------------------------


def _grown_adapter(base_dir, folder, new_tokens: int, *, with_tokenizer: bool, seed: int = 1):
    """A LoRA that grew the vocabulary by `new_tokens`, carrying its own embeddings and output
    layer; its first two new output rows are made to win every greedy step, so a reply shows at
    once whether new tokens can be (or cannot be) written."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    from tests.test_adapters import make_adapter

    make_adapter(
        base_dir, folder, seed=seed, new_tokens=new_tokens, modules_to_save=["embed_tokens", "lm_head"]
    )
    weights_path = folder / "adapter_model.safetensors"
    weights = load_file(weights_path)
    head = weights["base_model.model.lm_head.weight"]  # (vocab + new_tokens, hidden)
    rows = head.shape[0] - new_tokens
    direction = torch.randn(head.shape[1], generator=torch.Generator().manual_seed(seed))
    head[rows], head[rows + 1] = 1e3 * direction, -1e3 * direction  # one of them wins any dot product
    save_file(weights, weights_path)
    if with_tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        added = ["北京", "首都", "中国", "人工智能", "机器", "学习", "世界", "改变"][:new_tokens]
        assert tokenizer.add_tokens(added) == new_tokens
        tokenizer.save_pretrained(folder)
    return folder


def _logits(engine: ChatEngine, messages: list[dict]):
    import torch

    ids = torch.tensor([engine._encode(messages)])
    with torch.inference_mode(), engine._adapter_context():
        return engine.model(input_ids=ids).logits  # (1, seq, vocab)


def test_adapters_that_add_tokens_load_beside_others_and_the_base_stays_exact(
    engine, tiny_model_dir, tmp_path, monkeypatch
):
    from llamadesk.core import adapters

    rows = engine.model.get_input_embeddings().weight.shape[0]
    chinese = [{"role": "user", "content": "北京是中国的首都"}]
    base_reply, base_logits = _reply(engine, HELLO, GREEDY), _logits(engine, HELLO)
    base_chinese, base_count = _reply(engine, chinese, GREEDY), engine.count_tokens(chinese)
    base_tokenizer = engine.tokenizer
    grown = _grown_adapter(tiny_model_dir, tmp_path / "grown", 8, with_tokenizer=True)
    adapters.import_adapter(grown, "tiny", "grown")
    nameless = _grown_adapter(tiny_model_dir, tmp_path / "nameless", 3, with_tokenizer=False, seed=2)
    adapters.import_adapter(nameless, "tiny", "nameless")
    adapters.import_adapter(_make_adapter(tiny_model_dir, tmp_path / "plain", 3), "tiny", "plain")
    assert adapters.get_adapter("grown").manifest["vocab_size"] == rows + 8

    engine.load_adapters(["grown", "nameless", "plain"])
    assert engine.loaded_adapters == ["grown", "nameless", "plain"]
    bare = engine.model.get_base_model()
    assert bare.get_input_embeddings().original_module.weight.shape[0] == rows  # never resized
    assert bare.get_output_embeddings().original_module.weight.shape[0] == rows
    assert engine.tokenizer is base_tokenizer
    assert _reply(engine, HELLO, GREEDY) == base_reply
    assert torch_equal(_logits(engine, HELLO), base_logits)

    engine.set_adapter("grown")  # its own tokenizer: the new tokens are read and written
    assert len(engine.tokenizer) == rows + 8 and engine.info()["template"] == "model"
    assert max(engine._encode(chinese)) >= rows
    assert engine.count_tokens(chinese) < base_count
    assert _logits(engine, HELLO).shape[-1] == rows + 8
    grown_reply = _reply(engine, chinese, GREEDY)
    assert grown_reply.count("北京") + grown_reply.count("首都") == GREEDY.max_new_tokens

    engine.set_adapter("nameless")  # new rows but no tokenizer that names them: never written
    assert engine.tokenizer is base_tokenizer
    decoded: list[int] = []
    decode = base_tokenizer.decode
    monkeypatch.setattr(base_tokenizer, "decode", lambda ids, **kw: decoded.extend(ids) or decode(ids, **kw))
    nameless_reply = _reply(engine, HELLO, GREEDY)
    monkeypatch.undo()
    assert nameless_reply and decoded and max(decoded) < rows
    assert engine.last_stats.new_tokens == GREEDY.max_new_tokens

    engine.set_adapter("plain")
    plain_reply = _reply(engine, HELLO, GREEDY)
    assert engine.tokenizer is base_tokenizer and _logits(engine, HELLO).shape[-1] == rows
    assert len({base_reply, nameless_reply, plain_reply}) == 3

    for adapter_id in (None, "grown", None, "plain", None):
        engine.set_adapter(adapter_id)
    assert engine.tokenizer is base_tokenizer
    assert _reply(engine, HELLO, GREEDY) == base_reply
    assert _reply(engine, chinese, GREEDY) == base_chinese
    assert torch_equal(_logits(engine, HELLO), base_logits)
    engine.set_adapter("grown")
    assert _reply(engine, chinese, GREEDY) == grown_reply


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def test_an_adapter_that_adds_tokens_without_its_own_layers_is_refused(engine, tiny_model_dir, tmp_path):
    """Grown embeddings trained in place (no modules_to_save) live in the base's layers, shared by
    every adapter: switching such an adapter on and off cannot leave the base exact."""
    from llamadesk.core import adapters
    from llamadesk.core.errors import IncompatibleAdapterError
    from tests.test_adapters import make_adapter

    base_reply = _reply(engine, HELLO, GREEDY)
    adapters.import_adapter(
        make_adapter(tiny_model_dir, tmp_path / "inplace", new_tokens=4), "tiny", "inplace"
    )
    with pytest.raises(IncompatibleAdapterError, match="merge it into a new model"):
        engine.set_adapter("inplace")
    assert engine.loaded_adapters == [] and engine.active_adapter is None
    assert _reply(engine, HELLO, GREEDY) == base_reply


def test_a_broken_adapter_that_adds_tokens_leaves_the_model_as_it_was(engine, tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from llamadesk.core import adapters
    from llamadesk.core.errors import IncompatibleAdapterError

    base_reply, base_logits = _reply(engine, HELLO, GREEDY), _logits(engine, HELLO)
    grown = adapters.import_adapter(
        _grown_adapter(tiny_model_dir, tmp_path / "grown", 8, with_tokenizer=True), "tiny", "grown"
    )
    weights_path = grown.folder / "adapter_model.safetensors"
    weights = load_file(weights_path)
    del weights["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"]  # damaged after import
    save_file(weights, weights_path)
    with pytest.raises(IncompatibleAdapterError, match="incomplete"):
        engine.set_adapter("grown")
    assert type(engine.model).__name__ == "LlamaForCausalLM"  # unwrapped again
    assert engine.loaded_adapters == [] and len(engine.tokenizer) == engine.model.config.vocab_size
    assert _reply(engine, HELLO, GREEDY) == base_reply
    assert torch_equal(_logits(engine, HELLO), base_logits)

    adapters.import_adapter(_make_adapter(tiny_model_dir, tmp_path / "plain", 3), "tiny", "plain")
    engine.set_adapter("plain")  # the same failure beside a loaded adapter removes only itself
    with pytest.raises(IncompatibleAdapterError, match="incomplete"):
        engine.set_adapter("grown")
    assert engine.loaded_adapters == ["plain"] and engine.active_adapter == "plain"
    assert "grown" not in engine.model.peft_config
    engine.set_adapter(None)
    assert torch_equal(_logits(engine, HELLO), base_logits)


def test_an_adapter_trained_with_new_vocabulary_chats(engine, tmp_path):
    """The training runner's own output: extend_vocab grows the tokenizer and embeddings."""
    from llamadesk.core import adapters
    from llamadesk.core.training import runner
    from tests.training_fixtures import tiny_spec

    path = tmp_path / "zh.jsonl"
    lines = [{"text": f"{i} 人工智能正在改变世界。北京是中国的首都。机器学习和深度学习。"} for i in range(60)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines), encoding="utf-8")
    assert runner.train(tiny_spec(str(path), "zh", extend_vocab=100, max_steps=2)) == 0
    manifest = adapters.get_adapter("zh").manifest
    chinese = [{"role": "user", "content": "人工智能正在改变世界。"}]
    base_reply, base_logits = _reply(engine, chinese, GREEDY), _logits(engine, chinese)
    base_count = engine.count_tokens(chinese)

    engine.set_adapter("zh")
    assert len(engine.tokenizer) == manifest["vocab_size"] > engine.model.config.vocab_size
    assert engine.count_tokens(chinese) < base_count  # the new pieces encode it in fewer tokens
    assert _reply(engine, chinese, GREEDY) and engine.last_stats.new_tokens > 0
    engine.set_adapter(None)
    assert _reply(engine, chinese, GREEDY) == base_reply
    assert torch_equal(_logits(engine, chinese), base_logits)


def _conversation(engine: ChatEngine, turns: list[str], settings: GenerationSettings) -> list[dict]:
    """Chat `turns`; every turn after the first reuses at least the whole previous prompt.

    (A random model's replies need not re-tokenise to the tokens it produced, so reuse may end
    inside the previous reply; a real model's usually reaches the new message.)"""
    messages = [{"role": "system", "content": "Be brief."}]
    previous_prompt = 0
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        messages.append({"role": "assistant", "content": _reply(engine, messages, settings)})
        assert engine.last_stats.reused_tokens >= previous_prompt
        previous_prompt = engine.last_stats.prompt_tokens
    return messages


def test_later_turns_reuse_the_conversation_cache_and_reply_exactly_as_without_it(engine):
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=12)
    messages = _conversation(engine, ["Hello", "And then?", "Why so?"], settings)
    assert 0 < engine.last_stats.reused_tokens < engine.last_stats.prompt_tokens

    engine._kept = None  # the same conversation without any cache to reuse
    fresh = [messages[0]]
    for user, assistant in zip(messages[1::2], messages[2::2], strict=True):
        fresh.append(user)
        assert _reply(engine, fresh, settings) == assistant["content"]
        assert engine.last_stats.reused_tokens == 0
        engine._kept = None
        fresh.append(assistant)


def test_an_edited_message_reuses_only_the_shared_start(engine):
    first = [{"role": "user", "content": "Tell me about the mountains of the north"}]
    edited = [{"role": "user", "content": "Tell me about the rivers of the south"}]
    expected = _reply(engine, edited, GREEDY)
    _reply(engine, first, GREEDY)
    assert _reply(engine, edited, GREEDY) == expected
    assert 0 < engine.last_stats.reused_tokens < engine.count_tokens(edited) - 3


def test_a_stopped_reply_leaves_a_cache_the_next_turn_can_use(engine):
    cancel = threading.Event()
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=100)
    with closing(engine.stream(HELLO, settings, cancel)) as stream:
        partial = next(stream)
        cancel.set()
        list(stream)
    follow_up = [*HELLO, {"role": "assistant", "content": partial}, {"role": "user", "content": "Go on"}]
    reply = _reply(engine, follow_up, GREEDY)
    assert engine.last_stats.reused_tokens > 0
    engine._kept = None
    assert _reply(engine, follow_up, GREEDY) == reply


def test_switching_adapters_never_reuses_another_adapters_cache(engine, tiny_model_dir, tmp_path):
    from llamadesk.core import adapters

    adapters.import_adapter(_make_adapter(tiny_model_dir, tmp_path / "a", 1), "tiny", "a")
    engine.load_adapters(["a"])
    engine.set_adapter("a")
    with_adapter = _reply(engine, HELLO, GREEDY)
    engine.set_adapter(None)
    base = _reply(engine, HELLO, GREEDY)
    assert engine.last_stats.reused_tokens == 0 and base != with_adapter
    engine.set_adapter("a")
    assert _reply(engine, HELLO, GREEDY) == with_adapter
    assert engine.last_stats.reused_tokens == 0
