"""`ponder chat`: what the terminal shows of pieces that carry only a token count, and the
count in ``--json`` output."""

from __future__ import annotations

import io
import json

from app.cli.chat import HumanPrinter, JsonPrinter
from app.events import Event, EventKind

R, C = EventKind.REASONING, EventKind.CONTENT


def test_a_count_alone_prints_nothing() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = HumanPrinter(out, err)
    # A model that closed an empty reasoning: its tags took tokens, nothing to read.
    for event in (Event(R, 1, "", tokens=3), Event(C, 1, "Hello", tokens=1)):
        printer(event)
    assert out.getvalue() == "Hello"
    assert err.getvalue() == ""


def test_json_lines_carry_the_tokens() -> None:
    out = io.StringIO()
    printer = JsonPrinter(out)
    for event in (
        Event(R, 1, "Let me", tokens=2),
        Event(R, 1, "", tokens=1),
        Event(C, 1, "Hi", tokens=1),
    ):
        printer(event)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == [
        {"type": "reasoning", "text": "Let me", "tokens": 2},
        {"type": "reasoning", "text": "", "tokens": 1},
        {"type": "content", "text": "Hi", "tokens": 1},
    ]
