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
from collections.abc import Callable, Sequence
from typing import Protocol

from app.answer import Answer
from app.errors import StorageError
from app.events import Event, EventKind, FinishReason, ReasoningState, Stats
from app.store.domain import InjectedSpan, Message, MessageStatus

_END_STATUS = {
    FinishReason.CANCELLED: MessageStatus.CANCELLED,
    FinishReason.ERROR: MessageStatus.ERROR,
}
#: The kinds whose events change what is saved (warnings and the like are not saved).
_SAVED_KINDS = frozenset(
    {
        EventKind.REASONING,
        EventKind.CONTENT,
        EventKind.INJECTED,
        EventKind.STATS,
        EventKind.DONE,
        EventKind.ERROR,
    }
)


class AnswerWriter(Protocol):
    """Where an answer is written: :meth:`app.store.store.Store.save_answer`."""

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
    ) -> None: ...


class AnswerRecorder:
    """Folds one assistant answer from engine events (an :class:`app.answer.Answer`) and
    persists it.

    The recorder knows the store only as an :class:`AnswerWriter`, so the store can hand one
    out (``Store.start_answer``) without the two modules importing each other.

    Attributes:
        message_id: the answer's id in the store.
        conversation_id: its conversation.
        answer: what was received so far (in memory; always current, whether or not the
            last write succeeded).
        status: the status to save.
        write_error: the last write failure, or ``None`` once a write succeeded again.
    """

    def __init__(
        self,
        store: AnswerWriter,
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
        self.message_id = message.id
        self.conversation_id = message.conversation_id
        self.answer = Answer()
        self.status = MessageStatus.STREAMING
        self._finish_reason: FinishReason | None = None  # set by finish(), over the answer's
        self.write_error: StorageError | None = None

    @property
    def content(self) -> str:
        return self.answer.content

    @property
    def reasoning(self) -> str:
        return self.answer.reasoning

    @property
    def injected(self) -> list[InjectedSpan]:
        return [
            InjectedSpan(s.offset, s.text, s.reason.value if s.reason else "")
            for s in self.answer.injected
        ]

    @property
    def stats(self) -> Stats | None:
        return self.answer.stats

    @property
    def error(self) -> str | None:
        return self.answer.error

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._finish_reason or self.answer.finish_reason

    @property
    def reasoning_state(self) -> ReasoningState:
        """The engine's verdict once STATS came; until then, a guess from the stream."""
        return self.answer.reasoning_state

    @property
    def finished(self) -> bool:
        return self.status is not MessageStatus.STREAMING

    def apply(self, event: Event) -> None:
        """Take one event in; write to the database if a flush is due or the answer ended.

        Raises:
            StorageError: the write failed; the event was still taken in.
        """
        if self.finished or event.kind not in _SAVED_KINDS:
            return
        self.answer.add(event)
        self.update(event)

    def update(self, event: Event) -> None:
        """Write what :attr:`answer` holds if a flush is due or ``event`` ended it: for a
        caller that adds the events to :attr:`answer` itself (one fold for showing and saving).

        Raises:
            StorageError: the write failed; the answer is kept.
        """
        if self.finished or event.kind not in _SAVED_KINDS:
            return
        if self.answer.finished:
            reason = self.answer.finish_reason or FinishReason.STOP
            self.status = _END_STATUS.get(reason, MessageStatus.COMPLETE)
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
        answer: Answer | None = None,
    ) -> None:
        """End the answer and write it.

        Without ``status``, an answer still streaming (the stream stopped without DONE or
        ERROR) is marked ``interrupted``. Pass ``MessageStatus.CANCELLED`` when the user
        stopped it and the engine did not say so. ``answer`` replaces what was received (an
        answer folded elsewhere, e.g. by the API), ``content`` the answer's text (the API
        saves what its client saw: a stop sequence may have cut it), ``finish_reason`` the
        engine's reason.

        Raises:
            StorageError: the final write failed; the text stays in memory.
        """
        if answer is not None and answer is not self.answer:
            self.answer = answer
            self._dirty = True
        if content is not None and content != self.content:
            self.answer.replace_content(content)
            self._dirty = True
        if finish_reason is not None and finish_reason is not self.finish_reason:
            self._finish_reason = finish_reason
            self._dirty = True
        if status is not None and status is not self.status:
            self.status = status
            self._dirty = True
        elif not self.finished:
            self.status = MessageStatus.INTERRUPTED
            self._dirty = True
        if self._dirty:
            self.flush()
