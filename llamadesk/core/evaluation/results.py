"""The evaluation store, `evals.sqlite3`: every run with its per-item detail, and blind A/B votes.

A result is evidence; it is never overwritten. Runs are only ever inserted (a trigger refuses
updates), each in one transaction with its items, so a crash leaves the run whole or absent, and
a stopped or failed run is kept with that status, never as complete. The schema carries its
version in `PRAGMA user_version` and moves forward through `MIGRATIONS` only, so an update of
LlamaDesk never loses results; a database written by a newer version is refused, not altered."""

import contextlib
import datetime as dt
import json
import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from llamadesk.core import paths
from llamadesk.core.errors import LlamaDeskError, NotFoundError
from llamadesk.core.i18n import _

DB_NAME = "evals.sqlite3"
STATUSES = ("complete", "failed", "cancelled")
WINNERS = ("a", "b", "tie")

# MIGRATIONS[n] takes the schema from version n to n + 1. Append only; never edit a shipped step.
MIGRATIONS: list[Sequence[str]] = [
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            model_id TEXT NOT NULL,
            adapter_id TEXT,
            dataset_path TEXT NOT NULL,
            dataset_sha256 TEXT NOT NULL,
            settings TEXT NOT NULL,
            summary TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('complete', 'failed', 'cancelled')),
            created TEXT NOT NULL
        )""",
        "CREATE INDEX runs_by_model ON runs (model_id, kind)",
        """CREATE TABLE items (
            run_id INTEGER NOT NULL REFERENCES runs (id),
            idx INTEGER NOT NULL,
            detail TEXT NOT NULL,
            PRIMARY KEY (run_id, idx)
        )""",
        """CREATE TRIGGER runs_never_overwritten BEFORE UPDATE ON runs
           BEGIN SELECT RAISE(ABORT, 'evaluation results are never overwritten'); END""",
        """CREATE TRIGGER items_never_overwritten BEFORE UPDATE ON items
           BEGIN SELECT RAISE(ABORT, 'evaluation results are never overwritten'); END""",
        """CREATE TABLE ab_votes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            prompt TEXT NOT NULL,
            variant_a TEXT NOT NULL,
            variant_b TEXT NOT NULL,
            reply_a TEXT NOT NULL,
            reply_b TEXT NOT NULL,
            winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
            created TEXT NOT NULL
        )""",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str  # "ppl", "mc" or "gen"
    model_id: str
    adapter_id: str | None
    dataset_path: str
    dataset_sha256: str
    settings: dict
    summary: dict
    status: str
    created: str

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PairTally:
    """Blind A/B results of two variants, whichever side each was shown on."""

    first: str  # the two variants in sorted order, so a pair has one row
    second: str
    first_wins: int
    second_wins: int
    ties: int

    @property
    def total(self) -> int:
        return self.first_wins + self.second_wins + self.ties

    def to_json(self) -> dict:
        total = self.total
        return {
            "first": self.first,
            "second": self.second,
            "first_wins": self.first_wins,
            "second_wins": self.second_wins,
            "ties": self.ties,
            "total": total,
            "first_win_rate": self.first_wins / total,
            "second_win_rate": self.second_wins / total,
            "tie_rate": self.ties / total,
        }


def db_path() -> Path:
    return paths.data_home() / DB_NAME


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION, each step in its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise LlamaDeskError(
            _(
                "{path} was written by a newer LlamaDesk (schema {version}); update LlamaDesk to read it."
            ).format(path=db_path(), version=version)
        )
    for step in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between our read and our lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] != step:
                conn.execute("ROLLBACK")
                continue
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


@contextlib.contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode with the schema current; callers open their own
    transactions. One per call keeps the store safe to use from any thread."""
    conn = sqlite3.connect(db_path(), timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        yield conn
    finally:
        conn.close()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def record_run(
    *,
    kind: str,
    model_id: str,
    adapter_id: str | None,
    dataset_path: str,
    dataset_sha256: str,
    settings: dict,
    summary: dict,
    status: str,
    items: Sequence[dict],
) -> RunRecord:
    """Insert a run and its items in one transaction; returns the stored record."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    created = _now()
    with connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "INSERT INTO runs (kind, model_id, adapter_id, dataset_path, dataset_sha256, settings,"
                " summary, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    model_id,
                    adapter_id,
                    dataset_path,
                    dataset_sha256,
                    json.dumps(settings, ensure_ascii=False),
                    json.dumps(summary, ensure_ascii=False),
                    status,
                    created,
                ),
            )
            run_id = cursor.lastrowid
            conn.executemany(
                "INSERT INTO items (run_id, idx, detail) VALUES (?, ?, ?)",
                ((run_id, i, json.dumps(item, ensure_ascii=False)) for i, item in enumerate(items)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return RunRecord(
        run_id, kind, model_id, adapter_id, dataset_path, dataset_sha256, settings, summary, status, created
    )


def _record(row: tuple) -> RunRecord:
    run_id, kind, model_id, adapter_id, path, sha, settings, summary, status, created = row
    return RunRecord(
        run_id,
        kind,
        model_id,
        adapter_id,
        path,
        sha,
        json.loads(settings),
        json.loads(summary),
        status,
        created,
    )


_RUN_COLUMNS = (
    "id, kind, model_id, adapter_id, dataset_path, dataset_sha256, settings, summary, status, created"
)


def list_runs(
    *, kind: str | None = None, model_id: str | None = None, status: str | None = None
) -> list[RunRecord]:
    """Runs, newest first, optionally only of one kind, model or status."""
    where, args = [], []
    for column, value in (("kind", kind), ("model_id", model_id), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    with connect() as conn:
        rows = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs{clause} ORDER BY id DESC", args).fetchall()
    return [_record(row) for row in rows]


def get_run(run_id: int) -> RunRecord:
    with connect() as conn:
        row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFoundError(_("There is no evaluation run {run_id}.").format(run_id=run_id))
    return _record(row)


def run_items(run_id: int) -> list[dict]:
    with connect() as conn:
        rows = conn.execute("SELECT detail FROM items WHERE run_id = ? ORDER BY idx", (run_id,)).fetchall()
    return [json.loads(detail) for (detail,) in rows]


# ---------------------------------------------------------------- blind A/B


def assign_sides(variant_x: str, variant_y: str, rng: random.Random | None = None) -> tuple[str, str]:
    """(variant shown as "A", variant shown as "B"), in random order so position cannot bias votes."""
    pair = [variant_x, variant_y]
    (rng or random.SystemRandom()).shuffle(pair)
    return pair[0], pair[1]


def record_vote(
    *, prompt: str, variant_a: str, variant_b: str, reply_a: str, reply_b: str, winner: str
) -> int:
    """Store one blind comparison; `winner` is the side picked, "a", "b" or "tie"."""
    if winner not in WINNERS:
        raise LlamaDeskError(_("A vote is for 'a', 'b' or 'tie', not '{winner}'.").format(winner=winner))
    if variant_a == variant_b:
        raise LlamaDeskError(_("A blind comparison needs two different variants."))
    with connect() as conn:
        cursor = conn.execute(
            "INSERT INTO ab_votes (prompt, variant_a, variant_b, reply_a, reply_b, winner, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (prompt, variant_a, variant_b, reply_a, reply_b, winner, _now()),
        )
        return int(cursor.lastrowid)


def win_rates() -> list[PairTally]:
    """One row per pair of variants ever compared, counting wins by variant, not by side."""
    with connect() as conn:
        rows = conn.execute("SELECT variant_a, variant_b, winner FROM ab_votes").fetchall()
    counts: dict[tuple[str, str], list[int]] = {}
    for variant_a, variant_b, winner in rows:
        first, second = sorted((variant_a, variant_b))
        tally = counts.setdefault((first, second), [0, 0, 0])
        if winner == "tie":
            tally[2] += 1
        else:
            won = variant_a if winner == "a" else variant_b
            tally[0 if won == first else 1] += 1
    return [PairTally(first, second, *tally) for (first, second), tally in sorted(counts.items())]
