"""Reading the conversation list without SQLAlchemy (the window's first paint)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from app.paths import database_path
from app.store import Store
from app.store.listing import SCHEMA_HEAD, peek_conversations

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "db"


def test_peek_reads_what_the_store_lists(store: Store) -> None:
    first = store.create_conversation()
    store.add_user_message(first.id, "How many primes are below 100?")
    pinned = store.create_conversation()
    store.add_user_message(pinned.id, "Pin me")
    store.set_pinned(pinned.id, True)
    archived = store.create_conversation()
    store.set_archived(archived.id, True)
    peeked = peek_conversations(database_path(), limit=1000)
    assert peeked == store.list_conversations(limit=1000)
    assert [c.id for c in peeked or []] == [pinned.id, first.id]
    assert peek_conversations(database_path(), limit=1) == store.list_conversations(limit=1)
    odd = database_path().with_name("odd name #1?%20.sqlite3")  # the path goes into a URI
    with sqlite3.connect(database_path()) as src, sqlite3.connect(odd) as dst:
        src.backup(dst)
    assert peek_conversations(odd, limit=1000) == peeked


def test_peek_leaves_a_missing_database_to_the_store(home: Path) -> None:
    path = home / "nothing.sqlite3"
    assert peek_conversations(path, limit=10) is None
    assert not path.exists()  # never created


def test_peek_leaves_an_old_schema_to_the_migrations(home: Path) -> None:
    old = home / "v1.sqlite3"
    shutil.copy(FIXTURES / "ponder-v1.sqlite3", old)
    with sqlite3.connect(old) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version != SCHEMA_HEAD
    before = old.read_bytes()
    assert peek_conversations(old, limit=10) is None
    assert old.read_bytes() == before


def test_peek_declines_garbage_and_foreign_files(home: Path) -> None:
    garbage = home / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    assert peek_conversations(garbage, limit=10) is None
    foreign = home / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (x)")
    assert peek_conversations(foreign, limit=10) is None
