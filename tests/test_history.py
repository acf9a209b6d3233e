"""The conversation store: messages committed one by one, search, export, and schema migrations."""

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from llamadesk.core import history as history_module
from llamadesk.core import paths
from llamadesk.core.errors import NotFoundError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import (
    DEFAULT_TITLE,
    ChatHistory,
    HistoryError,
    export_json,
    export_markdown,
    title_from,
    write_export,
)


@pytest.fixture
def store():
    with ChatHistory() as store:
        yield store


def _chat(
    store: ChatHistory, question: str = "What is the capital of France?", answer: str = "Paris."
) -> int:
    settings = GenerationSettings(temperature=0.0, max_new_tokens=32)
    conversation = store.create(system_prompt="Be brief.", settings=settings)
    store.add_message(conversation.id, "user", question)
    store.add_message(
        conversation.id,
        "assistant",
        answer,
        model_id="tiny",
        adapter_id="french",
        settings=settings,
        tokens=3,
        tokens_per_s=12.5,
        ttft_s=0.2,
        finish_reason="eos",
    )
    return conversation.id


def test_database_is_wal_in_the_data_home(store):
    assert store.path == paths.chats_db()
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == len(history_module.MIGRATIONS)


def test_messages_keep_their_figures_and_survive_reopening(store):
    conversation_id = _chat(store)
    store.close()
    with ChatHistory() as reopened:
        conversation = reopened.get(conversation_id)
    assert conversation.title == "What is the capital of France?"
    assert conversation.system_prompt == "Be brief."
    assert conversation.settings == GenerationSettings(temperature=0.0, max_new_tokens=32)
    assert (conversation.model_id, conversation.adapter_id) == ("tiny", "french")
    user, reply = conversation.messages
    assert (user.role, user.content, user.model_id) == ("user", "What is the capital of France?", None)
    assert (reply.role, reply.content, reply.model_id, reply.adapter_id) == (
        "assistant",
        "Paris.",
        "tiny",
        "french",
    )
    assert (reply.tokens, reply.tokens_per_s, reply.ttft_s, reply.finish_reason) == (3, 12.5, 0.2, "eos")
    assert reply.settings["max_new_tokens"] == 32


def test_list_search_rename_delete(store):
    first = _chat(store, "Tell me about llamas", "They live in the Andes.")
    second = _chat(store, "北京是哪个国家的首都？", "中国。")
    third = _chat(store, "Discount of 100%_off?", "No.")
    assert [c.id for c in store.conversations()] == [third, second, first]
    assert [c.id for c in store.search("andes")] == [first]
    assert [c.id for c in store.search("首都")] == [second]
    assert [c.id for c in store.search("100%_")] == [third]
    assert [c.id for c in store.search("%")] == [third]  # wildcards are literal
    assert store.search("nothing like this") == []
    assert len(store.search("  ")) == 3
    store.rename(first, "Llama facts")
    assert [c.id for c in store.search("llama FACTS")] == [first]
    assert store.rename(first, "   ").title == DEFAULT_TITLE
    store.delete(second)
    assert [c.id for c in store.conversations()] == [first, third]
    assert (
        store._db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (second,)).fetchone()[0]
        == 0
    )
    with pytest.raises(NotFoundError):
        store.get(second)
    with pytest.raises(NotFoundError):
        store.add_message(second, "user", "hello?")


def test_delete_from_truncates_for_edit_and_regenerate(store):
    conversation_id = _chat(store)
    follow_up = store.add_message(conversation_id, "user", "And Italy?")
    store.add_message(conversation_id, "assistant", "Rome.", model_id="tiny")
    store.delete_from(follow_up.id)
    assert [m.content for m in store.messages(conversation_id)] == [
        "What is the capital of France?",
        "Paris.",
    ]


def test_update_settings_and_system_prompt(store):
    conversation = store.create()
    assert conversation.title == DEFAULT_TITLE
    changed = store.update(
        conversation.id, system_prompt="Answer in French.", settings=GenerationSettings(seed=3)
    )
    assert changed.system_prompt == "Answer in French." and changed.settings.seed == 3
    with pytest.raises(ValueError):
        store.update(conversation.id, created="yesterday")


def test_titles_from_first_message():
    assert title_from("  Hello\nworld") == "Hello"
    long = "word " * 30
    assert title_from(long).endswith("…") and len(title_from(long)) <= 61
    assert title_from("   ") == DEFAULT_TITLE


def test_export_markdown_and_json(store, tmp_path):
    conversation = store.get(_chat(store, answer="**Paris**.\n\n```python\nprint('Paris')\n```"))
    markdown = export_markdown(conversation)
    assert markdown.startswith("# What is the capital of France?\n")
    assert "## System\n\nBe brief." in markdown
    assert "## You\n\nWhat is the capital of France?" in markdown
    assert (
        "## Assistant (tiny + french · 12.5 tokens/s)\n\n**Paris**.\n\n```python\nprint('Paris')\n```"
        in markdown
    )
    data = export_json(conversation)
    assert data["format"] == "llamadesk-conversation" and data["settings"]["max_new_tokens"] == 32
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    write_export(conversation, tmp_path / "c.json", "json")
    write_export(conversation, tmp_path / "c.md", "markdown")
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8")) == data
    assert (tmp_path / "c.md").read_text(encoding="utf-8") == markdown


def test_killing_the_process_mid_reply_keeps_committed_messages(home):
    """A process that commits a question, then dies while 'writing' the reply, loses only the reply."""
    code = textwrap.dedent(
        """
        import os, signal
        from llamadesk.core.history import ChatHistory
        store = ChatHistory()
        c = store.create()
        store.add_message(c.id, "user", "Will this survive?")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], env={"LLAMADESK_HOME": str(home)}, timeout=60)
    assert result.returncode != 0
    with ChatHistory() as store:
        (conversation,) = store.conversations()
        assert [m.content for m in store.messages(conversation.id)] == ["Will this survive?"]


def test_migration_to_a_newer_schema_keeps_data_and_a_backup(monkeypatch):
    with ChatHistory() as store:
        conversation_id = _chat(store)
    ratings = """
        CREATE TABLE ratings (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            score INTEGER NOT NULL
        );
        CREATE TRIGGER no_zero BEFORE INSERT ON ratings WHEN NEW.score = 0
        BEGIN SELECT RAISE(ABORT, 'zero'); END;
    """
    monkeypatch.setattr(history_module, "MIGRATIONS", [*history_module.MIGRATIONS, ratings])
    with ChatHistory() as store:
        assert store.schema_version == 2
        assert [m.content for m in store.messages(conversation_id)][-1] == "Paris."
        store._db.execute("INSERT INTO ratings VALUES (1, 1)")
    backup = paths.chats_db().with_name("chats.sqlite3.v1.bak")
    with sqlite3.connect(backup) as old:
        assert old.execute("PRAGMA user_version").fetchone()[0] == 1
        assert old.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2


def test_a_failing_migration_changes_nothing(monkeypatch):
    with ChatHistory() as store:
        _chat(store)
    shipped = history_module.MIGRATIONS
    broken = "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1)"
    monkeypatch.setattr(history_module, "MIGRATIONS", [*shipped, broken])
    with pytest.raises(HistoryError, match="schema 2 failed .*no_such_table.*unchanged"):
        ChatHistory()
    monkeypatch.setattr(history_module, "MIGRATIONS", shipped)
    with ChatHistory() as store:
        assert store.schema_version == 1
        assert store._db.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
        assert len(store.conversations()) == 1


def test_a_database_from_a_newer_version_is_refused_not_damaged():
    ChatHistory().close()
    with sqlite3.connect(paths.chats_db()) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="newer LlamaDesk"):
        ChatHistory()


def test_a_file_that_is_not_a_database_gets_a_clear_error():
    paths.chats_db().write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="move it aside"):
        ChatHistory()
