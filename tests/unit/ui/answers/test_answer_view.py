"""The answer widget shows what was written: lists while streaming, every block of a saved
message, a user's lines as typed, the right code behind each Copy link, in linear time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextCursor
from PySide6.QtWidgets import QScrollArea

from app.store.domain import Message, MessageStatus, Role
from tests.support.document_shape import shape
from ui.answers.answer_view import AnswerView
from ui.answers.message import MessageWidget
from ui.chat.conversation_view import message_widget

ISSUE_LISTS = (
    "Here are the steps:\n\n- first\n- second\n\nAfter the list, a paragraph.\n\n"
    "1. one\n2. two\n\nThe end."
)


def saved(role: Role, content: str) -> Message:
    now = datetime.now(UTC)
    return Message(
        id=1,
        conversation_id=1,
        parent_id=None,
        role=role,
        content=content,
        reasoning="",
        reasoning_state=None,
        injected=(),
        stats=None,
        model=None,
        status=MessageStatus.COMPLETE,
        finish_reason=None,
        error=None,
        created_at=now,
        updated_at=now,
    )


def stream(view: AnswerView, text: str, size: int = 1) -> None:
    for i in range(0, len(text), size):
        view.append(text[i : i + size])
    view.finish()


def test_lists_streamed_a_character_at_a_time_end_where_they_end(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = MessageWidget("assistant")
    qtbot.addWidget(widget)
    stream(widget.answer, ISSUE_LISTS)
    blocks = [(b.text, b.list_style, b.list_number) for b in shape(widget.answer.document())]
    assert blocks == [
        ("Here are the steps:", "", 0),
        ("first", "ListDisc", 1),
        ("second", "ListDisc", 1 + 1),
        ("After the list, a paragraph.", "", 0),  # not a bullet
        ("one", "ListDecimal", 1),  # "1." before it, not "•"
        ("two", "ListDecimal", 2),
        ("The end.", "", 0),  # not "2."
    ]


SAVED_ANSWER = """First paragraph, about primes.

Second paragraph: 91 = 7 × 13.

- a bullet
- another bullet

1. step one
2. step two

```python
def f(x):

    return x * 2
```

The area is \\(\\pi r^2\\), and

$$
\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}
$$

| n | prime |
|---|---|
| 7 | yes |

Last paragraph."""


def test_a_saved_answer_shows_every_block(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = message_widget(saved(Role.ASSISTANT, SAVED_ANSWER))
    qtbot.addWidget(widget)
    lines = widget.answer.toPlainText().split("\n")
    for expected in (
        "First paragraph, about primes.",
        "Second paragraph: 91 = 7 × 13.",
        "a bullet",
        "another bullet",
        "step one",
        "step two",
        "def f(x):",
        "    return x * 2",
        "Last paragraph.",
    ):
        assert expected in lines
    assert "The area is \ufffc, and" in lines  # the formula is an image in the line
    images = [name for b in shape(widget.answer.document()) for name in b.images]
    assert len(images) == 2  # inline and display formula
    cells = [b.text for b in shape(widget.answer.document()) if b.in_table]
    assert {"n", "prime", "7", "yes"} <= set(cells)
    # The same as streaming it.
    streamed = MessageWidget("assistant")
    qtbot.addWidget(streamed)
    stream(streamed.answer, SAVED_ANSWER, size=7)
    assert shape(streamed.answer.document()) == shape(widget.answer.document())


def test_a_user_message_keeps_its_lines_as_typed(qtbot) -> None:  # type: ignore[no-untyped-def]
    text = "First line\nsecond line\n\n- not a list, just typed\n    four spaces\n*not italic*"
    widget = message_widget(saved(Role.USER, text))
    qtbot.addWidget(widget)
    assert widget.answer.toPlainText() == text
    assert widget.answer.text == text  # what Copy copies


def _copy_links(view: AnswerView) -> list[tuple[str, int]]:
    """(href, a position inside the link) of each Copy link, in reading order."""
    links = []
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            href = fragment.charFormat().anchorHref()
            if href.startswith("copy:"):
                links.append((href, fragment.position() + 1))
            it += 1
        block = block.next()
    return links


def test_each_copy_link_copies_its_own_code_block(qtbot) -> None:  # type: ignore[no-untyped-def]
    area = QScrollArea()  # as in the chat: the answer grows inside a scrolled area
    area.setWidgetResizable(True)
    widget = MessageWidget("assistant")
    area.setWidget(widget)
    qtbot.addWidget(area)
    area.resize(600, 900)
    area.show()
    qtbot.waitExposed(area)
    view = widget.answer
    view.append("Intro.\n\n```\nfirst\n```\n\nThen")
    # Three code blocks finished in one batch (one append), after one finished earlier.
    view.append(" three:\n\n```\nsecond\n```\n\n```\nthird\n```\n\n```\nfourth\n```\n\nEnd")
    view.finish()
    links = _copy_links(view)
    assert len(links) == 4
    copied = []
    for _href, position in links:
        cursor = QTextCursor(view.document())
        cursor.setPosition(position)
        point = view.cursorRect(cursor).center()
        area.ensureVisible(0, view.mapTo(widget, point).y())
        QGuiApplication.clipboard().clear()
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
        copied.append(QGuiApplication.clipboard().text())
    assert copied == ["first\n", "second\n", "third\n", "fourth\n"]


# -- cost: linear in the answer's length, streamed or shown at once --------------------------

PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    # the issue's case: "\(" again and again, no blank line
    "unclosed-paren-math": lambda n: ("Let \\( x " * n)[: n * 9],
    "unclosed-boxed": lambda n: ("so \\boxed{ x " * n)[: n * 9],
    "bracket-lines": lambda n: "\\[ a\n" * (n // 2),
    "dollar-lines": lambda n: "$$ x\n" * (n // 2),
    "loose-list": lambda n: "- item\n\n" * (n // 4),
    "code-with-blank-lines": lambda n: "```\n" + "x = 1\n\ny = 2\n" * (n // 6) + "```\n",
    "one-long-paragraph": lambda n: "word " * (n * 2),
}


def _best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def _streamed(text: str) -> None:
    view = AnswerView()
    for i in range(0, len(text), 40):  # the window hands the answer over in small batches
        view.append(text[i : i + 40])
    view.finish()
    view.deleteLater()


def _at_once(text: str) -> None:
    view = AnswerView()
    view.set_markdown(text)
    view.deleteLater()


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
@pytest.mark.parametrize("show", [_streamed, _at_once], ids=["streamed", "at-once"])
def test_twice_the_text_costs_about_twice_the_time(qapp, name: str, show) -> None:  # type: ignore[no-untyped-def]
    make = PATHOLOGICAL[name]
    small, large = make(2500), make(5000)  # ~20 KB and ~40 KB
    assert len(large) > 1.8 * len(small)
    show(small)  # warm-up
    t_small = _best_of(2, lambda: show(small))
    t_large = _best_of(2, lambda: show(large))
    # Linear: ~2x. Quadratic would be ~4x, and it was 6-15x. Generous for a busy machine.
    assert t_large < 3.2 * t_small + 0.05, (t_small, t_large)
