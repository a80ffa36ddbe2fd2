"""The window paints before the history store opens, and shows the history at once."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QMessageBox

from app.paths import database_path
from app.store import open_store
from tests.support.window import open_window
from ui.chat.conversation_list import IdRole
from ui.window import MainWindow


@pytest.fixture
def history(ponder_home: Path) -> list[int]:
    with open_store() as store:
        ids = []
        for i in range(3):
            conv = store.create_conversation()
            store.add_user_message(conv.id, f"Question {i}")
            ids.append(conv.id)
    return ids


def close(w: MainWindow) -> None:
    w.close()
    w.deleteLater()


def test_history_fills_in_and_the_store_opens_behind_it(qtbot, history: list[int]) -> None:  # type: ignore[no-untyped-def]
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.list_model.rowCount() == 3, timeout=10_000)
    titles = [w.list_model.index(r).data() for r in range(3)]
    assert titles == ["Question 2", "Question 1", "Question 0"]  # newest first
    qtbot.waitUntil(lambda: w.history.ready, timeout=10_000)
    w.open_conversation(history[0])
    qtbot.waitUntil(lambda: w.conversation_id == history[0], timeout=10_000)
    assert [x.message_id for x in w.view.widgets] == [m.id for m in w.store.active_path(history[0])]
    close(w)


def test_using_the_store_at_once_waits_for_it(qtbot, history: list[int]) -> None:  # type: ignore[no-untyped-def]
    w = open_window(qtbot, show=False)
    # Before any event is processed: the store is still opening on its thread.
    conv = w.store.create_conversation()
    assert conv.id not in history
    w.refresh_conversations()
    qtbot.waitUntil(lambda: w.list_model.rowCount() == 4, timeout=10_000)
    qtbot.wait(200)  # the early list and the "opened" news arrive late: they change nothing
    assert w.list_model.rowCount() == 4
    close(w)


def test_a_new_home_starts_with_an_empty_history(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.history.ready, timeout=10_000)
    assert window.list_model.rowCount() == 0
    assert database_path().is_file()


def test_a_damaged_database_is_set_aside_with_a_warning(
    qtbot, ponder_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    database_path().write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text: warned.append(text))
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.history.ready, timeout=10_000)
    assert warned and "new, empty history" in warned[0]
    assert w.list_model.rowCount() == 0
    assert w.store.create_conversation().id == 1
    close(w)


def test_clicking_a_conversation_reads_it_off_the_gui_thread(qtbot, history: list[int]) -> None:  # type: ignore[no-untyped-def]
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.list_model.rowCount() == 3 and w.history.ready, timeout=10_000)
    w.open_conversation(history[0])
    w.open_conversation(history[1])  # clicked again before the first read came back
    qtbot.waitUntil(lambda: w.conversation_id == history[1], timeout=10_000)
    qtbot.wait(100)
    assert w.conversation_id == history[1]  # the earlier read arrived too late to count
    path = w.store.active_path(history[1])
    assert [x.message_id for x in w.view.widgets] == [m.id for m in path]
    w.open_conversation(history[2])
    w.new_chat()  # a new chat wins over the read still running
    qtbot.wait(300)
    assert w.conversation_id is None
    close(w)


def test_search_runs_off_the_gui_thread_and_shows_the_newest_query(
    qtbot, history: list[int]
) -> None:  # type: ignore[no-untyped-def]
    w = open_window(qtbot)
    w.search_box.setText("Question")
    w.search_box.setText("Question 2")
    qtbot.waitUntil(lambda: w.list_view.model() is w.search_model, timeout=10_000)
    qtbot.waitUntil(lambda: w.search_model.rowCount() >= 1, timeout=10_000)
    qtbot.wait(200)
    hits = {w.search_model.index(r).data(IdRole) for r in range(w.search_model.rowCount())}
    assert hits == {history[2]}
    w.search_box.clear()
    qtbot.waitUntil(lambda: w.list_view.model() is w.list_model, timeout=10_000)
    close(w)


def test_history_jobs_before_the_store_opens_wait_off_the_gui_thread(  # type: ignore[no-untyped-def]
    qtbot, history: list[int]
) -> None:
    w = open_window(qtbot, show=False)
    w.refresh_conversations()
    w.search_box.setText("Question 1")
    w.sidebar._run_search()
    assert not w.history.ready  # nothing above made the GUI thread wait for the store
    qtbot.waitUntil(lambda: w.list_view.model() is w.search_model, timeout=10_000)
    hits = {w.search_model.index(r).data(IdRole) for r in range(w.search_model.rowCount())}
    assert hits == {history[1]}
    qtbot.waitUntil(lambda: w.history.ready, timeout=10_000)
    assert w.list_model.rowCount() == 3
    close(w)
