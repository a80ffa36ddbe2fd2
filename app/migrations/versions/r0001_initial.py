"""Schema v1: conversations and their message trees.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

``conversations.active_leaf_id`` has no foreign key on purpose: the two tables would point at
each other, which SQLite batch migrations (copy and move) handle badly; the store keeps it
valid. ``messages.parent_id`` has no ON DELETE action: deleting a conversation cascades to its
messages in one statement, which a self-referencing cascade (one trigger level per message)
would not survive past SQLite's trigger depth limit.

The full-text index is not part of the migrations: it depends on whether this SQLite has
FTS5, so :mod:`app.store.fts` installs (or drops) it when the database is opened.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False, server_default=""),
        sa.Column("title_is_auto", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.text("0")),
        sa.Column("model_id", sa.Text(), nullable=True),
        sa.Column("model_sha256", sa.String(64), nullable=True),
        sa.Column("model_size", sa.Integer(), nullable=True),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("active_leaf_id", sa.Integer(), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_conversations_updated", "conversations", ["pinned", "updated_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reasoning_state", sa.String(16), nullable=True),
        sa.Column("finish_reason", sa.String(16), nullable=True),
        sa.Column("model_id", sa.Text(), nullable=True),
        sa.Column("model_sha256", sa.String(64), nullable=True),
        sa.Column("model_size", sa.Integer(), nullable=True),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("writer", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("injected", sa.JSON(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False, server_default=""),
        sa.Column("reasoning", sa.Text(), nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_messages_conversation", "messages", ["conversation_id", "parent_id"])
    op.create_index("ix_messages_parent", "messages", ["parent_id"])
    op.create_index(
        "ix_messages_streaming",
        "messages",
        ["status"],
        sqlite_where=sa.text("status = 'streaming'"),
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("conversations")
