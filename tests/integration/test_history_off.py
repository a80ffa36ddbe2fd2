"""Storage never blocks an answer: ``ponder chat`` with a history it cannot use.

A read-only database, an unwritable ``PONDER_HOME``, a file that is not SQLite: the real
command answers with the real SmolLM2 model, says once on stderr that history is off, and
exits 0. A read-only database can still be listed, searched, shown and exported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.events import Event, EventKind, FinishReason, done_event
from app.paths import database_path
from app.store import open_store
from tests.support.read_only import read_only

ROOT = Path(__file__).resolve().parents[2]


def ponder(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PONDER_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "app", *argv],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=ROOT,
        check=False,
    )


def chat(model: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return ponder(
        "chat", "--model", str(model), "--prompt", "Which city is the capital of France?",
        "--max-tokens", "12", "--temperature", "0", "--ctx", "512", home=home,
    )  # fmt: skip


@pytest.fixture
def saved(ponder_home: Path) -> Path:
    """A history with one conversation; the store closed (no WAL side files left)."""
    with open_store() as store:
        conv = store.create_conversation()
        store.add_user_message(conv.id, "Why is the sky blue?")
        recorder = store.start_answer(conv.id)
        recorder.apply(Event(EventKind.CONTENT, text="Rayleigh scattering."))
        recorder.apply(done_event(0, FinishReason.STOP))
    return database_path()


def _assert_answered_with_history_off(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "no answer printed"
    warnings = [ln for ln in done.stderr.splitlines() if "history is off for this run" in ln]
    assert len(warnings) == 1, done.stderr
    assert "Traceback" not in done.stderr and "saved as conversation" not in done.stderr
    return warnings[0]


def test_chat_answers_with_a_read_only_database(smollm2: Path, saved: Path) -> None:
    before = saved.read_bytes()
    with read_only(saved):
        done = chat(smollm2, saved.parents[1])
    warning = _assert_answered_with_history_off(done)
    assert "read-only" in warning
    assert saved.read_bytes() == before


def test_chat_continues_a_conversation_from_a_read_only_database(
    smollm2: Path, saved: Path
) -> None:
    with read_only(saved):
        done = ponder(
            "chat", "--model", str(smollm2), "--continue", "1", "--prompt", "Say it again.",
            "--max-tokens", "8", "--temperature", "0", "--ctx", "512", home=saved.parents[1],
        )  # fmt: skip
    assert "read-only" in _assert_answered_with_history_off(done)


def test_chat_answers_with_an_unwritable_ponder_home(smollm2: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    warning = _assert_answered_with_history_off(chat(smollm2, blocker / "home"))
    assert "Cannot create the folder for the history database" in warning


def test_chat_answers_when_the_database_is_not_sqlite(smollm2: Path, ponder_home: Path) -> None:
    db = database_path()
    db.write_bytes(b"these are my notes, not a database\n" * 10)
    warning = _assert_answered_with_history_off(chat(smollm2, ponder_home))
    assert "is not an SQLite database" in warning
    # The file was set aside (never overwritten); the next run starts a new history.
    (aside,) = db.parent.glob("ponder.sqlite3.corrupt-*")
    assert aside.read_bytes().startswith(b"these are my notes")


Check = Callable[[subprocess.CompletedProcess[str]], None]


def _listed(done: subprocess.CompletedProcess[str]) -> None:
    assert "Why is the sky blue?" in done.stdout


def _found(done: subprocess.CompletedProcess[str]) -> None:
    assert "[Rayleigh]" in done.stdout or "Rayleigh" in done.stdout


def _shown(done: subprocess.CompletedProcess[str]) -> None:
    assert "Rayleigh scattering." in done.stdout


def _exported(done: subprocess.CompletedProcess[str]) -> None:
    doc = json.loads(done.stdout)
    assert doc["conversations"][0]["messages"][1]["content"] == "Rayleigh scattering."


@pytest.mark.parametrize(
    ("argv", "check"),
    [
        (["list"], _listed),
        (["search", "Rayleigh"], _found),
        (["show", "1"], _shown),
        (["export", "--all", "--format", "json", "--out", "-"], _exported),
    ],
)
def test_a_read_only_database_can_still_be_read(saved: Path, argv: list[str], check: Check) -> None:
    before = saved.read_bytes()
    with read_only(saved):
        done = ponder("history", *argv, home=saved.parents[1])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    check(done)
    assert saved.read_bytes() == before


def test_writing_to_a_read_only_database_is_one_clear_line(saved: Path) -> None:
    with read_only(saved):
        done = ponder("history", "rename", "1", "New", "title", home=saved.parents[1])
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "read-only" in done.stderr or "Could not" in done.stderr
