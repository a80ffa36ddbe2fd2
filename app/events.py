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

from app.request import LoopPolicy


class EventKind(enum.Enum):
    """What an :class:`Event` says. The value is the ``type`` in JSON output."""

    LOAD_PROGRESS = "load_progress"  # Event.fraction (0..1)
    LOADED = "loaded"  # data: model metadata (see app.engine.ModelInfo.to_dict)
    REASONING = "reasoning"  # text: a piece of the reasoning trace
    CONTENT = "content"  # text: a piece of the answer
    INJECTED = "injected"  # text: what Ponder inserted; Event.inject_reason
    CONTEXT_TRUNCATED = "context_truncated"  # Event.truncation
    WARNING = "warning"  # text: something the user should know, generation goes on
    REASONING_LOOP = "reasoning_loop"  # text: the passage that repeats; Event.loop
    STATS = "stats"  # stats: the figures for the whole answer
    DONE = "done"  # Event.finish_reason
    ERROR = "error"  # text: a message fit for the user; Event.failure


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
    """Why Ponder inserted text into the reasoning (``Event.inject_reason`` of an INJECTED
    event, and ``InjectedSpan.reason`` in the history, as the value)."""

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
class Truncation:
    """What a CONTEXT_TRUNCATED event reports: earlier messages left out to fit the window."""

    dropped_messages: int = 0
    prompt_tokens: int = 0
    n_ctx: int = 0


@dataclass(frozen=True, slots=True)
class LoopReport:
    """What a REASONING_LOOP event reports besides the passage (its ``text``).

    Attributes:
        repeats: how many times the passage was said.
        period_words: its length in words.
        reasoning_tokens: the reasoning tokens generated when it was found.
        policy: what the engine does about it (``ANSWER``: it ends the reasoning itself).
    """

    repeats: int = 0
    period_words: int = 0
    reasoning_tokens: int = 0
    policy: LoopPolicy = LoopPolicy.WARN


@dataclass(frozen=True, slots=True)
class Failure:
    """What an ERROR event reports besides its message.

    Attributes:
        crashed: the engine process died (the worker is restarted); ``signal`` killed it.
        shutdown: the server was shutting down and refused the request.
    """

    crashed: bool = False
    signal: int | None = None
    shutdown: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """One fact from an engine about one request.

    Attributes:
        kind: what happened.
        request_id: the request it belongs to; consumers drop events of stale requests.
        text: the text piece for REASONING, CONTENT, INJECTED, WARNING, REASONING_LOOP, ERROR.
        data: the kind's payload as JSON fields (what ``--json`` prints and the worker
            sends). Read it through the typed properties (:attr:`inject_reason`,
            :attr:`finish_reason`, :attr:`truncation`, :attr:`loop`, :attr:`failure`,
            :attr:`fraction`) and build it with the functions below (:func:`injected_event`
            and the like); only LOADED's model metadata and a few replies are read raw.
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

    # -- the payload, typed, per kind --------------------------------------------------------

    @property
    def inject_reason(self) -> InjectReason | None:
        """INJECTED: why Ponder inserted the text (``None`` for other kinds, or an unknown one)."""
        if self.kind is not EventKind.INJECTED:
            return None
        return InjectReason.of(self.data.get("reason"))

    @property
    def finish_reason(self) -> FinishReason | None:
        """DONE: why the generation ended (``None`` for other kinds and for the replies to a
        count or an unload; an unknown reason reads as ``STOP``)."""
        if self.kind is not EventKind.DONE or "finish_reason" not in self.data:
            return None
        try:
            return FinishReason(self.data["finish_reason"])
        except ValueError:
            return FinishReason.STOP

    @property
    def truncation(self) -> Truncation | None:
        """CONTEXT_TRUNCATED: what was left out (``None`` for other kinds)."""
        if self.kind is not EventKind.CONTEXT_TRUNCATED:
            return None
        d = self.data
        return Truncation(
            int(d.get("dropped_messages", 0)),
            int(d.get("prompt_tokens", 0)),
            int(d.get("n_ctx", 0)),
        )

    @property
    def loop(self) -> LoopReport | None:
        """REASONING_LOOP: how the passage repeats (``None`` for other kinds)."""
        if self.kind is not EventKind.REASONING_LOOP:
            return None
        d = self.data
        return LoopReport(
            int(d.get("repeats", 0)),
            int(d.get("period_words", 0)),
            int(d.get("reasoning_tokens", 0)),
            LoopPolicy(d.get("policy", LoopPolicy.WARN.value)),
        )

    @property
    def failure(self) -> Failure | None:
        """ERROR: whether the engine crashed or the server shut down (``None`` for other kinds)."""
        if self.kind is not EventKind.ERROR:
            return None
        signal = self.data.get("signal")
        return Failure(
            bool(self.data.get("crashed")),
            int(signal) if signal is not None else None,
            bool(self.data.get("shutdown")),
        )

    @property
    def fraction(self) -> float:
        """LOAD_PROGRESS: how much of the model is loaded, 0..1 (0 for other kinds)."""
        if self.kind is not EventKind.LOAD_PROGRESS:
            return 0.0
        return float(self.data.get("fraction", 0.0))


# -- building events with their payload -------------------------------------------------------


def error_event(
    request_id: int,
    message: str,
    *,
    crashed: bool = False,
    signal: int | None = None,
    shutdown: bool = False,
) -> Event:
    """An ERROR: ``message`` for the user; ``crashed`` (by ``signal``) when the engine died,
    ``shutdown`` when the server refused the request while stopping."""
    data: dict[str, Any] = {}
    if crashed:
        data.update(crashed=True, signal=signal)
    if shutdown:
        data["shutdown"] = True
    return Event(EventKind.ERROR, request_id, message, data)


def done_event(request_id: int, reason: FinishReason) -> Event:
    return Event(EventKind.DONE, request_id, data={"finish_reason": reason.value})


def injected_event(
    request_id: int, text: str, reason: InjectReason, reasoning_tokens: int | None = None
) -> Event:
    """INJECTED: ``text`` Ponder put into the reasoning, with the reasoning tokens so far."""
    data: dict[str, Any] = {"reason": reason.value}
    if reasoning_tokens is not None:
        data["reasoning_tokens"] = reasoning_tokens
    return Event(EventKind.INJECTED, request_id, text, data)


def truncated_event(request_id: int, truncation: Truncation) -> Event:
    """CONTEXT_TRUNCATED: earlier messages were left out to fit the context window."""
    return Event(
        EventKind.CONTEXT_TRUNCATED,
        request_id,
        data={
            "dropped_messages": truncation.dropped_messages,
            "prompt_tokens": truncation.prompt_tokens,
            "n_ctx": truncation.n_ctx,
        },
    )


def loop_event(request_id: int, passage: str, report: LoopReport) -> Event:
    """REASONING_LOOP: ``passage`` repeats (``report`` says how often)."""
    data = {
        "repeats": report.repeats,
        "period_words": report.period_words,
        "reasoning_tokens": report.reasoning_tokens,
        "policy": report.policy.value,
    }
    return Event(EventKind.REASONING_LOOP, request_id, passage, data)


def progress_event(request_id: int, fraction: float) -> Event:
    """LOAD_PROGRESS: ``fraction`` (0..1) of the model is loaded."""
    return Event(EventKind.LOAD_PROGRESS, request_id, data={"fraction": fraction})
