"""Migrations: the head is what the code expects, the schema is the ORM's, v1 upgrades intact."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.events import ReasoningState
from app.store import MessageStatus, open_store
from app.store.database import KNOWN_REVISIONS, MIGRATIONS_DIR, SCHEMA_HEAD
from app.store.schema import Base

FIXTURE = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "db" / "ponder-v1.sqlite3"


def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def test_code_knows_every_revision_and_the_head() -> None:
    script = _script()
    assert script.get_current_head() == SCHEMA_HEAD
    assert sorted(r.revision for r in script.walk_revisions()) == list(KNOWN_REVISIONS)


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    with open_store(tmp_path / "db.sqlite3") as store, store.read_session() as session:
        context = MigrationContext.configure(session.connection())
        diff = [
            d
            for d in compare_metadata(context, Base.metadata)
            if not (d[0] == "remove_table" and "_fts" in d[1].name)  # made at open, not here
        ]
    assert diff == []


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_v1_database_upgrades_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "ponder.sqlite3"
    shutil.copy(FIXTURE, path)
    messages_sql = "SELECT * FROM messages ORDER BY id"
    conversations_sql = "SELECT * FROM conversations ORDER BY id"
    before_messages = _rows(path, messages_sql)
    before_conversations = _rows(path, conversations_sql)
    assert _rows(path, "SELECT version_num FROM alembic_version") == [("0001",)]

    with open_store(path) as store:
        assert _rows(path, "SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
        after_conversations = _rows(path, conversations_sql)
        assert [row[:-1] for row in after_conversations] == before_conversations
        assert [row[-1] for row in after_conversations] == [0, 0]  # archived, new in v2
        after_messages = _rows(path, messages_sql)
        assert len(after_messages) == len(before_messages) == 7
        for old, new in zip(before_messages, after_messages, strict=True):
            if old[0] == 7:  # left streaming by a dead process
                assert new[4] == "interrupted" and new[-2:] == old[-2:]
            else:
                assert new == old

        conv = store.get_conversation(1)
        assert conv.pinned and not conv.archived and conv.system_prompt == "You are terse."
        assert conv.model is not None and conv.model.size == 1_117_320_736
        assert conv.settings.sampling.temperature == 0.6
        path_messages = store.active_path(1)
        assert [m.content for m in path_messages] == ["Why is the sky blue?", "", "And at sunset?"]
        assert path_messages[1].sibling_ids == (2, 3)
        capped = store.get_message(6)
        assert capped.reasoning_state is ReasoningState.CAPPED
        assert capped.reasoning[capped.injected[0].offset :].startswith("\n\nTime is up.")
        assert store.get_message(7).status is MessageStatus.INTERRUPTED
        assert store.get_message(2).stats is not None
        assert [h.message_id for h in store.search("rayleigh")] == [2]
        assert [h.message_id for h in store.search("eleven")] == [7]
        new = store.create_conversation(title="after upgrade")
        assert new.id == 3
        store.set_archived(1, True)
        assert [c.id for c in store.list_conversations()] == [3, 2]
        assert store.integrity_check() == ["ok"]
        with store.read_session() as session:
            conn = session.connection()
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_reopening_a_current_database_does_not_migrate(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with open_store(path) as store:
        store.create_conversation(title="x")
    with open_store(path) as store:
        assert [c.title for c in store.list_conversations()] == ["x"]
