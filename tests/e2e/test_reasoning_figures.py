"""The trace's figures, as a person reads them, for every way the reasoning can end.

The real window (offscreen) and the real SmolLM2 engine behind the R1-distill template (it
"thinks" without end, so Ponder ends the reasoning: budget, Answer now, the loop guard, the
token limit, Stop). For each: the live header ("Thinking… · N tokens") and the budget meter
when the reasoning ends read the engine's count; the final header ("Thought for X s · N
tokens") reads the saved stats, whose thinking time ends where the reasoning ended, not
with the answer; and the conversation reopened from the database says the same.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.events import Event, EventKind, FinishReason, Stats
from app.request import LoopPolicy
from tests.support.window import load_model, window_open
from ui.answers.message import MessageWidget, TraceWidget
from ui.window import MainWindow

pytestmark = pytest.mark.llama

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "chat_templates"
PROMPT = "Is 91 a prime number?"
LOOP_PROMPT = "Tell me a long story about the sea."  # at temperature 0 it loops within ~120 tokens


@pytest.fixture
def window(qtbot, smollm2: Path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, first_run=True) as w:
        r1 = (TEMPLATES / "deepseek-r1-distill.jinja").read_text(encoding="utf-8")
        w.settings.n_ctx = 1024
        w.settings_panel.max_tokens.setValue(120)
        w.settings_panel.temperature.setValue(0.0)
        w.composer.thinking.setCurrentIndex(0)  # auto: the R1 template makes it think
        load_model(qtbot, w, smollm2, chat_template=r1)
        yield w


class Seen:
    """What the trace showed when the reasoning ended and just before the final figures."""

    def __init__(self, window: MainWindow) -> None:
        self.at_close: tuple[str, int] | None = None  # header, meter: right after the close
        self.before_stats: tuple[str, int] | None = None
        self.stats: Stats | None = None
        stream = window.chat.stream
        apply = stream.apply_other

        def spy(widget: MessageWidget, event: Event) -> None:
            trace = widget.trace
            if event.kind is EventKind.STATS and trace is not None:
                self.before_stats = (trace.toggle.text(), trace.meter.value())
                self.stats = event.stats
            apply(widget, event)
            if event.kind is EventKind.INJECTED and self.at_close is None:
                assert trace is not None
                self.at_close = (trace.toggle.text(), trace.meter.value())

        stream.apply_other = spy  # type: ignore[method-assign]


def send(qtbot, w: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    w.composer.edit.setPlainText(text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.chat.stream.active, timeout=30_000)


def live_trace(qtbot, w: MainWindow, tokens: int) -> TraceWidget:  # type: ignore[no-untyped-def]
    widget = w.view.widgets[-1]
    qtbot.waitUntil(
        lambda: widget.trace is not None and widget.trace.tokens > tokens, timeout=120_000
    )
    assert widget.trace is not None
    return widget.trace


def budget(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    w.composer.set_thinking("budget", 48)  # a custom budget
    send(qtbot, w, PROMPT)


def answer_now(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    send(qtbot, w, PROMPT)
    live_trace(qtbot, w, 12).answer_now.click()


def loop(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    w.settings_panel.max_tokens.setValue(300)  # the loop comes before the token limit
    w.settings_panel.on_loop.setCurrentIndex(w.settings_panel.on_loop.findData(LoopPolicy.ANSWER))
    send(qtbot, w, LOOP_PROMPT)


def token_limit(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    w.settings_panel.on_loop.setCurrentIndex(w.settings_panel.on_loop.findData(LoopPolicy.OFF))
    send(qtbot, w, PROMPT)  # 120 tokens: the reasoning is closed to leave the answer room


def stop(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    send(qtbot, w, LOOP_PROMPT)
    live_trace(qtbot, w, 12)
    qtbot.keyClick(w, Qt.Key.Key_Escape)


CASES: dict[str, tuple[Callable[..., None], str | None]] = {
    "budget": (budget, "budget"),
    "answer_now": (answer_now, "answer_now"),
    "loop": (loop, "loop"),
    "token_limit": (token_limit, "max_tokens"),
    "stop": (stop, None),
}


def figures(stats: Stats) -> str:
    return f"Thought for {stats.thinking_ms / 1000:.0f} s · {stats.reasoning_tokens:,} tokens"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", list(CASES))
def test_trace_figures_are_the_engines(qtbot, window: MainWindow, case: str) -> None:  # type: ignore[no-untyped-def]
    act, reason = CASES[case]
    seen = Seen(window)
    act(qtbot, window)
    widget = window.view.widgets[-1]
    qtbot.waitUntil(lambda: not window.busy, timeout=600_000)  # this machine may be busy
    stats = seen.stats
    assert stats is not None and stats.reasoning_tokens > 0
    trace = widget.trace
    assert trace is not None
    if reason is not None:
        assert "[Ponder · " in trace.text
        assert seen.at_close is not None, "the reasoning was closed by Ponder"
        header, meter = seen.at_close
        # The live count when the reasoning closed is the engine's count of its tokens.
        assert header.startswith("Thinking…"), header
        assert f"· {stats.reasoning_tokens:,} tokens" in header, (header, stats)
        if case == "budget":
            assert stats.reasoning_tokens == 48
            assert header.endswith("· 48 tokens (budget 48)"), header
            assert meter == 48
        # Thinking time ends where the reasoning ended: before the first answer token.
        assert widget.answer.text.strip(), "the answer follows"
        assert stats.time_to_first_content_ms is not None
        ttft, ttfc = stats.time_to_first_token_ms, stats.time_to_first_content_ms
        assert stats.thinking_ms <= ttfc - ttft + 0.5, stats
    else:
        assert stats.finish_reason is FinishReason.CANCELLED
        assert stats.thinking_ms <= stats.total_ms
    # Just before the final figures replace them, the tokens shown already were the engine's.
    assert seen.before_stats is not None
    assert f"· {stats.reasoning_tokens:,} tokens" in seen.before_stats[0], seen.before_stats
    # The final header: the engine's thinking time and count.
    final = trace.toggle.text()
    assert final.startswith(figures(stats)), (final, stats)

    # Saved, and reopened from the database: the same figures.
    cid = window.conversation_id
    assert cid is not None
    saved = window.store.active_path(cid)[-1]
    assert saved.stats is not None
    assert saved.stats.reasoning_tokens == stats.reasoning_tokens
    assert saved.stats.thinking_ms == pytest.approx(stats.thinking_ms)
    window.new_chat()
    qtbot.waitUntil(lambda: not window.view.widgets, timeout=10_000)
    window.open_conversation(cid)
    qtbot.waitUntil(lambda: len(window.view.widgets) == 2, timeout=30_000)
    reopened = window.view.widgets[-1].trace
    assert reopened is not None
    # Word for word, but for the budget (a setting of the conversation, not of the answer).
    assert reopened.toggle.text() == re.sub(r" \(budget [\d,]+\)$", "", final)
