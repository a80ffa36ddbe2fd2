"""The window opens the last model again at start (a setting, on by default). Real SmolLM2,
real settings file, offscreen; a missing file is a quiet status-bar note, never a dialog."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QMessageBox

from app.settings import load_settings
from tests.support.window import load_model, open_window

pytestmark = pytest.mark.llama


def _first_run_loads(qtbot, model: Path) -> None:  # type: ignore[no-untyped-def]
    w = open_window(qtbot)
    w.settings.n_ctx = 512
    load_model(qtbot, w, model)
    w.close()


def _no_dialogs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    shown: list[str] = []
    for name in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QMessageBox, name, lambda *a, _n=name, **k: shown.append(_n))
    return shown


def test_the_last_model_is_loaded_again_after_a_restart(
    qtbot, ponder_home: Path, smollm2: Path
) -> None:  # type: ignore[no-untyped-def]
    _first_run_loads(qtbot, smollm2)
    assert load_settings().reload_last_model is True  # on by default
    w = open_window(qtbot)
    assert w.settings_panel.reload_last.isChecked()
    with qtbot.waitSignal(w.bridge.model_loaded, timeout=240_000):
        w.reload_last_model()
    assert "SmolLM2-135M-Instruct" in w.model_bar.name.text()
    # This machine's llama.cpp is a CPU build: nothing offloaded, and the bar says so.
    assert w.bridge.info is not None and w.bridge.info.n_gpu_layers == 0
    assert w.bridge.info.n_layer == 30
    assert w.model_bar.name.text().endswith(" · CPU")
    assert w.model_bar.status.text() == "ready"
    w.close()


def test_a_missing_last_model_is_a_quiet_note(
    qtbot, ponder_home: Path, smollm2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "gone.gguf"
    shutil.copyfile(smollm2, copy)
    _first_run_loads(qtbot, copy)
    copy.unlink()
    shown = _no_dialogs(monkeypatch)
    w = open_window(qtbot)
    w.reload_last_model()
    qtbot.wait(300)
    assert f"The last model is gone: {copy}" == w.statusBar().currentMessage()
    assert w.model_bar.name.text() == "No model loaded"
    assert shown == []
    w.close()


def test_with_the_setting_off_no_model_is_loaded(qtbot, ponder_home: Path, smollm2: Path) -> None:  # type: ignore[no-untyped-def]
    _first_run_loads(qtbot, smollm2)
    w = open_window(qtbot)
    w.settings_panel.reload_last.setChecked(False)
    w.close()  # saves the settings
    assert load_settings().reload_last_model is False
    w = open_window(qtbot)
    assert not w.settings_panel.reload_last.isChecked()
    loaded: list[object] = []
    w.bridge.model_loaded.connect(loaded.append)
    w.reload_last_model()
    qtbot.wait(1500)
    assert loaded == [] and w.model_bar.name.text() == "No model loaded"
    w.close()
