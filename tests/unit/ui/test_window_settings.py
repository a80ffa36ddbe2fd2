"""Opening Settings leaves the sidebar its width (it was squeezed to ~80 px); the port a
person sets in the settings file is the one "Serve API" asks for."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt

from app.settings import settings_path
from tests.support.model_infos import R1_7B
from tests.support.window import window_open
from ui.window import MainWindow

# What the model bar shows once a model is loaded (a long line: name, family, context...).
INFO = R1_7B


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, size=(1200, 800)) as w:
        qtbot.waitExposed(w)
        yield w


def open_settings(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=10_000)
    qtbot.keyClick(w, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(w.settings_dock.isVisible, timeout=10_000)
    qtbot.wait(50)


@pytest.mark.parametrize("loaded", [False, True])
def test_opening_settings_keeps_the_sidebar_usable(qtbot, window: MainWindow, loaded: bool) -> None:  # type: ignore[no-untyped-def]
    if loaded:
        window.model_bar.set_loaded(INFO)
        window.model_bar.set_memory(5 * 2**30)
    qtbot.wait(50)
    before = window.sidebar.width()
    assert before >= 200
    open_settings(qtbot, window)
    assert window.sidebar.width() >= 200, "the sidebar was squeezed"
    assert window.settings_panel.width() >= 250  # and the settings are readable
    assert window.width() <= 1201, "the window grew instead"
    if loaded:  # the catalog's name and the quant, not the GGUF's general.name
        assert "<b>DeepSeek-R1-Distill-Qwen-7B Q4_K_M</b>" in window.model_bar.name.text()


def test_serve_api_asks_for_the_port_in_the_settings_file(qtbot) -> None:  # type: ignore[no-untyped-def]
    path = settings_path()
    path.write_text(json.dumps({"server_port": 8123, "from_a_later_version": 1}), "utf-8")
    w = MainWindow(first_run=False)
    qtbot.addWidget(w)
    asked: list[int] = []

    def start(port: int, *, network: bool = False) -> str:  # no model here: the port is what counts
        asked.append(port)
        return f"http://127.0.0.1:{port}/v1"

    w.server.start = start  # type: ignore[method-assign]
    w.set_serving(True)
    assert asked == [8123]
    assert w.model_bar.status.text().startswith("API 127.0.0.1:8123")
    w.close()  # saves the settings
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["server_port"] == 8123 and saved["from_a_later_version"] == 1
