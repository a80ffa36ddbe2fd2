"""Deleting one message from the window: the branch after it goes, the view follows."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.events import Event, EventKind, FinishReason, done_event
from app.store import Store, open_store
from tests.support.window import open_window


def answer(store: Store, conversation_id: int, text: str) -> int:
    recorder = store.start_answer(conversation_id)
    recorder.apply(Event(EventKind.CONTENT, text=text))
    recorder.apply(done_event(0, FinishReason.STOP))
    return recorder.message_id


def test_delete_buttons_remove_messages(qtbot, ponder_home: Path) -> None:  # type: ignore[no-untyped-def]
    store = open_store()
    conv = store.create_conversation()
    store.add_user_message(conv.id, "What is 2 + 2?")
    first = answer(store, conv.id, "4")
    store.add_user_message(conv.id, "And 3 + 3?")
    answer(store, conv.id, "6")
    w = open_window(qtbot, store=store)
    w.open_conversation(conv.id)
    qtbot.waitUntil(lambda: len(w.view.widgets) == 4, timeout=10_000)
    assert [m.role for m in w.view.widgets] == ["user", "assistant", "user", "assistant"]

    # The last answer: nothing follows it, so no question asked.
    asked: list[str] = []
    w.confirm = lambda _title, text: asked.append(text) or False  # type: ignore[method-assign]
    qtbot.mouseClick(w.view.widgets[-1].delete_button, Qt.MouseButton.LeftButton)
    assert asked == []
    qtbot.waitUntil(lambda: len(w.view.widgets) == 3, timeout=10_000)
    assert [m.content for m in store.active_path(conv.id)][-1] == "And 3 + 3?"

    # The first answer has a question after it: asked, and "no" keeps everything.
    qtbot.mouseClick(w.view.widgets[1].delete_button, Qt.MouseButton.LeftButton)
    assert asked == ["Delete this message and the 1 after it? This cannot be undone."]
    qtbot.wait(100)
    assert len(store.messages(conv.id)) == 3

    w.confirm = lambda _title, _text: True  # type: ignore[method-assign]
    qtbot.mouseClick(w.view.widgets[1].delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(w.view.widgets) == 1, timeout=10_000)
    assert [m.content for m in store.active_path(conv.id)] == ["What is 2 + 2?"]
    assert first not in {m.id for m in store.messages(conv.id)}
    assert "Message deleted" in w.statusBar().currentMessage()
    w.close()
