"""Importing a JSON export (see :mod:`app.store.export`).

Imported conversations get new ids and never replace existing ones (importing the same file
twice gives two copies). The whole file goes in one transaction: all or nothing. A damaged or
foreign file raises :class:`ImportFormatError` naming the first bad spot; so does a file that
JSON accepts but Ponder cannot store: nesting deeper than :data:`MAX_DEPTH`, an integer beyond
SQLite's 64 bits (or of thousands of digits), a lone surrogate (``"\\ud800"``: not text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.events import FinishReason, ReasoningState, Stats
from app.store.domain import (
    TREE_ROLES,
    GenerationSettings,
    InjectedSpan,
    MessageStatus,
    ModelRef,
    Role,
)
from app.store.errors import ImportFormatError
from app.store.export import FORMAT_NAME, FORMAT_VERSION
from app.store.schema import ConversationRow, MessageRow
from app.store.store import Store

#: Ponder's own exports nest 5 levels deep; anything far deeper is not one.
MAX_DEPTH = 64
_INT_RANGE = range(-(2**63), 2**63)


def import_file(store: Store, path: Path) -> list[int]:
    """Import a JSON export file; returns the new conversations' ids."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ImportFormatError(f"Cannot read {path}: {err.strerror or err}.") from err
    except UnicodeDecodeError as err:
        raise ImportFormatError(f"{path} is not a Ponder JSON export (not UTF-8 text).") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ImportFormatError(
            f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})."
        ) from err
    except RecursionError as err:
        raise _not_an_export(path, f"it is nested more than {MAX_DEPTH} levels deep") from err
    except ValueError as err:  # an integer of thousands of digits (int_max_str_digits)
        raise _not_an_export(path, "it holds a number with thousands of digits") from err
    return import_document(store, data, source=str(path))


def _not_an_export(source: Path | str, problem: str) -> ImportFormatError:
    return ImportFormatError(f"{source} is not a Ponder export: {problem}.")


def check_values(data: Any) -> str | None:
    """What in a parsed JSON document cannot be stored, or ``None`` when all of it can.

    Walks the document without recursion (so depth itself cannot crash it): nesting beyond
    :data:`MAX_DEPTH`, integers beyond 64 bits, strings (and keys) with lone surrogates.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"it is nested more than {MAX_DEPTH} levels deep"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and _has_surrogate(key):
                    return f"the key {key!a} is not valid text (a lone surrogate)"
                stack.append((item, depth + 1))
        elif isinstance(value, str):
            if _has_surrogate(value):
                shown = ascii(value[:40])
                return f"the text {shown} is not valid text (a lone surrogate)"
        elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT_RANGE:
            return "it holds an integer too large to store"
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def import_document(store: Store, data: Any, *, source: str = "the import") -> list[int]:
    """Import an already parsed export document; returns the new conversations' ids."""
    problem = check_values(data)
    if problem is not None:
        raise _not_an_export(source, problem)
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ImportFormatError(f"{source} is not a Ponder history export.")
    version = data.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ImportFormatError(
            f"{source} was exported by a newer Ponder (format version {version}); update Ponder."
        )
    conversations = data.get("conversations")
    if not isinstance(conversations, list):
        raise ImportFormatError(f"{source}: 'conversations' is missing or not a list.")
    parsed = [
        _Conversation(c, f"{source}: conversations[{i}]") for i, c in enumerate(conversations)
    ]
    new_ids: list[int] = []
    with store.write_session() as session:
        for conv in parsed:
            row = conv.row()
            session.add(row)
            session.flush()
            id_map: dict[int, int] = {}
            for message in conv.messages_parents_first():
                mrow = message.row(row.id, id_map)
                session.add(mrow)
                session.flush()
                id_map[message.old_id] = mrow.id
            leaf = id_map.get(conv.active_leaf) if conv.active_leaf is not None else None
            if leaf is None and id_map:
                leaf = max(id_map.values())
            row.active_leaf_id = leaf
            new_ids.append(row.id)
    return new_ids


class _Checked:
    """Field access that names the bad spot in its error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ImportFormatError(f"{where} is not an object.")
        self.data: Mapping[str, Any] = data
        self.where = where

    def fail(self, key: str, problem: str) -> ImportFormatError:
        return ImportFormatError(f"{self.where}.{key} {problem}.")

    def text(self, key: str, *, optional: bool = False, default: str = "") -> Any:
        value = self.data.get(key, None if optional else default)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(key, "is not a string")
        return value

    def integer(self, key: str, *, optional: bool = False) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "is not an integer")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "is not true or false")
        return value

    def time(self, key: str) -> datetime:
        value = self.data.get(key)
        if value is None:
            return datetime.now(UTC)
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as err:
            raise self.fail(key, "is not an ISO date and time") from err
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def enum(self, key: str, kind: Any, *, optional: bool = False, allowed: Any = None) -> Any:
        """The value at ``key`` as a member of the enum ``kind`` (of ``allowed`` if given)."""
        value = self.data.get(key)
        if value is None and optional:
            return None
        members = list(kind if allowed is None else allowed)
        try:
            member = kind(value)
        except ValueError:
            member = None
        if member not in members:
            raise self.fail(key, f"is not one of {[k.value for k in members]}")
        return member

    def model(self, key: str) -> ModelRef | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(key, "is not an object")
        try:
            return ModelRef.from_dict(value)
        except (TypeError, ValueError) as err:
            raise self.fail(key, f"is malformed ({err})") from err


class _Message(_Checked):
    def __init__(self, data: Any, where: str) -> None:
        super().__init__(data, where)
        self.old_id: int = self.integer("id")
        self.parent: int | None = self.integer("parent_id", optional=True)
        self.role: Role = self.enum("role", Role, allowed=TREE_ROLES)
        status: MessageStatus = self.enum("status", MessageStatus)
        self.status = MessageStatus.INTERRUPTED if status is MessageStatus.STREAMING else status
        self.content: str = self.text("content")
        self.reasoning: str = self.text("reasoning")
        self.reasoning_state = self.enum("reasoning_state", ReasoningState, optional=True)
        self.finish_reason = self.enum("finish_reason", FinishReason, optional=True)
        self.error: str | None = self.text("error", optional=True)
        self.model_ref = self.model("model")
        self.created, self.updated = self.time("created_at"), self.time("updated_at")
        try:
            spans = self.data.get("injected") or []
            self.injected = [InjectedSpan.from_dict(s).to_dict() for s in spans]
            stats = self.data.get("stats")
            self.stats = Stats.from_dict(stats).to_dict() if stats else None
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ImportFormatError(f"{where}: injected spans or stats are malformed.") from err

    def row(self, conversation_id: int, id_map: Mapping[int, int]) -> MessageRow:
        model = self.model_ref
        return MessageRow(
            conversation_id=conversation_id,
            parent_id=id_map[self.parent] if self.parent is not None else None,
            role=self.role.value,
            status=self.status.value,
            reasoning_state=self.reasoning_state.value if self.reasoning_state else None,
            finish_reason=self.finish_reason.value if self.finish_reason else None,
            model_id=model.model_id if model else None,
            model_sha256=model.sha256 if model else None,
            model_size=model.size if model else None,
            model_path=model.path if model else None,
            created_at=self.created,
            updated_at=self.updated,
            error=self.error,
            stats=self.stats,
            injected=self.injected or None,
            content=self.content,
            reasoning=self.reasoning,
        )


class _Conversation(_Checked):
    def __init__(self, data: Any, where: str) -> None:
        super().__init__(data, where)
        self.title: str = self.text("title")
        self.title_is_auto = self.flag("title_is_auto", False)
        self.pinned = self.flag("pinned", False)
        self.archived = self.flag("archived", False)
        self.created, self.updated = self.time("created_at"), self.time("updated_at")
        self.model_ref = self.model("model")
        self.system_prompt: str | None = self.text("system_prompt", optional=True)
        settings = self.data.get("settings")
        try:
            self.settings = GenerationSettings.from_dict(settings).to_dict()
        except (TypeError, ValueError, AttributeError) as err:
            raise self.fail("settings", "is malformed") from err
        self.active_leaf: int | None = self.integer("active_leaf_id", optional=True)
        raw = self.data.get("messages", [])
        if not isinstance(raw, list):
            raise self.fail("messages", "is not a list")
        self.messages = [_Message(m, f"{where}.messages[{i}]") for i, m in enumerate(raw)]

    def messages_parents_first(self) -> list[_Message]:
        """The messages ordered so that each parent comes before its children."""
        by_id = {m.old_id: m for m in self.messages}
        if len(by_id) != len(self.messages):
            raise ImportFormatError(f"{self.where}.messages has duplicate ids.")
        if all(
            m.parent is None or (m.parent in by_id and m.parent < m.old_id) for m in by_id.values()
        ):
            return sorted(self.messages, key=lambda m: m.old_id)  # as exported: keep the order
        depth: dict[int, int] = {}
        for m in self.messages:
            chain: list[int] = []
            seen: set[int] = set()
            node: _Message | None = m
            while node is not None and node.old_id not in depth:
                if node.old_id in seen:
                    raise ImportFormatError(f"{self.where}.messages has a cycle of parents.")
                chain.append(node.old_id)
                seen.add(node.old_id)
                if node.parent is None:
                    node = None
                elif node.parent not in by_id:
                    raise ImportFormatError(
                        f"{self.where}: message {node.old_id} has an unknown parent {node.parent}."
                    )
                else:
                    node = by_id[node.parent]
            base = depth[node.old_id] + 1 if node is not None else 0
            for offset, mid in enumerate(reversed(chain)):
                depth[mid] = base + offset
        return sorted(self.messages, key=lambda m: (depth[m.old_id], m.old_id))

    def row(self) -> ConversationRow:
        model = self.model_ref
        return ConversationRow(
            title=self.title,
            title_is_auto=self.title_is_auto,
            created_at=self.created,
            updated_at=self.updated,
            pinned=self.pinned,
            archived=self.archived,
            model_id=model.model_id if model else None,
            model_sha256=model.sha256 if model else None,
            model_size=model.size if model else None,
            model_path=model.path if model else None,
            system_prompt=self.system_prompt,
            settings=self.settings,
        )
