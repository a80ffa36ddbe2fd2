"""Qt item models pass qtmodeltester; the Markdown renderer treats model output as untrusted."""

from __future__ import annotations

import os
from datetime import UTC, datetime

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.store.domain import ConversationSummary, Role, SearchHit
from ui.answers.markdown import StreamingMarkdown, render_markdown, stable_prefix_end
from ui.chat.conversation_list import ConversationListModel, SearchResultModel


def test_conversation_model(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = ConversationListModel()
    now = datetime.now(UTC)
    model.set_items(
        [ConversationSummary(i, f"chat {i}", now, now, i == 0, False, None) for i in range(5)]
    )
    qtmodeltester.check(model)
    assert model.rowCount() == 5
    assert model.index(0).data().startswith("📌")
    assert model.row_of(3) == 3


def test_search_model(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = SearchResultModel()
    mark = SearchResultModel.MARK
    model.set_hits(
        [
            SearchHit(
                1, "Primes", 4, Role.ASSISTANT, "reasoning", f"is {mark[0]}91{mark[1]} prime", 0.5
            )
        ]
    )
    qtmodeltester.check(model)
    assert "91" in model.index(0).data()
    assert "<b>91</b>" in model.index(0).data(3)  # ToolTipRole


def test_html_is_escaped_and_images_never_fetched() -> None:
    out = render_markdown(
        '<img src="http://x/y.png"> <script>x</script> ![a](http://evil/t.png)'
    ).html
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert 'src="http' not in out
    assert "[image: a]" in out


def test_math_and_code() -> None:
    result = render_markdown(
        "Area: $\\pi r^2$ and \\boxed{12}\n\n$$\\sum_i i$$\n\n```python\nx = 1\n```\n"
    )
    assert {v[0] for v in result.math.values()} == {"\\pi r^2", "\\boxed{12}", "\\sum_i i"}
    assert result.code == ["x = 1\n"]
    assert 'href="copy:0"' in result.html


def test_streaming_markdown_finishes_blocks_once() -> None:
    s = StreamingMarkdown()
    assert s.append("Intro para") == ("", "Intro para")
    assert s.append("graph.\n\nNext") == ("Intro paragraph.\n\n", "Next")
    done, tail = s.append("\n\n```\ncode\n\nmore\n")
    assert done == "Next\n\n" and tail.startswith(
        "```"
    )  # a blank line inside a fence does not split
    done, tail = s.append("```\n\nend")
    assert done.endswith("```\n\n") and tail == "end"
    assert s.finish() == "end"
    assert stable_prefix_end("$$\na\n\nb\n$$\n\nx") == len("$$\na\n\nb\n$$\n\n")
