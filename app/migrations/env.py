"""Alembic environment for the history database.

Ponder runs migrations itself, from :func:`app.store.open_store`, passing an open connection
(already inside a ``BEGIN IMMEDIATE`` transaction) in ``config.attributes["connection"]``.
For development, ``alembic -c app/migrations/alembic.ini ...`` works on the file named by
``sqlalchemy.url`` there (or ``-x db=PATH``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from app.store.schema import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    db = context.get_x_argument(as_dictionary=True).get("db")
    url = f"sqlite:///{db}" if db else config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database with -x db=PATH")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
