""" "Side by side": a regenerated answer (or a saved comparison) beside its other version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.events import Event, EventKind, FinishReason, done_event
from app.store import Store, open_store
from tests.support.window import open_window
from ui.compare.view import pick_pair


def answer(store: Store, conversation_id: int, text: str, parent: int | None = None) -> int:
    recorder = store.start_answer(conversation_id, parent_id=parent)
    recorder.apply(Event(EventKind.REASONING, text=f"thinking about {text}"))
    recorder.apply(Event(EventKind.CONTENT, text=text))
    recorder.apply(done_event(0, FinishReason.STOP))
    return recorder.message_id


def test_pick_pair_shows_the_next_version_or_the_one_before(ponder_home: Path) -> None:
    with open_store() as store:
        conv = store.create_conversation()
        question = store.add_user_message(conv.id, "Q")
        ids = [answer(store, conv.id, t, question.id) for t in ("a", "b", "c")]
        messages = store.messages(conv.id)
    assert [m.id for m in pick_pair(messages, ids[0])] == [question.id, ids[0], ids[1]]
    assert [m.id for m in pick_pair(messages, ids[1])] == [question.id, ids[1], ids[2]]
    assert [m.id for m in pick_pair(messages, ids[2])] == [question.id, ids[2], ids[1]]
    with pytest.raises(ValueError, match="not an answer"):
        pick_pair(messages, question.id)


def test_side_by_side_only_for_answers_with_another_version(qtbot, ponder_home: Path) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    conv = store.create_conversation()
    question = store.add_user_message(conv.id, "Name a colour.")
    first = answer(store, conv.id, "Red.", question.id)
    second = answer(store, conv.id, "Blue.", question.id)
    other = store.create_conversation()
    store.add_user_message(other.id, "Alone?")
    answer(store, other.id, "Yes.")
    w = open_window(qtbot, store=store)

    w.open_conversation(other.id)
    qtbot.waitUntil(lambda: len(w.view.widgets) == 2, timeout=10_000)
    assert w.view.widgets[1].side_by_side_button.isHidden()  # one version only

    w.open_conversation(conv.id)
    qtbot.waitUntil(
        lambda: len(w.view.widgets) == 2 and w.view.widgets[1].message_id == second,
        timeout=10_000,
    )
    shown = w.view.widgets[1]
    assert not shown.side_by_side_button.isHidden()
    qtbot.mouseClick(shown.side_by_side_button, Qt.MouseButton.LeftButton)
    compare = w.library.compare
    assert compare is not None and w.stack.currentWidget() is compare
    qtbot.waitUntil(lambda: compare.right.widget is not None, timeout=10_000)
    assert compare.prompt.toPlainText() == "Name a colour."
    assert compare.left.widget is not None and compare.left.widget.message_id == second
    assert compare.right.widget.message_id == first
    assert compare.left.widget.answer.text.strip() == "Blue."
    assert compare.right.widget.answer.text.strip() == "Red."
    trace = compare.right.widget.trace
    assert trace is not None and trace.text == "thinking about Red." and trace.collapsed
    assert compare.left.status.text() == "Saved answer"
    assert compare.left.widget.title.text() == "Model"  # saved without a model: the plain title
    assert not compare.running and compare.compare_button.isEnabled()
    w.close()
