"""Saving an answer while it streams.

:class:`AnswerRecorder` takes the engine's events for one answer, keeps the text in memory
and writes it to the database at most every ``flush_interval`` seconds (default 0.5) and at
the end, so a ``kill -9`` loses at most the last second of the stream.

If a write fails (disk full, read-only location: :class:`StorageWriteError`; the conversation
was deleted meanwhile: :class:`NotFoundError`), :meth:`AnswerRecorder.apply` raises *after*
taking the event in: the text stays available on the recorder for the UI, the database keeps
the last good write, and later flushes try again. Catch :class:`app.errors.StorageError`.

The recorder belongs to one thread and ignores ``request_id``: drop stale events first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.errors import StorageError
from app.events import Event, EventKind, FinishReason, InjectReason, ReasoningState, Stats
from app.store.domain import InjectedSpan, Message, MessageStatus

if TYPE_CHECKING:
    from app.store.store import Store

_CAP_STATES = {
    InjectReason.BUDGET: ReasoningState.CAPPED,
    InjectReason.MAX_TOKENS: ReasoningState.CAPPED,  # closed to leave the answer room
    InjectReason.ANSWER_NOW: ReasoningState.ANSWER_NOW,
    InjectReason.LOOP: ReasoningState.ANSWER_NOW,  # the loop guard answered for the user
}
_END_STATUS = {
    FinishReason.CANCELLED: MessageStatus.CANCELLED,
    FinishReason.ERROR: MessageStatus.ERROR,
}


class AnswerRecorder:
    """Accumulates one assistant answer from engine events and persists it.

    Attributes:
        message_id: the answer's id in the store.
        conversation_id: its conversation.
        content, reasoning, injected, stats, status, finish_reason, error: what was received
            so far (in memory; always current, whether or not the last write succeeded).
        write_error: the last write failure, or ``None`` once a write succeeded again.
    """

    def __init__(
        self,
        store: Store,
        message: Message,
        *,
        flush_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = flush_interval
        self._last_flush = clock()
        self._dirty = False
        self._reasoning: list[str] = []
        self._reasoning_len = 0
        self._content: list[str] = []
        self._content_len = 0
        self.message_id = message.id
        self.conversation_id = message.conversation_id
        self.injected: list[InjectedSpan] = []
        self.stats: Stats | None = None
        self.status = MessageStatus.STREAMING
        self.finish_reason: FinishReason | None = None
        self.error: str | None = None
        self.write_error: StorageError | None = None
        self._engine_state: ReasoningState | None = None

    @property
    def content(self) -> str:
        return "".join(self._content)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def reasoning_state(self) -> ReasoningState:
        """The engine's verdict once STATS came; until then, a guess from the stream."""
        if self._engine_state is not None:
            return self._engine_state
        if not self._reasoning_len:
            return ReasoningState.NONE
        for span in reversed(self.injected):
            reason = InjectReason.of(span.reason)
            if reason in _CAP_STATES:
                return _CAP_STATES[reason]
        return ReasoningState.COMPLETE if self._content_len else ReasoningState.INCOMPLETE

    @property
    def finished(self) -> bool:
        return self.status is not MessageStatus.STREAMING

    def apply(self, event: Event) -> None:
        """Take one event in; write to the database if a flush is due or the answer ended.

        Raises:
            StorageError: the write failed; the event was still taken in.
        """
        if self.finished:
            return
        kind = event.kind
        if kind is EventKind.REASONING:
            self._add_reasoning(event.text)
        elif kind is EventKind.CONTENT:
            self._content.append(event.text)
            self._content_len += len(event.text)
        elif kind is EventKind.INJECTED:
            why = str(event.data.get("reason", ""))
            self.injected.append(InjectedSpan(self._reasoning_len, event.text, why))
            self._add_reasoning(event.text)
        elif kind is EventKind.STATS and event.stats is not None:
            self.stats = event.stats
            self._engine_state = event.stats.reasoning_state
        elif kind is EventKind.DONE:
            reason = _finish_reason(event.data.get("finish_reason"))
            self.finish_reason = reason
            self.status = _END_STATUS.get(reason, MessageStatus.COMPLETE)
        elif kind is EventKind.ERROR:
            self.finish_reason = FinishReason.ERROR
            self.status = MessageStatus.ERROR
            self.error = event.text or "The engine failed."
        else:
            return  # warnings and the like are not part of the answer
        self._dirty = True
        if self.finished or self._clock() - self._last_flush >= self._interval:
            self.flush()

    def flush_if_due(self) -> None:
        """Write if there is unsaved text older than the interval (for a UI timer)."""
        if self._dirty and self._clock() - self._last_flush >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Write what was received now.

        Raises:
            StorageError: the write failed; the text stays in memory.
        """
        self._last_flush = self._clock()
        try:
            self._store.save_answer(
                self.message_id,
                content=self.content,
                reasoning=self.reasoning,
                injected=self.injected,
                reasoning_state=self.reasoning_state,
                status=self.status,
                stats=self.stats,
                finish_reason=self.finish_reason,
                error=self.error,
            )
        except StorageError as err:
            self.write_error = err
            raise
        self.write_error = None
        self._dirty = False

    def finish(
        self,
        status: MessageStatus | None = None,
        *,
        content: str | None = None,
        finish_reason: FinishReason | None = None,
    ) -> None:
        """End the answer and write it.

        Without ``status``, an answer still streaming (the stream stopped without DONE or
        ERROR) is marked ``interrupted``. Pass ``MessageStatus.CANCELLED`` when the user
        stopped it and the engine did not say so. ``content`` replaces the answer's text (the
        API saves what its client saw: a stop sequence may have cut it), ``finish_reason``
        the engine's reason.

        Raises:
            StorageError: the final write failed; the text stays in memory.
        """
        if content is not None and content != self.content:
            self._content = [content]
            self._content_len = len(content)
            self._dirty = True
        if finish_reason is not None and finish_reason is not self.finish_reason:
            self.finish_reason = finish_reason
            self._dirty = True
        if status is not None and status is not self.status:
            self.status = status
            self._dirty = True
        elif not self.finished:
            self.status = MessageStatus.INTERRUPTED
            self._dirty = True
        if self._dirty:
            self.flush()

    def _add_reasoning(self, text: str) -> None:
        self._reasoning.append(text)
        self._reasoning_len += len(text)


def _finish_reason(value: object) -> FinishReason:
    try:
        return FinishReason(value)
    except ValueError:
        return FinishReason.STOP
