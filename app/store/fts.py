"""Full-text search: SQLite FTS5 when this SQLite has it, a LIKE scan otherwise.

Two external-content FTS5 tables index conversation titles and message texts (content and
reasoning) without copying them. Triggers keep them in sync. A message is indexed only once
it stops streaming, so the 0.5 s flushes of a growing trace do not re-index it each time.

Whether the index is in sync is told by its triggers: when FTS5 is missing (or disabled), the
triggers are dropped, so writes keep working; when it is back, the triggers are recreated and
the index rebuilt.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from app.store.domain import Role, SearchHit

_TOKENIZE = "porter unicode61 remove_diacritics 2"
_INDEXED = "status != 'streaming'"

_TABLES = {
    "messages_fts": (
        f"CREATE VIRTUAL TABLE messages_fts USING fts5(content, reasoning, "
        f"content='messages', content_rowid='id', tokenize='{_TOKENIZE}')"
    ),
    "conversations_fts": (
        f"CREATE VIRTUAL TABLE conversations_fts USING fts5(title, "
        f"content='conversations', content_rowid='id', tokenize='{_TOKENIZE}')"
    ),
}

_M_DEL = (
    "INSERT INTO messages_fts(messages_fts, rowid, content, reasoning) "
    "VALUES ('delete', old.id, old.content, old.reasoning);"
)
_M_INS = (
    "INSERT INTO messages_fts(rowid, content, reasoning) "
    "VALUES (new.id, new.content, new.reasoning);"
)
_C_DEL = (
    "INSERT INTO conversations_fts(conversations_fts, rowid, title) "
    "VALUES ('delete', old.id, old.title);"
)
_C_INS = "INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);"

TRIGGERS = {
    "messages_fts_ai": f"AFTER INSERT ON messages WHEN new.{_INDEXED} BEGIN {_M_INS} END",
    "messages_fts_ad": f"AFTER DELETE ON messages WHEN old.{_INDEXED} BEGIN {_M_DEL} END",
    "messages_fts_au_old": (
        f"AFTER UPDATE OF content, reasoning, status ON messages WHEN old.{_INDEXED} "
        f"BEGIN {_M_DEL} END"
    ),
    "messages_fts_au_new": (
        f"AFTER UPDATE OF content, reasoning, status ON messages WHEN new.{_INDEXED} "
        f"BEGIN {_M_INS} END"
    ),
    "conversations_fts_ai": f"AFTER INSERT ON conversations BEGIN {_C_INS} END",
    "conversations_fts_ad": f"AFTER DELETE ON conversations BEGIN {_C_DEL} END",
    "conversations_fts_au": (f"AFTER UPDATE OF title ON conversations BEGIN {_C_DEL} {_C_INS} END"),
}


@functools.cache
def fts5_available() -> bool:
    """Whether this process's SQLite can create FTS5 tables."""
    try:
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute("CREATE VIRTUAL TABLE probe USING fts5(x)")
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return True


def needs_setup(enabled: bool, tables: frozenset[str], triggers: frozenset[str]) -> bool:
    """Whether :func:`setup` has anything to do (checked without a write lock)."""
    if enabled:
        return not (set(_TABLES) <= tables and set(TRIGGERS) <= triggers)
    return bool(set(TRIGGERS) & triggers)


def setup(conn: Connection, enabled: bool) -> None:
    """Install (and rebuild) or disable the index; call inside a write transaction."""
    rows = conn.exec_driver_sql("SELECT type, name FROM sqlite_master").all()
    tables = {str(n) for t, n in rows if t == "table"}
    triggers = {str(n) for t, n in rows if t == "trigger"}
    if not enabled:
        for name in set(TRIGGERS) & triggers:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        return
    if set(_TABLES) <= tables and set(TRIGGERS) <= triggers:
        return  # another process did it while we waited for the lock
    for name, ddl in _TABLES.items():
        if name not in tables:
            conn.exec_driver_sql(ddl)
    for name in triggers & set(TRIGGERS):
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
    for name, body in TRIGGERS.items():
        conn.exec_driver_sql(f"CREATE TRIGGER {name} {body}")
    conn.exec_driver_sql("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
    conn.exec_driver_sql(
        "INSERT INTO messages_fts(rowid, content, reasoning) "
        f"SELECT id, content, reasoning FROM messages WHERE {_INDEXED}"
    )
    conn.exec_driver_sql("INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild')")


def terms(query: str) -> list[str]:
    """The words of a user's query. FTS syntax is not exposed: each word must match."""
    return [t for t in re.findall(r"\w+", query.casefold()) if t]


RANK_WINDOW = 2000
"""Messages ranked per search: the most recent matches. Ranking every match of a word found
in most messages takes bm25 over all of them (0.4 s at 100,000 messages); the best of the
latest 2,000 is found in about 20 ms, and rarer words are ranked over all their matches."""


def fts_search(
    conn: Connection, query: str, limit: int, mark: tuple[str, str], *, prefix: bool = False
) -> list[SearchHit]:
    words = terms(query)
    if not words:
        return []
    # Every word must match (porter-stemmed); with ``prefix`` the last may be unfinished.
    match = " ".join(f'"{w}"' for w in words) + ("*" if prefix else "")
    open_mark, close_mark = mark
    hits: list[SearchHit] = []
    for row in conn.exec_driver_sql(
        "SELECT c.id, c.title, snippet(conversations_fts, 0, ?, ?, '…', 12), f.rank "
        "FROM conversations_fts f JOIN conversations c ON c.id = f.rowid "
        "WHERE conversations_fts MATCH ? ORDER BY f.rank LIMIT ?",
        (open_mark, close_mark, match, limit),
    ):
        hits.append(SearchHit(int(row[0]), str(row[1]), None, None, "title", str(row[2]), row[3]))
    for row in conn.exec_driver_sql(
        "SELECT m.conversation_id, c.title, m.id, m.role, "
        "snippet(messages_fts, 0, ?, ?, '…', 16), snippet(messages_fts, 1, ?, ?, '…', 16), "
        "r.rank "
        "FROM (SELECT rowid, rank FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= "
        "      coalesce((SELECT min(rowid) FROM (SELECT rowid FROM messages_fts "
        "                WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?)), 0) "
        "      ORDER BY rank LIMIT ?) AS r "
        # CROSS JOIN keeps this order: snippets and rows for the top hits only (left to
        # itself, SQLite scans every match of ``f`` and reads each message row).
        "CROSS JOIN messages_fts f CROSS JOIN messages m CROSS JOIN conversations c "
        "WHERE f.rowid = r.rowid AND messages_fts MATCH ? AND m.id = r.rowid "
        "AND c.id = m.conversation_id ORDER BY r.rank",
        (open_mark, close_mark, open_mark, close_mark, match, match, RANK_WINDOW, limit, match),
    ):
        in_content = open_mark in str(row[4])
        hits.append(
            SearchHit(
                conversation_id=int(row[0]),
                conversation_title=str(row[1]),
                message_id=int(row[2]),
                role=Role(row[3]),
                field="content" if in_content else "reasoning",
                snippet=str(row[4] if in_content else row[5]),
                rank=float(row[6]),
            )
        )
    hits.sort(key=lambda h: h.rank)
    return hits[:limit]


def like_search(
    conn: Connection, query: str, limit: int, mark: tuple[str, str], *, prefix: bool = False
) -> list[SearchHit]:
    """The same results, found by scanning with LIKE (slow on big histories, always works).

    Words match anywhere inside words (so ``prefix`` changes nothing here), unstemmed, and
    case-insensitively for ASCII only; the most recent matches come first.
    """
    words = terms(query)
    if not words:
        return []
    patterns = [_like_pattern(w) for w in words]
    hits: list[SearchHit] = []
    title_where = " AND ".join("title LIKE ? ESCAPE '\\'" for _ in patterns)
    for cid, title in conn.exec_driver_sql(
        f"SELECT id, title FROM conversations WHERE {title_where} ORDER BY updated_at DESC LIMIT ?",
        (*patterns, limit),
    ):
        text = str(title)
        hits.append(
            SearchHit(
                int(cid), text, None, None, "title", _snippet(text, words, mark), _rank(text, words)
            )
        )
    both = " AND ".join(
        "(m.content LIKE ? ESCAPE '\\' OR m.reasoning LIKE ? ESCAPE '\\')" for _ in patterns
    )
    params: list[Any] = [p for p in patterns for _ in (0, 1)]
    for cid, title, mid, role, content, reasoning in conn.exec_driver_sql(
        "SELECT m.conversation_id, c.title, m.id, m.role, m.content, m.reasoning "
        "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        f"WHERE m.{_INDEXED} AND {both} ORDER BY m.id DESC LIMIT ?",
        (*params, limit),
    ):
        field, text = ("content", str(content))
        if not _contains_any(text, words):
            field, text = ("reasoning", str(reasoning))
        hits.append(
            SearchHit(
                int(cid),
                str(title),
                int(mid),
                Role(role),
                field,
                _snippet(text, words, mark),
                _rank(text, words),
            )
        )
    hits.sort(key=lambda h: h.rank)
    return hits[:limit]


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains_any(text: str, words: Sequence[str]) -> bool:
    folded = text.casefold()
    return any(w in folded for w in words)


def _rank(text: str, words: Sequence[str]) -> float:
    """More occurrences rank first (negative, like bm25's "lower is better")."""
    folded = text.casefold()
    return -float(sum(folded.count(w) for w in words))


def _snippet(text: str, words: Sequence[str], mark: tuple[str, str], width: int = 60) -> str:
    """About ``2 * width`` characters around the first match, matches between the marks."""
    folded = text.casefold()
    positions = [p for p in (folded.find(w) for w in words) if p >= 0]
    first = min(positions) if positions else 0
    start = max(0, first - width)
    end = min(len(text), first + width)
    piece = text[start:end]
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.I)
    piece = pattern.sub(lambda m: f"{mark[0]}{m.group(0)}{mark[1]}", piece)
    piece = " ".join(piece.split())
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")
