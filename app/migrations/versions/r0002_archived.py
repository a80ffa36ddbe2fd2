"""Schema v2: archived conversations, and the list index that leaves them out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02

Archiving hides a conversation from the list without deleting it. The list query is
``WHERE archived = 0 ORDER BY pinned DESC, updated_at DESC``, so the index becomes
``(archived, pinned, updated_at)``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLE = {"sqlite_autoincrement": True}  # kept if a batch operation copies the table


def upgrade() -> None:
    # A plain-string default keeps this an ALTER TABLE ADD COLUMN (no table copy).
    with op.batch_alter_table("conversations", table_kwargs=_TABLE) as batch:
        batch.add_column(sa.Column("archived", sa.Boolean(), nullable=False, server_default="0"))
    op.drop_index("ix_conversations_updated", table_name="conversations")
    op.create_index("ix_conversations_list", "conversations", ["archived", "pinned", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_list", table_name="conversations")
    op.create_index("ix_conversations_updated", "conversations", ["pinned", "updated_at"])
    with op.batch_alter_table("conversations", table_kwargs=_TABLE) as batch:
        batch.drop_column("archived")
