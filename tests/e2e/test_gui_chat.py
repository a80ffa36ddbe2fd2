"""The real window, offscreen, talking to the real SmolLM2 engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.events import ReasoningState
from app.store.domain import MessageStatus, Role
from tests.support.window import load_model, window_open
from ui.window import MainWindow

pytestmark = pytest.mark.llama

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "chat_templates"


@pytest.fixture
def window(qtbot, smollm2: Path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, first_run=True) as w:
        r1 = (TEMPLATES / "deepseek-r1-distill.jinja").read_text(encoding="utf-8")
        w.settings.n_ctx = 1024
        # SmolLM2 under the R1 template rarely stops by itself
        w.settings_panel.max_tokens.setValue(96)
        w.settings_panel.seed.setValue(3)  # a seed with which the tiny model writes an answer
        load_model(qtbot, w, smollm2, chat_template=r1)
        yield w


def send_and_wait(qtbot, w: MainWindow, text: str, timeout: int = 240_000) -> None:  # type: ignore[no-untyped-def]
    w.composer.edit.setPlainText(text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    assert w.busy  # its rows are written on the database thread, then it streams
    qtbot.waitUntil(lambda: not w.busy, timeout=timeout)


def test_budgeted_trace_streams_collapses_and_answer_follows(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.composer.set_thinking("budget", 1024)
    window.composer.thinking.setCurrentIndex(5)  # custom
    window.composer.custom_budget.setValue(24)
    send_and_wait(qtbot, window, "Is 91 a prime number?")
    widgets = window.view.widgets
    assert [w.role for w in widgets] == ["user", "assistant"]
    answer = widgets[1]
    assert answer.trace is not None
    assert answer.trace.text.strip()
    assert "budget reached" in answer.trace.text  # the injected text is marked in the trace
    assert not answer.trace.live
    assert "Thought for" in answer.trace.header_text()
    assert "thinking budget" in answer.trace.header_text()
    assert answer.answer.text.strip(), "the answer follows the capped reasoning"
    assert answer.trace.body.isHidden(), "the trace collapsed when the answer started"
    assert answer.footer.isVisible() and "tok/s" in answer.footer.text()
    assert answer.title.text() == "SmolLM2-135M-Instruct Q4_1"  # the model that wrote it
    assert answer.copy_reasoning_button.isEnabled()
    assert "SmolLM2" not in answer.footer.text()  # said once, in the title
    # Saved in the history, reasoning and answer apart.
    convs = window.store.list_conversations()
    assert len(convs) == 1 and convs[0].title.startswith("Is 91")
    path = window.store.active_path(convs[0].id)
    assert [m.role for m in path] == [Role.USER, Role.ASSISTANT]
    assert path[1].status is MessageStatus.COMPLETE
    assert path[1].reasoning_state is ReasoningState.CAPPED
    assert path[1].content.strip() == answer.answer.text.strip()
    qtbot.waitUntil(lambda: window.list_model.rowCount() == 1, timeout=10_000)


def test_stop_mid_stream_keeps_what_was_written(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.composer.thinking.setCurrentIndex(
        0
    )  # auto: SmolLM2 under the R1 template thinks until stopped
    window.composer.edit.setPlainText("Tell me a long story about the sea.")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (
            bool(window.view.widgets)  # the answer starts once its rows are written
            and window.view.widgets[-1].trace is not None
            and window.view.widgets[-1].trace.tokens > 5
        ),
        timeout=120_000,
    )
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.chat.stream.active, timeout=120_000)
    last = window.view.widgets[-1]
    assert last.error.text() == "Stopped."
    cid = window.conversation_id
    assert cid is not None
    saved = window.store.active_path(cid)[-1]
    assert saved.status is MessageStatus.CANCELLED
    assert saved.reasoning.strip()


def test_regenerate_adds_a_sibling_and_navigation(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.composer.thinking.setCurrentIndex(1)  # thinking off: quick answers
    send_and_wait(qtbot, window, "Say hello.")
    first = window.view.widgets[-1].message_id
    window.regenerate_last()
    assert window.busy
    qtbot.waitUntil(lambda: not window.busy, timeout=240_000)
    last = window.view.widgets[-1]
    assert last.message_id != first
    # The navigation is read from the history right after the answer ends.
    qtbot.waitUntil(lambda: last.sibling_label.text() == "2/2", timeout=10_000)
    assert last.prev_button.isEnabled()
    window.show_sibling(last.message_id, -1)
    qtbot.waitUntil(lambda: window.view.widgets[-1].message_id == first, timeout=10_000)
    assert window.view.widgets[-1].sibling_label.text() == "1/2"


def test_search_finds_the_conversation(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.composer.thinking.setCurrentIndex(1)
    send_and_wait(qtbot, window, "Tell me about zeppelins")
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.search_box.hasFocus()
    qtbot.keyClicks(window.search_box, "zeppelins")
    qtbot.waitUntil(lambda: window.list_view.model() is window.search_model, timeout=30_000)
    assert window.search_model.rowCount() >= 1
    assert "zeppelins" in window.search_model.index(0).data().lower()
