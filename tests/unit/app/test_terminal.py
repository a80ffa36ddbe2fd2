"""Terminal-safe text: controls shown as escapes, JSON that reads back the same."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from app.terminal import safe_json, safe_text

# What a terminal may obey: C0 but tab/newline, DEL, C1, bidi controls, lone surrogates.
OBEYED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def test_escape_sequences_become_visible() -> None:
    title = "ok\x1b]52;c;ZXZpbA==\x07 \x1b[2J\u009b31m\u202eevil\ttab\nline\r\nend\rX"
    assert safe_text(title) == (
        "ok\\x1b]52;c;ZXZpbA==\\x07 \\x1b[2J\\x9b31m\\u202eevil\ttab\nline\nend\\x0dX"
    )


def test_plain_text_is_unchanged() -> None:
    text = "Ünïcode, 中文, emoji 🙂, math ∑ and a\ttab\nand lines"
    assert safe_text(text) == text
    assert safe_json({"t": text}) == json.dumps({"t": text}, ensure_ascii=False)


@given(st.text())
def test_nothing_a_terminal_obeys_survives(text: str) -> None:
    shown = safe_text(text)
    assert not OBEYED.search(shown)
    shown.encode("utf-8")  # printable on any UTF-8 terminal, surrogates included


@given(st.recursive(st.text() | st.integers() | st.none(), lambda c: st.lists(c, max_size=3)))
def test_json_reads_back_the_same_data(data: object) -> None:
    text = safe_json({"value": data}, indent=2)
    assert not OBEYED.search(text)
    assert json.loads(text) == {"value": data}
