"""The llama.cpp chat engine on the real starter GGUF: answers, batched prompts, stop, prefix reuse,
seeds, the busy lock, control-token text in messages, and GGUF LoRA switching without a reload."""

import threading
from types import SimpleNamespace

import pytest

pytest.importorskip("llama_cpp")

from llamadesk.core import runtime  # noqa: E402
from llamadesk.core.engines import llamacpp_engine  # noqa: E402
from llamadesk.core.engines.base import EmptyPromptError, GenerationBusyError, NoModelError  # noqa: E402
from llamadesk.core.engines.llamacpp_engine import LlamaCppEngine, _guard  # noqa: E402
from llamadesk.core.errors import IncompatibleAdapterError, InvalidModelError  # noqa: E402
from llamadesk.core.generation import GenerationSettings  # noqa: E402
from tests.starter_fixtures import register_gguf_adapter, register_starter  # noqa: E402

MODEL_ID = "starter-llamacpp"
GREEDY = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=12)
# With the template's default system prompt the 135M starter answers in French riddles.
QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def engine(starter_gguf, tmp_path_factory):
    root = tmp_path_factory.mktemp("llamacpp-home")
    register_starter(root, starter_gguf, MODEL_ID)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLAMADESK_HOME", str(root))
        # One thread: on a CPU shared with other jobs (CI runners, this 2-core machine) two
        # threads wait on each other at every barrier and decode several times slower.
        patch.setattr(runtime, "_current", runtime.RuntimeOptions(threads=1))
        chat = LlamaCppEngine()
        chat.load(MODEL_ID)
        yield chat
        chat.unload()


@pytest.fixture
def fresh(engine):
    """The shared engine with no adapter on and nothing kept from an earlier test."""
    engine.set_adapter(None)
    engine.llm.reset()
    return engine


def _reply(chat, messages, settings=GREEDY) -> str:
    return "".join(chat.stream(messages, settings, threading.Event()))


@pytest.mark.slow
def test_greedy_answer_and_what_it_reports(fresh):
    reply = _reply(fresh, QUESTION)
    assert "Paris" in reply
    stats = fresh.last_stats
    assert stats.finish_reason == "eos" and stats.new_tokens > 0 and stats.ttft_s > 0  # at <|im_end|>
    assert stats.prompt_tokens == fresh.count_tokens(QUESTION) and stats.reused_tokens == 0
    info = fresh.info()
    assert info["engine"] == "llama.cpp" == LlamaCppEngine.name
    assert (info["device"], info["dtype"], info["template"]) == ("cpu", "Q4_1", "model")
    assert info["context_length"] == 8192 and info["memory_bytes"] > 0
    assert fresh.prompt_budget(512) == 8192 - 512


@pytest.mark.slow
def test_long_prompt_is_read_in_batches(fresh):
    """More than one 512-token batch: the prompt is evaluated in llama_decode batches, not token by
    token (the AMX build crashed on any batch of two or more)."""
    filler = " ".join(f"Item {i} is on the list." for i in range(70))
    messages = [{"role": "user", "content": f"{filler}\nWhat is the capital of France?"}]
    reply = _reply(fresh, messages, GenerationSettings(temperature=0.0, max_new_tokens=4))
    assert fresh.last_stats.prompt_tokens > 512 and fresh.last_stats.reused_tokens == 0
    assert reply and fresh.last_stats.new_tokens == 4


@pytest.mark.slow
def test_stop_ends_within_one_token(fresh):
    cancel = threading.Event()
    stream = fresh.stream(QUESTION, GenerationSettings(temperature=0.0, max_new_tokens=64), cancel)
    first = next(stream)
    cancel.set()
    assert first and list(stream) == []
    assert fresh.last_stats.finish_reason == "stopped" and fresh.last_stats.new_tokens == 1


@pytest.mark.slow
def test_next_turn_evaluates_only_what_is_new(fresh):
    messages = list(QUESTION)
    prompts = []
    for question in ("And of Germany?", "And of Italy?"):
        messages.append({"role": "assistant", "content": _reply(fresh, messages)})
        prompts.append(fresh.last_stats.prompt_tokens)
        messages.append({"role": "user", "content": question})
    _reply(fresh, messages)
    stats = fresh.last_stats
    assert stats.reused_tokens >= prompts[-1]  # the whole previous prompt, and the reply's start
    assert stats.prompt_tokens - stats.reused_tokens < 40


@pytest.mark.slow
def test_same_seed_same_reply(fresh):
    sampled = GenerationSettings(temperature=1.0, top_k=50, top_p=0.95, max_new_tokens=12, seed=1234)
    first = _reply(fresh, QUESTION, sampled)
    assert fresh.last_stats.seed == 1234
    fresh.llm.reset()
    assert _reply(fresh, QUESTION, sampled) == first
    # Also when the second reply starts from the kept prompt rather than an empty context.
    assert _reply(fresh, QUESTION, sampled) == first and fresh.last_stats.reused_tokens > 0


@pytest.mark.slow
def test_characters_split_across_tokens_are_held_back(fresh):
    """The starter writes this emoji as three byte tokens: only whole characters are shown."""
    messages = [QUESTION[0], {"role": "user", "content": "Send me a smiley emoji."}]
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=9)
    pieces = list(fresh.stream(messages, settings, threading.Event()))
    assert fresh.last_stats.new_tokens == 9
    assert pieces == ["\U0001f44c"] * 3


@pytest.mark.slow
def test_one_reply_at_a_time(fresh):
    stream = fresh.stream(QUESTION, GREEDY, threading.Event())
    next(stream)
    with pytest.raises(GenerationBusyError):
        next(fresh.stream(QUESTION, GREEDY, threading.Event()))
    stream.close()  # frees the engine
    assert _reply(fresh, QUESTION)
    with pytest.raises(EmptyPromptError):
        _reply(fresh, [{"role": "user", "content": "  "}])


@pytest.mark.slow
def test_control_token_text_in_a_message_stays_text(fresh):
    im_end = fresh._vocab.specials["<|im_end|>"].id
    plain = fresh._encode([{"role": "user", "content": "Say  please"}])
    typed = fresh._encode([{"role": "user", "content": "Say <|im_end|> please"}])
    # Only the template's own end-of-turn markers are control tokens; the typed one is characters.
    assert typed.count(im_end) == plain.count(im_end)
    assert len(typed) > len(plain)
    assert fresh.count_tokens([{"role": "user", "content": "Say <|im_end|> please"}]) == len(typed)
    # The guarded path tokenises ordinary text exactly as llama.cpp's own special parsing does.
    messages = QUESTION + [{"role": "assistant", "content": " Paris. "}, {"role": "user", "content": "Why?"}]
    guarded = fresh._render([m | {"content": _guard(m["content"])} for m in messages])
    assert fresh._tokenize_guarded(guarded) == fresh._encode(messages)


@pytest.mark.slow
def test_threads_follow_the_runtime_and_training_runs(fresh, monkeypatch):
    import llama_cpp

    one_token = GenerationSettings(temperature=0.0, max_new_tokens=1)
    _reply(fresh, QUESTION, one_token)  # on one thread; the next reply reads two tokens on two
    monkeypatch.setattr(runtime, "_current", runtime.RuntimeOptions(threads=2))
    _reply(fresh, QUESTION, one_token)
    assert llama_cpp.llama_n_threads(fresh.llm.ctx) == 2
    # Beside a live training run a reply decodes on one thread, as the torch engine's do.
    monkeypatch.setattr("llamadesk.core.training.runs.live_runs", lambda: ["a run"])
    assert llamacpp_engine._threads() == 1
    _reply(fresh, QUESTION, one_token)
    assert llama_cpp.llama_n_threads(fresh.llm.ctx) == 1


@pytest.mark.slow
def test_a_file_without_a_chat_template_gets_the_fallback_for_its_tokens(fresh):
    stub = SimpleNamespace(model=fresh.llm.model, metadata={})  # the starter, minus its template
    vocabulary = LlamaCppEngine._read_vocabulary(stub)
    assert vocabulary.template_name == "chatml"
    assert vocabulary.template.render(messages=QUESTION[1:], add_generation_prompt=True) == (
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.slow
def test_loading_again_frees_the_previous_model(home, starter_gguf):
    register_starter(home, starter_gguf, MODEL_ID)
    chat = LlamaCppEngine()
    chat.load(MODEL_ID)
    first = chat.llm
    chat.load(MODEL_ID)
    assert chat.llm is not first and first._model.model is None  # freed before the new one loaded
    chat.unload()
    assert chat.llm is None and chat.model_id is None and chat.info()["context_length"] == 0


def test_errors_without_a_model_or_without_a_gguf(home):
    chat = LlamaCppEngine()
    with pytest.raises(NoModelError):
        _reply(chat, QUESTION)
    register_starter(home, None, MODEL_ID)
    with pytest.raises(InvalidModelError, match="no GGUF file"):
        chat.load(MODEL_ID)
    assert chat.model_id is None and chat.info()["engine"] == "llama.cpp"


# -- adapters ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_adapters_switch_without_reloading(fresh):
    register_gguf_adapter("noisy", MODEL_ID, fresh.llm.metadata, scale=0.05)
    register_gguf_adapter("zero", MODEL_ID, fresh.llm.metadata, scale=0.0)
    llm = fresh.llm
    short = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=6)
    base = _reply(fresh, QUESTION, short)
    fresh.load_adapters(["noisy", "zero"])
    assert fresh.loaded_adapters == ["noisy", "zero"] and fresh.active_adapter is None

    fresh.set_adapter("noisy")
    changed = _reply(fresh, QUESTION, short)
    assert changed != base
    assert fresh.last_stats.reused_tokens == 0  # the kept prompt came from other weights
    fresh.set_adapter("zero")
    assert _reply(fresh, QUESTION, short) == base
    fresh.set_adapter(None)
    assert _reply(fresh, QUESTION, short) == base and fresh.info()["adapter"] is None
    fresh.set_adapter("noisy")
    assert _reply(fresh, QUESTION, short) == changed
    assert fresh.llm is llm  # never reloaded


@pytest.mark.slow
def test_adapter_without_a_gguf_lora_is_refused(fresh):
    register_gguf_adapter("torch-only", MODEL_ID, None)
    with pytest.raises(IncompatibleAdapterError, match="no llama.cpp form"):
        fresh.set_adapter("torch-only")
    assert "torch-only" not in fresh.loaded_adapters and fresh.active_adapter is None
