"""Exporting conversations: Markdown, JSON (full fidelity), distillation JSONL.

* Markdown: the active branch of each conversation, reasoning in a collapsible
  ``<details>`` block; for reading and sharing.
* JSON: every field of every message of every branch; :mod:`app.store.importer` reads it back.
* ShareGPT JSONL (the OpenThoughts shape), one line per conversation's active branch::

      {"system": "...", "conversations": [{"from": "user", "value": "..."},
                                          {"from": "assistant", "value": "<think>...</think>..."}]}

  the reasoning wrapped in ``<think>`` tags or in the Bespoke-Stratos markers.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import app
from app.errors import StorageError
from app.store.domain import Conversation, Message, MessageStatus, Role
from app.store.store import Store

log = logging.getLogger(__name__)

FORMAT_NAME = "ponder.history"
FORMAT_VERSION = 1

T = TypeVar("T")

#: What reading a damaged conversation raises: a storage error, or a value the database
#: holds that is not what Ponder wrote (a bad date, an unknown status, broken JSON).
DAMAGE_ERRORS = (StorageError, ValueError, KeyError, TypeError, AttributeError)


class Markers(enum.Enum):
    """How a distillation record marks the reasoning inside the assistant's value."""

    THINK = "think"
    STRATOS = "stratos"


@dataclass(frozen=True, slots=True)
class ExportCounts:
    """How many conversations were written, and how many were left out.

    Attributes:
        written: conversations in the export.
        skipped: left out because nothing usable was left (distillation records).
        damaged: ``(id, reason)`` of conversations that could not be read; the others were
            exported all the same.
    """

    written: int
    skipped: int
    damaged: tuple[tuple[int, str], ...] = ()


@dataclass
class _Reader:
    """Reads each conversation, noting (not raising) the ones that cannot be read."""

    damaged: list[tuple[int, str]] = field(default_factory=list)

    def read(self, cid: int, load: Callable[[int], T]) -> T | None:
        """``load(cid)``, or ``None`` (noted) when the conversation is damaged."""
        try:
            return load(cid)
        except DAMAGE_ERRORS as err:
            log.warning("conversation %d left out of the export: %r", cid, err)
            self.damaged.append((cid, str(err) or type(err).__name__))
            return None

    def counts(self, written: int, skipped: int = 0) -> ExportCounts:
        return ExportCounts(written, skipped, tuple(self.damaged))


def all_ids(store: Store) -> list[int]:
    """Every conversation's id, archived ones included, oldest first."""
    ids = [c.id for c in store.list_conversations(limit=None, include_archived=True)]
    return sorted(ids)


# Markdown ----------------------------------------------------------------------------------


def conversation_markdown(conversation: Conversation, path: Sequence[Message]) -> str:
    """One conversation's active branch as Markdown."""
    lines = [f"# {conversation.title or 'Untitled conversation'}", ""]
    facts = [f"Conversation {conversation.id}", _local(conversation.created_at)]
    if conversation.model:
        facts.append(f"model `{conversation.model.model_id}`")
    lines += ["*" + " · ".join(facts) + "*", ""]
    if conversation.system_prompt:
        lines += ["**System prompt:**", ""]
        lines += [f"> {ln}" if ln else ">" for ln in conversation.system_prompt.splitlines()]
        lines.append("")
    for message in path:
        if message.role is Role.USER:
            lines += ["## User", "", message.content, ""]
            continue
        heading = "## Assistant"
        if message.model and message.model != conversation.model:
            heading += f" (`{message.model.model_id}`)"
        lines += [heading, ""]
        if message.reasoning.strip():
            lines += [
                "<details><summary>Reasoning</summary>",
                "",
                message.reasoning.strip(),
                "",
                "</details>",
                "",
            ]
        if message.content:
            lines += [message.content, ""]
        if message.status is MessageStatus.ERROR:
            lines += [f"*Error: {message.error or 'the engine failed'}*", ""]
        elif message.status is not MessageStatus.COMPLETE:
            lines += [f"*({message.status.value})*", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(store: Store, ids: Iterable[int], out: TextIO) -> ExportCounts:
    reader = _Reader()
    written = 0
    for cid in ids:
        text = reader.read(
            cid, lambda c: conversation_markdown(store.get_conversation(c), store.active_path(c))
        )
        if text is None:
            continue
        if written:
            out.write("\n---\n\n")
        out.write(text)
        written += 1
    return reader.counts(written)


# JSON (full fidelity) ----------------------------------------------------------------------


def conversation_json(conversation: Conversation, messages: Sequence[Message]) -> dict[str, Any]:
    """Every field of a conversation and all its branches."""
    return {
        "id": conversation.id,
        "title": conversation.title,
        "title_is_auto": conversation.title_is_auto,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "pinned": conversation.pinned,
        "archived": conversation.archived,
        "model": conversation.model.to_dict() if conversation.model else None,
        "system_prompt": conversation.system_prompt,
        "settings": conversation.settings.to_dict(),
        "active_leaf_id": conversation.active_leaf_id,
        "messages": [message_json(m) for m in messages],
    }


def message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role.value,
        "content": m.content,
        "reasoning": m.reasoning,
        "reasoning_state": m.reasoning_state.value if m.reasoning_state else None,
        "injected": [s.to_dict() for s in m.injected],
        "stats": m.stats.to_dict() if m.stats else None,
        "model": m.model.to_dict() if m.model else None,
        "status": m.status.value,
        "finish_reason": m.finish_reason.value if m.finish_reason else None,
        "error": m.error,
        "created_at": m.created_at.isoformat(),
        "updated_at": m.updated_at.isoformat(),
    }


def write_json(store: Store, ids: Iterable[int], out: TextIO) -> ExportCounts:
    """The export document, written one conversation at a time (big histories fit)."""
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "app_version": app.__version__,
        "exported_at": datetime.now(UTC).isoformat(),
    }
    out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "conversations": [\n')
    reader = _Reader()
    written = 0
    for cid in ids:
        line = reader.read(
            cid,
            lambda c: json.dumps(
                conversation_json(store.get_conversation(c), store.messages(c)), ensure_ascii=False
            ),
        )
        if line is None:
            continue
        out.write((",\n" if written else "") + line)
        written += 1
    out.write("\n]}\n")
    return reader.counts(written)


# Distillation JSONL ------------------------------------------------------------------------


def assistant_value(message: Message, markers: Markers) -> str:
    """The assistant's turn as one string: marked reasoning, then the answer."""
    reasoning, answer = message.reasoning.strip(), message.content.strip()
    if markers is Markers.STRATOS:
        return (
            f"<|begin_of_thought|>\n\n{reasoning}\n\n<|end_of_thought|>\n\n"
            f"<|begin_of_solution|>\n\n{answer}\n\n<|end_of_solution|>"
        )
    if not reasoning:
        return answer
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"


def sharegpt_record(
    conversation: Conversation,
    path: Sequence[Message],
    *,
    markers: Markers = Markers.THINK,
    complete_only: bool = False,
) -> dict[str, Any] | None:
    """One SFT record from the active branch, or ``None`` when nothing usable is left.

    With ``complete_only``, the branch is cut before the first answer that is not a
    complete trace (capped, interrupted, cancelled, failed, or without reasoning), so no
    later turn builds on a bad one.
    """
    turns: list[dict[str, str]] = []
    kept = 0
    for message in path:
        if message.role is Role.USER:
            turns.append({"from": "user", "value": message.content})
            continue
        if complete_only and not message.is_complete_trace:
            break
        turns.append({"from": "assistant", "value": assistant_value(message, markers)})
        kept = len(turns)
    if not kept:
        return None
    return {"system": conversation.system_prompt or "", "conversations": turns[:kept]}


def write_sharegpt(
    store: Store,
    ids: Iterable[int],
    out: TextIO,
    *,
    markers: Markers = Markers.THINK,
    complete_only: bool = False,
) -> ExportCounts:
    reader = _Reader()
    written = skipped = 0
    for cid in ids:
        read = reader.read(
            cid,
            lambda c: [
                sharegpt_record(
                    store.get_conversation(c),
                    store.active_path(c),
                    markers=markers,
                    complete_only=complete_only,
                )
            ],
        )
        if read is None:
            continue
        (record,) = read
        if record is None:
            skipped += 1
            continue
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    return reader.counts(written, skipped)


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
