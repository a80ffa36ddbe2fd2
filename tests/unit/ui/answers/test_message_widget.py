"""What an answer's buttons offer: Copy reasoning only with reasoning, one "Answer now"."""

from __future__ import annotations

import os
from datetime import UTC, datetime

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from app.events import ReasoningState
from app.store.domain import Message, MessageStatus, ModelRef, Role
from ui.answers.message import MessageWidget
from ui.chat.conversation_view import message_widget

PASSAGE = "It is a place where the past is revealed."


def saved_answer(reasoning: str) -> Message:
    now = datetime.now(UTC)
    return Message(
        id=2,
        conversation_id=1,
        parent_id=1,
        role=Role.ASSISTANT,
        content="Yes.",
        reasoning=reasoning,
        reasoning_state=ReasoningState.COMPLETE if reasoning else ReasoningState.NONE,
        injected=(),
        stats=None,
        model=ModelRef("SmolLM2-135M-Instruct.Q4_1", path="/m/SmolLM2-135M-Instruct.Q4_1.gguf"),
        status=MessageStatus.COMPLETE,
        finish_reason=None,
        error=None,
        created_at=now,
        updated_at=now,
    )


def visible_answer_now(widget: MessageWidget) -> list[QToolButton]:
    return [
        b for b in widget.findChildren(QToolButton) if b.text() == "Answer now" and b.isVisible()
    ]


def test_copy_reasoning_is_offered_only_for_an_answer_with_reasoning(qtbot) -> None:  # type: ignore[no-untyped-def]
    plain = message_widget(saved_answer(""))
    qtbot.addWidget(plain)
    plain.show()
    assert plain.copy_reasoning_button.isVisible()
    assert not plain.copy_reasoning_button.isEnabled()
    assert plain.copy_button.isEnabled()
    thought = message_widget(saved_answer("Let me see."))
    qtbot.addWidget(thought)
    thought.show()
    assert thought.copy_reasoning_button.isEnabled()


def test_a_live_answer_offers_copy_reasoning_once_it_reasons(qtbot) -> None:  # type: ignore[no-untyped-def]
    live = MessageWidget("assistant", 3)
    qtbot.addWidget(live)
    live.show()
    assert not live.copy_reasoning_button.isEnabled()
    live.ensure_trace().append("Hmm.", tokens=1)
    assert live.copy_reasoning_button.isEnabled()


def test_one_answer_now_button_while_the_loop_banner_is_up(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = MessageWidget("assistant", 4)
    qtbot.addWidget(widget)
    widget.show()
    trace = widget.ensure_trace()
    trace.append("It is a place. It is a place.", tokens=8)
    qtbot.waitUntil(trace.isVisible, timeout=5000)  # a child added to a shown widget
    assert visible_answer_now(widget) == [trace.answer_now]
    trace.show_loop(PASSAGE, 5)
    assert visible_answer_now(widget) == [trace.loop_answer_now]
    qtbot.mouseClick(trace.loop_keep, Qt.MouseButton.LeftButton)  # thinking goes on
    assert visible_answer_now(widget) == [trace.answer_now]
    trace.show_loop(PASSAGE, 6)
    with qtbot.waitSignal(widget.answer_now_clicked, timeout=1000):
        qtbot.mouseClick(trace.loop_answer_now, Qt.MouseButton.LeftButton)
    assert len(visible_answer_now(widget)) <= 1
    trace.append_injected("\n\nTime is up.\n", "answer_now")
    assert visible_answer_now(widget) == []  # the reasoning is over
