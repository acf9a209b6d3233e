"""Conversations in SQLite: every message is committed the moment it is complete.

WAL journal with synchronous=NORMAL: a commit survives the app being killed (only a power cut can
lose the last commits), readers never block the writer, and a commit costs no fsync on the GUI
thread. The schema carries its version in `PRAGMA user_version` and moves only forward, through
`MIGRATIONS`; a copy of the old database is kept before any migration, so an update never loses
a chat.

Several processes share the file (the window, CLI commands, a second window). Opening it, with the
check, recovery and migrations that may come with that, happens under one cross-process lock, so
one process creates or migrates and the others wait and then find the finished schema. Every
SQLite failure reaches the user as one sentence that says what it is: another process's write
(busy, after waiting for it), a full disk, or damage; a damaged file is set aside, never deleted,
and what SQLite can still read of it is recovered into a fresh history."""

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from llamadesk.core import disk, locks, paths
from llamadesk.core.errors import BusyError, LlamaDeskError, NotFoundError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.i18n import _
from llamadesk.core.names import shown

DEFAULT_TITLE = "New chat"
RECOVERED_TITLE = "Recovered chat"  # for messages whose conversation's own row could not be read

# How long a command waits for another process's write to the history (SQLite's busy handler) or
# for another process to finish opening it (a migration, a recovery) before saying it is busy.
# The window passes less: it waits on its own thread, where a long wait is a frozen window.
WAIT_S = 5.0
# Below this much free space an I/O error from SQLite is a full disk: creating the WAL index or
# growing the WAL fails as EIO-like SQLITE_IOERR, not as SQLITE_FULL, when the disk is full.
LOW_SPACE = 4 * 1024**2
# A recovery looks up every id up to the highest one it can find; a damaged page can hold any
# number, so the look-ups stop this far beyond the ids actually read.
PROBE_BEYOND = 1_000_000

# Schema version N is reached by running MIGRATIONS[N-1] on version N-1. Append; never edit one
# that has shipped.
# AUTOINCREMENT: an id is never reused after a delete, so whatever refers to a message or a
# conversation (a rating, an export, a link in the transcript) can never point at another.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        system_prompt TEXT NOT NULL DEFAULT '',
        settings TEXT NOT NULL DEFAULT '{}',
        model_id TEXT,
        adapter_id TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        created TEXT NOT NULL,
        model_id TEXT,
        adapter_id TEXT,
        settings TEXT,
        tokens INTEGER,
        tokens_per_s REAL,
        ttft_s REAL,
        finish_reason TEXT
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX conversations_by_updated ON conversations(updated);
    """,
    # 2: a person's judgement of a reply, one per message, gone with the message it judges
    # (a regenerated reply is another reply). The CHECKs keep values a later reader can trust.
    """
    CREATE TABLE ratings (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        thumb INTEGER CHECK (thumb IN (-1, 0, 1)),
        stars INTEGER CHECK (stars BETWEEN 1 AND 5),
        note TEXT,
        updated TEXT NOT NULL
    );
    """,
    # 3: replies set aside by Regenerate stay as alternatives of the reply that took their place.
    # The alternatives of one reply are the replies in a row between two questions; one of them
    # is shown (and is what the model reads later in the chat), the others are hidden. A column
    # with a default: every reply an older version wrote is shown, as before.
    """
    ALTER TABLE messages ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1));
    """,
    # 4: the passages of the user's documents a grounded reply was given (JSON: number, source,
    # text, score), so the reply keeps showing what it was answered from.
    """
    ALTER TABLE messages ADD COLUMN sources TEXT;
    """,
]


class HistoryError(LlamaDeskError):
    """The chat database cannot be used as it is."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _said(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn an SQLite failure inside a ChatHistory method into the one sentence for the user
    (`ChatHistory._failure`); errors that are bugs (a constraint, a closed connection) stay as they
    are, to be logged."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            history = args[0]
            assert isinstance(history, ChatHistory)
            failure = history._failure(exc)
            if failure is None:
                raise
            raise failure from exc

    return wrapper


class InvalidRatingError(LlamaDeskError):
    """A rating outside what can be given: a thumb other than up, down or none, stars outside 1–5,
    or a rating of something that is not a reply."""


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    created: str
    model_id: str | None = None
    adapter_id: str | None = None
    settings: dict | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None  # "eos", "length" or "stopped" for replies
    sources: list[dict] | None = None  # the passages a grounded reply was given

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,  # what `chats rate` and links to a message name it by
            "role": self.role,
            "content": self.content,
            "created": self.created,
            "model_id": self.model_id,
            "adapter_id": self.adapter_id,
            "settings": self.settings,
            "tokens": self.tokens,
            "tokens_per_s": self.tokens_per_s,
            "ttft_s": self.ttft_s,
            "finish_reason": self.finish_reason,
            "sources": self.sources,
        }


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    system_prompt: str
    settings: GenerationSettings
    model_id: str | None
    adapter_id: str | None
    created: str
    updated: str
    messages: list[Message] = field(default_factory=list)  # filled by `get`, empty in listings


@dataclass(frozen=True)
class Rating:
    """What a person thought of one reply. Each part is optional: a thumb, stars, a note."""

    message_id: int
    thumb: int | None  # 1 up, -1 down; None or 0: no thumb given
    stars: int | None  # 1–5
    note: str | None
    updated: str

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "thumb": self.thumb,
            "stars": self.stars,
            "note": self.note,
            "updated": self.updated,
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ChatHistory:
    """The conversation store. One connection, used from the thread that made it.

    `recovered` is the sentence to show the user when opening found the file damaged and recovered
    it (None otherwise): what was opened is then the fresh history, and work can go on."""

    def __init__(self, path: Path | None = None, *, wait: float = WAIT_S) -> None:
        self.path = Path(path) if path is not None else paths.chats_db()
        self._recovery: tuple[Path, int] | None = None  # where the damaged file went, conversations kept
        self._wait = wait
        self._in_memory = str(self.path) == ":memory:"
        try:
            with disk.reporting_full_disk(self.path.parent):
                if not self._in_memory:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                with self._opening():
                    self._open()
        except sqlite3.DatabaseError as exc:
            failure = self._failure(exc, opening=True)
            if failure is None:
                raise HistoryError(
                    _("The chat history {path} cannot be opened ({exc}); please report this.").format(
                        path=self.path, exc=exc
                    )
                ) from exc
            raise failure from exc

    def close(self) -> None:
        # Closing checkpoints the WAL into the file; where that fails (a full disk) the commits stay
        # in the WAL, which the next open reads: nothing to tell the user, nothing lost.
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> "ChatHistory":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def recovered(self) -> str | None:
        """What opening did to a damaged history, as the sentence to show; None if it was sound."""
        if self._recovery is None:
            return None
        kept, count = self._recovery
        return _(
            "The chat history was damaged: it was set aside as {kept}, and a fresh one holds what "
            "could still be read (conversations recovered: {count})."
        ).format(kept=kept, count=count)

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- opening, failures, recovery ------------------------------------------------------------

    def _opening(self) -> contextlib.AbstractContextManager[None]:
        """The cross-process lock held while a process opens the file: without it two processes
        opening a new or older history both create or migrate it, and one fails."""
        if self._in_memory:
            return contextlib.nullcontext()
        resolved = str(self.path.resolve())
        default = str(paths.chats_db().resolve())
        name = "chats" if resolved == default else "chats-" + hashlib.sha1(resolved.encode()).hexdigest()[:12]
        return locks.holding(
            name,
            wait=self._wait,
            busy=_(
                "The chat history is busy in another process (process {pid} is opening or "
                "repairing it); try again in a moment."
            ),
        )

    def _connect(self) -> sqlite3.Connection:
        # The busy handler is set by `timeout` before the first statement: setting WAL already
        # needs a lock that another process may hold.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=self._wait)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _open(self) -> None:
        """Connect, check, recover if damaged, migrate; under the opening lock.

        The check (`quick_check`: every page read once, milliseconds for a chat history) comes
        first so that damage is found, and recovered from, before a migration or a command writes
        into it, not halfway through a command."""
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if _code(exc) not in _DAMAGED:
                raise
            damaged = True  # its first page cannot be read, or it is no database at all
        else:
            try:
                damaged = self._is_damaged()
            except BaseException:
                self.close()
                raise
            if damaged:
                self.close()
        if damaged:
            self._recovery = self._recover()
            self._db = self._connect()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _is_damaged(self) -> bool:
        try:
            version = self.schema_version
            if version > len(MIGRATIONS):
                return False  # a newer LlamaDesk's file: refused by _migrate, never touched
            rows = self._db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _DAMAGED:
                return True
            raise
        return [tuple(row) for row in rows] != [("ok",)]

    def _failure(self, exc: sqlite3.DatabaseError, opening: bool = False) -> LlamaDeskError | None:
        """The sentence for an SQLite failure; None for one that is a bug, not the file's state."""
        code = _code(exc)
        folder = self.path.parent if not self._in_memory else paths.data_home()
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return BusyError(
                _(
                    "The chat history is busy in another process that is writing to it; nothing "
                    "was changed: try again when that process has finished."
                )
            )
        if code == sqlite3.SQLITE_FULL or disk.is_disk_full(exc):
            return disk.full_disk_error(folder)
        if code == sqlite3.SQLITE_IOERR and disk.free_bytes(folder) < LOW_SPACE:
            return disk.full_disk_error(folder)
        if code in _DAMAGED and not opening:
            return self._recover_in_use()
        if code in (
            sqlite3.SQLITE_IOERR,
            sqlite3.SQLITE_CANTOPEN,
            sqlite3.SQLITE_READONLY,
            sqlite3.SQLITE_PERM,
            sqlite3.SQLITE_AUTH,
        ):
            return HistoryError(
                _(
                    "The chat history {path} cannot be read or written ({exc}); check that its "
                    "folder is there and writable, then try again."
                ).format(path=self.path, exc=exc)
            )
        return None

    def _recover_in_use(self) -> LlamaDeskError:
        """Damage met while the history was open (the window has it open for hours): open it again,
        which recovers it (unless another process already did), and ask for the action again."""
        self.close()
        self._recovery = None
        try:
            with self._opening():
                self._open()
        except (sqlite3.DatabaseError, LlamaDeskError) as exc:
            # Not recovered now (busy, a full disk): the next action meets the damage and tries again.
            with contextlib.suppress(sqlite3.Error):
                self._db = self._connect()
            if isinstance(exc, LlamaDeskError):
                return exc
            return self._failure(exc, opening=True) or HistoryError(str(exc))
        if self._recovery is not None:
            kept, count = self._recovery
            return HistoryError(
                _(
                    "The chat history turned out to be damaged: it was set aside as {kept}, and a fresh "
                    "one holds what could still be read (conversations recovered: {count}); what you "
                    "just did was not done, so try it again."
                ).format(kept=kept, count=count)
            )
        return HistoryError(
            _("The chat history was repaired by another LlamaDesk process meanwhile; try again.")
        )

    def _recover(self) -> tuple[Path, int]:
        """Set the damaged file aside (kept, never deleted) and put in its place a fresh history
        holding every row SQLite can still read; returns where the damaged file went and how many
        conversations the fresh one holds."""
        fresh_path = self.path.with_name(self.path.name + ".recovering")
        fresh_path.unlink(missing_ok=True)  # a recovery killed midway; the damaged file is still there
        try:
            count = _salvage(self.path, fresh_path)
        except BaseException:
            fresh_path.unlink(missing_ok=True)
            raise
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = self.path.with_name(f"{self.path.stem}.damaged-{stamp}{self.path.suffix}")
        number = 1
        while kept.exists():
            number += 1
            kept = self.path.with_name(f"{self.path.stem}.damaged-{stamp}-{number}{self.path.suffix}")
        # A WAL left by another connection goes with its file: met by the fresh file it would be
        # replayed into it.
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.replace(side, kept.with_name(kept.name + suffix))
        try:  # a second name first: there is no moment without a history file or a kept copy
            os.link(self.path, kept)
        except OSError:  # file systems without hard links (FAT on a USB drive)
            os.replace(self.path, kept)
        os.replace(fresh_path, self.path)
        return kept, count

    def _migrate(self) -> None:
        version = self.schema_version
        target = len(MIGRATIONS)
        if version > target:
            raise HistoryError(
                _(
                    "The chat history {path} was written by a newer LlamaDesk (schema "
                    "{version}, this version knows {target}); update LlamaDesk to open it."
                ).format(path=self.path, version=version, target=target)
            )
        if version == target:
            return
        if version > 0:
            self._backup(version)
        for number in range(version, target):
            # One script per version, its version bump inside the same transaction: a crash midway
            # leaves the previous version intact.
            try:
                self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{MIGRATIONS[number]};\nPRAGMA user_version = {number + 1};\nCOMMIT;"
                )
            except sqlite3.DatabaseError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if self._failure(exc, opening=True) is not None:
                    raise  # busy, full disk: said as such by __init__
                raise HistoryError(
                    _(
                        "Updating the chat history to schema {schema} failed ({exc}); it is "
                        "unchanged. Please report this with {path}."
                    ).format(schema=number + 1, exc=exc, path=self.path)
                ) from exc

    def _backup(self, version: int) -> None:
        """A full copy of the database as it was, beside it, before a migration touches it."""
        backup_path = self.path.with_name(f"{self.path.name}.v{version}.bak")
        with closing(sqlite3.connect(backup_path)) as target:
            self._db.backup(target)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) may have rolled back already; what was committed
            # before stays either way.
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    # -- conversations --------------------------------------------------------------------------

    @_said
    def create(
        self,
        title: str = DEFAULT_TITLE,
        system_prompt: str = "",
        settings: GenerationSettings | None = None,
        model_id: str | None = None,
        adapter_id: str | None = None,
    ) -> Conversation:
        now = self._activity_time()
        settings_json = json.dumps((settings or GenerationSettings()).to_json())
        cursor = self._db.execute(
            "INSERT INTO conversations"
            " (title, system_prompt, settings, model_id, adapter_id, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, system_prompt, settings_json, model_id, adapter_id, now, now),
        )
        return self.get(int(cursor.lastrowid))

    @_said
    def start(
        self,
        question: str,
        system_prompt: str = "",
        settings: GenerationSettings | None = None,
        model_id: str | None = None,
    ) -> tuple[Conversation, Message]:
        """A new conversation with its first question, committed together: a process killed
        between two commits would leave an empty "New chat" in the list."""
        now = self._activity_time()
        settings_json = json.dumps((settings or GenerationSettings()).to_json())
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO conversations (title, system_prompt, settings, model_id, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (title_from(question), system_prompt, settings_json, model_id, now, now),
            )
            conversation_id = int(cursor.lastrowid)
            message_id = self._insert_message(conversation_id, "user", question, now)
        return self.get(conversation_id), self.get_message(message_id)

    @_said
    def get(self, conversation_id: int) -> Conversation:
        row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                _("There is no conversation {conversation_id}.").format(conversation_id=conversation_id)
            )
        return _conversation(row, self.messages(conversation_id))

    @_said
    def conversations(self) -> list[Conversation]:
        """Newest activity first."""
        rows = self._db.execute("SELECT * FROM conversations ORDER BY updated DESC, id DESC").fetchall()
        return [_conversation(row) for row in rows]

    @_said
    def search(self, text: str) -> list[Conversation]:
        """Conversations whose title or any message contains `text` (case-insensitive for ASCII).

        LIKE rather than FTS5: FTS5's tokenisers split Chinese and other unspaced scripts badly,
        and a substring scan over one user's chats is fast enough."""
        if not text.strip():
            return self.conversations()
        pattern = f"%{_escape_like(text.strip())}%"
        rows = self._db.execute(
            "SELECT * FROM conversations c WHERE c.title LIKE ?1 ESCAPE '\\' OR EXISTS ("
            " SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE ?1 ESCAPE '\\')"
            " ORDER BY updated DESC, id DESC",
            (pattern,),
        ).fetchall()
        return [_conversation(row) for row in rows]

    @_said
    def update(self, conversation_id: int, **changes: Any) -> Conversation:
        """Change title, system_prompt, settings, model_id or adapter_id."""
        allowed = {"title", "system_prompt", "settings", "model_id", "adapter_id"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "settings" in changes:
            changes["settings"] = json.dumps(changes["settings"].to_json())
        if "title" in changes:
            changes["title"] = changes["title"].strip() or DEFAULT_TITLE
        columns = ", ".join(f"{name} = ?" for name in changes)
        self._require(conversation_id)
        self._db.execute(
            f"UPDATE conversations SET {columns}, updated = ? WHERE id = ?",
            (*changes.values(), self._activity_time(), conversation_id),
        )
        return self.get(conversation_id)

    def rename(self, conversation_id: int, title: str) -> Conversation:
        return self.update(conversation_id, title=title)

    @_said
    def delete(self, conversation_id: int) -> None:
        self._require(conversation_id)
        self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def _activity_time(self) -> str:
        """Now, or just after the latest activity when the clock has not moved on since.

        Millisecond timestamps tie on a fast machine, and "newest activity first" must still put
        the conversation touched last at the top."""
        now = _now()
        latest = self._db.execute("SELECT MAX(updated) FROM conversations").fetchone()[0]
        if latest is None or now > latest:
            return now
        later = dt.datetime.fromisoformat(latest) + dt.timedelta(milliseconds=1)
        return later.isoformat(timespec="milliseconds")

    def _require(self, conversation_id: int) -> None:
        if (
            self._db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            is None
        ):
            raise NotFoundError(
                _("There is no conversation {conversation_id}.").format(conversation_id=conversation_id)
            )

    # -- messages -------------------------------------------------------------------------------

    @_said
    def messages(self, conversation_id: int) -> list[Message]:
        """The conversation as it reads: of each reply's alternatives, the one chosen."""
        rows = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND hidden = 0 ORDER BY id", (conversation_id,)
        ).fetchall()
        return [_message(row) for row in rows]

    @_said
    def alternatives(self, message_id: int) -> list[Message]:
        """Every version of reply `message_id`, oldest first (itself included): the replies in a
        row between the question before it and the next one, shown or hidden."""
        message = self.get_message(message_id)
        if message.role != "assistant":
            return [message]
        bounds = self._db.execute(
            "SELECT (SELECT MAX(id) FROM messages"
            "  WHERE conversation_id = ?1 AND id < ?2 AND role != 'assistant'),"
            " (SELECT MIN(id) FROM messages WHERE conversation_id = ?1 AND id > ?2 AND role != 'assistant')",
            (message.conversation_id, message_id),
        ).fetchone()
        rows = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND role = 'assistant' AND id > ? AND id < ?"
            " ORDER BY id",
            (message.conversation_id, bounds[0] or 0, bounds[1] or 2**63 - 1),
        ).fetchall()
        return [_message(row) for row in rows]

    @_said
    def choose_alternative(self, message_id: int) -> None:
        """Show reply `message_id` in place of its other versions (they stay, hidden)."""
        versions = [m.id for m in self.alternatives(message_id)]
        with self._transaction():
            for version in versions:
                self._db.execute(
                    "UPDATE messages SET hidden = ? WHERE id = ?", (int(version != message_id), version)
                )

    @_said
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        model_id: str | None = None,
        adapter_id: str | None = None,
        settings: GenerationSettings | None = None,
        tokens: int | None = None,
        tokens_per_s: float | None = None,
        ttft_s: float | None = None,
        finish_reason: str | None = None,
        replacing: int | None = None,
        sources: list[dict] | None = None,
    ) -> Message:
        """Append and commit one message; a first user message also names an untitled conversation.

        `replacing`, for a regenerated reply: the reply it takes the place of, hidden in the same
        commit and kept among its alternatives (a crash leaves one or the other shown, never none)."""
        self._require(conversation_id)
        if replacing is not None:
            replaced = self.get_message(replacing)
            if replaced.role != "assistant" or replaced.conversation_id != conversation_id:
                raise ValueError(f"message {replacing} is not a reply of conversation {conversation_id}")
        now = self._activity_time()
        with self._transaction():
            if replacing is not None:
                self._db.execute("UPDATE messages SET hidden = 1 WHERE id = ?", (replacing,))
            message_id = self._insert_message(
                conversation_id,
                role,
                content,
                now,
                model_id=model_id,
                adapter_id=adapter_id,
                settings=json.dumps(settings.to_json()) if settings else None,
                tokens=tokens,
                tokens_per_s=tokens_per_s,
                ttft_s=ttft_s,
                finish_reason=finish_reason,
                sources=json.dumps(sources, ensure_ascii=False) if sources else None,
            )
            self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            if role == "user":
                self._db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                    (title_from(content), conversation_id, DEFAULT_TITLE),
                )
            if model_id is not None:  # a reply: the conversation now continues with its model
                self._db.execute(
                    "UPDATE conversations SET model_id = ?, adapter_id = ? WHERE id = ?",
                    (model_id, adapter_id, conversation_id),
                )
        return self.get_message(message_id)

    def _insert_message(
        self, conversation_id: int, role: str, content: str, created: str, **fields: object
    ) -> int:
        """INSERT one message inside the caller's transaction; `fields` are further columns."""
        columns = ["conversation_id", "role", "content", "created", *fields]
        cursor = self._db.execute(
            f"INSERT INTO messages ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            (conversation_id, role, content, created, *fields.values()),
        )
        return int(cursor.lastrowid)

    @_said
    def get_message(self, message_id: int) -> Message:
        row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise NotFoundError(_("There is no message {message_id}.").format(message_id=message_id))
        return _message(row)

    @_said
    def delete_from(self, message_id: int) -> None:
        """Delete a message and every later one in its conversation (editing, regenerating)."""
        message = self.get_message(message_id)
        with self._transaction():
            self._db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id >= ?",
                (message.conversation_id, message_id),
            )
            self._db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?",
                (self._activity_time(), message.conversation_id),
            )

    # -- ratings --------------------------------------------------------------------------------

    @_said
    def rate(
        self,
        message_id: int,
        thumb: int | None = None,
        stars: int | None = None,
        note: str | None = None,
    ) -> Rating | None:
        """Record a judgement of a reply, committed at once; the parts left None stay as they were.

        thumb 0, stars 0 and an empty note take that part back; a rating with nothing left in it is
        removed. Returns the rating now stored (None once removed)."""
        if thumb is not None and thumb not in (-1, 0, 1):
            raise InvalidRatingError(
                _("A thumb is 1 (up), -1 (down) or 0 (none), not {thumb}.").format(thumb=thumb)
            )
        if stars is not None and not 0 <= stars <= 5:
            raise InvalidRatingError(
                _("Stars go from 1 to 5 (0 takes them back), not {stars}.").format(stars=stars)
            )
        message = self.get_message(message_id)
        if message.role != "assistant":
            raise InvalidRatingError(
                _("Message {message_id} is not a reply; only replies can be rated.").format(
                    message_id=message_id
                )
            )
        current = self.rating(message_id) or Rating(message_id, None, None, None, "")
        thumb = current.thumb if thumb is None else (thumb or None)
        stars = current.stars if stars is None else (stars or None)
        note = current.note if note is None else (note.strip() or None)
        with self._transaction():
            if thumb is None and stars is None and note is None:
                self._db.execute("DELETE FROM ratings WHERE message_id = ?", (message_id,))
            else:
                self._db.execute(
                    "INSERT INTO ratings (message_id, thumb, stars, note, updated) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (message_id) DO UPDATE SET thumb = excluded.thumb,"
                    " stars = excluded.stars, note = excluded.note, updated = excluded.updated",
                    (message_id, thumb, stars, note, _now()),
                )
        return self.rating(message_id)

    @_said
    def rating(self, message_id: int) -> Rating | None:
        row = self._db.execute("SELECT * FROM ratings WHERE message_id = ?", (message_id,)).fetchone()
        return _rating(row) if row is not None else None

    @_said
    def ratings(self, conversation_id: int) -> dict[int, Rating]:
        """The ratings of a conversation's replies, by message id."""
        rows = self._db.execute(
            "SELECT r.* FROM ratings r JOIN messages m ON m.id = r.message_id WHERE m.conversation_id = ?",
            (conversation_id,),
        ).fetchall()
        return {row["message_id"]: _rating(row) for row in rows}

    @_said
    def ratings_summary(self, model_id: str | None = None) -> list[dict[str, Any]]:
        """Human scores per variant (model, adapter): how many replies were rated, thumbs up and
        down, and the mean of the stars given (None where no stars were). Every rated reply counts
        once, whichever parts it has."""
        rows = self._db.execute(
            "SELECT m.model_id, m.adapter_id, COUNT(*) AS rated,"
            " SUM(r.thumb = 1) AS up, SUM(r.thumb = -1) AS down,"
            " COUNT(r.stars) AS starred, AVG(r.stars) AS mean_stars"
            " FROM ratings r JOIN messages m ON m.id = r.message_id"
            " WHERE ?1 IS NULL OR m.model_id = ?1"
            " GROUP BY m.model_id, m.adapter_id"
            " ORDER BY m.model_id, m.adapter_id IS NOT NULL, m.adapter_id",
            (model_id,),
        ).fetchall()
        return [
            {
                "model_id": row["model_id"],
                "adapter_id": row["adapter_id"],
                "rated": row["rated"],
                "up": row["up"] or 0,
                "down": row["down"] or 0,
                "starred": row["starred"],
                "mean_stars": row["mean_stars"],
            }
            for row in rows
        ]


_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code for `exc` (its extended code carries more in the high bits)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _salvage(source_path: Path, fresh_path: Path) -> int:
    """Copy every row SQLite can still read from the damaged history at `source_path` into a new
    one at `fresh_path` with the current schema, row by row, skipping what fails; returns how many
    conversations the new one holds.

    Rows are looked up one key at a time rather than scanned: a scan stops at the first damaged
    page, while a look-up reaches every row whose own page and path from the root are intact.
    Messages whose conversation's row is lost are kept under a placeholder conversation."""
    with (
        closing(sqlite3.connect(source_path, isolation_level=None)) as source,
        closing(sqlite3.connect(fresh_path, isolation_level=None)) as fresh,
    ):
        source.row_factory = sqlite3.Row
        for number, script in enumerate(MIGRATIONS, start=1):
            fresh.executescript(f"{script};\nPRAGMA user_version = {number};")
        fresh.execute("PRAGMA foreign_keys=ON")
        fresh.execute("BEGIN")
        conversations: set[int] = set()
        for row in _readable_rows(source, fresh, "conversations", "id"):
            if _insert(fresh, "conversations", row):
                conversations.add(row["id"])
        placeholders: set[int] = set()
        for row in _readable_rows(source, fresh, "messages", "id"):
            owner = row.get("conversation_id")
            if not isinstance(owner, int):
                continue
            if owner not in conversations:
                created = row.get("created") or _now()
                placeholder = {"id": owner, "title": RECOVERED_TITLE, "created": created, "updated": created}
                if not _insert(fresh, "conversations", placeholder):
                    continue
                conversations.add(owner)
                placeholders.add(owner)
            if _insert(fresh, "messages", row) and owner in placeholders:
                fresh.execute(
                    "UPDATE conversations SET updated = MAX(updated, ?) WHERE id = ?", (row["created"], owner)
                )
        for row in _readable_rows(source, fresh, "ratings", "message_id"):
            _insert(fresh, "ratings", row)
        # No id of a lost row is given to a new one: an export or a rating may name it.
        for table in ("conversations", "messages"):
            recovered = fresh.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0
            highest = min(_highest_key(source, table, "id"), recovered + PROBE_BEYOND)
            moved = fresh.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (highest, table)
            ).rowcount
            if highest and not moved:
                fresh.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, highest))
        fresh.execute("COMMIT")
        return int(fresh.execute("SELECT COUNT(*) FROM conversations").fetchone()[0])


def _highest_key(source: sqlite3.Connection, table: str, key: str) -> int:
    """The highest key `table` says it has held (its last row, its AUTOINCREMENT counter); 0 where
    neither can be read."""
    highest = 0
    for query, parameters in (
        (f"SELECT MAX({key}) FROM {table} NOT INDEXED", ()),
        ("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)),
    ):
        with contextlib.suppress(sqlite3.DatabaseError, TypeError, ValueError):
            highest = max(highest, int(source.execute(query, parameters).fetchone()[0]))
    return highest


def _readable_rows(
    source: sqlite3.Connection, fresh: sqlite3.Connection, table: str, key: str
) -> Iterator[dict[str, Any]]:
    """The rows of `table` that can still be read, as the columns the fresh schema has (an older
    schema's file lacks some; a missing table yields nothing)."""
    keys: set[int] = set()
    with contextlib.suppress(sqlite3.DatabaseError):  # a scan reads up to the first damaged page
        keys.update(row[0] for row in source.execute(f"SELECT {key} FROM {table} NOT INDEXED"))
    read = max(keys, default=0)
    highest = min(max(_highest_key(source, table, key), read), read + PROBE_BEYOND)
    columns = {row[1] for row in fresh.execute(f"PRAGMA table_info({table})")}
    outside = sorted(k for k in keys if not 1 <= k <= highest)
    for number in [*outside, *range(1, highest + 1)]:
        try:
            row = source.execute(f"SELECT * FROM {table} NOT INDEXED WHERE {key} = ?", (number,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row is not None:
            yield {name: value for name, value in zip(row.keys(), row, strict=True) if name in columns}


def _insert(fresh: sqlite3.Connection, table: str, values: dict[str, Any]) -> bool:
    """Insert one recovered row; False where damage left it with values the schema refuses."""
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    try:
        fresh.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(values.values()))
    except sqlite3.IntegrityError:
        return False
    return True


def _rating(row: sqlite3.Row) -> Rating:
    return Rating(row["message_id"], row["thumb"], row["stars"], row["note"], row["updated"])


def _conversation(row: sqlite3.Row, messages: list[Message] | None = None) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        system_prompt=row["system_prompt"],
        settings=GenerationSettings.from_json(json.loads(row["settings"] or "{}")),
        model_id=row["model_id"],
        adapter_id=row["adapter_id"],
        created=row["created"],
        updated=row["updated"],
        messages=messages or [],
    )


def _message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        content=row["content"],
        created=row["created"],
        model_id=row["model_id"],
        adapter_id=row["adapter_id"],
        settings=json.loads(row["settings"]) if row["settings"] else None,
        tokens=row["tokens"],
        tokens_per_s=row["tokens_per_s"],
        ttft_s=row["ttft_s"],
        finish_reason=row["finish_reason"],
        # A row of an older schema (a backup, a file being recovered) has no sources column.
        sources=json.loads(row["sources"]) if "sources" in row.keys() and row["sources"] else None,  # noqa: SIM118 (a Row's `in` looks at values)
    )


def title_from(text: str, limit: int = 60) -> str:
    """A conversation's title from its first message: the first line, shortened at a word."""
    line = " ".join(text.strip().split("\n", 1)[0].split())
    if len(line) <= limit:
        return line or DEFAULT_TITLE
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut + "…"


# -- export -----------------------------------------------------------------------------------------


def export_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "format": "llamadesk-conversation",
        "version": 1,
        "title": conversation.title,
        "system_prompt": conversation.system_prompt,
        "settings": conversation.settings.to_json(),
        "model_id": conversation.model_id,
        "adapter_id": conversation.adapter_id,
        "created": conversation.created,
        "updated": conversation.updated,
        "messages": [m.to_json() for m in conversation.messages],
    }


def export_markdown(conversation: Conversation) -> str:
    """Readable anywhere: a heading per message, replies kept as the Markdown the model wrote."""
    lines = [f"# {conversation.title}", ""]
    facts = [f"Created {conversation.created}"]
    if conversation.model_id:
        facts.append(f"model {conversation.model_id}")
    lines += [" · ".join(facts), ""]
    if conversation.system_prompt:
        lines += ["## System", "", conversation.system_prompt, ""]
    for message in conversation.messages:
        heading = {"user": "You", "assistant": "Assistant", "system": "System"}[message.role]
        if message.role == "assistant":
            detail = [message.model_id or ""]
            if message.adapter_id:
                detail.append(f"+ {message.adapter_id}")
            if message.tokens_per_s:
                detail.append(f"· {message.tokens_per_s:.1f} tokens/s")
            heading += f" ({' '.join(d for d in detail if d)})" if any(detail) else ""
        lines += [f"## {heading}", "", message.content, ""]
        if message.sources:
            lines += ["Sources:", ""]
            lines += [f"{s['number']}. {s['source']}: {' '.join(s['text'].split())}" for s in message.sources]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_export(conversation: Conversation, path: Path, fmt: str) -> None:
    """Write a conversation as 'markdown' or 'json' (atomically: a failed write leaves no half file).

    Into an existing folder only: a mistyped folder is said, not created, so the file never ends up
    somewhere the user would not look."""
    from llamadesk.core.atomic import write_json, write_text

    if fmt not in ("json", "markdown"):
        raise LlamaDeskError(_("Unknown export format '{fmt}'; use 'markdown' or 'json'.").format(fmt=fmt))
    path = Path(path)
    if path.is_dir():
        raise LlamaDeskError(
            _("{path} is a folder; give the name of a file to write, such as {example}.").format(
                path=shown(str(path)), example=shown(str(path / f"chat.{'json' if fmt == 'json' else 'md'}"))
            )
        )
    folder = path.parent
    if not folder.is_dir():
        raise LlamaDeskError(
            _("The folder {folder} does not exist; create it first or choose another.").format(
                folder=shown(str(folder))
            )
        )
    try:
        with disk.reporting_full_disk(folder):
            if fmt == "json":
                write_json(path, export_json(conversation))
            else:
                write_text(path, export_markdown(conversation))
    except OSError as exc:
        raise LlamaDeskError(
            _("The conversation cannot be written to {path} ({reason}); choose another place.").format(
                path=shown(str(path)), reason=exc.strerror or exc
            )
        ) from exc
