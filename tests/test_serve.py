"""The local OpenAI-compatible server, driven by the official `openai` client: models and adapters
listed, replies plain and streamed, adapters by MODEL@ADAPTER, OpenAI-shaped errors, a client that
leaves mid-stream, and listening only where told."""

import signal
import socket
import subprocess
import threading
from types import SimpleNamespace

import psutil
import pytest

pytest.importorskip("llama_cpp")
openai = pytest.importorskip("openai")

from llamadesk.cli import main  # noqa: E402
from llamadesk.core import runtime  # noqa: E402
from llamadesk.core.engines.llamacpp_engine import LlamaCppEngine  # noqa: E402
from llamadesk.core.serving import host as serving_host  # noqa: E402
from llamadesk.core.serving.host import ModelHost  # noqa: E402
from llamadesk.core.serving.server import LocalServer, ServerError  # noqa: E402
from tests.faults.conftest import REPO, cli_command, cli_env  # noqa: E402
from tests.starter_fixtures import register_gguf_adapter, register_starter  # noqa: E402

MODEL_ID = "starter"
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def library(home, starter_gguf, monkeypatch):
    """The starter and two adapters for it: one that changes replies, one of zero weights."""
    monkeypatch.setattr(runtime, "_current", runtime.RuntimeOptions(threads=1))
    register_starter(home, starter_gguf, MODEL_ID)
    from gguf import GGUFReader

    fields = GGUFReader(starter_gguf).fields
    metadata = {k: int(fields[k].contents()) for k in ("llama.embedding_length", "llama.block_count")}
    register_gguf_adapter("noisy", MODEL_ID, metadata, scale=0.05)
    register_gguf_adapter("zero", MODEL_ID, metadata, scale=0.0)
    return home


@pytest.fixture
def server(library):
    served = LocalServer(port=0, model_host=ModelHost(LlamaCppEngine))
    served.start()
    yield served
    served.stop()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.address, api_key="unused", max_retries=0, timeout=120)


def _ask(client, model: str = MODEL_ID, **extra) -> str:
    reply = client.chat.completions.create(
        model=model, messages=FRANCE, temperature=0, max_tokens=extra.pop("max_tokens", 16), **extra
    )
    return reply.choices[0].message.content


@pytest.mark.slow
def test_models_and_adapters_are_listed(client):
    assert [m.id for m in client.models.list()] == ["starter", "starter@noisy", "starter@zero"]
    assert client.models.retrieve("starter@zero").id == "starter@zero"


@pytest.mark.slow
def test_a_plain_reply_answers_with_its_usage(client):
    reply = client.chat.completions.create(model=MODEL_ID, messages=FRANCE, temperature=0, max_tokens=16)
    assert "Paris" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    usage = reply.usage
    assert usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.slow
def test_a_streamed_reply_comes_in_chunks_and_equals_the_plain_one(client):
    chunks = list(
        client.chat.completions.create(
            model=MODEL_ID,
            messages=FRANCE,
            temperature=0,
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3
    assert "".join(pieces) == _ask(client)
    assert chunks[-1].usage.completion_tokens == 16 or chunks[-2].choices[0].finish_reason == "stop"


@pytest.mark.slow
def test_an_adapter_is_switched_in_by_name(client):
    base = _ask(client)
    assert _ask(client, "starter@noisy") != base
    assert _ask(client, "starter@zero") == base
    assert _ask(client) == base


@pytest.mark.slow
def test_a_text_completion_continues_the_prompt_without_the_chat_template(client):
    prompt = "The capital of France is"
    plain = client.completions.create(model=MODEL_ID, prompt=prompt, temperature=0, max_tokens=8)
    text = plain.choices[0].text
    assert plain.object == "text_completion" and plain.usage.completion_tokens == 8
    assert "Paris" in text
    streamed = client.completions.create(
        model=MODEL_ID, prompt=prompt, temperature=0, max_tokens=8, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text
    with pytest.raises(openai.BadRequestError, match="'prompt'"):
        client.completions.create(model=MODEL_ID, prompt="")


@pytest.mark.slow
def test_stop_sequences_end_the_reply_before_them(client):
    full = _ask(client, max_tokens=24)
    cut = full[5:8]
    assert _ask(client, max_tokens=24, stop=[cut]) == full[: full.index(cut)]


@pytest.mark.slow
def test_errors_are_openai_shaped_with_their_status(client, server):
    with pytest.raises(openai.NotFoundError, match="no model 'mystery'"):
        _ask(client, "mystery")
    with pytest.raises(openai.NotFoundError, match="no adapter 'mystery'"):
        _ask(client, "starter@mystery")
    with pytest.raises(openai.BadRequestError, match="Temperature"):
        client.chat.completions.create(model=MODEL_ID, messages=FRANCE, temperature=9)
    with pytest.raises(openai.BadRequestError, match="last message"):
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="'n'"):
        client.chat.completions.create(model=MODEL_ID, messages=FRANCE, n=2)
    with pytest.raises(openai.NotFoundError):
        client.post("/nowhere", body={}, cast_to=object)


@pytest.mark.slow
def test_a_client_that_leaves_mid_stream_stops_its_reply(client, server, monkeypatch):
    replies = []
    generate = server.model_host.generate

    def recording(served, messages, settings, stops, cancel, reply, passages):
        replies.append(reply)
        return generate(served, messages, settings, stops, cancel, reply, passages)

    monkeypatch.setattr(server.model_host, "generate", recording)
    long = client.chat.completions.create(
        model=MODEL_ID, messages=FRANCE, temperature=0.8, max_tokens=400, stream=True
    )
    for _chunk, _ in zip(long, range(3), strict=False):
        pass
    long.close()  # the first client leaves after three chunks
    assert "Paris" in _ask(client)  # the second is answered: the turn came back
    assert 0 < replies[0].completion_tokens < 400


@pytest.mark.slow
def test_a_reply_grounded_in_a_corpus_answers_from_it_and_names_its_sources(client):
    from llamadesk.core.corpus import store

    store.add_corpus([REPO / "tests" / "data" / "lumen_notes.md"], "lumen")
    question = [{"role": "user", "content": "Who founded Lumen Tea?"}]
    reply = client.chat.completions.create(
        model=MODEL_ID,
        messages=question,
        temperature=0,
        max_tokens=40,
        extra_body={"llamadesk": {"docs": "lumen"}},
    )
    assert "Mara Okafor" in reply.choices[0].message.content
    (cited,) = reply.model_extra["llamadesk"]["sources"]
    assert cited["source"].endswith("lumen_notes.md") and "Mara Okafor" in cited["text"]
    with pytest.raises(openai.NotFoundError, match="no corpus"):
        client.chat.completions.create(
            model=MODEL_ID, messages=question, extra_body={"llamadesk": {"docs": "/etc/passwd"}}
        )


def test_an_api_key_is_required_when_set(library):
    served = LocalServer(port=0, api_key="s3cret", model_host=ModelHost(LlamaCppEngine))
    served.start()
    try:
        wrong = openai.OpenAI(base_url=served.address, api_key="guess", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=served.address, api_key="s3cret", max_retries=0)
        assert [m.id for m in right.models.list()][0] == MODEL_ID
    finally:
        served.stop()


def test_listening_beyond_this_computer_needs_a_flag_and_a_key(library):
    with pytest.raises(ServerError, match="only on this computer"):
        LocalServer(host="0.0.0.0", port=0)
    with pytest.raises(ServerError, match="needs an API key"):
        LocalServer(host="0.0.0.0", port=0, allow_network=True)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ServerError, match=f"Port {taken.getsockname()[1]} .* is taken"):
            LocalServer(port=taken.getsockname()[1])
    finally:
        taken.close()


def test_a_model_to_preload_that_is_not_there_is_said_before_anything_listens(library, capsys):
    assert main(["serve", "--port", "0", "--model", "no-such-model"]) == 2
    assert "There is no model 'no-such-model' in the library" in capsys.readouterr().err


def test_preloading_loads_the_model_and_adapter_in_turn():
    calls = []
    engine = SimpleNamespace(model_id=None, active_adapter=None)
    engine.load = lambda model_id: calls.append(("load", model_id)) or setattr(engine, "model_id", model_id)
    engine.set_adapter = lambda adapter_id: calls.append(("adapter", adapter_id))
    ModelHost(lambda: engine).preload(serving_host.Served("m", "a"))
    assert calls == [("load", "m"), ("adapter", "a")]


def test_the_queue_refuses_past_its_limit():
    host = ModelHost(lambda: None, max_waiting=0)
    host._queue.extend([object(), object()])
    with pytest.raises(serving_host.BusyError, match="busy"):
        host.check_room()


@pytest.mark.slow
def test_llamadesk_serve_listens_on_loopback_only_and_stops_on_ctrl_c(library):
    process = subprocess.Popen(
        cli_command("serve", "--port", "0", "--model", MODEL_ID),
        env=cli_env(library),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == f"Loading {MODEL_ID}…\n"  # before serving, not on request
        banner = process.stdout.readline()
        address = banner.split(" at ", 1)[1].split(" ", 1)[0]
        assert address.startswith("http://127.0.0.1:")
        client = openai.OpenAI(base_url=address, api_key="unused", max_retries=0, timeout=120)
        assert "Paris" in _ask(client)
        sockets = psutil.Process(process.pid).net_connections(kind="inet")
        listening = [s for s in sockets if s.status == psutil.CONN_LISTEN]
        assert [s.laddr.ip for s in listening] == ["127.0.0.1"]
        assert all(s.raddr.ip == "127.0.0.1" for s in sockets if s.raddr)  # nothing goes out
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def test_serving_starts_no_thread_that_outlives_it(library):
    before = set(threading.enumerate())
    served = LocalServer(port=0, model_host=ModelHost(LlamaCppEngine))
    served.start()
    served.stop()
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
