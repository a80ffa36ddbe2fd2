"""The worker answers a count or an unload with a reply of its own, never with DONE."""

from __future__ import annotations

import queue
from typing import Any

import pytest

from app.engine import LoadParams
from app.events import Event, EventKind
from app.server.testing import fake_info
from backends import worker
from backends.worker import CountCommand, LoadCommand, Reply, UnloadCommand, worker_main


class _Engine:
    info = fake_info()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        pass


def _answers(monkeypatch: pytest.MonkeyPatch, *commands: Any) -> list[Any]:
    monkeypatch.setattr(worker, "open_engine", lambda params, progress: _Engine())
    monkeypatch.setattr(worker.signal, "signal", lambda *args: None)  # not this test process's
    commands_q: queue.Queue[Any] = queue.Queue()
    out: queue.Queue[Any] = queue.Queue()
    for cmd in (*commands, None):
        commands_q.put(cmd)
    shared = type("Shared", (), {"value": 0})
    worker_main(commands_q, out, shared(), shared())  # type: ignore[arg-type]
    return [out.get_nowait() for _ in range(out.qsize())]


def test_count_and_unload_get_replies_and_done_only_ends_a_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = _answers(
        monkeypatch,
        CountCommand(1, "before a model"),
        LoadCommand(2, LoadParams("fake-model.gguf")),
        CountCommand(3, "three short words"),
        UnloadCommand(4),
    )
    first, loaded, counted, unloaded = answers
    assert isinstance(first, Event) and first.kind is EventKind.ERROR
    assert first.text == "no model is loaded"
    assert isinstance(loaded, Event) and loaded.kind is EventKind.LOADED
    assert counted == Reply(3, tokens=3)
    assert unloaded == Reply(4)
    assert not [a for a in answers if isinstance(a, Event) and a.kind is EventKind.DONE]
