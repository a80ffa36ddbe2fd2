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

:func:`export_file` writes any of them to a file that appears only complete.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import app
from app.errors import PonderError
from app.events import FinishReason, ReasoningState
from app.store.domain import Conversation, Message, MessageStatus, Role

if TYPE_CHECKING:  # the UI imports this module; SQLAlchemy loads with the store, not here
    from app.store.store import Store

FORMAT_NAME = "ponder.history"
FORMAT_VERSION = 1


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
    """

    written: int
    skipped: int
    incomplete: int = 0
    injected: int = 0
    after: int = 0


class ExportWriteError(PonderError):
    """The export file could not be written (no such folder, no permission, disk full)."""


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
    written = 0
    for cid in ids:
        if written:
            out.write("\n---\n\n")
        out.write(conversation_markdown(store.get_conversation(cid), store.active_path(cid)))
        written += 1
    return ExportCounts(written, 0)


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
    written = 0
    for cid in ids:
        doc = conversation_json(store.get_conversation(cid), store.messages(cid))
        out.write((",\n" if written else "") + json.dumps(doc, ensure_ascii=False))
        written += 1
    out.write("\n]}\n")
    return ExportCounts(written, 0)


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
    keep_injected: bool = False,
) -> dict[str, Any] | None:
    """One SFT record from the active branch, or ``None`` when nothing usable is left.

    The branch is cut before the first answer holding text Ponder injected (unless
    ``keep_injected``) and, with ``complete_only``, before the first answer that is not a
    complete trace (capped, interrupted, cancelled, failed, or without reasoning), so no
    later turn builds on a bad one.
    """
    return dataset_record(
        conversation,
        path,
        markers=markers,
        complete_only=complete_only,
        keep_injected=keep_injected,
    ).record


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
    """:func:`sharegpt_record`, saying what was left out and why."""
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
    written = skipped = after = 0
    first = dict.fromkeys(LeftOut, 0)
    for cid in ids:
        result = dataset_record(
            store.get_conversation(cid),
            store.active_path(cid),
            markers=markers,
            complete_only=complete_only,
            keep_injected=keep_injected,
        )
        if result.cut is not None:
            first[result.cut] += 1
            after += result.dropped - 1
        if result.record is None:
            skipped += 1
            continue
        out.write(json.dumps(result.record, ensure_ascii=False) + "\n")
        written += 1
    return ExportCounts(written, skipped, first[LeftOut.INCOMPLETE], first[LeftOut.INJECTED], after)


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


# Files -------------------------------------------------------------------------------------


@contextlib.contextmanager
def export_file(path: Path) -> Iterator[TextIO]:
    """A text file to export into; it appears only complete (written aside, then moved).

    Raises:
        ExportWriteError: the file could not be written (the partial file is removed).
    """
    part = path.with_name(path.name + ".part")
    try:
        handle = part.open("w", encoding="utf-8", newline="\n")
    except OSError as err:
        raise ExportWriteError(f"Cannot write {path}: {err.strerror or err}.") from err
    try:
        with handle:
            yield handle
        os.replace(part, path)
    except OSError as err:
        part.unlink(missing_ok=True)
        raise ExportWriteError(f"Cannot write {path}: {err.strerror or err}.") from err
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
