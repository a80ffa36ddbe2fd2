"""The one way to open the history database: :func:`open_store`."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, text

from app import paths
from app.errors import StorageError
from app.store import fts
from app.store.database import (
    IMMEDIATE,
    SCHEMA_HEAD,
    UnusableDatabaseError,
    check_header,
    inspect_schema,
    make_engine,
    migrate,
    move_aside,
    translate_errors,
)
from app.store.errors import DatabaseUnusableError
from app.store.schema import utcnow
from app.store.store import Store
from app.store.writer import writer_alive

log = logging.getLogger(__name__)


def open_store(
    path: Path | None = None, *, recover: bool = False, use_fts: bool | None = None
) -> Store:
    """Open (creating or migrating as needed) the history database.

    Migrations run here and nowhere else. Answers left ``streaming`` by a process that no
    longer runs become ``interrupted``, their text kept.

    Args:
        path: the database file; default :func:`app.paths.database_path` (``PONDER_HOME``).
        recover: when the file is corrupt or not Ponder's, start a fresh database after
            moving it aside (``Store.recovered_from`` says where); otherwise raise.
        use_fts: force full-text search on or off; ``None`` probes for FTS5.

    Raises:
        DatabaseUnusableError: the file is corrupt or foreign; it was renamed to
            ``<name>.corrupt-<UTC time>`` (``moved_to``), never overwritten.
        DatabaseTooNewError: a newer Ponder wrote it; the file is left untouched.
        StorageError: the file or its folder cannot be read or written.
    """
    try:
        db_path = path if path is not None else paths.database_path()
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StorageError(f"Cannot create the folder for the history database: {err}") from err
    enabled = fts.fts5_available() if use_fts is None else use_fts and fts.fts5_available()
    try:
        return _open(db_path, enabled)
    except UnusableDatabaseError as bad:
        moved = move_aside(db_path)
        log.warning("history database %s %s; moved to %s", db_path, bad.reason, moved)
        if not recover:
            raise DatabaseUnusableError(
                f"The history database {db_path} {bad.reason}. It was moved to {moved}; "
                "a new, empty history will be started.",
                moved,
            ) from bad
    store = _open(db_path, enabled)
    store.recovered_from = moved
    return store


def _open(path: Path, fts_enabled: bool) -> Store:
    check_header(path)
    engine = make_engine(path)
    try:
        info = inspect_schema(engine)
        if info.revision != SCHEMA_HEAD:
            migrate(engine)
            info = inspect_schema(engine)
        if fts.needs_setup(fts_enabled, info.tables, info.triggers):
            with translate_errors(path, writing=True), engine.connect() as conn:
                conn.execution_options(**IMMEDIATE)
                with conn.begin():
                    fts.setup(conn, fts_enabled)
        _recover_streaming(engine, path)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, path, fts_enabled=fts_enabled)


def _recover_streaming(engine: Engine, path: Path) -> None:
    """Mark answers whose writer died as ``interrupted`` (their text is kept)."""
    with translate_errors(path, writing=False), engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, writer FROM messages WHERE status = 'streaming'"
        ).all()
    orphans = [int(mid) for mid, writer in rows if not writer_alive(writer)]
    if not orphans:
        return
    stamp = database_timestamp()
    with translate_errors(path, writing=True), engine.connect() as conn:
        conn.execution_options(**IMMEDIATE)
        with conn.begin():
            for mid in orphans:
                conn.execute(
                    text(
                        "UPDATE messages SET status = 'interrupted', writer = NULL, "
                        "updated_at = :now WHERE id = :id AND status = 'streaming'"
                    ),
                    {"now": stamp, "id": mid},
                )
    log.info("marked %d answer(s) left streaming as interrupted", len(orphans))


def database_timestamp() -> str:
    """Now, as stored in the timestamp columns."""
    return utcnow().isoformat(timespec="microseconds")
