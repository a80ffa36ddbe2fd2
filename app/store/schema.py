"""ORM models of the history database (the current schema version).

Nothing outside :mod:`app.store` sees these rows; repositories turn them into the dataclasses
of :mod:`app.store.domain`. The migrations in ``app/migrations/versions`` build exactly this
schema (a test compares them); change both together, with a new migration.

Small columns come first and the long texts last: SQLite reads a row's columns in order, so
metadata stays cheap to read when a trace spills into overflow pages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime stored as fixed-width ISO-8601 text (sorts as it reads)."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_list", "archived", "pinned", "updated_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text, server_default="")
    title_is_auto: Mapped[bool] = mapped_column(server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pinned: Mapped[bool] = mapped_column(server_default=text("0"))
    archived: Mapped[bool] = mapped_column(server_default=text("0"))  # schema v2
    model_id: Mapped[str | None] = mapped_column(Text)
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    model_size: Mapped[int | None] = mapped_column(Integer)
    model_path: Mapped[str | None] = mapped_column(Text)
    active_leaf_id: Mapped[int | None] = mapped_column(Integer)  # no FK: see migration 0001
    system_prompt: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, server_default="{}")


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "parent_id"),
        Index("ix_messages_parent", "parent_id"),
        Index("ix_messages_streaming", "status", sqlite_where=text("status = 'streaming'")),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reasoning_state: Mapped[str | None] = mapped_column(String(16))
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    model_id: Mapped[str | None] = mapped_column(Text)
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    model_size: Mapped[int | None] = mapped_column(Integer)
    model_path: Mapped[str | None] = mapped_column(Text)
    writer: Mapped[str | None] = mapped_column(String(64))  # "pid:start" while streaming
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    injected: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    content: Mapped[str] = mapped_column(Text, server_default="")
    reasoning: Mapped[str] = mapped_column(Text, server_default="")
