"""The export dialog's small decisions: which file and format, the suggested name."""

from __future__ import annotations

from pathlib import Path

import pytest

from ui.export_dialog import JSON, JSONL, MARKDOWN, _file_name, _target

BOTH = [MARKDOWN, JSON]


@pytest.mark.parametrize(
    ("typed", "chosen", "filters", "expected"),
    [
        ("/t/chat", MARKDOWN, BOTH, ("/t/chat.md", MARKDOWN)),  # no suffix: the filter's added
        ("/t/chat", JSON, BOTH, ("/t/chat.json", JSON)),
        ("/t/chat.json", MARKDOWN, BOTH, ("/t/chat.json", JSON)),  # the typed suffix wins
        ("/t/chat.MD", JSON, BOTH, ("/t/chat.MD", MARKDOWN)),
        ("/t/notes.txt", JSON, BOTH, ("/t/notes.txt", JSON)),  # unknown suffix: kept as typed
        ("/t/data", JSONL, [JSONL], ("/t/data.jsonl", JSONL)),
        ("/t/data.json", JSONL, [JSONL], ("/t/data.json", JSONL)),
        ("/t/chat", "", BOTH, ("/t/chat.md", MARKDOWN)),  # no filter reported: the first
    ],
)
def test_target_file_and_format(
    typed: str, chosen: str, filters: list[str], expected: tuple[str, str]
) -> None:
    path, kind = _target(typed, chosen, filters)
    assert (str(path), kind) == (str(Path(expected[0])), expected[1])


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Why is the sky blue?", "Why is the sky blue"),
        ('a/b\\c:d*e"f<g>h|i', "a b c d e f g h i"),
        ("  ...  ", "conversation"),
        ("", "conversation"),
        ("x" * 200, "x" * 80),
        ("line\nbreak\ttab", "line break tab"),
    ],
)
def test_suggested_file_name(title: str, name: str) -> None:
    assert _file_name(title) == name
