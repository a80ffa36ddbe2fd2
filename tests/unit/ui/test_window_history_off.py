"""A history the window cannot use never stops it: history is off, and the status bar says so."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QLabel

from app.paths import database_path
from app.store import open_store
from tests.support.read_only import read_only
from tests.support.window import open_window
from ui.window import MainWindow


def _saved_history() -> Path:
    with open_store() as store:
        conv = store.create_conversation()
        store.add_user_message(conv.id, "An old question")
    return database_path()


def _open_window(qtbot) -> MainWindow:  # type: ignore[no-untyped-def]
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.history.ready, timeout=10_000)
    return w


def _history_off_note(qtbot, w: MainWindow) -> str:  # type: ignore[no-untyped-def]
    note = w.statusBar().findChild(QLabel, "history_off")
    assert note is not None
    qtbot.waitUntil(note.isVisible, timeout=5_000)
    return str(note.text())


def test_a_read_only_history_turns_history_off_with_a_note(qtbot, ponder_home: Path) -> None:  # type: ignore[no-untyped-def]
    db = _saved_history()
    before = db.read_bytes()
    with read_only(db):
        w = _open_window(qtbot)
        try:
            text = _history_off_note(qtbot, w)
            assert text.startswith("History is off for this run: ")
            assert str(db) in text
            # The window still works: a new chat is kept for this run (not in the old file).
            conv = w.store.create_conversation()
            w.store.add_user_message(conv.id, "A new question")
            assert w.store.path != db
        finally:
            w.close()
            w.deleteLater()
    assert db.read_bytes() == before


def test_a_history_from_a_newer_ponder_turns_history_off(qtbot, ponder_home: Path) -> None:  # type: ignore[no-untyped-def]
    db = _saved_history()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    w = _open_window(qtbot)
    try:
        text = _history_off_note(qtbot, w)
        assert "written by a newer version of Ponder" in text
        assert w.list_model.rowCount() == 0
    finally:
        w.close()
        w.deleteLater()


def test_a_usable_history_has_no_note(qtbot, ponder_home: Path) -> None:  # type: ignore[no-untyped-def]
    _saved_history()
    w = _open_window(qtbot)
    try:
        assert w.statusBar().findChild(QLabel, "history_off") is None
        qtbot.waitUntil(lambda: w.list_model.rowCount() == 1, timeout=10_000)
    finally:
        w.close()
        w.deleteLater()
