"""The chat history under faults: processes opening it at once, another process holding it locked,
damaged pages, a full disk, exports to places that cannot take them; on the command line (its own
process, real exit codes) and in the window."""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from llamadesk.core import history as history_module
from llamadesk.core import library, paths
from llamadesk.core.errors import BusyError, ResourceError
from llamadesk.core.history import ChatHistory, HistoryError, title_from
from tests.faults.conftest import cli_env, fill, one_sentence

PAGE = 4096
CONVERSATIONS = 12


def _fill_history(path: Path | None = None, count: int = CONVERSATIONS) -> dict[int, list[str]]:
    """A history with `count` conversations of two messages, each message about one page long (so
    damaged pages take out some of them, not all); returns the messages' contents by conversation."""
    contents: dict[int, list[str]] = {}
    with ChatHistory(path) as store:
        for number in range(count):
            conversation = store.create()
            question = f"Question {number} " + "lorem ipsum " * 200
            answer = f"Answer {number} " + "dolor sit " * 300
            store.add_message(conversation.id, "user", question)
            store.add_message(conversation.id, "assistant", answer, model_id="tiny")
            contents[conversation.id] = [question, answer]
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file dd damages
    return contents


def _damage(path: Path, first_page: int, count: int) -> bytes:
    """`dd if=/dev/urandom of=PATH bs=4096 seek=FIRST_PAGE count=COUNT conv=notrunc`; returns the
    file as it is then."""
    with open(path, "r+b") as handle:
        handle.seek(first_page * PAGE)
        handle.write(os.urandom(count * PAGE))
    return path.read_bytes()


def _integrity(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchall()


def _titles(stdout: str) -> list[str]:
    return [row["title"] for row in json.loads(stdout)]


@pytest.fixture
def tiny(tiny_model_dir) -> str:
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    return "tiny"


@pytest.fixture
def holder(home: Path) -> Iterator:
    """A factory: `holder(seconds)` starts a process that holds the chat history with BEGIN
    EXCLUSIVE for that long, and returns once it holds it."""
    started: list[subprocess.Popen] = []

    def hold(seconds: float, path: Path | None = None) -> subprocess.Popen:
        code = textwrap.dedent(
            f"""
            import sqlite3, sys, time
            db = sqlite3.connect({str(path or paths.chats_db())!r}, isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")
            db.execute("UPDATE conversations SET title = title")
            print("held", flush=True)
            time.sleep({seconds})
            db.execute("COMMIT")
            """
        )
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


# -- 1: processes opening the history at once -------------------------------------------------------

_OPEN_AT_ONCE = """
import sys, time
from llamadesk.core import history
from llamadesk.core.errors import LlamaDeskError

backup = history.ChatHistory._backup
def counted(self, version):
    print("backup", flush=True)
    backup(self, version)
history.ChatHistory._backup = counted

start = float(sys.argv[1])
while time.time() < start:  # every process past its imports, then all open at the same moment
    pass
try:
    with history.ChatHistory() as store:
        print("schema", store.schema_version, len(store.conversations()), flush=True)
except LlamaDeskError as exc:
    print("error", exc, flush=True)
    raise SystemExit(2)
"""


def _open_at_once(home: Path, processes: int = 4) -> list[subprocess.CompletedProcess]:
    start = time.time() + 2.0
    running = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT_ONCE, str(start)],
            env=cli_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(processes)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), p.stdout.read(), "") for p in running]


def test_processes_creating_the_history_at_once_never_fail(tmp_path):
    shipped = len(history_module.MIGRATIONS)
    for attempt in range(5):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        done = _open_at_once(home)
        assert [d.returncode for d in done] == [0] * 4, [d.stdout for d in done]
        assert all(d.stdout.strip() == f"schema {shipped} 0" for d in done), [d.stdout for d in done]
        assert not list(home.glob("*.bak"))


def test_processes_opening_an_older_history_at_once_migrate_it_once(tmp_path, monkeypatch):
    shipped = history_module.MIGRATIONS
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        monkeypatch.setenv("LLAMADESK_HOME", str(home))
        _fill_history(count=3)
        # Back to schema 1, as the first version wrote it (this version's writes use newer columns).
        with closing(sqlite3.connect(home / "chats.sqlite3")) as db:
            db.executescript(
                "DROP TABLE ratings; ALTER TABLE messages DROP COLUMN hidden;"
                " ALTER TABLE messages DROP COLUMN sources; PRAGMA user_version = 1;"
            )
        done = _open_at_once(home)
        assert [d.returncode for d in done] == [0] * 4, [d.stdout for d in done]
        outputs = "".join(d.stdout for d in done)
        assert outputs.count("backup") == 1, outputs  # one process migrated, the others waited
        assert outputs.count(f"schema {len(shipped)} 3") == 4, outputs
        (backup,) = home.glob("*.bak")
        with sqlite3.connect(backup) as old:
            assert old.execute("PRAGMA user_version").fetchone()[0] == 1
            assert old.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6


def test_cli_commands_started_together_on_a_new_history_all_succeed(cli, tmp_path):
    """The issue's reproduction: `for k in 1 2 3 4; do llamadesk chats list & done`."""
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        env = cli_env(home)
        running = [
            subprocess.Popen(
                [sys.executable, "-m", "llamadesk", "chats", "list"],
                env=env,
                cwd=Path(__file__).resolve().parents[2],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in running]
        assert results == [(0, "")] * 4


# -- 4: damaged pages -------------------------------------------------------------------------------


def test_damaged_pages_are_set_aside_and_every_readable_conversation_recovered(cli, home):
    contents = _fill_history()
    damaged = _damage(paths.chats_db(), 3, 3)  # the dd: the messages table's root, two indexes

    done = cli("chats", "list", "--json")
    assert done.returncode == 0, done.stderr
    sentence = one_sentence(done.stderr)
    (kept,) = home.glob("chats.damaged-*.sqlite3")
    assert sentence == (
        f"llamadesk: The chat history was damaged: it was set aside as {kept}, and a fresh one holds "
        f"what could still be read (conversations recovered: {CONVERSATIONS})."
    )
    assert _titles(done.stdout) == [title_from(contents[n][0]) for n in sorted(contents, reverse=True)]
    assert kept.read_bytes() == damaged  # kept as it was, never deleted
    assert _integrity(paths.chats_db()) == [("ok",)]

    again = cli("chats", "list", "--json")  # said once; the fresh history is simply used
    assert (again.returncode, again.stderr) == (0, "")
    assert len(_titles(again.stdout)) == CONVERSATIONS
    assert len(list(home.glob("chats.damaged-*"))) == 1


def test_recovery_reads_row_by_row_past_damaged_pages(home):
    contents = _fill_history()
    with sqlite3.connect(paths.chats_db()) as db:
        leaves = db.execute(
            "SELECT pageno, ncell FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY pageno"
        ).fetchall()
    lost = leaves[2][1] + leaves[5][1]
    _damage(paths.chats_db(), leaves[2][0] - 1, 1)
    _damage(paths.chats_db(), leaves[5][0] - 1, 1)

    with ChatHistory() as store:
        assert "conversations recovered: 12" in store.recovered
        recovered = {c.id: [m.content for m in store.messages(c.id)] for c in store.conversations()}
        new = store.create()  # no id of a lost row is given again
        assert new.id == CONVERSATIONS + 1
    assert set(recovered) == set(contents)
    messages = [text for texts in recovered.values() for text in texts]
    assert len(messages) == 2 * CONVERSATIONS - lost
    for conversation_id, texts in recovered.items():  # what came back is what was written
        assert set(texts) <= set(contents[conversation_id])
    assert _integrity(paths.chats_db()) == [("ok",)]


def test_damage_met_while_the_history_is_open_is_recovered_and_the_action_asked_again(home):
    contents = _fill_history()
    with ChatHistory() as store:
        _damage(paths.chats_db(), 3, 3)
        store._db.execute("PRAGMA shrink_memory")  # forget the pages read while it was sound
        with pytest.raises(
            HistoryError, match=r"damaged: .* \(conversations recovered: 12\); .* try it again"
        ):
            store.messages(1)
        assert [c.id for c in store.conversations()] == sorted(contents, reverse=True)  # usable again
    assert len(list(home.glob("chats.damaged-*.sqlite3"))) == 1


def test_a_file_that_is_no_database_at_all_is_set_aside_not_deleted(cli, home):
    paths.chats_db().write_bytes(b"this is not sqlite" * 1000)
    done = cli("chats", "list")
    assert done.returncode == 0
    assert "(conversations recovered: 0)" in one_sentence(done.stderr)
    (kept,) = home.glob("chats.damaged-*.sqlite3")
    assert kept.read_bytes() == b"this is not sqlite" * 1000
    assert done.stdout == "No conversations.\n"


# -- 5: a history another process holds -----------------------------------------------------------


def test_a_locked_history_is_waited_for_then_said_busy(cli, home, holder, tiny):
    _fill_history(count=2)
    holder(60)
    for args in (("chats", "delete", "1"), ("chat", tiny, "--save", "--max-new-tokens", "2", "Hello")):
        started = time.monotonic()
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        assert one_sentence(done.stderr) == (
            "llamadesk: The chat history is busy in another process that is writing to it; nothing was "
            "changed: try again when that process has finished."
        )
        assert time.monotonic() - started >= history_module.WAIT_S  # it waited before saying so
    listed = cli("chats", "list", "--json")  # reading goes on meanwhile (WAL)
    assert (listed.returncode, len(json.loads(listed.stdout))) == (0, 2)


def test_a_history_locked_for_a_moment_is_waited_for(cli, holder):
    _fill_history(count=2)
    holder(1.5)
    done = cli("chats", "delete", "1")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Deleted conversation 1.\n", "")


def test_the_opening_lock_held_too_long_is_said_busy(home):
    from llamadesk.core import locks

    release = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from llamadesk.core import locks; import time\n"
            "with locks.holding('chats', wait=1, busy=''):\n    print('held', flush=True); time.sleep(30)",
        ],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert release.stdout.readline().strip() == "held"
        with pytest.raises(BusyError, match=rf"busy in another process \(process {release.pid} is opening"):
            ChatHistory(wait=0.5)
        assert locks.is_held("chats")
    finally:
        release.kill()
        release.wait()


# -- 6: a full disk --------------------------------------------------------------------------------


@pytest.fixture
def full_home(small_disk, monkeypatch) -> Path:
    """A data home on a 2 MB disk, holding a chat history of three conversations."""
    root = small_disk(2 * 1024**2) / "home"
    root.mkdir()
    monkeypatch.setenv("LLAMADESK_HOME", str(root))
    _fill_history(count=3)
    return root


def test_listing_on_a_full_disk_says_full_never_damaged(cli, full_home):
    fill(full_home, leave=0)
    done = cli("chats", "list", data_home=full_home)
    assert done.returncode == 2
    sentence = one_sentence(done.stderr)
    assert sentence.startswith(f"llamadesk: The disk holding {full_home} is full (")
    assert "move it aside" not in sentence and "damaged" not in sentence
    (full_home / ".filler").unlink()
    again = cli("chats", "list", "--json", data_home=full_home)
    assert (again.returncode, len(json.loads(again.stdout))) == (0, 3)
    assert not list(full_home.glob("chats.damaged-*"))


def test_saving_on_a_full_disk_says_so_and_keeps_what_was_saved(full_home):
    with ChatHistory() as store:
        before = {c.id: store.get(c.id) for c in store.conversations()}
        fill(full_home, leave=0)
        with pytest.raises(ResourceError, match=rf"^The disk holding {full_home} is full \("):
            store.add_message(1, "user", "A long message. " * 20_000)
        with pytest.raises(ResourceError, match="is full"):
            store.create()
    (full_home / ".filler").unlink()
    with ChatHistory() as store:
        assert {c.id: store.get(c.id) for c in store.conversations()} == before
    assert _integrity(paths.chats_db()) == [("ok",)]


def test_chat_save_on_a_full_disk_is_one_sentence(cli, full_home, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    with ChatHistory() as window:  # another process has it open: its WAL index exists already
        window.conversations()
        fill(full_home, leave=0)
        done = cli("chat", "tiny", "--save", "--max-new-tokens", "2", "Hello", data_home=full_home)
    assert done.returncode == 2
    assert one_sentence(done.stderr).startswith(f"llamadesk: The disk holding {full_home} is full (")
    (full_home / ".filler").unlink()
    with ChatHistory() as store:
        assert len(store.conversations()) == 3
    assert _integrity(paths.chats_db()) == [("ok",)]


# -- 10: exports to places that cannot take them ---------------------------------------------------


def test_export_to_a_folder_is_one_sentence(cli, home):
    _fill_history(count=1)
    done = cli("chats", "export", "1", "-o", str(home))
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        f"llamadesk: {home} is a folder; give the name of a file to write, such as {home / 'chat.md'}."
    )


def test_export_never_creates_missing_folders(cli, home):
    _fill_history(count=1)
    target = home / "no" / "such" / "chat.md"
    done = cli("chats", "export", "1", "-o", str(target))
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        f"llamadesk: The folder {target.parent} does not exist; create it first or choose another."
    )
    assert not (home / "no").exists()


def test_export_to_an_unwritable_place_is_one_sentence(cli, home, small_disk):
    _fill_history(count=1)
    read_only = small_disk(64 * 1024)
    remounted = subprocess.run(["mount", "-o", "remount,ro", str(read_only)], capture_output=True, text=True)
    if remounted.returncode != 0:
        pytest.skip(f"cannot make a read-only disk here ({remounted.stderr.strip()})")
    done = cli("chats", "export", "1", "--format", "json", "-o", str(read_only / "chat.json"))
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        f"llamadesk: The conversation cannot be written to {read_only / 'chat.json'} (Read-only file "
        "system); choose another place."
    )


def test_export_to_a_full_disk_is_one_sentence(cli, home, small_disk):
    _fill_history(count=1)
    disk = small_disk(64 * 1024)
    fill(disk, leave=0)
    done = cli("chats", "export", "1", "-o", str(disk / "chat.md"))
    assert done.returncode == 2
    assert one_sentence(done.stderr).startswith(f"llamadesk: The disk holding {disk} is full (")
    assert [p.name for p in disk.iterdir()] == [".filler"]  # no half file left


# -- the window -------------------------------------------------------------------------------------


def _error_dialogs(view) -> list[str]:
    from PySide6.QtWidgets import QMessageBox

    return [box.text() for box in view.findChildren(QMessageBox, "errorDialog")]


def _open_view(qtbot, wait_for_model: bool = False):
    from llamadesk.ui.chat_view import ChatView

    view = ChatView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    if wait_for_model:
        qtbot.waitUntil(lambda: view.loaded_model() is not None, timeout=60_000)
    return view


def test_window_opening_a_damaged_history_says_what_was_recovered(qtbot, home):
    _fill_history()
    _damage(paths.chats_db(), 3, 3)
    view = _open_view(qtbot)
    try:
        qtbot.waitUntil(lambda: bool(_error_dialogs(view)))
        (text,) = _error_dialogs(view)
        (kept,) = home.glob("chats.damaged-*.sqlite3")
        assert text.startswith(f"The chat history was damaged: it was set aside as {kept}")
        assert len(view.conversation_ids()) == CONVERSATIONS
        view.open_conversation(view.conversation_ids()[0])  # the recovered history is used as usual
        assert view.notice.text() == ""
    finally:
        view.shutdown()


def test_window_sending_to_a_locked_history_says_busy_keeps_the_text_and_does_not_freeze(
    qtbot, home, holder, tiny
):
    from llamadesk.ui.chat_view import HISTORY_WAIT_S

    _fill_history(count=1)
    view = _open_view(qtbot, wait_for_model=True)
    try:
        holder(60)
        view.input.setPlainText("Hello")
        started = time.monotonic()
        assert view.send() is False
        assert time.monotonic() - started < HISTORY_WAIT_S + 2
        assert view.notice.text().startswith("The chat history is busy in another process")
        assert view.input.toPlainText() == "Hello"  # to send again
        view.conversation_actions.delete(1)  # deleting, too, is said, not raised
        assert "busy in another process" in view.notice.text()
        assert view.conversation_ids() == [1]
    finally:
        view.shutdown()


def test_window_on_a_full_disk_says_full_and_keeps_the_text(qtbot, full_home, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    view = _open_view(qtbot, wait_for_model=True)
    try:
        fill(full_home, leave=0)
        view.input.setPlainText("Hello")
        assert view.send() is False
        assert view.notice.text().startswith(f"The disk holding {full_home} is full (")
        assert view.input.toPlainText() == "Hello"
        assert not _error_dialogs(view)
    finally:
        view.shutdown()
        (full_home / ".filler").unlink(missing_ok=True)


def test_window_opening_a_history_on_a_full_disk_says_full(qtbot, full_home):
    fill(full_home, leave=0)
    view = _open_view(qtbot)
    try:
        qtbot.waitUntil(lambda: bool(_error_dialogs(view)))
        (text,) = _error_dialogs(view)
        assert text.startswith(f"The disk holding {full_home} is full (")
        assert "damaged" not in text and "move it aside" not in text
    finally:
        view.shutdown()
