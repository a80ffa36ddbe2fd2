"""Differential rendering: an answer reads the same streamed in any pieces, rendered at once,
reopened from the history, and rendered as one HTML text by Qt.

Compared on the QTextDocument the answer widget shows: every block's text, list style and
number, heading level, indent, table (code block) membership and formula images.

Budget: ``PONDER_HYPOTHESIS_PROFILE=ci`` (CI) runs the most examples; the default is quicker.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QTextDocument

from app.events import Event, EventKind, FinishReason, done_event
from app.store import Store, open_store
from app.store.domain import Message, MessageStatus, Role
from tests.support import reasoning_traces
from tests.support.document_shape import Block, shape
from ui.answers import answer_view
from ui.answers.answer_view import AnswerView
from ui.answers.markdown import StreamingMarkdown, render_markdown
from ui.chat.conversation_view import message_widget

settings.register_profile("ci", max_examples=2000, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
PROFILE = os.environ.get("PONDER_HYPOTHESIS_PROFILE", "dev")
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "markdown"

# -- generated Markdown ----------------------------------------------------------------------

_WORD = st.sampled_from(
    [
        "alpha", "beta", "x", "12", "3.5", "**bold**", "*it*", "`code`", "$x^2$", "\\(a+b\\)",
        "\\boxed{42}", "[link](https://example.org)", "<b>html</b>", "<script>", "&amp;", "a<b",
        "~~no~~", "\\[y\\]", "$5", "1.", "-", "#", "|", "\\", "_u_", "![img](http://x/y.png)",
    ]
)  # fmt: skip
_TEXT = st.lists(_WORD, min_size=1, max_size=8).map(" ".join)


@st.composite
def _paragraph(draw: st.DrawFn) -> str:
    return "\n".join(draw(st.lists(_TEXT, min_size=1, max_size=3)))


@st.composite
def _list(draw: st.DrawFn, depth: int = 0) -> str:
    ordered = draw(st.booleans())
    start = draw(st.integers(0, 12))
    delim = draw(st.sampled_from([".", ")"])) if ordered else draw(st.sampled_from("-*+"))
    loose = draw(st.booleans())
    items = []
    for i in range(draw(st.integers(1, 4))):
        marker = f"{start + i}{delim} " if ordered else f"{delim} "
        pad = " " * len(marker)
        item = marker + draw(_TEXT)
        if draw(st.integers(0, 4)) == 0:
            item += "\n\n" + pad + draw(_TEXT)  # a second paragraph in the item
        if depth < 1 and draw(st.integers(0, 3)) == 0:
            nested = draw(_list(depth + 1))
            item += "\n" + "\n".join(pad + line if line else "" for line in nested.split("\n"))
        items.append(item)
    return ("\n\n" if loose else "\n").join(items)


@st.composite
def _fence(draw: st.DrawFn) -> str:
    fence = draw(st.sampled_from(["```", "~~~", "````"]))
    lang = draw(st.sampled_from(["", "python", "bash", "nosuchlang"]))
    body = draw(
        st.lists(
            st.sampled_from(["x = 1", "", "- not a list", "# not a heading", "    indented", "$$"]),
            max_size=5,
        )
    )
    return "\n".join([fence + lang, *body, fence])


_BLOCK = st.one_of(
    _paragraph(),
    _paragraph(),
    _list(),
    _fence(),
    st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 4), _TEXT),
    st.builds(lambda t: "$$\n" + t + "\n$$", st.sampled_from(["a^2", "x\n\ny", "\\sum_i i"])),
    st.builds(lambda t: "\\[\n" + t + "\n\\]", st.sampled_from(["a^2", "\\frac{1}{2}"])),
    st.builds(lambda a, b: f"| {a} | b |\n|---|---|\n| 1 | {b} |", _WORD, _WORD),
    st.builds(lambda t: "> " + t, _TEXT),
    st.just("---"),
    st.just("    indented code\n\n    more code"),
    st.just("<div>not html</div>"),
    st.just("[ref]: https://example.org"),
    st.just("> quoted\n> - item in a quote\n>\n> ```\n> code in a quote\n> ```"),
    st.just("- item\n\n  ```\n  code in an item\n\n  more\n  ```\n- next"),
    st.just("\tcode after a tab\n\n\tmore"),
)

_GAP = st.sampled_from(["\n\n", "\n\n", "\n", "\n\n\n", "\n \n"])


@st.composite
def markdown_texts(draw: st.DrawFn) -> str:
    blocks = draw(st.lists(_BLOCK, min_size=1, max_size=6))
    out = blocks[0]
    for block in blocks[1:]:
        out += draw(_GAP) + block
    out += draw(st.sampled_from(["", "\n", "\n\n"]))
    return out.replace("\n", "\r\n") if draw(st.integers(0, 9)) == 0 else out  # Windows ends


# -- the three (four) ways an answer is rendered ---------------------------------------------


def streamed(text: str, cuts: list[int]) -> list[Block]:
    view = AnswerView()
    last = 0
    for cut in sorted(set(cuts)):
        view.append(text[last:cut])
        # The open part, as written (a very long line may be shown in pieces meanwhile).
        assert view.toPlainText().replace("\n", "").endswith(view._stream.tail.replace("\n", ""))
        last = cut
    view.append(text[last:])
    view.finish()
    return shape(view.document())


def one_shot(text: str) -> list[Block]:
    view = AnswerView()
    view.set_markdown(text)
    return shape(view.document())


def _saved_answer(text: str) -> Message:
    now = datetime.now(UTC)
    return Message(
        id=1,
        conversation_id=1,
        parent_id=None,
        role=Role.ASSISTANT,
        content=text,
        reasoning="",
        reasoning_state=None,
        injected=(),
        stats=None,
        model=None,
        status=MessageStatus.COMPLETE,
        finish_reason=FinishReason.STOP,
        error=None,
        created_at=now,
        updated_at=now,
    )


def reopened(text: str, store: Store | None = None) -> list[Block]:
    """Built as the chat builds a message read from the history: through the real store
    (SQLite) when given one, else from the message as the store hands it over."""
    message = _saved_answer(text)
    if store is not None:
        conv = store.create_conversation()
        store.add_user_message(conv.id, "Question?")
        recorder = store.start_answer(conv.id)
        recorder.apply(Event(EventKind.CONTENT, text=text))
        recorder.apply(done_event(0, FinishReason.STOP))
        message = store.active_path(conv.id)[-1]
    return shape(message_widget(message).answer.document())


def whole_html(text: str) -> list[Block]:
    doc = QTextDocument()
    doc.setHtml(render_markdown(text).html.strip())
    return shape(doc)


def check(text: str, cuts: list[list[int]], store: Store | None = None) -> None:
    expected = whole_html(text)
    assert one_shot(text) == expected
    for some in cuts:
        assert streamed(text, some) == expected
    assert reopened(text, store) == expected


class _NoTypesetting:
    def request(self, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def placeholders_for_formulas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Formulas stay placeholders: whether one was typeset yet must not change the shape."""
    monkeypatch.setattr(answer_view, "cached", lambda *_args: (False, None))
    monkeypatch.setattr(answer_view, "_math_renderer", _NoTypesetting)


@pytest.fixture
def store() -> Iterator[Store]:
    opened = open_store()
    yield opened
    opened.close()


@settings(settings.get_profile(PROFILE), suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_streamed_one_shot_and_reopened_read_the_same(qapp, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    text = data.draw(markdown_texts())
    cuts = st.lists(st.integers(0, len(text)), max_size=12)
    check(text, [data.draw(cuts), data.draw(cuts)])


def _corpus() -> dict[str, str]:
    corpus = {
        f"smollm2-{i}": entry["answer"]
        for i, entry in enumerate(
            json.loads((FIXTURES / "smollm2_answers.json").read_text(encoding="utf-8"))["outputs"]
        )
    }
    for name, text in reasoning_traces.legit_corpus().items():
        corpus[f"trace-{name}"] = text[:6000]
    corpus["issue-14-lists"] = (
        "Here are the steps:\n\n- first\n- second\n\nAfter the list, a paragraph.\n\n"
        "1. one\n2. two\n\nThe end."
    )
    # Cases hypothesis found (Qt reads an empty <pre> or <li>, or a space after a nested <p>,
    # differently by what follows).
    corpus["found-empty-code-block"] = "```\n```\n\nalpha\n\nalpha"
    corpus["found-empty-list-item"] = "- [link](https://example.org)\n- 1.\n\nalpha\n\nalpha"
    corpus["found-empty-item-then-math"] = "1.\n\n$$\na^2\n$$"
    corpus["found-rule-first"] = "---\n\nafter a rule"
    corpus["found-empty-heading-in-list"] = "- alpha\n\n  alpha\n- #\n\n$$\na^2\n$$"
    corpus["found-display-math-in-paragraph"] = "\\[y\\] alpha\n\n```\n```"
    return corpus


CORPUS = _corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_real_outputs_read_the_same_in_any_pieces(qapp, store: Store, name: str) -> None:  # type: ignore[no-untyped-def]
    text = CORPUS[name]
    rng = random.Random(name)
    cuts = [
        [rng.randrange(len(text) + 1) for _ in range(rng.randint(1, len(text) // 4 + 1))]
        for _ in range(3)
    ]
    every_character = list(range(len(text)))
    check(text, [*cuts, every_character], store)


@settings(settings.get_profile(PROFILE))
@given(data=st.data())
def test_every_character_is_handed_out_once_in_order(data: st.DataObject) -> None:
    text = data.draw(markdown_texts())
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(text)), max_size=20))))
    stream = StreamingMarkdown()
    out, last = [], 0
    for cut in [*cuts, len(text)]:
        finished, _added = stream.feed(text[last:cut])
        out.append(finished)
        last = cut
    out.append(stream.finish())
    normalised = text.replace("\r\n", "\n")
    assert "".join(out) == normalised == stream.text
