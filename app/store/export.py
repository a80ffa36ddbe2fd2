"""Exporting conversations: Markdown, JSON (full fidelity), distillation JSONL.

* Markdown: the active branch of each conversation, reasoning in a collapsible
  ``<details>`` block; for reading and sharing.
* JSON: every field of every message of every branch; :mod:`app.store.importer` reads it back.
* ShareGPT JSONL (the OpenThoughts shape), one line per conversation's active branch::

      {"system": "...", "conversations": [{"from": "user", "value": "..."},
                                          {"from": "assistant", "value": "<think>...</think>..."}]}

  the reasoning wrapped in ``<think>`` tags or in the Bespoke-Stratos markers. Text Ponder
  injected into a trace (budget cap, Answer now) is left out with its answer and the turns
  after it, unless asked to keep it; the JSON export marks it (``injected`` spans).

:func:`app.user_files.open_output` writes any of them to the path the user named.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import app
from app.errors import StorageError
from app.events import FinishReason, ReasoningState
from app.store.domain import Conversation, Message, MessageStatus, Role

if TYPE_CHECKING:  # the UI imports this module; SQLAlchemy loads with the store, not here
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


class LeftOut(enum.Enum):
    """Why a dataset export left an answer out (and the turns after it)."""

    INCOMPLETE = "incomplete"  # complete-only: capped, cancelled, interrupted, failed, no trace
    INJECTED = "injected"  # it holds text Ponder injected, and keeping it was not asked for


@dataclass(frozen=True, slots=True)
class ExportCounts:
    """What an export wrote, and what it left out.

    Attributes:
        written: conversations written.
        skipped: conversations left out whole (nothing usable was left).
        incomplete: answers left out as incomplete traces (complete-only).
        injected: answers left out for the text Ponder injected into them.
        after: later answers left out with those (no turn builds on a left-out one).
        damaged: ``(id, reason)`` of conversations that could not be read; the others were
            exported all the same.
    """

    written: int
    skipped: int
    incomplete: int = 0
    injected: int = 0
    after: int = 0
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

    def counts(
        self, written: int, skipped: int = 0, incomplete: int = 0, injected: int = 0, after: int = 0
    ) -> ExportCounts:
        return ExportCounts(written, skipped, incomplete, injected, after, tuple(self.damaged))


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


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """One conversation's record and what was cut from it.

    Attributes:
        record: the ShareGPT record, or ``None`` when nothing usable was left.
        cut: why the branch was cut (``None``: nothing was).
        dropped: answers left out (the one cut at, and those after it).
    """

    record: dict[str, Any] | None
    cut: LeftOut | None = None
    dropped: int = 0


def dataset_record(
    conversation: Conversation,
    path: Sequence[Message],
    *,
    markers: Markers = Markers.THINK,
    complete_only: bool = False,
    keep_injected: bool = False,
) -> DatasetRecord:
    """One SFT record from the active branch (``record`` is ``None`` when nothing usable is
    left), and what was left out and why.

    The branch is cut before the first answer holding text Ponder injected (unless
    ``keep_injected``) and, with ``complete_only``, before the first answer that is not a
    complete trace (capped, interrupted, cancelled, failed, or without reasoning), so no
    later turn builds on a bad one.
    """
    turns: list[dict[str, str]] = []
    kept = dropped = 0
    cut: LeftOut | None = None
    for message in path:
        if message.role is Role.USER:
            turns.append({"from": "user", "value": message.content})
            continue
        cut = cut or left_out(message, complete_only=complete_only, keep_injected=keep_injected)
        if cut is not None:
            dropped += 1
            continue
        turns.append({"from": "assistant", "value": assistant_value(message, markers)})
        kept = len(turns)
    record = {"system": conversation.system_prompt or "", "conversations": turns[:kept]}
    return DatasetRecord(record if kept else None, cut, dropped)


_INJECTION_ENDS = (ReasoningState.COMPLETE, ReasoningState.CAPPED, ReasoningState.ANSWER_NOW)


def left_out(message: Message, *, complete_only: bool, keep_injected: bool) -> LeftOut | None:
    """Why a dataset export leaves this answer out, or ``None`` to keep it."""
    if message.injected and not keep_injected:
        return LeftOut.INJECTED
    if not complete_only or message.is_complete_trace:
        return None
    kept_injection = (  # complete but for what Ponder injected (budget cap, Answer now)
        keep_injected
        and bool(message.injected)
        and message.status is MessageStatus.COMPLETE
        and message.finish_reason in (None, FinishReason.STOP, FinishReason.BUDGET)
        and message.reasoning_state in _INJECTION_ENDS
        and bool(message.reasoning.strip())
    )
    return None if kept_injection else LeftOut.INCOMPLETE


def write_sharegpt(
    store: Store,
    ids: Iterable[int],
    out: TextIO,
    *,
    markers: Markers = Markers.THINK,
    complete_only: bool = False,
    keep_injected: bool = False,
) -> ExportCounts:
    reader = _Reader()
    written = skipped = after = 0
    first = dict.fromkeys(LeftOut, 0)
    for cid in ids:
        result = reader.read(
            cid,
            lambda c: dataset_record(
                store.get_conversation(c),
                store.active_path(c),
                markers=markers,
                complete_only=complete_only,
                keep_injected=keep_injected,
            ),
        )
        if result is None:
            continue
        if result.cut is not None:
            first[result.cut] += 1
            after += result.dropped - 1
        if result.record is None:
            skipped += 1
            continue
        out.write(json.dumps(result.record, ensure_ascii=False) + "\n")
        written += 1
    return reader.counts(
        written, skipped, first[LeftOut.INCOMPLETE], first[LeftOut.INJECTED], after
    )


def left_out_note(counts: ExportCounts) -> str:
    """What a dataset export left out and why, in a sentence ("" when nothing was)."""
    parts = []
    if counts.incomplete:
        parts.append(
            f"{_many(counts.incomplete, 'incomplete answer')} "
            "(capped, cancelled, interrupted, failed or without reasoning)"
        )
    if counts.injected:
        parts.append(
            f"{_many(counts.injected, 'answer')} with text Ponder injected "
            "(budget cap, Answer now; keep it by choice)"
        )
    if counts.after:
        parts.append(f"{_many(counts.after, 'later answer')} that followed them")
    if counts.skipped:
        parts.append(f"{_many(counts.skipped, 'conversation')} with no usable answer left")
    return f"Left out: {'; '.join(parts)}." if parts else ""


def _many(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
