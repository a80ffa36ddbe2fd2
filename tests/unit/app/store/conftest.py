"""Fixtures for the history store tests: a real SQLite file under a temporary PONDER_HOME."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.events import Event, EventKind, FinishReason, ReasoningState, Stats, done_event
from app.store import Message, Store, open_store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PONDER_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with open_store() as s:
        yield s


Answer = Callable[..., Message]


@pytest.fixture
def answer(store: Store) -> Answer:
    """Stream a finished answer to the active leaf (or ``parent_id``) of a conversation."""

    def _answer(
        conversation_id: int,
        content: str,
        reasoning: str = "",
        *,
        parent_id: int | None = None,
        state: ReasoningState | None = None,
        finish: FinishReason = FinishReason.STOP,
    ) -> Message:
        recorder = store.start_answer(conversation_id, parent_id=parent_id)
        if reasoning:
            recorder.apply(Event(EventKind.REASONING, text=reasoning))
        if content:
            recorder.apply(Event(EventKind.CONTENT, text=content))
        if state is None:
            state = ReasoningState.COMPLETE if reasoning else ReasoningState.NONE
        recorder.apply(Event(EventKind.STATS, stats=Stats(reasoning_state=state)))
        recorder.apply(done_event(0, finish))
        return store.get_message(recorder.message_id)

    return _answer
