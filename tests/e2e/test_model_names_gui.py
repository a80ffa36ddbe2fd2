"""One name per model in the window, live and reopened; a model that does not reason is not
offered reasoning; the model bar says when it is generating. Real SmolLM2, offscreen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from tests.support.window import load_model, window_open
from ui.window import EMPTY_READY_PLAIN, MainWindow

pytestmark = pytest.mark.llama

NAME = "SmolLM2-135M-Instruct Q4_1"  # the file's name, cleaned; not general.name


@pytest.fixture
def window(qtbot, smollm2: Path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot) as w:
        w.settings.n_ctx = 1024
        w.settings_panel.max_tokens.setValue(48)
        w.settings_panel.seed.setValue(3)
        load_model(qtbot, w, smollm2)  # its own template: SmolLM2 does not reason
        yield w


def test_one_name_live_and_reopened_and_no_reasoning_offered(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    bar = window.model_bar
    assert f"<b>{NAME}</b>" in bar.name.text()
    assert "Smollm2 135M" not in bar.name.text()  # general.name of this GGUF
    assert bar.status.text() == "ready"
    assert window.view.empty.text() == EMPTY_READY_PLAIN
    assert "reasoning" not in window.view.empty.text()

    statuses: list[str] = []
    window.composer.edit.setPlainText("Say hello.")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.chat.stream.active, timeout=60_000)
    statuses.append(bar.status.text())  # while the answer is being written
    qtbot.waitUntil(lambda: not window.busy, timeout=240_000)
    assert statuses == ["generating…"]
    assert bar.status.text() == "ready"

    live = window.view.widgets[-1]
    assert live.title.text() == NAME
    assert live.answer.text.strip()
    assert live.trace is None and not live.copy_reasoning_button.isEnabled()
    assert live.copy_button.isEnabled()

    live_title = live.title.text()
    cid = window.conversation_id
    assert cid is not None
    window.new_chat()
    window.open_conversation(cid)
    qtbot.waitUntil(lambda: len(window.view.widgets) == 2, timeout=30_000)
    reopened = window.view.widgets[-1]
    assert reopened.title.text() == live_title == NAME
    assert not reopened.copy_reasoning_button.isEnabled()
    assert NAME not in reopened.footer.text()  # said once, in the title
