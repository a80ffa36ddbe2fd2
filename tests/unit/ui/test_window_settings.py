"""Opening Settings leaves the sidebar its width (it was squeezed to ~80 px)."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt

from app.engine import ModelFile, ModelInfo, ModelTemplate, RuntimeParams
from app.templates import TemplateSource
from ui.window import MainWindow

# What the model bar shows once a model is loaded (a long line: name, family, context...).
INFO = ModelInfo(
    ModelFile(
        "/models/bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf",
        "qwen2",
        "DeepSeek R1 Distill Qwen 7B",
        size_bytes=4_680_000_000,
        n_params=7_600_000_000,
        trained_context=131072,
    ),
    RuntimeParams(8192, n_threads=8, kv_cache_type="f16"),
    ModelTemplate("", TemplateSource.MODEL, "deepseek-r1"),
)


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    w = MainWindow(first_run=False)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


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
