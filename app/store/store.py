"""The history store: conversations and their message trees.

Open it with :func:`app.store.open_store`. Every method runs its own short transaction (writes
as ``BEGIN IMMEDIATE``) and returns frozen dataclasses from :mod:`app.store.domain`. Failures
are :class:`app.errors.StorageError` subclasses with messages fit for the user.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import CTE, Engine, delete, func, literal, select, update
from sqlalchemy.orm import Session

from app.events import FinishReason, ReasoningState, Stats
from app.request import ChatMessage
from app.store import fts
from app.store.database import IMMEDIATE, translate_errors
from app.store.domain import (
    Conversation,
    ConversationSummary,
    GenerationSettings,
    InjectedSpan,
    Message,
    MessageStatus,
    ModelRef,
    Role,
    SearchHit,
)
from app.store.errors import NotFoundError
from app.store.listing import list_sql, summaries, when
from app.store.schema import ConversationRow, MessageRow, utcnow
from app.store.writer import writer_identity

if TYPE_CHECKING:
    from app.store.recorder import AnswerRecorder

TITLE_LENGTH = 60
_MESSAGE = MessageRow.__table__
_NAMES = [c.name for c in _MESSAGE.columns]
assert _NAMES[-1] == "reasoning" and len(_NAMES) == 19, "update _to_message with the columns"
_COLUMNS = ", ".join(_NAMES)
_FOLDED = ", ".join([*_NAMES[:-1], "'' AS reasoning"])
_ROLES = {r.value: r for r in Role}
_STATUSES = {s.value: s for s in MessageStatus}
_REASONING_STATES = {s.value: s for s in ReasoningState}
_FINISH_REASONS = {f.value: f for f in FinishReason}


class Store:
    """Conversations and messages in one SQLite file. Thread-safe; one per process.

    Attributes:
        path: the database file.
        fts_enabled: whether search uses FTS5 (else the LIKE fallback).
        read_only: opened for reading only (``open_store(read_only_ok=True)`` on a database
            that cannot be written); every write fails with a storage error.
        recovered_from: where an unusable database was moved when ``open_store`` was asked
            to recover (``None`` otherwise).
    """

    def __init__(self, engine: Engine, path: Path, *, fts_enabled: bool) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**IMMEDIATE)
        self.path = path
        self.fts_enabled = fts_enabled
        self.recovered_from: Path | None = None
        self.read_only = False

    def close(self) -> None:
        """Close every connection (the WAL is checkpointed when the last one closes)."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read transaction (a consistent snapshot); for this package's modules."""
        with translate_errors(self.path, writing=False), Session(self._engine) as session:
            yield session

    @contextlib.contextmanager
    def write_session(self) -> Iterator[Session]:
        """A ``BEGIN IMMEDIATE`` transaction, committed on success; for this package."""
        with (
            translate_errors(self.path, writing=True),
            Session(self._write_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    # Conversations -------------------------------------------------------------------------

    def create_conversation(
        self,
        *,
        model: ModelRef | None = None,
        system_prompt: str | None = None,
        settings: GenerationSettings | None = None,
        title: str | None = None,
    ) -> Conversation:
        """A new, empty conversation. Without ``title`` it takes the first user message's."""
        now = utcnow()
        row = ConversationRow(
            title=title or "",
            title_is_auto=title is None,
            created_at=now,
            updated_at=now,
            pinned=False,
            archived=False,
            system_prompt=system_prompt,
            settings=(settings or GenerationSettings()).to_dict(),
            **_model_columns(model),
        )
        with self.write_session() as session:
            session.add(row)
            session.flush()
            return _to_conversation(row)

    def get_conversation(self, conversation_id: int) -> Conversation:
        with self.read_session() as session:
            return _to_conversation(_conversation_row(session, conversation_id))

    def list_conversations(
        self, *, limit: int | None = 100, offset: int = 0, include_archived: bool = False
    ) -> list[ConversationSummary]:
        """Pinned first, then the most recently updated (``limit=None``: all)."""
        sql = list_sql(include_archived=include_archived)
        with self.read_session() as session:
            rows = _fetch(session, sql, (-1 if limit is None else limit, offset))
        return summaries(rows)

    def count_conversations(self, *, include_archived: bool = True) -> int:
        stmt = select(func.count()).select_from(ConversationRow)
        if not include_archived:
            stmt = stmt.where(ConversationRow.archived == False)  # noqa: E712
        with self.read_session() as session:
            return int(session.execute(stmt).scalar_one())

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        """Give the conversation a title of the user's (no longer follows the first message)."""
        self._update_conversation(conversation_id, title=title.strip(), title_is_auto=False)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update_conversation(conversation_id, pinned=pinned)

    def set_archived(self, conversation_id: int, archived: bool) -> None:
        self._update_conversation(conversation_id, archived=archived)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete the conversation and all its messages."""
        with self.write_session() as session:
            _conversation_row(session, conversation_id)
            session.execute(delete(MessageRow).where(MessageRow.conversation_id == conversation_id))
            session.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id))

    def _update_conversation(self, conversation_id: int, **values: Any) -> None:
        with self.write_session() as session:
            done = session.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 1) == 0:
                raise NotFoundError(f"There is no conversation {conversation_id}.")

    # Messages ------------------------------------------------------------------------------

    def add_user_message(
        self, conversation_id: int, content: str, *, parent_id: int | None = None
    ) -> Message:
        """Append a user turn after ``parent_id`` (default: the active leaf); it becomes active."""
        with self.write_session() as session:
            conv = _conversation_row(session, conversation_id)
            parent = parent_id if parent_id is not None else conv.active_leaf_id
            if parent is not None:
                _message_row(session, parent, conversation_id)
            return self._insert_user(session, conv, parent, content)

    def edit_user_message(self, message_id: int, content: str) -> Message:
        """Start a new branch: a sibling of ``message_id`` with the new text; it becomes active."""
        with self.write_session() as session:
            old = _message_row(session, message_id)
            if old.role != Role.USER.value:
                raise ValueError(f"message {message_id} is not a user message")
            conv = _conversation_row(session, old.conversation_id)
            return self._insert_user(session, conv, old.parent_id, content)

    def _insert_user(
        self, session: Session, conv: ConversationRow, parent: int | None, content: str
    ) -> Message:
        now = utcnow()
        row = MessageRow(
            conversation_id=conv.id,
            parent_id=parent,
            role=Role.USER.value,
            status=MessageStatus.COMPLETE.value,
            content=content,
            reasoning="",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        conv.active_leaf_id = row.id
        conv.updated_at = now
        if conv.title_is_auto and (parent is None or not conv.title):
            conv.title = make_title(content)
        return _to_message(row)

    def start_answer(
        self,
        conversation_id: int,
        *,
        parent_id: int | None = None,
        model: ModelRef | None = None,
        flush_interval: float = 0.5,
    ) -> AnswerRecorder:
        """Create a ``streaming`` answer to ``parent_id`` (default: the active leaf, a user
        message); it becomes active. Feed the engine's events to the returned recorder."""
        from app.store.recorder import AnswerRecorder

        with self.write_session() as session:
            conv = _conversation_row(session, conversation_id)
            parent = parent_id if parent_id is not None else conv.active_leaf_id
            if parent is None:
                raise ValueError(f"conversation {conversation_id} has no message to answer")
            if _message_row(session, parent, conversation_id).role != Role.USER.value:
                raise ValueError(f"message {parent} is not a user message")
            if model is None and conv.model_id:
                model = ModelRef(conv.model_id, conv.model_sha256, conv.model_size, conv.model_path)
            now = utcnow()
            row = MessageRow(
                conversation_id=conversation_id,
                parent_id=parent,
                role=Role.ASSISTANT.value,
                status=MessageStatus.STREAMING.value,
                reasoning_state=ReasoningState.NONE.value,
                writer=writer_identity(),
                content="",
                reasoning="",
                created_at=now,
                updated_at=now,
                **_model_columns(model),
            )
            session.add(row)
            session.flush()
            conv.active_leaf_id = row.id
            conv.updated_at = now
            message = _to_message(row)
        return AnswerRecorder(self, message, flush_interval=flush_interval)

    def regenerate(
        self, message_id: int, *, model: ModelRef | None = None, flush_interval: float = 0.5
    ) -> AnswerRecorder:
        """A new answer beside assistant message ``message_id`` (a sibling); it becomes active."""
        old = self.get_message(message_id)
        if old.role is not Role.ASSISTANT or old.parent_id is None:
            raise ValueError(f"message {message_id} is not an answer")
        return self.start_answer(
            old.conversation_id, parent_id=old.parent_id, model=model, flush_interval=flush_interval
        )

    def save_answer(
        self,
        message_id: int,
        *,
        content: str,
        reasoning: str,
        injected: Sequence[InjectedSpan],
        reasoning_state: ReasoningState,
        status: MessageStatus,
        stats: Stats | None = None,
        finish_reason: FinishReason | None = None,
        error: str | None = None,
    ) -> None:
        """Write an answer's current state (used by :class:`AnswerRecorder`)."""
        final = status is not MessageStatus.STREAMING
        now = utcnow()
        values: dict[str, Any] = {
            "content": content,
            "reasoning": reasoning,
            "injected": [s.to_dict() for s in injected] or None,
            "reasoning_state": reasoning_state.value,
            "status": status.value,
            "stats": stats.to_dict() if stats else None,
            "finish_reason": finish_reason.value if finish_reason else None,
            "error": error,
            "updated_at": now,
        }
        if final:
            values["writer"] = None
        with self.write_session() as session:
            cid = session.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(**values)
                .returning(MessageRow.conversation_id)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if cid is None:
                raise NotFoundError(f"There is no message {message_id} (was it deleted?).")
            if final:
                session.execute(
                    update(ConversationRow)
                    .where(ConversationRow.id == cid)
                    .values(updated_at=now)
                    .execution_options(synchronize_session=False)
                )

    def get_message(self, message_id: int) -> Message:
        with self.read_session() as session:
            return _to_message(_message_row(session, message_id))

    def messages(self, conversation_id: int) -> list[Message]:
        """The whole tree, oldest first, with ``sibling_ids`` filled in."""
        with self.read_session() as session:
            _conversation_row(session, conversation_id)
            rows = _fetch(
                session,
                f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        siblings: dict[int | None, list[int]] = defaultdict(list)
        for row in rows:
            siblings[row[2]].append(row[0])
        return [_to_message(row, tuple(siblings[row[2]])) for row in rows]

    def active_path(
        self, conversation_id: int, *, leaf_id: int | None = None, with_reasoning: bool = True
    ) -> list[Message]:
        """The branch on screen, first message first, with ``sibling_ids`` filled in.

        Args:
            leaf_id: show the branch ending here instead of the active one.
            with_reasoning: ``False`` leaves ``reasoning`` empty (``reasoning_state`` still
                says whether there is one): opening a long conversation with its traces
                folded reads far less; load a trace with :meth:`get_message`.
        """
        with self.read_session() as session:
            conv = _conversation_row(session, conversation_id)
            leaf = leaf_id if leaf_id is not None else conv.active_leaf_id
            if leaf is None:
                return []
            # Ids grow from parent to child (a child is always written after its parent), so
            # id order is path order and no sort has to carry the long texts.
            rows = _fetch(
                session,
                "WITH RECURSIVE path(id) AS (SELECT ? UNION ALL SELECT m.parent_id "
                "FROM messages m JOIN path ON m.id = path.id WHERE m.parent_id IS NOT NULL) "
                f"SELECT {_COLUMNS if with_reasoning else _FOLDED} FROM messages "
                "WHERE id IN (SELECT id FROM path) AND conversation_id = ? ORDER BY id",
                (leaf, conversation_id),
            )
            siblings: dict[int | None, list[int]] = defaultdict(list)
            for mid, parent in _fetch(
                session,
                "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ):
                siblings[parent].append(mid)
        return [_to_message(row, tuple(siblings[row[2]])) for row in rows]

    def chat_history(self, conversation_id: int) -> list[ChatMessage]:
        """The active path as engine messages (reasoning kept; the family policy decides)."""
        return [
            ChatMessage(m.role, m.content, m.reasoning or None)
            for m in self.active_path(conversation_id)
        ]

    def activate(self, message_id: int) -> int:
        """Show the branch through ``message_id``: its newest leaf becomes the active leaf.

        Returns the new active leaf's id. Use with ``Message.sibling_ids`` to switch answers.
        """
        with self.write_session() as session:
            row = _message_row(session, message_id)
            leaf = _newest_leaf(session, message_id)
            conv = _conversation_row(session, row.conversation_id)
            conv.active_leaf_id = leaf
            return leaf

    def delete_message(self, message_id: int) -> int | None:
        """Delete a message and every message after it in its branch (its subtree).

        The conversation then shows the newest remaining sibling's branch, or else the
        parent's. Returns the new active leaf (None when the conversation is left empty).

        Raises:
            NotFoundError: no such message.
            ValueError: the message, or one after it, is still being written.
        """
        with self.write_session() as session:
            row = _message_row(session, message_id)
            sub = _subtree(message_id)
            doomed = {int(i) for i in session.execute(select(sub.c.id)).scalars()}
            streaming = session.execute(
                select(func.count())
                .select_from(MessageRow)
                .where(MessageRow.id.in_(doomed))
                .where(MessageRow.status == MessageStatus.STREAMING.value)
            ).scalar_one()
            if streaming:
                raise ValueError("an answer in this branch is still being written; stop it first")
            conv = _conversation_row(session, row.conversation_id)
            parent_id = row.parent_id
            # One statement: SQLite checks the parent_id references at its end.
            session.execute(
                delete(MessageRow)
                .where(MessageRow.id.in_(doomed))
                .execution_options(synchronize_session=False)
            )
            session.expunge(row)
            if conv.active_leaf_id is not None and conv.active_leaf_id not in doomed:
                conv.updated_at = utcnow()
                return conv.active_leaf_id
            sibling = session.execute(
                select(func.max(MessageRow.id))
                .where(MessageRow.conversation_id == conv.id)
                .where(
                    MessageRow.parent_id.is_(None)
                    if parent_id is None
                    else MessageRow.parent_id == parent_id
                )
            ).scalar_one_or_none()
            start = sibling if sibling is not None else parent_id
            leaf = None if start is None else _newest_leaf(session, start)
            conv.active_leaf_id = leaf
            conv.updated_at = utcnow()
            return leaf

    # Search --------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 20,
        mark: tuple[str, str] = ("[", "]"),
        prefix: bool = False,
    ) -> list[SearchHit]:
        """Titles and messages holding every word of ``query``, best first.

        Args:
            limit: at most this many hits (titles and messages together).
            mark: put around the matched words in snippets.
            prefix: let the last word be the start of a word (search as you type).
        """
        with self.read_session() as session:
            conn = session.connection()
            if self.fts_enabled:
                return fts.fts_search(conn, query, limit, mark, prefix=prefix)
            return fts.like_search(conn, query, limit, mark, prefix=prefix)

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check``: ``["ok"]`` when the file is sound (slow on big files)."""
        with self.read_session() as session:
            return [
                str(r[0]) for r in session.connection().exec_driver_sql("PRAGMA integrity_check")
            ]


def make_title(content: str) -> str:
    """A title from a message: its first line, cut at a word near :data:`TITLE_LENGTH`."""
    line = next((ln.strip() for ln in content.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:") + "…"


def _conversation_row(session: Session, conversation_id: int) -> ConversationRow:
    row = session.get(ConversationRow, conversation_id)
    if row is None:
        raise NotFoundError(f"There is no conversation {conversation_id}.")
    return row


def _subtree(message_id: int) -> CTE:
    """The ids of ``message_id`` and every message after it in its branches (recursive)."""
    sub = select(literal(message_id).label("id")).cte("sub", recursive=True)
    return sub.union_all(select(MessageRow.id).join(sub, MessageRow.parent_id == sub.c.id))


def _newest_leaf(session: Session, message_id: int) -> int:
    """The newest message under ``message_id`` (itself if none): a leaf, since a message's
    children always come after it."""
    return int(session.execute(select(func.max(_subtree(message_id).c.id))).scalar_one())


def _message_row(
    session: Session, message_id: int, conversation_id: int | None = None
) -> MessageRow:
    row = session.get(MessageRow, message_id)
    if row is None or (conversation_id is not None and row.conversation_id != conversation_id):
        raise NotFoundError(f"There is no message {message_id} in this conversation.")
    return row


def _model_columns(model: ModelRef | None) -> dict[str, Any]:
    if model is None:
        return {}
    return {
        "model_id": model.model_id,
        "model_sha256": model.sha256,
        "model_size": model.size,
        "model_path": model.path,
    }


def _model_ref(row: Any) -> ModelRef | None:
    if not row.model_id:
        return None
    return ModelRef(row.model_id, row.model_sha256, row.model_size, row.model_path)


def _to_conversation(row: ConversationRow) -> Conversation:
    return Conversation(
        id=row.id,
        title=row.title,
        title_is_auto=bool(row.title_is_auto),
        created_at=row.created_at,
        updated_at=row.updated_at,
        pinned=bool(row.pinned),
        archived=bool(row.archived),
        model=_model_ref(row),
        system_prompt=row.system_prompt,
        settings=GenerationSettings.from_dict(row.settings),
        active_leaf_id=row.active_leaf_id,
    )


def _to_message(row: MessageRow | Sequence[Any], siblings: tuple[int, ...] = ()) -> Message:
    """A message from an ORM row or a raw row of all columns in table order.

    Raw rows (from :func:`_fetch`) hold timestamps and JSON as text. Unpacking a tuple is
    several times faster than attribute access, which counts when thousands of messages load.
    """
    values = tuple(getattr(row, n) for n in _NAMES) if isinstance(row, MessageRow) else row
    (mid, cid, parent, role, status, r_state, finish, model_id, sha, size, model_path,
     _writer, created, updated, error, stats, injected, content, reasoning) = values  # fmt: skip
    if isinstance(stats, str):
        stats = json.loads(stats)
    if isinstance(injected, str):
        injected = json.loads(injected)
    return Message(
        mid,
        cid,
        parent,
        _ROLES[role],
        content or "",
        reasoning or "",
        _REASONING_STATES.get(r_state) if r_state else None,
        tuple(InjectedSpan.from_dict(s) for s in injected) if injected else (),
        Stats.from_dict(stats) if stats else None,
        ModelRef(model_id, sha, size, model_path) if model_id else None,
        _STATUSES[status],
        _FINISH_REASONS.get(finish) if finish else None,
        error,
        when(created),
        when(updated),
        siblings,
    )


def _fetch(session: Session, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Plain tuples straight from the driver, inside the session's read transaction.

    For the reads that load thousands of rows (a long conversation, the list): SQLAlchemy's
    per-row processing would double their time. Errors are translated by the caller's
    ``read_session``.
    """
    raw = session.connection().connection.driver_connection
    assert raw is not None
    rows: list[tuple[Any, ...]] = raw.execute(sql, params).fetchall()
    return rows
