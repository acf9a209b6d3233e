"""Conversations in SQLite: every message is committed the moment it is complete.

WAL journal with synchronous=NORMAL: a commit survives the app being killed (only a power cut can
lose the last commits), readers never block the writer, and a commit costs no fsync on the GUI
thread. The schema carries its version in `PRAGMA user_version` and moves only forward, through
`MIGRATIONS`; a copy of the old database is kept before any migration, so an update never loses
a chat."""

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamadesk.core import paths
from llamadesk.core.errors import LlamaDeskError, NotFoundError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.i18n import _

DEFAULT_TITLE = "New chat"

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
]


class HistoryError(LlamaDeskError):
    """The chat database cannot be used as it is."""


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
    """The conversation store. One connection, used from the thread that made it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.chats_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise HistoryError(
                _("The chat history {path} cannot be opened ({exc}); move it aside to start afresh.").format(
                    path=self.path, exc=exc
                )
            ) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ChatHistory":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

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
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- conversations --------------------------------------------------------------------------

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

    def get(self, conversation_id: int) -> Conversation:
        row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                _("There is no conversation {conversation_id}.").format(conversation_id=conversation_id)
            )
        return _conversation(row, self.messages(conversation_id))

    def conversations(self) -> list[Conversation]:
        """Newest activity first."""
        rows = self._db.execute("SELECT * FROM conversations ORDER BY updated DESC, id DESC").fetchall()
        return [_conversation(row) for row in rows]

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

    def messages(self, conversation_id: int) -> list[Message]:
        rows = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        ).fetchall()
        return [_message(row) for row in rows]

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
    ) -> Message:
        """Append and commit one message; a first user message also names an untitled conversation."""
        self._require(conversation_id)
        now = self._activity_time()
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO messages (conversation_id, role, content, created, model_id, adapter_id,"
                " settings, tokens, tokens_per_s, ttft_s, finish_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    role,
                    content,
                    now,
                    model_id,
                    adapter_id,
                    json.dumps(settings.to_json()) if settings else None,
                    tokens,
                    tokens_per_s,
                    ttft_s,
                    finish_reason,
                ),
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
        return self.get_message(int(cursor.lastrowid))

    def get_message(self, message_id: int) -> Message:
        row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise NotFoundError(_("There is no message {message_id}.").format(message_id=message_id))
        return _message(row)

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

    def rating(self, message_id: int) -> Rating | None:
        row = self._db.execute("SELECT * FROM ratings WHERE message_id = ?", (message_id,)).fetchone()
        return _rating(row) if row is not None else None

    def ratings(self, conversation_id: int) -> dict[int, Rating]:
        """The ratings of a conversation's replies, by message id."""
        rows = self._db.execute(
            "SELECT r.* FROM ratings r JOIN messages m ON m.id = r.message_id WHERE m.conversation_id = ?",
            (conversation_id,),
        ).fetchall()
        return {row["message_id"]: _rating(row) for row in rows}

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
    return "\n".join(lines).rstrip() + "\n"


def write_export(conversation: Conversation, path: Path, fmt: str) -> None:
    """Write a conversation as 'markdown' or 'json' (atomically: a failed write leaves no half file)."""
    from llamadesk.core.atomic import write_json, write_text

    if fmt == "json":
        write_json(path, export_json(conversation))
    elif fmt == "markdown":
        write_text(path, export_markdown(conversation))
    else:
        raise LlamaDeskError(_("Unknown export format '{fmt}'; use 'markdown' or 'json'.").format(fmt=fmt))
