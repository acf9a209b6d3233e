"""`llamadesk chat` and `llamadesk chats` on the tiny model (and once on the starter model)."""

import json
import sys

import pytest

from llamadesk.cli import main
from llamadesk.core import library

GREEDY = ["--temperature", "0", "--repetition-penalty", "1", "--max-new-tokens", "12"]


@pytest.fixture
def tiny(tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    return "tiny"


def test_one_prompt_streams_the_reply_to_stdout_and_figures_to_stderr(tiny, capsys):
    assert main(["chat", tiny, *GREEDY, "Hello"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and out.endswith("\n")
    assert "12 tokens" in err and "tokens/s" in err and "first token" in err
    assert main(["chat", tiny, *GREEDY, "Hello"]) == 0
    assert capsys.readouterr().out == out  # greedy: the same reply


def test_bad_input_gets_one_clear_sentence(tiny, capsys):
    assert main(["chat", tiny, "   "]) == 2
    assert "prompt is empty" in capsys.readouterr().err
    assert main(["chat", "ghost", "Hello"]) == 2
    assert "no model 'ghost'" in capsys.readouterr().err
    assert main(["chat", tiny, "--temperature", "-1", "Hello"]) == 2
    assert "Temperature must be" in capsys.readouterr().err
    assert main(["chat", tiny, "Llamas live in the Andes. " * 80]) == 2
    assert "too long" in capsys.readouterr().err
    assert main(["chat", tiny, "--adapter", "nope", "Hello"]) == 2
    assert "no adapter 'nope'" in capsys.readouterr().err


def test_repl_keeps_the_conversation_and_saves_it(tiny, capsys, monkeypatch):
    lines = iter(["Hello", "", "Llamas live in the Andes. " * 80, "How are you?", "/reset", "Bye", "/exit"])
    monkeypatch.setattr("builtins.input", lambda _prompt="": next(lines))
    assert main(["chat", tiny, "--system", "Be brief.", "--save", *GREEDY]) == 0
    err = capsys.readouterr().err
    assert "tiny on torch, cpu" in err and "too long" in err and "Started a new conversation" in err
    assert main(["chats", "list", "--json"]) == 0
    conversations = json.loads(capsys.readouterr().out)
    assert [c["title"] for c in conversations] == ["Bye", "Hello"]
    assert main(["chats", "export", str(conversations[1]["id"]), "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["system_prompt"] == "Be brief."
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant", "user", "assistant"]
    assert exported["messages"][1]["tokens"] == 12 and exported["messages"][1]["model_id"] == "tiny"


def test_repl_ends_on_end_of_input(tiny, monkeypatch):
    def no_more(_prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", no_more)
    assert main(["chat", tiny]) == 0


def test_chats_search_export_delete(tiny, capsys, tmp_path):
    assert main(["chat", tiny, "--save", *GREEDY, "Tell me about llamas"]) == 0
    capsys.readouterr()
    assert main(["chats", "search", "LLAMAS"]) == 0
    listed = capsys.readouterr().out
    assert "Tell me about llamas" in listed
    conversation_id = listed.split()[0]
    target = tmp_path / "llamas.md"
    assert main(["chats", "export", conversation_id, "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8").startswith("# Tell me about llamas")
    assert main(["chats", "delete", conversation_id]) == 0
    assert main(["chats", "search", "llamas"]) == 0
    assert "No conversations." in capsys.readouterr().out
    assert main(["chats", "delete", conversation_id]) == 2


@pytest.mark.slow
def test_starter_model_knows_the_capital_of_france(starter_hf_dir, capsys):
    library.import_model(starter_hf_dir, "SmolLM2-135M-Instruct", in_place=True)
    assert (
        main(["chat", "SmolLM2-135M-Instruct", "--temperature", "0", "What is the capital of France?"]) == 0
    )
    out, err = capsys.readouterr()
    print(f"\nstarter reply: {out.strip()!r}; {err.strip()}")
    assert "Paris" in out


def test_ctrl_c_during_a_reply_keeps_what_was_written(tiny, capsys, monkeypatch):
    class Interrupting:
        """A terminal whose user presses Ctrl+C after the third piece of the reply."""

        def __init__(self) -> None:
            self.written: list[str] = []

        def write(self, text: str) -> None:
            self.written.append(text)
            if len(self.written) == 3:
                raise KeyboardInterrupt

        def flush(self) -> None:
            pass

    terminal = Interrupting()
    captured = sys.stdout
    monkeypatch.setattr("sys.stdout", terminal)
    assert main(["chat", tiny, "--save", "--temperature", "0", "--max-new-tokens", "100", "Hello"]) == 0
    monkeypatch.setattr("sys.stdout", captured)
    assert "[stopped]" in capsys.readouterr().err
    assert main(["chats", "export", "1", "--format", "json"]) == 0
    question, reply = json.loads(capsys.readouterr().out)["messages"]
    assert question["content"] == "Hello"
    assert reply["finish_reason"] == "stopped" and reply["content"] == "".join(terminal.written[:3])


def test_chats_rate_and_ratings(capsys):
    from llamadesk.core.history import ChatHistory

    with ChatHistory() as history:
        conversation = history.create()
        history.add_message(conversation.id, "user", "Hello")
        history.add_message(conversation.id, "assistant", "Hi!", model_id="tiny", adapter_id="friendly")
    assert main(["chats", "ratings"]) == 0
    assert "No rated replies yet." in capsys.readouterr().out
    assert main(["chats", "export", str(conversation.id), "--format", "json"]) == 0
    question, reply = json.loads(capsys.readouterr().out)["messages"]

    assert main(["chats", "rate", str(reply["id"]), "--up", "--stars", "4"]) == 0
    assert capsys.readouterr().out == f"Message {reply['id']}: thumbs up · 4/5 stars\n"
    assert main(["chats", "rate", str(reply["id"]), "--down", "--note", "Too short.", "--json"]) == 0
    rating = json.loads(capsys.readouterr().out)
    assert (rating["thumb"], rating["stars"], rating["note"]) == (-1, 4, "Too short.")
    assert main(["chats", "ratings"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["VARIANT", "RATED", "UP", "DOWN", "STARS"]
    assert table[1].split() == ["tiny+friendly", "1", "0", "1", "4.00", "(1)"]
    assert main(["chats", "ratings", "--model", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "model_id": "tiny",
            "adapter_id": "friendly",
            "rated": 1,
            "up": 0,
            "down": 1,
            "starred": 1,
            "mean_stars": 4.0,
        }
    ]
    assert main(["chats", "rate", str(reply["id"]), "--no-thumb", "--stars", "0", "--note", ""]) == 0
    assert "has no rating now" in capsys.readouterr().out

    assert main(["chats", "rate", str(question["id"]), "--up"]) == 2
    assert "only replies can be rated" in capsys.readouterr().err
    assert main(["chats", "rate", "999", "--up"]) == 2
    assert "no message 999" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["chats", "rate", str(reply["id"]), "--stars", "6"])
    with pytest.raises(SystemExit):
        main(["chats", "rate", str(reply["id"]), "--up", "--down"])
