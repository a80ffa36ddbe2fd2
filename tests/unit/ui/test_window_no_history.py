"""No history at all (the database is unusable and no temporary one can be made): the window
says why and where, goes on without one, and closes cleanly; the app reports no bug."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QLabel, QMessageBox

from app.errors import StorageError
from app.paths import database_path
from app.store import open_store
from ui.crash import install_crash_handler
from ui.window import MainWindow


def _history_from_a_newer_ponder() -> Path:
    with open_store() as store:
        conv = store.create_conversation()
        store.add_user_message(conv.id, "An old question")
    db = database_path()
    raw = sqlite3.connect(db)
    raw.execute("UPDATE alembic_version SET version_num = '9999'")
    raw.commit()
    raw.close()
    return db


def test_a_history_that_cannot_be_had_is_a_clear_message_not_a_bug(  # type: ignore[no-untyped-def]
    qtbot, ponder_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _history_from_a_newer_ponder()
    before = db.read_bytes()
    # No temporary history either: the temporary folder is gone.
    monkeypatch.setattr(tempfile, "tempdir", str(ponder_home / "no-such-folder"))
    shown: list[tuple[str, str, str]] = []  # (kind, title, text) of each dialog

    def record_bug_dialog(box: QMessageBox) -> int:
        shown.append(("bug", box.windowTitle(), box.text()))
        return 0

    def record_warning(_parent: object, title: str, text: str, *_a: object) -> None:
        shown.append(("warning", title, text))

    monkeypatch.setattr(QMessageBox, "exec", record_bug_dialog)
    monkeypatch.setattr(QMessageBox, "warning", record_warning)
    previous_hook = sys.excepthook
    install_crash_handler(True)  # as the app runs: an unexpected error shows the bug dialog
    try:
        w = MainWindow(first_run=False)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
        qtbot.wait(100)
        assert [kind for kind, _title, _text in shown] == ["warning"], shown
        _kind, _title, text = shown[0]
        assert "written by a newer version of Ponder" in text
        assert str(db) in text
        assert "update Ponder to open it" in text
        assert "Cannot make a temporary history either" in text
        note = w.statusBar().findChild(QLabel, "history_off")
        assert note is not None and note.isVisible()
        assert str(db) in note.text()
        # The window goes on without a history: asking for it says why, not AssertionError.
        with pytest.raises(StorageError, match="newer version of Ponder"):
            _ = w.store
        w.refresh_conversations()
        qtbot.waitUntil(lambda: "newer version" in w.statusBar().currentMessage(), timeout=5_000)
        assert w.list_model.rowCount() == 0
        w.close()  # closes cleanly: nothing to write, nothing raised
        qtbot.wait(50)
        assert [kind for kind, _title, _text in shown] == ["warning"], shown
        w.deleteLater()
    finally:
        sys.excepthook = previous_hook
    assert db.read_bytes() == before  # the newer Ponder's history is left as it was
