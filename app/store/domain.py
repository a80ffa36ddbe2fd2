"""What the history store hands out: plain frozen dataclasses, never ORM rows.

Everything here is safe to pass across threads and processes (picklable, immutable).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.events import FinishReason, ReasoningState, Stats
from app.request import Effort, LoopPolicy, Sampling, ThinkingControl, ThinkMode
from app.request import Role as Role  # one Role: the history's messages are the requests'

#: The roles a message in the history has (the system prompt lives on the conversation).
TREE_ROLES = (Role.USER, Role.ASSISTANT)


class MessageStatus(enum.Enum):
    """Where an assistant answer stands. User messages are always ``COMPLETE``."""

    STREAMING = "streaming"  # being generated now (or its writer died: see INTERRUPTED)
    COMPLETE = "complete"  # the engine said DONE (stop, length or budget)
    CANCELLED = "cancelled"  # the user stopped it; the text so far is kept
    INTERRUPTED = "interrupted"  # the app died while streaming; the text so far is kept
    ERROR = "error"  # the engine failed; ``Message.error`` says why


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Which model wrote an answer: its id and the identity of its file.

    Attributes:
        model_id: the catalogue id or name the user knows the model by.
        sha256: hex digest of the file, when known.
        size: file size in bytes, when known.
        path: where the file was when it was used.
    """

    model_id: str
    sha256: str | None = None
    size: int | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "sha256": self.sha256,
            "size": self.size,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ModelRef | None:
        if not data or not data.get("model_id"):
            return None
        size = data.get("size")
        return cls(
            model_id=str(data["model_id"]),
            sha256=_str_or_none(data.get("sha256")),
            size=int(size) if size is not None else None,
            path=_str_or_none(data.get("path")),
        )


@dataclass(frozen=True, slots=True)
class InjectedSpan:
    """Text Ponder inserted into a reasoning trace (budget cap, "think longer", answer now).

    Attributes:
        offset: where the span starts in ``Message.reasoning`` (in characters).
        text: the inserted text; ``reasoning[offset:offset + len(text)] == text``.
        reason: why, as the engine said: an :class:`app.events.InjectReason` value.
    """

    offset: int
    text: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "text": self.text, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InjectedSpan:
        return cls(int(data["offset"]), str(data["text"]), str(data.get("reason", "")))


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """The generation and thinking settings a conversation was held with."""

    sampling: Sampling = field(default_factory=Sampling)
    thinking: ThinkingControl = field(default_factory=ThinkingControl)
    max_tokens: int | None = None
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        t = self.thinking
        return {
            "sampling": {
                "temperature": self.sampling.temperature,
                "top_p": self.sampling.top_p,
                "top_k": self.sampling.top_k,
                "min_p": self.sampling.min_p,
                "repeat_penalty": self.sampling.repeat_penalty,
            },
            "thinking": {
                "mode": t.mode.value,
                "budget": t.budget,
                "min_tokens": t.min_tokens,
                "max_waits": t.max_waits,
                "effort": t.effort.value if t.effort else None,
                "cap_message": t.cap_message,
                "wait_text": t.wait_text,
                "on_loop": t.on_loop.value,
            },
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GenerationSettings:
        """Tolerant of missing and unknown keys (settings written by other versions)."""
        if not data:
            return cls()
        s = data.get("sampling") or {}
        sampling = Sampling(**{k: s[k] for k in Sampling.__dataclass_fields__ if k in s})
        t = dict(data.get("thinking") or {})
        known = {k: t[k] for k in ThinkingControl.__dataclass_fields__ if k in t}
        try:
            known["mode"] = ThinkMode(known.get("mode", "auto"))
        except ValueError:
            known["mode"] = ThinkMode.AUTO
        effort = known.get("effort")
        try:
            known["effort"] = Effort(effort) if effort else None
        except ValueError:
            known["effort"] = None
        try:
            known["on_loop"] = LoopPolicy(known.get("on_loop", "warn"))
        except ValueError:
            known["on_loop"] = LoopPolicy.WARN
        return cls(
            sampling=sampling,
            thinking=ThinkingControl(**known),
            max_tokens=data.get("max_tokens"),
            seed=data.get("seed"),
        )


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One line of the conversation list."""

    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    pinned: bool
    archived: bool
    model_id: str | None


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation's own fields (its messages are loaded separately).

    Attributes:
        title: shown in lists; set from the first user message until the user renames it.
        title_is_auto: ``False`` once the user renamed the conversation.
        active_leaf_id: the last message of the branch on screen (``None``: no messages).
        settings: generation and thinking settings, as last used.
    """

    id: int
    title: str
    title_is_auto: bool
    created_at: datetime
    updated_at: datetime
    pinned: bool
    archived: bool
    model: ModelRef | None
    system_prompt: str | None
    settings: GenerationSettings
    active_leaf_id: int | None


@dataclass(frozen=True, slots=True)
class Message:
    """One node of a conversation's message tree.

    Attributes:
        parent_id: the message this one answers or follows (``None``: first of the tree).
        content: the answer (or the user's text).
        reasoning: the reasoning trace, injected spans included ("" when none).
        reasoning_state: how the reasoning ended (``None`` for user messages).
        injected: the spans of ``reasoning`` that Ponder inserted.
        stats: the engine's figures for the answer, once it sent them.
        model: the model that wrote the answer.
        status: see :class:`MessageStatus`.
        finish_reason: why generation ended, once known.
        error: the engine's message when ``status`` is ``ERROR``.
        sibling_ids: ids of all children of ``parent_id`` (this one included), oldest
            first; filled in by path and tree loads, empty otherwise.
    """

    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    reasoning: str
    reasoning_state: ReasoningState | None
    injected: tuple[InjectedSpan, ...]
    stats: Stats | None
    model: ModelRef | None
    status: MessageStatus
    finish_reason: FinishReason | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    sibling_ids: tuple[int, ...] = ()

    @property
    def sibling_index(self) -> int:
        """Position among its siblings (0-based); 0 when siblings were not loaded."""
        return self.sibling_ids.index(self.id) if self.id in self.sibling_ids else 0

    @property
    def is_complete_trace(self) -> bool:
        """A finished answer whose reasoning the model closed itself, with nothing injected."""
        return (
            self.role is Role.ASSISTANT
            and self.status is MessageStatus.COMPLETE
            and self.finish_reason in (None, FinishReason.STOP)
            and self.reasoning_state is ReasoningState.COMPLETE
            and not self.injected
            and bool(self.reasoning.strip())
        )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: a conversation title or a message that matched.

    Attributes:
        message_id: ``None`` when the title matched.
        field: ``"title"``, ``"content"`` or ``"reasoning"``: where the snippet comes from.
        snippet: a short excerpt with the matched terms between the caller's markers.
        rank: lower is better (bm25 with FTS5; a simple term count otherwise).
    """

    conversation_id: int
    conversation_title: str
    message_id: int | None
    role: Role | None
    field: str
    snippet: str
    rank: float


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
