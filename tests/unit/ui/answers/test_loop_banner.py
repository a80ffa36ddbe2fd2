"""The "going in circles" banner on the live trace, and how the window routes loop events."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt

from app.events import Event, EventKind, InjectReason, ReasoningState
from tests.support.window import window_open
from ui.answers.message import MessageWidget, TraceWidget
from ui.window import MainWindow

PASSAGE = "It is a place where the past is revealed, and where the future is revealed."


def loop_event(rid: int, policy: str) -> Event:
    return Event(EventKind.REASONING_LOOP, rid, PASSAGE, {"repeats": 5, "policy": policy})


def test_banner_answer_now_and_keep_thinking(qtbot) -> None:  # type: ignore[no-untyped-def]
    trace = TraceWidget()
    qtbot.addWidget(trace)
    trace.show()
    assert trace.loop_banner.isHidden()
    trace.show_loop(PASSAGE, 5)
    assert trace.loop_banner.isVisible()
    assert trace.loop_label.text() == "The model seems to be going in circles."
    assert PASSAGE in trace.loop_label.toolTip() and "5 times" in trace.loop_label.toolTip()
    qtbot.mouseClick(trace.loop_keep, Qt.MouseButton.LeftButton)  # dismiss, thinking goes on
    assert trace.loop_banner.isHidden() and trace.live
    trace.show_loop(PASSAGE, 6)
    with qtbot.waitSignal(trace.answer_now_clicked, timeout=1000):
        qtbot.mouseClick(trace.loop_answer_now, Qt.MouseButton.LeftButton)
    assert trace.loop_banner.isHidden()


def test_trace_records_a_loop_ending(qtbot) -> None:  # type: ignore[no-untyped-def]
    trace = TraceWidget()
    qtbot.addWidget(trace)
    trace.append("It is a place. It is a place.", tokens=8)
    trace.show_loop(PASSAGE)
    trace.append_injected("\n\nTime is up. I will give the final answer now.\n", "loop")
    assert trace.loop_banner.isHidden()
    assert "[Ponder · going in circles: answer now]" in trace.text
    assert trace.end_reason is InjectReason.LOOP
    trace.finish(ReasoningState.ANSWER_NOW, 3.0, 8, collapse=False)
    assert "stopped early: it was going in circles" in trace.header_text()
    trace.show_loop(PASSAGE)  # too late: the reasoning is over
    assert trace.loop_banner.isHidden()


def test_answer_now_ending_keeps_its_own_note(qtbot) -> None:  # type: ignore[no-untyped-def]
    trace = TraceWidget()
    qtbot.addWidget(trace)
    trace.append_injected("\n\nTime is up.\n", "answer_now")
    trace.finish(ReasoningState.ANSWER_NOW, 1.0, 4, collapse=False)
    assert "stopped early: answer now" in trace.header_text()


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, first_run=True) as w:
        yield w
        w.chat.stream.forget()


def streaming(w: MainWindow, rid: int) -> MessageWidget:
    widget = MessageWidget("assistant", 1)
    w.view.append_widget(widget)
    w.chat.follow(rid, None, widget, None)
    w.chat.stream._on_bridge_events_arrived(rid, [Event(EventKind.REASONING, rid, "The sea is")])
    return widget


def test_window_shows_the_banner_and_it_asks_the_engine(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    asked: list[bool] = []
    window.bridge.answer_now = lambda: asked.append(True)  # type: ignore[method-assign]
    widget = streaming(window, 11)
    window.chat.stream._on_bridge_events_arrived(
        11, [Event(EventKind.REASONING, 11, " a place."), loop_event(11, "warn")]
    )
    trace = widget.trace
    assert trace is not None and not trace.loop_banner.isHidden()
    assert trace.text == "The sea is a place."
    window.chat.stream._on_bridge_events_arrived(
        99, [loop_event(99, "warn")]
    )  # a stale request: ignored
    trace.loop_answer_now.click()
    assert asked == [True]
    assert trace.loop_banner.isHidden()


def test_window_with_policy_answer_says_so_without_a_banner(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    widget = streaming(window, 12)
    window.chat.stream._on_bridge_events_arrived(12, [loop_event(12, "answer")])
    assert widget.trace is not None and widget.trace.loop_banner.isHidden()
    assert "going in circles" in window.statusBar().currentMessage()


def test_a_trace_closed_for_the_token_limit_says_so(qtbot) -> None:  # type: ignore[no-untyped-def]
    trace = TraceWidget()
    qtbot.addWidget(trace)
    trace.append("Counting the letters one by one", tokens=120)
    trace.append_injected("\n\nTime is up. I will give the final answer now.\n", "max_tokens")
    assert "[Ponder · token limit near: answer now]" in trace.text
    trace.finish(ReasoningState.CAPPED, 4.0, 120, collapse=True)
    assert trace.header_text() == (
        "Thought for 4 s · 120 tokens — stopped to leave the answer room under the token limit"
    )


def test_a_saved_trace_without_figures_is_not_zero_seconds(qtbot) -> None:  # type: ignore[no-untyped-def]
    trace = TraceWidget()
    qtbot.addWidget(trace)
    trace.set_text("Some reasoning that came without its figures.")
    trace.finish(ReasoningState.COMPLETE, None, None, collapse=True)
    assert trace.header_text() == "Reasoning"
