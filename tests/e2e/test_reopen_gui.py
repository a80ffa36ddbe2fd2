"""Reopening a saved conversation in the real window shows every message whole.

A conversation is saved through the real store (SQLite in PONDER_HOME); the window is opened
on it, the conversation is clicked in the list, and each message widget's visible text is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QImage, QTextDocument

from app.events import Event, EventKind, FinishReason, done_event
from app.store import Store, open_store
from tests.support.document_shape import shape
from tests.support.window import open_window
from ui.answers.markdown import math_key

QUESTION = "Two questions:\nis 91 prime?\n\nAnd what is the area of a circle?"

ANSWER = """No: 91 is not prime.

It factors as 7 × 13, which you can check by trying the primes up to 9.

- 2 does not divide it
- 3 does not divide it
- 7 does: 91 = 7 × 13

Steps to check any number:

1. Take its square root.
2. Try every prime up to it.
3. If none divides it, it is prime.

```python
def is_prime(n):
    if n < 2:
        return False

    return all(n % p for p in range(2, int(n**0.5) + 1))
```

The area of a circle is \\(\\pi r^2\\):

$$
A = \\pi r^2
$$

That is all."""

FOLLOW_UP = "Thanks!\nOne more line."
SHORT_ANSWER = "You're welcome.\n\nAsk again any time."


def _answer(store: Store, conversation_id: int, text: str) -> None:
    recorder = store.start_answer(conversation_id)
    for i in range(0, len(text), 5):  # saved as the engine streams it
        recorder.apply(Event(EventKind.CONTENT, text=text[i : i + 5]))
    recorder.apply(done_event(0, FinishReason.STOP))


def _math_image(doc: QTextDocument, latex: str, display: bool) -> QImage:
    url = QUrl(f"math:{math_key(latex, display)}")
    image = doc.resource(QTextDocument.ResourceType.ImageResource, url)
    return image if isinstance(image, QImage) else QImage()


# The offscreen platform says so whenever a window's minimum size follows its content.
@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_reopened_conversation_shows_every_paragraph_list_code_and_formula(
    qtbot,  # type: ignore[no-untyped-def]
    ponder_home: Path,
) -> None:
    store = open_store()
    conv = store.create_conversation()
    store.add_user_message(conv.id, QUESTION)
    _answer(store, conv.id, ANSWER)
    store.add_user_message(conv.id, FOLLOW_UP)
    _answer(store, conv.id, SHORT_ANSWER)

    w = open_window(qtbot, store=store)
    qtbot.waitUntil(lambda: w.list_model.rowCount() == 1, timeout=10_000)
    index = w.list_model.index(0)
    w.list_view.scrollTo(index)
    rect = w.list_view.visualRect(index)
    qtbot.mouseClick(w.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: len(w.view.widgets) == 4, timeout=10_000)
    user, answer, follow_up, short = w.view.widgets
    assert [m.role for m in w.view.widgets] == ["user", "assistant", "user", "assistant"]

    # The user's messages, every line as typed.
    assert user.answer.toPlainText() == QUESTION
    assert follow_up.answer.toPlainText() == FOLLOW_UP

    # The answer: every paragraph, list item, code line; the formulas as images.
    doc = answer.answer.document()
    lines = doc.toPlainText().split("\n")
    for expected in (
        "No: 91 is not prime.",
        "It factors as 7 × 13, which you can check by trying the primes up to 9.",
        "2 does not divide it",
        "3 does not divide it",
        "7 does: 91 = 7 × 13",
        "Steps to check any number:",
        "Take its square root.",
        "Try every prime up to it.",
        "If none divides it, it is prime.",
        "def is_prime(n):",
        "    if n < 2:",
        "        return False",
        "",
        "    return all(n % p for p in range(2, int(n**0.5) + 1))",
        "The area of a circle is \ufffc:",
        "That is all.",
    ):
        assert expected in lines, expected
    blocks = shape(doc)
    numbered = [(b.text, b.list_number) for b in blocks if b.list_style == "ListDecimal"]
    assert numbered == [
        ("Take its square root.", 1),
        ("Try every prime up to it.", 2),
        ("If none divides it, it is prime.", 3),
    ]
    assert [b.text for b in blocks if b.list_style == "ListDisc"] == [
        "2 does not divide it",
        "3 does not divide it",
        "7 does: 91 = 7 × 13",
    ]
    assert not any(
        b.list_style for b in blocks if b.text in ("That is all.", "No: 91 is not prime.")
    )
    # The formulas are typeset (in the background) into real images.
    qtbot.waitUntil(
        lambda: (
            _math_image(doc, "\\pi r^2", False).width() > 1
            and _math_image(doc, "A = \\pi r^2", True).width() > 1
        ),
        timeout=60_000,
    )

    assert short.answer.toPlainText() == "You're welcome.\nAsk again any time."
    w.close()
    store.close()
