"""The conversation store: messages committed one by one, search, export, and schema migrations."""

import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from dataclasses import replace

import pytest

from llamadesk.core import history as history_module
from llamadesk.core import paths
from llamadesk.core.errors import LlamaDeskError, NotFoundError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.history import (
    DEFAULT_TITLE,
    ChatHistory,
    HistoryError,
    InvalidRatingError,
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


def test_the_conversation_touched_last_is_first_even_when_the_clock_stands_still(store, monkeypatch):
    monkeypatch.setattr(history_module, "_now", lambda: "2026-01-01T00:00:00.000+00:00")
    first = _chat(store, "one", "1")
    second = _chat(store, "two", "2")
    assert [c.id for c in store.conversations()] == [second, first]
    store.rename(first, "renamed")
    assert [c.id for c in store.conversations()] == [first, second]
    store.add_message(second, "user", "again")
    assert [c.id for c in store.conversations()] == [second, first]


def test_a_conversation_starts_with_its_question_in_one_commit(store, monkeypatch):
    conversation, question = store.start("What is a LoRA?", system_prompt="Be brief.", model_id="m")
    assert (conversation.title, conversation.system_prompt, conversation.model_id) == (
        "What is a LoRA?",
        "Be brief.",
        "m",
    )
    assert [(m.id, m.role, m.content) for m in store.messages(conversation.id)] == [
        (question.id, "user", "What is a LoRA?")
    ]
    # Nothing half-done when the message cannot be written: no empty "New chat" either.
    before = store.conversations()
    monkeypatch.setattr(store, "_insert_message", lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        store.start("Lost?")
    assert store.conversations() == before


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
    shipped = len(history_module.MIGRATIONS)
    with ChatHistory() as store:
        conversation_id = _chat(store)
    bookmarks = """
        CREATE TABLE bookmarks (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            label TEXT NOT NULL
        );
        CREATE TRIGGER no_empty BEFORE INSERT ON bookmarks WHEN NEW.label = ''
        BEGIN SELECT RAISE(ABORT, 'empty'); END;
    """
    monkeypatch.setattr(history_module, "MIGRATIONS", [*history_module.MIGRATIONS, bookmarks])
    with ChatHistory() as store:
        assert store.schema_version == shipped + 1
        assert [m.content for m in store.messages(conversation_id)][-1] == "Paris."
        store._db.execute("INSERT INTO bookmarks VALUES (1, 'capital')")
    backup = paths.chats_db().with_name(f"chats.sqlite3.v{shipped}.bak")
    with sqlite3.connect(backup) as old:
        assert old.execute("PRAGMA user_version").fetchone()[0] == shipped
        assert old.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2


def test_a_failing_migration_changes_nothing(monkeypatch):
    with ChatHistory() as store:
        _chat(store)
    shipped = history_module.MIGRATIONS
    broken = "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1)"
    monkeypatch.setattr(history_module, "MIGRATIONS", [*shipped, broken])
    with pytest.raises(HistoryError, match=f"schema {len(shipped) + 1} failed .*no_such_table.*unchanged"):
        ChatHistory()
    monkeypatch.setattr(history_module, "MIGRATIONS", shipped)
    with ChatHistory() as store:
        assert store.schema_version == len(shipped)
        assert store._db.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
        assert len(store.conversations()) == 1


def _write_old_history(version: int, chats: list[tuple[str, str]]) -> list:
    """A chat history as a LlamaDesk of schema `version` wrote it (this version's own writes and
    reads use newer columns): the schema's scripts and plain rows, one question and reply a chat.
    Returns the conversations as written."""
    path = paths.chats_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = json.dumps(GenerationSettings(temperature=0.0, max_new_tokens=32).to_json())
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.row_factory = sqlite3.Row
        for number, script in enumerate(history_module.MIGRATIONS[:version], start=1):
            db.executescript(f"{script};\nPRAGMA user_version = {number};")
        ids = []
        for index, (question, answer) in enumerate(chats):
            now = f"2024-01-01T00:00:0{index}.000+00:00"
            ids.append(
                db.execute(
                    "INSERT INTO conversations (title, system_prompt, settings, model_id, created, updated)"
                    " VALUES (?, 'Be brief.', ?, 'tiny', ?, ?)",
                    (question, settings, now, now),
                ).lastrowid
            )
            db.execute(
                "INSERT INTO messages (conversation_id, role, content, created) VALUES (?, 'user', ?, ?)",
                (ids[-1], question, now),
            )
            db.execute(
                "INSERT INTO messages (conversation_id, role, content, created, model_id, settings, tokens,"
                " finish_reason) VALUES (?, 'assistant', ?, ?, 'tiny', ?, 3, 'eos')",
                (ids[-1], answer, now, settings),
            )
        written = []
        for conversation_id in ids:
            row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            messages = db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
            written.append(history_module._conversation(row, [history_module._message(m) for m in messages]))
        return written


def test_schema_1_gains_ratings_and_keeps_every_conversation():
    """A chat history written before ratings existed, opened by this version."""
    shipped = history_module.MIGRATIONS
    before = _write_old_history(
        1, [("What is the capital of France?", "Paris."), ("北京是哪个国家的首都？", "中国。")]
    )
    first, second = (c.id for c in before)
    with ChatHistory() as store:
        assert store.schema_version == len(shipped) >= 2
        assert [store.get(first), store.get(second)] == before
        assert store.conversations() == [replace(c, messages=[]) for c in reversed(before)]
        reply = before[1].messages[-1]
        assert store.rate(reply.id, thumb=1, stars=5).stars == 5
        assert store.get(second) == before[1]  # rating a reply changes nothing else
    with sqlite3.connect(paths.chats_db().with_name("chats.sqlite3.v1.bak")) as backup:
        assert backup.execute("PRAGMA user_version").fetchone()[0] == 1
        assert backup.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 4
        assert backup.execute("SELECT name FROM sqlite_master WHERE name = 'ratings'").fetchone() is None


# -- ratings --------------------------------------------------------------------------------------


def _reply_id(store: ChatHistory, conversation_id: int) -> int:
    return store.messages(conversation_id)[-1].id


def test_rate_a_reply_change_parts_and_take_it_back(store):
    reply = _reply_id(store, _chat(store))
    assert store.rating(reply) is None
    rating = store.rate(reply, thumb=1)
    assert (rating.message_id, rating.thumb, rating.stars, rating.note) == (reply, 1, None, None)
    assert rating.updated
    rating = store.rate(reply, stars=4, note="  Right, and brief.  ")
    assert (rating.thumb, rating.stars, rating.note) == (1, 4, "Right, and brief.")  # the thumb stays
    assert store.rate(reply, thumb=-1).to_json() | {"updated": ""} == {
        "message_id": reply,
        "thumb": -1,
        "stars": 4,
        "note": "Right, and brief.",
        "updated": "",
    }
    assert store.rate(reply, thumb=0, note="").thumb is None  # taken back, stars kept
    assert store.rate(reply, stars=0) is None  # nothing left: no rating at all
    assert store.rating(reply) is None
    store.close()
    with ChatHistory() as reopened:  # committed at once
        reopened.rate(reply, stars=2)
    with ChatHistory() as reopened:
        assert reopened.rating(reply).stars == 2


def test_only_replies_can_be_rated_and_values_are_checked(store):
    conversation_id = _chat(store)
    question, reply = store.messages(conversation_id)
    with pytest.raises(InvalidRatingError, match="not a reply"):
        store.rate(question.id, thumb=1)
    with pytest.raises(NotFoundError):
        store.rate(9999, thumb=1)
    for bad in ({"thumb": 2}, {"thumb": -2}, {"stars": 6}, {"stars": -1}):
        with pytest.raises(InvalidRatingError):
            store.rate(reply.id, **bad)
    assert store.rating(reply.id) is None
    with pytest.raises(sqlite3.IntegrityError):  # the schema holds the line too
        store._db.execute("INSERT INTO ratings VALUES (?, 1, 9, NULL, 'now')", (reply.id,))


def test_ratings_go_with_their_reply(store):
    conversation_id = _chat(store)
    first = _reply_id(store, conversation_id)
    follow_up = store.add_message(conversation_id, "user", "And Italy?")
    second = store.add_message(conversation_id, "assistant", "Rome.", model_id="tiny").id
    store.rate(first, thumb=1)
    store.rate(second, thumb=-1)
    assert set(store.ratings(conversation_id)) == {first, second}
    store.delete_from(follow_up.id)  # editing the question: the replies after it go, and their ratings
    assert set(store.ratings(conversation_id)) == {first}
    store.delete(conversation_id)
    assert store._db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0


def test_ratings_summary_per_model_and_adapter(store):
    def reply(model_id: str, adapter_id: str | None) -> int:
        conversation = store.create()
        store.add_message(conversation.id, "user", "Hi")
        return store.add_message(
            conversation.id, "assistant", "Hello", model_id=model_id, adapter_id=adapter_id
        ).id

    store.rate(reply("tiny", None), thumb=1, stars=4)
    store.rate(reply("tiny", None), thumb=-1, stars=1)
    store.rate(reply("tiny", None), note="odd wording")
    store.rate(reply("tiny", "french"), thumb=1, stars=5)
    store.rate(reply("other", None), thumb=-1)
    reply("tiny", "unrated")
    assert store.ratings_summary() == [
        {
            "model_id": "other",
            "adapter_id": None,
            "rated": 1,
            "up": 0,
            "down": 1,
            "starred": 0,
            "mean_stars": None,
        },
        {
            "model_id": "tiny",
            "adapter_id": None,
            "rated": 3,
            "up": 1,
            "down": 1,
            "starred": 2,
            "mean_stars": 2.5,
        },
        {
            "model_id": "tiny",
            "adapter_id": "french",
            "rated": 1,
            "up": 1,
            "down": 0,
            "starred": 1,
            "mean_stars": 5.0,
        },
    ]
    assert [(r["model_id"], r["adapter_id"]) for r in store.ratings_summary("tiny")] == [
        ("tiny", None),
        ("tiny", "french"),
    ]
    assert store.ratings_summary("nobody") == []


def test_a_database_from_a_newer_version_is_refused_not_damaged():
    ChatHistory().close()
    with sqlite3.connect(paths.chats_db()) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="newer LlamaDesk"):
        ChatHistory()


def test_a_file_that_is_not_a_database_is_set_aside_and_a_fresh_history_used(home):
    paths.chats_db().write_bytes(b"this is not sqlite" * 100)
    with ChatHistory() as store:
        (kept,) = home.glob("chats.damaged-*.sqlite3")
        assert store.recovered == (
            f"The chat history was damaged: it was set aside as {kept}, and a fresh one holds what could "
            "still be read (conversations recovered: 0)."
        )
        assert store.conversations() == [] and store.schema_version == len(history_module.MIGRATIONS)
    assert kept.read_bytes() == b"this is not sqlite" * 100
    with ChatHistory() as store:
        assert store.recovered is None


def test_a_sound_history_is_never_set_aside(home):
    with ChatHistory() as store:
        _chat(store)
    with ChatHistory() as store:
        assert store.recovered is None and len(store.conversations()) == 1
    assert not list(home.glob("chats.damaged-*"))


def test_export_refuses_a_folder_and_a_missing_folder(store, tmp_path):
    conversation = store.get(_chat(store))
    with pytest.raises(LlamaDeskError, match="is a folder; give the name of a file"):
        write_export(conversation, tmp_path, "markdown")
    with pytest.raises(LlamaDeskError, match="does not exist; create it first"):
        write_export(conversation, tmp_path / "missing" / "c.md", "markdown")
    assert not (tmp_path / "missing").exists()


# -- alternatives of a reply ----------------------------------------------------------------------


def test_a_regenerated_reply_keeps_the_earlier_one_as_an_alternative(store):
    conversation_id = _chat(store)
    first = _reply_id(store, conversation_id)
    store.rate(first, thumb=1)
    second = store.add_message(
        conversation_id, "assistant", "Paris, France.", model_id="tiny", replacing=first
    )
    assert [m.content for m in store.messages(conversation_id)] == [
        "What is the capital of France?",
        "Paris, France.",
    ]
    assert (
        [m.id for m in store.alternatives(first)]
        == [m.id for m in store.alternatives(second.id)]
        == [
            first,
            second.id,
        ]
    )
    assert store.rating(first).thumb == 1  # the earlier reply keeps its rating
    store.choose_alternative(first)
    assert store.messages(conversation_id)[-1].id == first
    # The chat goes on from the chosen one; the alternatives stay between their two questions.
    store.add_message(conversation_id, "user", "And of Italy?")
    third = store.add_message(conversation_id, "assistant", "Rome.", model_id="tiny")
    assert [m.id for m in store.alternatives(first)] == [first, second.id]
    assert [m.id for m in store.alternatives(third.id)] == [third.id]
    assert [m.content for m in store.get(conversation_id).messages] == [
        "What is the capital of France?",
        "Paris.",
        "And of Italy?",
        "Rome.",
    ]
    question = store.messages(conversation_id)[0]
    store.delete_from(question.id)  # editing the first question drops every version after it
    assert store._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_replacing_a_message_that_is_not_a_reply_of_the_chat_is_refused(store):
    conversation_id = _chat(store)
    question = store.messages(conversation_id)[0]
    with pytest.raises(ValueError, match="not a reply"):
        store.add_message(conversation_id, "assistant", "x", replacing=question.id)


def test_schema_2_gains_alternatives_and_shows_every_reply():
    """A history written before alternatives existed: every reply it holds stays shown."""
    shipped = history_module.MIGRATIONS
    (before,) = _write_old_history(2, [("What is the capital of France?", "Paris.")])
    conversation_id = before.id
    with ChatHistory() as store:
        assert store.schema_version == len(shipped) >= 3
        assert store.get(conversation_id) == before
        reply = before.messages[-1]
        assert [m.id for m in store.alternatives(reply.id)] == [reply.id]
    with sqlite3.connect(paths.chats_db().with_name("chats.sqlite3.v2.bak")) as backup:
        assert backup.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2
