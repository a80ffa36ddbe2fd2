"""Corrupt, foreign and too-new database files; answers left streaming."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app import paths
from app.errors import StorageError
from app.events import Event, EventKind, ReasoningState
from app.store import DatabaseTooNewError, DatabaseUnusableError, MessageStatus, open_store


def _db(home: Path) -> Path:
    return paths.database_path()


def test_a_file_that_is_not_sqlite_is_moved_aside(home: Path) -> None:
    path = _db(home)
    path.write_bytes(b"my shopping list\n" * 100)
    path.with_name(path.name + "-wal").write_bytes(b"stale wal")
    with pytest.raises(DatabaseUnusableError) as caught:
        open_store()
    moved = caught.value.moved_to
    assert moved.name.startswith("ponder.sqlite3.corrupt-")
    assert moved.read_bytes() == b"my shopping list\n" * 100  # kept, never overwritten
    assert moved.with_name(moved.name + "-wal").read_bytes() == b"stale wal"
    assert not path.exists() and not path.with_name(path.name + "-wal").exists()
    message = str(caught.value)
    assert "not an SQLite database" in message and str(moved) in message
    with open_store() as store:  # the next start begins a new history
        assert store.list_conversations() == []


def test_recover_starts_fresh_right_away(home: Path) -> None:
    path = _db(home)
    path.write_bytes(b"\x00garbage" * 64)
    with open_store(recover=True) as store:
        assert store.recovered_from is not None and store.recovered_from.exists()
        store.create_conversation(title="new")
        assert [c.title for c in store.list_conversations()] == ["new"]


def test_a_damaged_sqlite_file_is_moved_aside(home: Path) -> None:
    path = _db(home)
    with open_store() as store:
        store.create_conversation(title="x")
    data = bytearray(path.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)  # keep the header, wreck every page
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseUnusableError, match="damaged"):
        open_store()


def test_a_foreign_sqlite_database_is_moved_aside(home: Path) -> None:
    path = _db(home)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE recipes (name TEXT)")
    db.execute("INSERT INTO recipes VALUES ('soup')")
    db.commit()
    db.close()
    with pytest.raises(DatabaseUnusableError, match="not a Ponder history database") as caught:
        open_store()
    db = sqlite3.connect(caught.value.moved_to)
    assert db.execute("SELECT name FROM recipes").fetchall() == [("soup",)]
    db.close()


def test_a_database_from_a_newer_ponder_is_left_alone(home: Path) -> None:
    path = _db(home)
    with open_store() as store:
        store.create_conversation(title="keep me")
    db = sqlite3.connect(path)
    db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseTooNewError, match="newer version of Ponder"):
        open_store()
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.corrupt-*"))


def test_an_empty_file_becomes_a_new_database(home: Path) -> None:
    _db(home).touch()
    with open_store() as store:
        assert store.list_conversations() == []


def test_an_impossible_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="Cannot create the folder"):
        open_store(blocker / "sub" / "ponder.sqlite3")


def test_connections_use_wal_normal_sync_foreign_keys_and_busy_timeout(home: Path) -> None:
    with open_store() as store, store.read_session() as session:
        conn = session.connection()
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 10_000,
    }


def test_only_answers_of_dead_writers_become_interrupted(home: Path) -> None:
    with open_store() as store:
        conv = store.create_conversation()
        store.add_user_message(conv.id, "q")
        live = store.start_answer(conv.id, flush_interval=0)
        live.apply(Event(EventKind.REASONING, text="still thinking"))
        dead = store.regenerate(live.message_id, flush_interval=0)
        dead.apply(Event(EventKind.REASONING, text="was thinking"))
        db = sqlite3.connect(store.path)
        db.execute("UPDATE messages SET writer = '999999999:0' WHERE id = ?", (dead.message_id,))
        db.commit()
        db.close()
        with open_store() as other:  # e.g. `ponder history` while the GUI streams
            assert other.get_message(live.message_id).status is MessageStatus.STREAMING
            gone = other.get_message(dead.message_id)
            assert gone.status is MessageStatus.INTERRUPTED
            assert gone.reasoning == "was thinking"
            assert gone.reasoning_state is ReasoningState.INCOMPLETE
            assert other.search("was thinking")  # indexed once no longer streaming
