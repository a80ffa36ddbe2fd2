"""The window paints before the history store opens, and shows the history at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QMessageBox

from app.paths import database_path
from app.store import open_store
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


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    w = MainWindow(first_run=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    close(w)


def test_history_fills_in_and_the_store_opens_behind_it(qtbot, history: list[int]) -> None:  # type: ignore[no-untyped-def]
    w = MainWindow(first_run=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.list_model.rowCount() == 3, timeout=10_000)
    titles = [w.list_model.index(r).data() for r in range(3)]
    assert titles == ["Question 2", "Question 1", "Question 0"]  # newest first
    qtbot.waitUntil(lambda: w._store is not None, timeout=10_000)
    w.open_conversation(history[0])
    assert [m.content for m in w.store.active_path(history[0])] == ["Question 0"]
    close(w)


def test_using_the_store_at_once_waits_for_it(qtbot, history: list[int]) -> None:  # type: ignore[no-untyped-def]
    w = MainWindow(first_run=False)
    qtbot.addWidget(w)
    # Before any event is processed: the store is still opening on its thread.
    conv = w.store.create_conversation()
    assert conv.id not in history
    w.refresh_conversations()
    assert w.list_model.rowCount() == 4
    qtbot.wait(200)  # the early list and the "opened" news arrive late: they change nothing
    assert w.list_model.rowCount() == 4
    close(w)


def test_a_new_home_starts_with_an_empty_history(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window._store is not None, timeout=10_000)
    assert window.list_model.rowCount() == 0
    assert database_path().is_file()


def test_a_damaged_database_is_set_aside_with_a_warning(
    qtbot, ponder_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    database_path().write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text: warned.append(text))
    w = MainWindow(first_run=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w._store is not None, timeout=10_000)
    assert warned and "new, empty history" in warned[0]
    assert w.list_model.rowCount() == 0
    assert w.store.create_conversation().id == 1
    close(w)
