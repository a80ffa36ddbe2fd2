"""The engine worker cannot be started (no file handles left, a broken install): the user is
told so in the model bar, and the window is not left "loading" forever."""

from __future__ import annotations

import errno
import multiprocessing.context
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.support.window import window_open
from ui.window import MainWindow

pytestmark = pytest.mark.llama


def _no_handles_left(process: Any) -> Any:
    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, first_run=True) as w:
        yield w


def test_worker_that_cannot_start_is_a_clear_error(
    qtbot, window: MainWindow, smollm2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        multiprocessing.context.SpawnProcess, "_Popen", staticmethod(_no_handles_left)
    )
    bar = window.model_bar
    with qtbot.waitSignal(window.bridge.load_failed, timeout=30_000):
        window.load_model(str(smollm2))
    qtbot.waitUntil(lambda: "could not start the engine" in bar.status.text(), timeout=5_000)
    assert "Too many open files" in bar.status.text()
    assert bar.name.text() == "No model loaded"  # not "Loading …"
    assert bar.progress.isHidden()
    assert "could not start the engine" in window.statusBar().currentMessage()
    # Once the cause is gone, the next load works.
    monkeypatch.undo()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=240_000):
        window.load_model(str(smollm2))
    assert bar.status.text() == "ready"
