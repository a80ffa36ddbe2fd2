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
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import paths
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

pytestmark = pytest.mark.integration

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
    assert sorted(app.seen[p] for p in pids) == ["resource tracker", "worker"]

    app.signal(signum, group=group)
    assert app.wait(60) == code, app.stderr()

    elapsed = seconds_until_gone(pids, 2.0)
    left = {pid: app.seen[pid] for pid in pids if running(pid)}
    assert elapsed is not None, f"left running: {left}"
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
    assert answer.status is MessageStatus.CANCELLED
    assert len(answer.reasoning + answer.content) >= seen_before > 0
