"""The conversation list, read with the standard library's sqlite3 driver.

:meth:`app.store.store.Store.list_conversations` runs :func:`list_sql` on its connection.
:func:`peek_conversations` reads the same list straight from the file, without SQLAlchemy
(about half a second to import), so the desktop window can show the history at once while
the store itself opens in the background.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from app.store.domain import ConversationSummary

SCHEMA_HEAD = "0002"
"""The newest migration; equal to the Alembic head (checked by a test)."""

_PEEK_TIMEOUT_S = 2.0


def list_sql(*, include_archived: bool) -> str:
    """Pinned first, then the most recently updated; parameters: limit (-1: all), offset."""
    where = "" if include_archived else "WHERE archived = 0"
    return (
        "SELECT id, title, created_at, updated_at, pinned, archived, model_id "
        f"FROM conversations {where} ORDER BY pinned DESC, updated_at DESC LIMIT ? OFFSET ?"
    )


def when(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def summaries(rows: Iterable[tuple[Any, ...]]) -> list[ConversationSummary]:
    return [
        ConversationSummary(cid, title, when(created), when(updated), bool(p), bool(a), m)
        for cid, title, created, updated, p, a, m in rows
    ]


def peek_conversations(path: Path, *, limit: int) -> list[ConversationSummary] | None:
    """The list as it is on disk, or None when only :func:`app.store.open_store` can say.

    None for a missing file, a schema other than :data:`SCHEMA_HEAD` (a migration is due)
    and any error (damage, a foreign file, a lock held too long): opening the store then
    reports it properly. Never creates or changes anything.
    """
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=_PEEK_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if version is None or version[0] != SCHEMA_HEAD:
            return None
        rows = conn.execute(list_sql(include_archived=False), (limit, 0)).fetchall()
        return summaries(rows)
    except (sqlite3.Error, ValueError, TypeError):
        return None
    finally:
        conn.close()
