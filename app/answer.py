"""One answer, folded from the engine's events.

Whoever reads a generation wants the same things from its events: the reasoning and the
answer text, where Ponder injected text into the reasoning, the warnings, the loop the guard
found, what the context window left out, the figures and how it ended. :class:`Answer` takes
the events one at a time and holds that, for the terminal chat, the API's reply, the history
(:class:`app.store.recorder.AnswerRecorder` saves what it holds) and the benchmarks. Each
text is merged here once: pieces are kept and joined when read.

An answer ignores ``request_id`` (drop stale events first) and every event after its end
(DONE or ERROR).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.events import (
    Event,
    EventKind,
    Failure,
    FinishReason,
    InjectReason,
    LoopReport,
    ReasoningState,
    Stats,
    Truncation,
)

#: How an injection that closed the reasoning ends it, until the engine's STATS says so.
_CAP_STATES = {
    InjectReason.BUDGET: ReasoningState.CAPPED,
    InjectReason.MAX_TOKENS: ReasoningState.CAPPED,  # closed to leave the answer room
    InjectReason.ANSWER_NOW: ReasoningState.ANSWER_NOW,
    InjectReason.LOOP: ReasoningState.ANSWER_NOW,  # the loop guard answered for the user
}


@dataclass(frozen=True, slots=True)
class Injection:
    """Text Ponder inserted into the reasoning.

    Attributes:
        offset: where it starts in :attr:`Answer.reasoning` (in characters).
        text: the inserted text.
        reason: why (``None`` for a reason this version does not know).
    """

    offset: int
    text: str
    reason: InjectReason | None


class _Text:
    """Pieces of one text, joined once when read (and kept joined)."""

    __slots__ = ("_parts", "length")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.length = 0

    def add(self, piece: str) -> None:
        if piece:
            self._parts.append(piece)
            self.length += len(piece)

    def replace(self, text: str) -> None:
        self._parts = [text] if text else []
        self.length = len(text)

    def __str__(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""


class Answer:
    """One answer as its events arrive.

    Attributes:
        injected: what Ponder inserted into the reasoning, in order.
        warnings: the WARNING events' texts, in order.
        loop: the passage the loop guard found repeating (``None``: no loop).
        loop_report: how it repeats.
        truncation: what the context window left out (``None``: nothing).
        stats: the engine's figures (``None`` until STATS).
        finish_reason: why it ended (``None`` while it streams; ERROR for an error).
        error: the ERROR event's message (``None`` without one).
        failure: what the ERROR event says went wrong (a crash…).
        finished: whether DONE or ERROR arrived.
    """

    def __init__(self) -> None:
        self._reasoning = _Text()
        self._content = _Text()
        self.injected: list[Injection] = []
        self.warnings: list[str] = []
        self.loop: str | None = None
        self.loop_report: LoopReport | None = None
        self.truncation: Truncation | None = None
        self.stats: Stats | None = None
        self.finish_reason: FinishReason | None = None
        self.error: str | None = None
        self.failure: Failure | None = None
        self.finished = False

    @classmethod
    def of(cls, events: Iterable[Event]) -> Answer:
        """The answer a whole stream of events makes."""
        answer = cls()
        for event in events:
            answer.add(event)
        return answer

    @property
    def reasoning(self) -> str:
        """The reasoning trace, with what Ponder injected in it."""
        return str(self._reasoning)

    @property
    def content(self) -> str:
        return str(self._content)

    @property
    def reasoning_state(self) -> ReasoningState:
        """The engine's verdict once STATS came; until then, a guess from the stream."""
        if self.stats is not None:
            return self.stats.reasoning_state
        if not self._reasoning.length:
            return ReasoningState.NONE
        for span in reversed(self.injected):
            if span.reason in _CAP_STATES:
                return _CAP_STATES[span.reason]
        return ReasoningState.COMPLETE if self._content.length else ReasoningState.INCOMPLETE

    def add(self, event: Event) -> None:
        """Take one event in (nothing changes once the answer ended)."""
        if self.finished:
            return
        kind = event.kind
        if kind is EventKind.REASONING:
            self._reasoning.add(event.text)
        elif kind is EventKind.CONTENT:
            self._content.add(event.text)
        elif kind is EventKind.INJECTED:
            self.injected.append(Injection(self._reasoning.length, event.text, event.inject_reason))
            self._reasoning.add(event.text)
        elif kind is EventKind.WARNING:
            if event.text:
                self.warnings.append(event.text)
        elif kind is EventKind.REASONING_LOOP:
            self.loop, self.loop_report = event.text, event.loop
        elif kind is EventKind.CONTEXT_TRUNCATED:
            self.truncation = event.truncation
        elif kind is EventKind.STATS:
            self.stats = event.stats or self.stats
        elif kind is EventKind.DONE:
            self.finish_reason = event.finish_reason or FinishReason.STOP
            self.finished = True
        elif kind is EventKind.ERROR:
            self.finish_reason = FinishReason.ERROR
            self.error = event.text or "The engine failed."
            self.failure = event.failure
            self.finished = True

    def replace_content(self, text: str) -> None:
        """Put ``text`` in place of the answer's text (what a client saw, cut at a stop)."""
        self._content.replace(text)
