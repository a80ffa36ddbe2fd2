"""Answer now and the loop guard end to end: the real window (offscreen) and the real REPL.

SmolLM2 behind the R1-distill template "thinks" without end; at temperature 0, asked for a
story about the sea, it falls into a loop within ~120 tokens.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.events import InjectReason, ReasoningState
from app.store.domain import MessageStatus
from tests.support.pty_terminal import ANSI, Terminal
from tests.support.window import load_model, window_open
from ui.window import MainWindow

pytestmark = pytest.mark.llama

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "tests" / "fixtures" / "chat_templates"
LOOP_PROMPT = "Tell me a long story about the sea."


@pytest.fixture
def window(qtbot, smollm2: Path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, first_run=True) as w:
        r1 = (TEMPLATES / "deepseek-r1-distill.jinja").read_text(encoding="utf-8")
        w.settings.n_ctx = 1024
        # 300: the reasoning may take ~210 tokens before room is kept for the answer, well past
        # the loop (~120 tokens in).
        w.settings_panel.max_tokens.setValue(300)
        w.settings_panel.temperature.setValue(0.0)
        w.composer.thinking.setCurrentIndex(0)  # auto: the R1 template makes it think
        load_model(qtbot, w, smollm2, chat_template=r1, timeout=60_000)
        yield w


def start(qtbot, w: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    w.composer.edit.setPlainText(text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    assert w.busy  # its rows are written on the database thread, then it streams
    qtbot.waitUntil(lambda: w.chat.stream.active, timeout=10_000)


def saved_answer(w: MainWindow):  # type: ignore[no-untyped-def]
    assert w.conversation_id is not None
    return w.store.active_path(w.conversation_id)[-1]


def test_answer_now_button_on_the_live_trace(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.settings_panel.max_tokens.setValue(100)
    start(qtbot, window, LOOP_PROMPT)
    widget = window.view.widgets[-1]
    qtbot.waitUntil(lambda: widget.trace is not None and widget.trace.tokens > 8, timeout=60_000)
    trace = widget.trace
    assert trace is not None and trace.live and not trace.answer_now.isHidden()
    trace.answer_now.click()
    qtbot.waitUntil(lambda: not window.chat.stream.active, timeout=240_000)
    # The trace records where and why the thinking ended; the answer follows it.
    assert "[Ponder · answer now]" in trace.text
    assert trace.end_reason is InjectReason.ANSWER_NOW
    assert "stopped early: answer now" in trace.header_text()
    assert trace.answer_now.isHidden()
    assert widget.answer.text.strip(), "the model answered after being told to"
    saved = saved_answer(window)
    assert saved.status is MessageStatus.COMPLETE
    assert saved.reasoning_state is ReasoningState.ANSWER_NOW
    assert [s.reason for s in saved.injected] == ["answer_now"]
    assert saved.content.strip() == widget.answer.text.strip()


def test_answer_now_shortcut(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.settings_panel.max_tokens.setValue(100)
    start(qtbot, window, LOOP_PROMPT)
    widget = window.view.widgets[-1]
    qtbot.waitUntil(lambda: widget.trace is not None and widget.trace.tokens > 8, timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.chat.stream.active, timeout=240_000)
    assert saved_answer(window).reasoning_state is ReasoningState.ANSWER_NOW


@pytest.mark.timeout(600)
def test_loop_banner_then_answer_now(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    start(qtbot, window, LOOP_PROMPT)
    widget = window.view.widgets[-1]
    qtbot.waitUntil(
        lambda: widget.trace is not None and not widget.trace.loop_banner.isHidden(),
        timeout=240_000,
    )
    trace = widget.trace
    assert trace is not None and trace.live
    assert trace.loop_label.text() == "The model seems to be going in circles."
    assert "the future is revealed" in trace.loop_label.toolTip()
    trace.loop_answer_now.click()
    assert trace.loop_banner.isHidden()
    qtbot.waitUntil(lambda: not window.chat.stream.active, timeout=240_000)
    assert "[Ponder · answer now]" in trace.text
    assert widget.answer.text.strip()
    assert saved_answer(window).reasoning_state is ReasoningState.ANSWER_NOW


# -- the REPL in a pseudo-terminal --------------------------------------------------------


@pytest.mark.timeout(900)
def test_repl_ctrl_c_while_thinking_answers_now(smollm2: Path) -> None:
    term = Terminal(
        [
            sys.executable,
            "-m",
            "app",
            "chat",
            "--model",
            str(smollm2),
            "--chat-template",
            str(TEMPLATES / "deepseek-r1-distill.jinja"),
            "--temperature",
            "0",
            "--max-tokens",
            "400",
            "--ctx",
            "1024",
            "--no-save",
        ]
    )
    try:
        term.read_until(lambda s: "\n> " in s, timeout=300)
        term.type(LOOP_PROMPT + "\r")
        start = len(term.screen)
        # Wait until some reasoning is on screen, then press Ctrl+C once.
        term.read_until(lambda s: "Thinking…" in s[start:] and len(s) - start > 120, timeout=300)
        term.type("\x03")
        screen = term.read_until(lambda s: "\n> " in s[start:], timeout=300)
        turn = ANSI.sub("", screen[start:])
        assert "[answer now]" in turn, turn
        after = turn.split("[answer now]", 1)[1]
        stats = next(line for line in after.splitlines() if line.startswith("──"))
        assert "answer tokens" in stats and "cancelled" not in stats, stats
        content = after.split("final answer now.", 1)[1].split("──", 1)[0]
        assert content.strip(), f"no answer after answer now: {turn!r}"
        term.type("/exit\r")
        assert term.wait(timeout=30) == 0
    finally:
        term.close()
