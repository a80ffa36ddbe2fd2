"""The README's chat screenshots are a real run: scripts/screenshots.py drives the real window.

The window loads the real SmolLM2 with the R1-distill template, the prompt is typed and sent,
the streaming shot is grabbed while the reasoning streams, and the answer shots show what the
model wrote and the figures it measured.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QImage

from tests.support.scripts import load_script
from tests.support.window import open_window
from ui.window import MainWindow

pytestmark = pytest.mark.llama


@pytest.mark.timeout(1500)
def test_the_chat_screenshots_show_a_real_run(qtbot, tmp_path: Path, smollm2: Path) -> None:  # type: ignore[no-untyped-def]
    shots = load_script("screenshots")
    window = open_window(qtbot, size=(1280, 860))
    seen: list[tuple[bool, int, str]] = []  # at each grab: trace live?, its tokens, the answer
    grab = window.grab

    def recording_grab():  # type: ignore[no-untyped-def]
        widget = window.view.widgets[-1]
        trace = widget.trace
        seen.append((trace.live, trace.tokens, widget.answer.text))
        return grab()

    window.grab = recording_grab  # type: ignore[method-assign]
    try:
        shots.real_chat_screenshots(window, tmp_path, "", lambda s=0.6: qtbot.wait(int(s * 1000)))
        check_a_real_run(window, shots, seen, smollm2)
    finally:
        window.close()  # the engine worker ends with the window
    for name in ("streaming-trace", "answer-collapsed-trace", "answer-expanded-trace"):
        image = QImage(str(tmp_path / f"{name}.png"))
        assert (image.width(), image.height()) == (1280, 860), name


def check_a_real_run(  # type: ignore[no-untyped-def]
    window: MainWindow, shots, seen: list[tuple[bool, int, str]], smollm2: Path
) -> None:
    assert window.bridge.info is not None and Path(window.bridge.info.path) == smollm2
    assert window.model_bar.name.text().startswith("<b>SmolLM2-135M-Instruct")
    streaming, *answered = seen
    assert streaming[0] and streaming[1] >= shots.STREAMING_AT and not streaming[2], streaming
    widget = window.view.widgets[-1]
    assert widget.trace is not None and not widget.trace.live
    assert widget.trace.tokens == shots.BUDGET  # the budget closed the trace
    assert widget.answer.text.strip()
    assert [(live, text) for live, _, text in answered] == [(False, widget.answer.text)] * 2
    assert widget.footer.text().endswith("· budget"), widget.footer.text()
    assert window.conversation_id is not None
    saved = window.store.active_path(window.conversation_id)
    assert [m.content.strip() for m in saved] == [shots.PROMPT, widget.answer.text.strip()]
