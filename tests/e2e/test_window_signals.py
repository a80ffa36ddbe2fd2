"""The window as a user starts it, ended by Ctrl+C in its terminal or SIGTERM while it answers.

The real ``python -m ui`` process (offscreen) opens the real SmolLM2 (its settings' last
model, under the R1 template) and sends a prompt (``PONDER_TEST_PROMPT``); once the answer
is streaming into the database, the test signals it and checks what the user gets: exit code
130 / 143, no crash report, no engine worker or resource tracker left, and the partial answer
saved — read back from the SQLite file after the app is gone.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import paths
from app.events import Event
from app.settings import Settings, save_settings
from app.store import MessageStatus, Role, open_store
from tests.support.processes import (
    ROOT,
    Launched,
    orphans_come_home,
    running,
    seconds_until_gone,
    wait_until,
)

pytestmark = pytest.mark.llama

R1 = ROOT / "tests" / "fixtures" / "chat_templates" / "deepseek-r1-distill.jinja"
PROMPT = "Tell me a very long story about the sea."


@pytest.fixture
def window_process(tmp_path: Path, smollm2: Path) -> Iterator[Launched]:
    save_settings(
        Settings(last_model_path=str(smollm2), chat_template_path=str(R1), n_ctx=4096, seed=3)
    )
    with orphans_come_home():
        proc = Launched(
            [sys.executable, "-m", "ui", "--no-crash-dialog"],
            tmp_path,
            env={"QT_QPA_PLATFORM": "offscreen", "PONDER_TEST_PROMPT": PROMPT},
        )
        try:
            yield proc
        finally:
            proc.cleanup()


def saved_answer_chars() -> int:
    """Characters of the answer saved so far (read-only: the app is writing)."""
    db = paths.database_path()
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        try:
            row = conn.execute(
                "SELECT max(length(reasoning) + length(content)) FROM messages "
                "WHERE role = 'assistant'"
            ).fetchone()
        except sqlite3.OperationalError:  # not created yet, or locked for a moment
            return 0
    return int(row[0] or 0)


@pytest.mark.parametrize(
    ("signum", "code", "group"),
    [
        (signal.SIGINT, 130, True),  # Ctrl+C: the terminal signals the whole process group
        (signal.SIGTERM, 143, False),  # the session ending, `kill PID`
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_signal_quits_cleanly_saves_and_stops_the_worker(
    window_process: Launched, signum: int, code: int, group: bool
) -> None:
    app = window_process
    app.wait_for_worker(180)
    wait_until(lambda: saved_answer_chars() > 0, 240, "the answer to stream into the database")
    seen_before = saved_answer_chars()
    pids = app.children_pids()
    # The worker, its resource tracker and its chat-template renderer: all must go.
    assert sorted(app.seen[p] for p in pids) == ["resource tracker", "template renderer", "worker"]

    signalled = time.monotonic()
    app.signal(signum, group=group)
    assert app.wait(60) == code, app.stderr()
    quit_s = time.monotonic() - signalled

    elapsed = seconds_until_gone(pids, 2.0)
    left = {pid: app.seen[pid] for pid in pids if running(pid)}
    assert elapsed is not None, f"left running: {left}"
    print(
        f"{signal.Signals(signum).name}: quit in {quit_s:.2f} s, children gone {elapsed:.2f} s later"
    )
    err = app.stderr()
    assert "Traceback" not in err, err
    assert "KeyboardInterrupt" not in err, err
    # The answer is in the history, as far as it got, marked as stopped.
    store = open_store()
    try:
        (conv,) = store.list_conversations()
        question, answer = store.active_path(conv.id)
    finally:
        store.close()
    assert question.content == PROMPT
    assert answer.role is Role.ASSISTANT
    assert answer.status is MessageStatus.CANCELLED, (answer.status, err)
    assert len(answer.reasoning + answer.content) >= seen_before > 0


def test_closing_while_answering_has_saved_the_answer_when_close_returns(
    qtbot, smollm2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """What a quit by signal relies on: the window's close saves the answer being written
    (as stopped) before it returns, even when the thread that reads the engine's events lags
    behind (a busy machine) — the process ends right after, and a later save never happens."""
    from PySide6.QtCore import Qt

    from app.events import EventKind
    from app.store.recorder import AnswerRecorder
    from tests.support.window import load_model, open_window

    apply = AnswerRecorder.apply

    def lagging_apply(recorder: AnswerRecorder, event: Event) -> None:
        if event.kind is EventKind.DONE:
            time.sleep(2.0)
        apply(recorder, event)

    monkeypatch.setattr(AnswerRecorder, "apply", lagging_apply)
    window = open_window(qtbot, first_run=True)
    window.settings.n_ctx = 4096
    load_model(qtbot, window, smollm2, chat_template=R1.read_text(encoding="utf-8"))
    window.composer.edit.setPlainText(PROMPT)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: saved_answer_chars() > 0, timeout=240_000)
    store = open_store()  # opened first: read the very moment close returns
    window.close()
    try:
        (conv,) = store.list_conversations()
        answer = store.active_path(conv.id)[-1]
    finally:
        store.close()
    assert answer.status is MessageStatus.CANCELLED
    assert (answer.reasoning + answer.content).strip()
