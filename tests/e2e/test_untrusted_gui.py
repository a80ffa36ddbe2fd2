"""Untrusted input in the real window (offscreen, real SmolLM2 engine): a runaway chat
template is stopped by Stop, a hostile one ends in a clear error naming its file, and a
context size beyond the model is refused with the reason."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.store.domain import MessageStatus
from tests.support.window import window_open
from tests.unit.app.test_template_limits import HOSTILE, SORT_LOOP
from ui.window import MainWindow

pytestmark = pytest.mark.llama

WAIT = 240_000  # ms: loading on a busy machine


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, first_run=True) as w:
        w.settings.n_ctx = 512
        w.settings_panel.max_tokens.setValue(8)
        yield w


def send(qtbot, w: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    w.composer.edit.setPlainText(text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    assert w.busy


def test_stop_ends_a_runaway_template_render(qtbot, window: MainWindow, smollm2: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT):
        window.load_model(str(smollm2), chat_template=SORT_LOOP)
    send(qtbot, window, "Hi")
    qtbot.waitUntil(lambda: bool(window.view.widgets) and window.chat.stream.active, timeout=WAIT)
    qtbot.wait(500)  # the worker is rendering the template now (it would take 5 s to fail)
    start = time.monotonic()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.chat.stream.active, timeout=WAIT)
    assert time.monotonic() - start < 4.0  # Stop, not the template's own time limit
    last = window.view.widgets[-1]
    assert last.error.text() == "Stopped."
    cid = window.conversation_id
    assert cid is not None
    assert window.store.active_path(cid)[-1].status is MessageStatus.CANCELLED


def test_a_hostile_template_file_ends_in_an_error_naming_it(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, smollm2: Path, tmp_path: Path
) -> None:
    evil = tmp_path / "evil.jinja"
    evil.write_text(HOSTILE["percent-format"], encoding="utf-8")
    window.settings.chat_template_path = str(evil)
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT):
        window.load_model(str(smollm2))
    send(qtbot, window, "Hi")
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    shown = window.view.widgets[-1].error.text()
    assert f"chat template from {evil} was stopped" in shown, shown
    assert "512 MB of memory" in shown


def test_a_context_beyond_the_model_is_refused_with_the_reason(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, smollm2: Path
) -> None:
    window.settings.n_ctx = 1_048_576  # the most the settings allow; SmolLM2 knows 8,192
    with qtbot.waitSignal(window.bridge.load_failed, timeout=WAIT):
        window.load_model(str(smollm2))
    bar = window.model_bar
    assert bar.status.text().startswith(
        "a context of 1,048,576 tokens is more than SmolLM2-135M-Instruct.Q4_1.gguf can use"
    )
    assert "Choose a context of at most 8,192 tokens." in bar.status.toolTip()
    assert bar.name.text() == "No model loaded"
