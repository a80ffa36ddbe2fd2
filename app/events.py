"""The one event type that flows from engine to session, store, CLI, server and UI.

An engine turns a request into an ordered stream of :class:`Event`. Everything downstream
consumes that stream; nothing invents its own kinds of event.

Order for one generation request::

    [CONTEXT_TRUNCATED] (REASONING | CONTENT | INJECTED | WARNING | REASONING_LOOP)* STATS DONE

or, on failure, ``... ERROR`` (an error is always the last event of its request).
Loading a model yields ``LOAD_PROGRESS* LOADED`` or ``... ERROR``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


class EventKind(enum.Enum):
    """What an :class:`Event` says. The value is the ``type`` in JSON output."""

    LOAD_PROGRESS = "load_progress"  # data: fraction (0..1)
    LOADED = "loaded"  # data: model metadata (see app.engine.ModelInfo.to_dict)
    REASONING = "reasoning"  # text: a piece of the reasoning trace
    CONTENT = "content"  # text: a piece of the answer
    INJECTED = "injected"  # text: what Ponder inserted into the reasoning; data: reason
    CONTEXT_TRUNCATED = "context_truncated"  # data: dropped_messages, prompt_tokens, n_ctx
    WARNING = "warning"  # text: something the user should know, generation goes on
    REASONING_LOOP = "reasoning_loop"  # text: the passage that repeats
    STATS = "stats"  # stats: the figures for the whole answer
    DONE = "done"  # data: finish_reason
    ERROR = "error"  # text: a message fit for the user; data: crashed, signal


#: The kinds whose events carry text pieces of the answer and a token count.
TEXT_KINDS = (EventKind.REASONING, EventKind.CONTENT)


class FinishReason(enum.Enum):
    """Why a generation ended."""

    STOP = "stop"  # the model ended its answer
    LENGTH = "length"  # max_tokens or the context window was reached
    CANCELLED = "cancelled"  # the user stopped it
    BUDGET = "budget"  # the thinking budget cut the reasoning; the answer then ended normally
    ERROR = "error"  # the engine failed or crashed


class ReasoningState(enum.Enum):
    """How the reasoning of one answer ended."""

    NONE = "none"  # the model did not reason
    COMPLETE = "complete"  # the model closed its reasoning itself
    INCOMPLETE = "incomplete"  # the stream ended inside the reasoning
    CAPPED = "capped"  # the thinking budget closed it (injected text is marked)
    ANSWER_NOW = "answer_now"  # the user asked for the answer while it was thinking


class InjectReason(enum.Enum):
    """Why Ponder inserted text into the reasoning (``data["reason"]`` of an INJECTED event,
    and ``InjectedSpan.reason`` in the history, as the value)."""

    BUDGET = "budget"  # the thinking budget was spent
    ANSWER_NOW = "answer_now"  # the user asked for the answer
    THINK_LONGER = "think_longer"  # "Wait": the model stopped before its minimum
    LOOP = "loop"  # the loop guard answered for the user
    MAX_TOKENS = "max_tokens"  # the token limit is near: room is left for the answer

    @property
    def label(self) -> str:
        """How the trace marks it."""
        return _INJECT_LABELS[self]

    @property
    def ends_reasoning(self) -> bool:
        """Whether the reasoning was closed here (everything but "think longer")."""
        return self is not InjectReason.THINK_LONGER

    @classmethod
    def of(cls, value: object) -> InjectReason | None:
        """The reason an event or a saved span names (``None`` for one this version lacks)."""
        try:
            return cls(value)
        except ValueError:
            return None


_INJECT_LABELS = {
    InjectReason.BUDGET: "budget reached",
    InjectReason.ANSWER_NOW: "answer now",
    InjectReason.THINK_LONGER: "think longer",
    InjectReason.LOOP: "going in circles: answer now",
    InjectReason.MAX_TOKENS: "token limit near: answer now",
}


def inject_label(reason: object) -> str:
    """The trace's mark for an injection's ``reason`` (the raw value if it is unknown)."""
    known = InjectReason.of(reason)
    return known.label if known else str(reason)


@dataclass(frozen=True, slots=True)
class Stats:
    """Figures for one answer. Times in milliseconds, speeds in tokens per second."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    prompt_eval_ms: float = 0.0
    prompt_tokens_per_s: float = 0.0
    time_to_first_token_ms: float = 0.0
    time_to_first_content_ms: float | None = None
    reasoning_tokens: int = 0
    content_tokens: int = 0
    decode_tokens_per_s: float = 0.0
    thinking_ms: float = 0.0
    total_ms: float = 0.0
    finish_reason: FinishReason = FinishReason.STOP
    reasoning_state: ReasoningState = ReasoningState.NONE

    @property
    def completion_tokens(self) -> int:
        return self.reasoning_tokens + self.content_tokens

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["finish_reason"] = self.finish_reason.value
        out["reasoning_state"] = self.reasoning_state.value
        out["completion_tokens"] = self.completion_tokens
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stats:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["finish_reason"] = FinishReason(values.get("finish_reason", "stop"))
        values["reasoning_state"] = ReasoningState(values.get("reasoning_state", "none"))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Event:
    """One fact from an engine about one request.

    Attributes:
        kind: what happened.
        request_id: the request it belongs to; consumers drop events of stale requests.
        text: the text piece for REASONING, CONTENT, INJECTED, WARNING, REASONING_LOOP, ERROR.
        data: a small JSON-serialisable payload (see :class:`EventKind`).
        stats: set on STATS events only.
        tokens: for REASONING and CONTENT, how many decoded tokens this piece accounts for.
            Over one request they add up to ``Stats.reasoning_tokens`` and
            ``Stats.content_tokens``; whoever merges pieces adds their counts. A piece may be
            empty and carry only tokens whose text is not shown (a closing tag).
    """

    kind: EventKind
    request_id: int = 0
    text: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    stats: Stats | None = None
    tokens: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        """The event as one ``--json`` line: ``{"type": ..., ...}``."""
        out: dict[str, Any] = {"type": self.kind.value}
        if self.kind is EventKind.ERROR:
            out["message"] = self.text
        elif self.text or self.kind in TEXT_KINDS:
            out["text"] = self.text
        if self.kind in TEXT_KINDS:
            out["tokens"] = self.tokens
        out.update(self.data)
        if self.stats is not None:
            out.update(self.stats.to_dict())
        return out


def error_event(request_id: int, message: str, **data: Any) -> Event:
    return Event(EventKind.ERROR, request_id, message, data)


def done_event(request_id: int, reason: FinishReason) -> Event:
    return Event(EventKind.DONE, request_id, data={"finish_reason": reason.value})
