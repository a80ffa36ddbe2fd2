"""The trace's live figures count tokens, not events (the worker merges ~40 ms of text per
event), in the chat window and in Compare; the header and meter follow each piece at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from app.events import Event, EventKind, FinishReason, ReasoningState, Stats
from app.store.domain import InjectedSpan, Message, MessageStatus, Role
from tests.support.window import window_open
from ui.answers.message import MessageWidget, TraceWidget
from ui.chat.conversation_view import message_widget
from ui.compare.view import CompareColumn, compare_message
from ui.window import MainWindow

R, C = EventKind.REASONING, EventKind.CONTENT
RID = 21
MAX_TOKENS_NOTE = "stopped to leave the answer room under the token limit"


def reasoning_batches() -> list[list[Event]]:
    """48 reasoning tokens in 6 merged pieces over 2 batches, then the budget's close."""
    first = [Event(R, RID, f"piece {i} ", tokens=9) for i in range(3)]  # 27
    second = [Event(R, RID, "piece 3 ", tokens=12), Event(R, RID, "piece 4 ", tokens=8)]  # 47
    second += [
        Event(R, RID, "", tokens=1),  # the last token's text held back: only its count
        Event(
            EventKind.INJECTED,
            RID,
            "\n\nTime is up.\n",
            {"reason": "budget", "reasoning_tokens": 48},
        ),
    ]
    return [first, second]


def final_stats() -> Stats:
    return Stats(
        reasoning_tokens=48,
        content_tokens=5,
        thinking_ms=2400.0,
        time_to_first_content_ms=2600.0,
        finish_reason=FinishReason.BUDGET,
        reasoning_state=ReasoningState.CAPPED,
    )


def test_trace_header_and_meter_follow_each_piece(qtbot) -> None:  # type: ignore[no-untyped-def]
    trace = TraceWidget()
    qtbot.addWidget(trace)
    trace.set_budget(48)
    trace.append("Let me think", tokens=7)
    # At once, not at the next tick of the clock.
    assert trace.toggle.text().endswith("· 7 tokens (budget 48)")
    assert trace.meter.value() == 7
    trace.append("", tokens=1)  # a count alone: no text added
    assert trace.text == "Let me think"
    assert trace.meter.value() == 8


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, first_run=True) as w:
        yield w
        w.chat.stream.forget()


def test_window_counts_tokens_and_the_meter_reads_the_budget_when_it_closes(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
) -> None:
    widget = MessageWidget("assistant", 1)
    window.view.append_widget(widget)
    window.chat.follow(RID, None, widget, 48)
    first, second = reasoning_batches()
    window.chat.stream._on_bridge_events_arrived(RID, first)
    trace = widget.trace
    assert trace is not None
    assert trace.toggle.text().endswith("· 27 tokens (budget 48)")
    assert trace.meter.value() == 27
    window.chat.stream._on_bridge_events_arrived(RID, second)
    # The budget closed the reasoning: what a person reads is the budget, all of it.
    assert trace.toggle.text().startswith("Thinking…")
    assert trace.toggle.text().endswith("· 48 tokens (budget 48)")
    assert trace.meter.value() == 48
    window.chat.stream._on_bridge_events_arrived(RID, [Event(C, RID, "91 = 7 × 13", tokens=5)])
    assert trace.toggle.text().startswith("Thought for")
    assert "· 48 tokens" in trace.toggle.text()
    window.chat.stream._on_bridge_events_arrived(
        RID, [Event(EventKind.STATS, RID, stats=final_stats())]
    )
    assert trace.toggle.text().startswith("Thought for 2 s · 48 tokens")


def test_an_empty_count_alone_makes_no_trace(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    widget = MessageWidget("assistant", 1)
    window.view.append_widget(widget)
    window.chat.follow(RID, None, widget, None)
    window.chat.stream._on_bridge_events_arrived(
        RID, [Event(R, RID, "", tokens=2), Event(C, RID, "Hi")]
    )
    assert widget.trace is None
    assert widget.answer.text == "Hi"


def test_compare_counts_tokens(qtbot) -> None:  # type: ignore[no-untyped-def]
    column = CompareColumn()
    qtbot.addWidget(column)
    column.widget = compare_message(1, column.holder)
    column.stream.begin(column.widget, request_id=RID)
    first, second = reasoning_batches()
    column.stream._on_bridge_events_arrived(RID, first + second)
    trace = column.widget.trace
    assert trace is not None
    assert trace.toggle.text().endswith("· 48 tokens")
    column.stream._on_bridge_events_arrived(RID, [Event(C, RID, "91 = 7 × 13", tokens=5)])
    assert trace.toggle.text().startswith("Thought for") and "· 48 tokens" in trace.toggle.text()


@pytest.mark.parametrize(
    ("reason", "state", "note"),
    [
        ("loop", ReasoningState.ANSWER_NOW, "stopped early: it was going in circles"),
        ("max_tokens", ReasoningState.CAPPED, MAX_TOKENS_NOTE),
        ("budget", ReasoningState.CAPPED, "stopped at the thinking budget"),
    ],
)
def test_a_reopened_trace_says_why_ponder_ended_it(
    qtbot,  # type: ignore[no-untyped-def]
    reason: str,
    state: ReasoningState,
    note: str,
) -> None:
    """Reopened from the history, the header says what it said live."""
    injected = "\n\nTime is up.\n"
    now = datetime.now(UTC)
    message = Message(
        id=2,
        conversation_id=1,
        parent_id=1,
        role=Role.ASSISTANT,
        content="91 = 7 × 13",
        reasoning="Let me think." + injected,
        reasoning_state=state,
        injected=(InjectedSpan(len("Let me think."), injected, reason),),
        stats=final_stats(),
        model=None,
        status=MessageStatus.COMPLETE,
        finish_reason=FinishReason.STOP,
        error=None,
        created_at=now,
        updated_at=now,
    )
    widget = message_widget(message)
    qtbot.addWidget(widget)
    assert widget.trace is not None
    assert widget.trace.toggle.text() == f"Thought for 2 s · 48 tokens — {note}"
