"""Opening the history database: connection settings, sanity checks, migrations.

Every connection gets WAL, ``synchronous=NORMAL``, foreign keys and a busy timeout (a
SQLAlchemy ``connect`` event). The driver's own transaction handling is switched off and
``BEGIN`` is sent by a ``begin`` event: ``BEGIN IMMEDIATE`` for writes, so that two processes
writing at once queue on the busy timeout instead of failing with a deadlock (a deferred
transaction that later writes cannot wait for the lock), and transactional DDL for migrations.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from app.errors import StorageError
from app.store.errors import DatabaseTooNewError, StorageWriteError
from app.store.listing import SCHEMA_HEAD as SCHEMA_HEAD

log = logging.getLogger(__name__)

KNOWN_REVISIONS = ("0001", "0002")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 16_384
SQLITE_MAGIC = b"SQLite format 3\x00"
_OUR_TABLES = {"conversations", "messages"}
IMMEDIATE = {"ponder_begin": "IMMEDIATE"}


class UnusableDatabaseError(Exception):
    """Internal: the file is corrupt or foreign; ``reason`` completes "<path> ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_engine(path: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        pool_size=4,
        max_overflow=8,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # we send BEGIN ourselves (see _on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # 16 MiB of page cache (default 2 MiB): a long conversation's traces stay cached
        # when the user comes back to it.
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    finally:
        cursor.close()


def make_read_only_engine(path: Path) -> Engine:
    """An engine that only reads ``path`` (a read-only file, folder or file system).

    SQLite's ``mode=ro`` still needs the WAL's shared-memory file beside the database; where
    that cannot be made either, the file is opened ``immutable`` (nothing else may write it
    meanwhile: true of a read-only location).
    """
    uri = f"{path.as_uri()}?mode=ro"
    try:
        probe = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            probe.close()
    except sqlite3.DatabaseError as err:
        if _is_corruption_text(str(err)):
            raise UnusableDatabaseError(f"is damaged ({err})") from err
        uri += "&immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )

    engine = create_engine(f"sqlite:///{path}", creator=connect, pool_size=4, max_overflow=8)
    event.listen(engine, "connect", _on_connect_read_only)
    event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect_read_only(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only = ON")
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("ponder_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """What the database holds, read at open."""

    tables: frozenset[str]
    triggers: frozenset[str]
    revision: str | None


def check_header(path: Path) -> None:
    """Raise :class:`UnusableDatabaseError` when the file exists and is not SQLite at all."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as err:
        raise StorageError(f"Cannot read the history database {path}: {err.strerror}.") from err
    if head and head != SQLITE_MAGIC:
        raise UnusableDatabaseError("is not an SQLite database")


def inspect_schema(engine: Engine) -> SchemaInfo:
    """Read the table list and schema version; classify corrupt and foreign files."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT type, name FROM sqlite_master").all()
            tables = frozenset(str(name) for kind, name in rows if kind == "table")
            triggers = frozenset(str(name) for kind, name in rows if kind == "trigger")
            revision = None
            if "alembic_version" in tables:
                revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except DBAPIError as err:
        if _is_corruption(err):
            raise UnusableDatabaseError(f"is damaged ({err.orig})") from err
        raise storage_error(err, engine_path(engine), writing=False) from err
    info = SchemaInfo(tables, triggers, None if revision is None else str(revision))
    if info.revision is None:
        if tables - {"sqlite_sequence"}:
            shown = ", ".join(sorted(tables)[:5])
            raise UnusableDatabaseError(f"is not a Ponder history database (it has tables {shown})")
    elif info.revision not in KNOWN_REVISIONS:
        if not tables >= _OUR_TABLES:
            raise UnusableDatabaseError("is not a Ponder history database (foreign schema version)")
        raise DatabaseTooNewError(
            f"The history database {engine_path(engine)} was written by a newer version of "
            f"Ponder (schema {info.revision}); update Ponder to open it."
        )
    return info


def migrate(engine: Engine) -> None:
    """Bring the schema to :data:`SCHEMA_HEAD` in one ``BEGIN IMMEDIATE`` transaction.

    Alembic is imported only here: an up-to-date database never pays for it. Concurrent
    openers queue on the write lock; the second finds the schema already current.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.connect() as conn:
            # Batch migrations copy tables: with foreign keys on, dropping the old copy of a
            # parent table would cascade-delete its children. Off for the migration (it can
            # only change outside a transaction), checked before commit, on again after.
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys = OFF")  # not through SQLAlchemy: no BEGIN
            try:
                conn.execution_options(**IMMEDIATE)
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if bad:
                        raise StorageError(
                            f"Migrating the history database {engine_path(engine)} would break "
                            f"{len(bad)} reference(s); it was left as it was."
                        )
            finally:
                raw.execute("PRAGMA foreign_keys = ON")
    except DBAPIError as err:
        raise storage_error(err, engine_path(engine), writing=True) from err
    log.info("history database %s migrated to schema %s", engine_path(engine), SCHEMA_HEAD)


def move_aside(path: Path) -> Path:
    """Rename the file (and its ``-wal``/``-shm`` companions) to ``<name>.corrupt-<time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
        for suffix in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
    except OSError as err:
        raise StorageError(
            f"The history database {path} is unusable and could not be moved aside "
            f"({err.strerror}); move or delete it yourself."
        ) from err
    return target


def engine_path(engine: Engine) -> Path:
    return Path(str(engine.url.database))


def _is_corruption(err: DBAPIError) -> bool:
    orig = err.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return True
    return _is_corruption_text(str(orig))


def _is_corruption_text(message: str) -> bool:
    text = message.lower()
    return "not a database" in text or "malformed" in text


def storage_error(
    err: SQLAlchemyError | sqlite3.Error, path: Path, *, writing: bool
) -> StorageError:
    """A user-fit error for a failed database operation."""
    orig = getattr(err, "orig", None) or err
    text = str(orig).lower()
    if "disk is full" in text or "database or disk is full" in text:
        message = f"The disk holding the history database {path} is full; nothing more is saved."
    elif "readonly" in text or "read-only" in text:
        message = f"The history database {path} is read-only; nothing more is saved."
    elif "locked" in text or "busy" in text:
        message = (
            f"The history database {path} stayed locked by another Ponder process for more "
            f"than {BUSY_TIMEOUT_MS // 1000} s."
        )
    elif "malformed" in text or "not a database" in text:
        message = f"The history database {path} is damaged ({orig})."
    else:
        verb = "write" if writing else "read"
        message = f"Could not {verb} the history database {path} ({orig})."
    return StorageWriteError(message) if writing else StorageError(message)


@contextlib.contextmanager
def translate_errors(path: Path, *, writing: bool) -> Iterator[None]:
    """Turn SQLAlchemy/SQLite errors into :class:`StorageError` subclasses."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as err:
        raise storage_error(err, path, writing=writing) from err
