"""The one way to open the history database: :func:`open_store`."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
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
    make_read_only_engine,
    migrate,
    move_aside,
    translate_errors,
)
from app.store.errors import DatabaseTooNewError, DatabaseUnusableError
from app.store.schema import utcnow
from app.store.store import Store
from app.store.writer import writer_alive

log = logging.getLogger(__name__)


def open_store(
    path: Path | None = None,
    *,
    recover: bool = False,
    use_fts: bool | None = None,
    read_only_ok: bool = False,
) -> Store:
    """Open (creating or migrating as needed) the history database.

    Migrations run here and nowhere else. Answers left ``streaming`` by a process that no
    longer runs become ``interrupted``, their text kept.

    Args:
        path: the database file; default :func:`app.paths.database_path` (``PONDER_HOME``).
        recover: when the file is corrupt or not Ponder's, start a fresh database after
            moving it aside (``Store.recovered_from`` says where); otherwise raise.
        use_fts: force full-text search on or off; ``None`` probes for FTS5.
        read_only_ok: for reading only (list, search, show, export): a database that cannot
            be written (a read-only file, folder or file system) is opened read-only
            (``Store.read_only``) instead of failing. It is then neither migrated nor
            repaired.

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
    if read_only_ok and db_path.is_file() and not _writable(db_path):
        return _open_read_only(db_path, enabled)
    try:
        return _open(db_path, enabled)
    except DatabaseTooNewError:
        raise
    except StorageError:
        if not (read_only_ok and db_path.is_file()):
            raise
        try:
            return _open_read_only(db_path, enabled)
        except StorageError:
            pass
        raise
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


def open_scratch_store() -> Store:
    """A new, empty history in a temporary folder, removed when the process ends.

    For a run whose history is off (its database could not be opened): the window works as
    usual, and nothing of this run is kept.
    """
    try:
        folder = Path(tempfile.mkdtemp(prefix="ponder-history-off-"))
    except OSError as err:
        raise StorageError(f"Cannot make a temporary history either: {err.strerror}.") from err
    atexit.register(functools.partial(shutil.rmtree, folder, ignore_errors=True))
    return open_store(folder / "history.sqlite3")


def _writable(path: Path) -> bool:
    """Whether the file and its folder (for the WAL's side files) can be written."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _open_read_only(path: Path, fts_wanted: bool) -> Store:
    """The database as it is, for reading: no migration, no repair, no index set up."""
    try:
        check_header(path)
        engine = make_read_only_engine(path)
    except UnusableDatabaseError as bad:
        raise StorageError(f"The history database {path} {bad.reason}.") from bad
    try:
        info = inspect_schema(engine)
        if info.revision != SCHEMA_HEAD:
            raise StorageError(
                f"The history database {path} is read-only and needs an update that Ponder "
                "cannot write; open it once where it can be written."
            )
        fts_enabled = fts_wanted and not fts.needs_setup(True, info.tables, info.triggers)
    except UnusableDatabaseError as bad:
        engine.dispose()
        raise StorageError(f"The history database {path} {bad.reason}.") from bad
    except BaseException:
        engine.dispose()
        raise
    store = Store(engine, path, fts_enabled=fts_enabled)
    store.read_only = True
    log.info("history database %s opened read-only", path)
    return store


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
