"""An answer's engine events, applied to its message widget: shared by the chat and Compare.

:class:`AnswerStream` follows one answer at a time from one :class:`~ui.engine.bridge.EngineBridge`:
reasoning goes to the trace (live token count, budget meter, Ponder's insertions, the
"going in circles" banner), content to the answer, the final figures to the footer, an
error or a stop to the error line. Each event is applied as it came: the engine worker has
merged the text of every 40 ms into one event (``backends.worker.coalesce``), the only place
text pieces are joined on their way to the screen.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from app.events import Event, EventKind, FinishReason
from app.request import LoopPolicy
from ui.answers.message import MessageWidget
from ui.engine.bridge import EngineBridge

#: How often the live trace's clock is redrawn.
TICK_MS = 100


class AnswerStream(QObject):
    """The answer being streamed into a :class:`MessageWidget`, from one engine.

    Signals:
        finished(): the answer ended (done, stopped, failed, or its request finished); once.
        noted(str): something to tell the user in passing (a status-bar line).
        figures_arrived(object): the answer's :class:`~app.events.Stats`.
        crashed(): the engine crashed while answering (the widget says so already).
    """

    finished = Signal()
    noted = Signal(str)
    figures_arrived = Signal(object)
    crashed = Signal()

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        collapse: Callable[[], bool] = lambda: False,
        parent: QObject | None = None,
    ) -> None:
        """``collapse()``: whether a finished trace folds away above its answer."""
        super().__init__(parent)
        self.collapse = collapse
        self.widget: MessageWidget | None = None
        self.request_id: int | None = None
        self.budget: int | None = None
        self.model_name = ""
        self._done = True
        self._ticker = QTimer(self)
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self._on_ticker_timeout)
        bridge.events_arrived.connect(self._on_bridge_events_arrived)
        bridge.request_finished.connect(self._on_bridge_request_finished)

    @property
    def active(self) -> bool:
        """An answer is being followed and has not ended."""
        return self.widget is not None and not self._done

    def begin(
        self,
        widget: MessageWidget,
        *,
        request_id: int | None = None,
        budget: int | None = None,
        model_name: str = "",
    ) -> None:
        """Follow a new answer shown in ``widget``; events count once ``request_id`` is set
        (here, or later when the model has loaded)."""
        self.widget = widget
        self.request_id = request_id
        self.budget = budget
        self.model_name = model_name
        self._done = False
        widget.set_streaming(True)
        self._ticker.start()

    def forget(self) -> None:
        """Stop following the answer without finishing it."""
        self.widget = None
        self.request_id = None
        self._done = True
        self._ticker.stop()

    def finish(self) -> None:
        """End the answer: the widget stops streaming; ``finished`` is emitted (once)."""
        w = self.widget
        if w is None or self._done:
            return
        self._done = True
        self._ticker.stop()
        w.answer.finish()
        w.set_streaming(False)
        if w.trace is not None and w.trace.live:
            w.trace.finish(None, None, None, collapse=False)
        self.finished.emit()

    # -- events ---------------------------------------------------------------------------

    def _on_bridge_events_arrived(self, request_id: int, events: list[Event]) -> None:
        if self.widget is None or self._done or request_id != self.request_id:
            return  # a stale request's events
        self.apply(events)

    def apply(self, events: list[Event]) -> None:
        """Show a batch of the followed answer's events, each as it came: the worker has
        merged the text of every 40 ms into one event already, so nothing is joined here."""
        w = self.widget
        if w is None:
            return
        for event in events:
            if event.kind is EventKind.REASONING:
                if event.text or w.trace is not None:  # a count alone makes no trace
                    trace = w.ensure_trace()
                    if trace.live and trace.budget is None:
                        trace.set_budget(self.budget)
                    trace.append(event.text, tokens=event.tokens)
            elif event.kind is EventKind.CONTENT:
                if w.trace is not None and w.trace.live:
                    w.trace.finish(None, None, None, collapse=self.collapse())
                w.answer.append(event.text)
            else:
                self.apply_other(w, event)

    def apply_other(self, w: MessageWidget, event: Event) -> None:
        """An event that is neither reasoning nor content text."""
        kind = event.kind
        if kind is EventKind.INJECTED:
            reason = event.inject_reason
            w.ensure_trace().append_injected(event.text, reason.value if reason else "")
        elif kind is EventKind.CONTEXT_TRUNCATED and event.truncation is not None:
            n = event.truncation.dropped_messages
            self.noted.emit(f"{n} earlier message(s) left out to fit the context window.")
        elif kind is EventKind.REASONING_LOOP and event.loop is not None:
            if event.loop.policy is LoopPolicy.ANSWER:  # the engine ends the reasoning itself
                self.noted.emit("The model was going in circles; it was asked to answer now.")
            else:  # warn: the banner's Answer now, or Keep thinking to dismiss it
                w.ensure_trace().show_loop(event.text, event.loop.repeats)
        elif kind is EventKind.WARNING:
            self.noted.emit(event.text)
        elif kind is EventKind.STATS and event.stats is not None:
            stats = event.stats
            if w.trace is not None:
                w.trace.finish(
                    stats.reasoning_state,
                    stats.thinking_ms / 1000.0,
                    stats.reasoning_tokens,
                    collapse=self.collapse() and bool(w.answer.text),
                )
            w.set_stats(stats, self.model_name)
            self.figures_arrived.emit(stats)
        elif kind is EventKind.DONE:
            if event.finish_reason is FinishReason.CANCELLED:
                w.set_error("Stopped.")
            self.finish()
        elif kind is EventKind.ERROR:
            w.set_error(event.text)
            self.finish()
            if event.failure is not None and event.failure.crashed:
                self.crashed.emit()

    def _on_bridge_request_finished(self, request_id: int) -> None:
        if request_id == self.request_id:
            self.finish()

    def _on_ticker_timeout(self) -> None:
        if self.active and self.widget is not None and self.widget.trace is not None:
            self.widget.trace.tick()
