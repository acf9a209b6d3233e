"""The evaluation store: never overwritten, versioned schema, blind A/B bookkeeping."""

import random
import sqlite3

import pytest

from llamadesk.core.errors import LlamaDeskError, NotFoundError
from llamadesk.core.evaluation import results


def _run(**changes) -> results.RunRecord:
    fields = {
        "kind": "ppl",
        "model_id": "tiny",
        "adapter_id": None,
        "dataset_path": "/data/x.txt",
        "dataset_sha256": "ab" * 32,
        "settings": {"window": 16, "stride": 8},
        "summary": {"perplexity": 12.5, "tokens": 100},
        "status": "complete",
        "items": [{"document": "x.txt", "tokens": 100}],
    }
    return results.record_run(**(fields | changes))


def test_runs_are_never_overwritten():
    first = _run()
    second = _run()  # the same model, data and settings again
    assert first.id != second.id
    assert [r.id for r in results.list_runs()] == [second.id, first.id]
    assert results.get_run(first.id) == first
    assert results.run_items(first.id) == [{"document": "x.txt", "tokens": 100}]
    conn = sqlite3.connect(results.db_path())
    with pytest.raises(sqlite3.IntegrityError, match="never overwritten"):
        conn.execute("UPDATE runs SET summary = '{}' WHERE id = ?", (first.id,))
    with pytest.raises(sqlite3.IntegrityError, match="never overwritten"):
        conn.execute("UPDATE items SET detail = '{}' WHERE run_id = ?", (first.id,))
    conn.close()


def test_filters_and_unicode_round_trip():
    _run(kind="mc", model_id="a", summary={"accuracy": 0.5, "name": "计算机基础"})
    _run(kind="ppl", model_id="b", adapter_id="lora1", status="failed", summary={"error": "boom"})
    assert [r.model_id for r in results.list_runs(kind="mc")] == ["a"]
    assert results.list_runs(kind="mc")[0].summary["name"] == "计算机基础"
    [failed] = results.list_runs(status="failed")
    assert failed.adapter_id == "lora1" and failed.summary == {"error": "boom"}
    assert results.list_runs(model_id="nobody") == []
    with pytest.raises(NotFoundError):
        results.get_run(999)
    with pytest.raises(ValueError):
        _run(status="running")


def test_schema_is_versioned_and_in_wal_mode():
    _run()
    conn = sqlite3.connect(results.db_path())
    assert (
        conn.execute("PRAGMA user_version").fetchone()[0] == results.SCHEMA_VERSION == len(results.MIGRATIONS)
    )
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    _run()  # opening again migrates nothing and keeps what is there
    assert len(results.list_runs()) == 2


def test_a_newer_schema_is_refused_not_altered():
    _run()
    conn = sqlite3.connect(results.db_path())
    conn.execute(f"PRAGMA user_version = {results.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LlamaDeskError, match="newer LlamaDesk"):
        results.list_runs()


def test_migrations_apply_forward_from_an_older_version(monkeypatch):
    extra = ("CREATE TABLE notes (run_id INTEGER, text TEXT)",)
    _run()  # a database at the shipped version, with data
    monkeypatch.setattr(results, "MIGRATIONS", [*results.MIGRATIONS, extra])
    monkeypatch.setattr(results, "SCHEMA_VERSION", len(results.MIGRATIONS))
    assert len(results.list_runs()) == 1
    conn = sqlite3.connect(results.db_path())
    assert conn.execute("PRAGMA user_version").fetchone()[0] == results.SCHEMA_VERSION
    conn.execute("SELECT * FROM notes").fetchall()
    conn.close()


def _vote(a: str, b: str, winner: str) -> int:
    return results.record_vote(
        prompt="p", variant_a=a, variant_b=b, reply_a="ra", reply_b="rb", winner=winner
    )


def test_win_rates_count_by_variant_not_side():
    _vote("base", "lora1", "a")  # base won, shown as A
    _vote("lora1", "base", "a")  # lora1 won, shown as A
    _vote("lora1", "base", "b")  # base won, shown as B
    _vote("base", "lora1", "tie")
    _vote("lora2", "lora1", "b")  # another pair
    tallies = {(t.first, t.second): t for t in results.win_rates()}
    assert set(tallies) == {("base", "lora1"), ("lora1", "lora2")}
    t = tallies[("base", "lora1")]
    assert (t.first_wins, t.second_wins, t.ties, t.total) == (2, 1, 1, 4)
    row = t.to_json()
    assert row["first_win_rate"] == 0.5 and row["second_win_rate"] == 0.25 and row["tie_rate"] == 0.25
    t2 = tallies[("lora1", "lora2")]
    assert (t2.first_wins, t2.second_wins, t2.ties) == (1, 0, 0)


def test_bad_votes_are_refused():
    with pytest.raises(LlamaDeskError, match="'a', 'b' or 'tie'"):
        _vote("x", "y", "c")
    with pytest.raises(LlamaDeskError, match="two different"):
        _vote("x", "x", "a")
    assert results.win_rates() == []


def test_sides_are_assigned_in_random_order():
    rng = random.Random(1)
    seen = {results.assign_sides("base", "lora1", rng) for _ in range(50)}
    assert seen == {("base", "lora1"), ("lora1", "base")}
