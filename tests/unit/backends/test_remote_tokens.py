"""A remote model's pieces carry token counts too (one per chunk, as its stats count them
when the server sends no usage), so the window's live "N tokens" is not zero for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.engine import Control, LoadParams
from app.events import Event, EventKind
from app.request import ChatMessage, GenerationRequest
from backends.remote import RemoteEngine
from tests.support.sse_server import DONE, ScriptedServer, chunk, sse


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


def run(server: ScriptedServer) -> list[Event]:
    engine = RemoteEngine(LoadParams("tiny", endpoint=server.url), timeout=5.0)
    request = GenerationRequest(messages=(ChatMessage("user", "Hi"),))
    return list(engine.stream(request, 5, Control(cancelled=lambda: False)))


def carried(events: list[Event], kind: EventKind) -> int:
    return sum(e.tokens for e in events if e.kind is kind)


def test_reasoning_fields(server: ScriptedServer) -> None:
    server.script = lambda body: sse(
        chunk(reasoning="Hmm, "),
        chunk(reasoning="let me "),
        chunk(reasoning="see."),
        chunk("4"),
        chunk("2", finish="stop"),
        DONE,
    )
    events = run(server)
    stats = events[-2].stats
    assert stats is not None and (stats.reasoning_tokens, stats.content_tokens) == (3, 2)
    assert carried(events, EventKind.REASONING) == 3
    assert carried(events, EventKind.CONTENT) == 2


def test_inline_tags(server: ScriptedServer) -> None:
    server.script = lambda body: sse(
        chunk("<think>Let me"),
        chunk(" see this."),
        chunk("</think>The answer"),
        chunk(" is 4."),
        chunk(finish="stop"),
        DONE,
    )
    events = run(server)
    stats = events[-2].stats
    assert stats is not None and (stats.reasoning_tokens, stats.content_tokens) == (3, 1)
    # The closing chunk shows no reasoning of its own: no piece carries its count (the final
    # header reads the stats; remote counts are chunks, approximate anyway).
    assert carried(events, EventKind.REASONING) == 2
    assert carried(events, EventKind.CONTENT) == 1
