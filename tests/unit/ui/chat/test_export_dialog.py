"""The export dialog's small decisions: which file and format, the suggested name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from app.store.export import Markers
from ui.chat.export_dialog import (
    JSON,
    JSONL,
    MARKDOWN,
    DatasetOptions,
    DatasetOptionsDialog,
    Exporter,
    _file_name,
    _target,
)

# The offscreen platform cannot resize to hints: not this code's warning; any other fails.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

BOTH = [MARKDOWN, JSON]


@pytest.mark.parametrize(
    ("typed", "chosen", "filters", "expected"),
    [
        ("/t/chat", MARKDOWN, BOTH, ("/t/chat.md", MARKDOWN)),  # no suffix: the filter's added
        ("/t/chat", JSON, BOTH, ("/t/chat.json", JSON)),
        ("/t/chat.json", MARKDOWN, BOTH, ("/t/chat.json", JSON)),  # the typed suffix wins
        ("/t/chat.MD", JSON, BOTH, ("/t/chat.MD", MARKDOWN)),
        ("/t/notes.txt", JSON, BOTH, ("/t/notes.txt", JSON)),  # unknown suffix: kept as typed
        ("/t/data", JSONL, [JSONL], ("/t/data.jsonl", JSONL)),
        ("/t/data.json", JSONL, [JSONL], ("/t/data.json", JSONL)),
        ("/t/chat", "", BOTH, ("/t/chat.md", MARKDOWN)),  # no filter reported: the first
    ],
)
def test_target_file_and_format(
    typed: str, chosen: str, filters: list[str], expected: tuple[str, str]
) -> None:
    path, kind = _target(typed, chosen, filters)
    assert (str(path), kind) == (str(Path(expected[0])), expected[1])


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Why is the sky blue?", "Why is the sky blue"),
        ('a/b\\c:d*e"f<g>h|i', "a b c d e f g h i"),
        ("  ...  ", "conversation"),
        ("", "conversation"),
        ("x" * 200, "x" * 80),
        ("line\nbreak\ttab", "line break tab"),
    ],
)
def test_suggested_file_name(title: str, name: str) -> None:
    assert _file_name(title) == name


def _answer_modal(qtbot, act: Callable[[QWidget], None]) -> list[QWidget]:  # type: ignore[no-untyped-def]
    """Act on the next modal dialog once it shows (the real dialogs, not replaced)."""
    seen: list[QWidget] = []

    def poll() -> None:
        modal = QApplication.activeModalWidget()
        if modal is None:
            QTimer.singleShot(20, poll)
            return
        seen.append(modal)
        act(modal)

    QTimer.singleShot(0, poll)
    return seen


def test_the_file_dialog_is_qt_s_own_and_starts_at_the_suggested_name(
    qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    parent = QWidget()
    qtbot.addWidget(parent)
    exporter = Exporter(lambda: lambda: None, parent)  # type: ignore[arg-type,return-value]
    exporter._folder = tmp_path
    target = tmp_path / "chosen.json"

    def choose(dialog: QWidget) -> None:
        assert isinstance(dialog, QFileDialog)  # not the platform's: tests and Linux alike
        assert dialog.testOption(QFileDialog.Option.DontUseNativeDialog)
        assert dialog.selectedFiles() == [str(tmp_path / "Sky.md")]
        assert dialog.nameFilters() == [MARKDOWN, JSON]
        dialog.selectNameFilter(JSON)
        dialog.selectFile(str(target))
        dialog.accept()

    seen = _answer_modal(qtbot, choose)
    assert exporter.ask_path("Export conversation", "Sky.md", [MARKDOWN, JSON]) == (
        str(target),
        JSON,
    )
    assert len(seen) == 1

    _answer_modal(qtbot, lambda dialog: dialog.reject())  # type: ignore[attr-defined]
    assert exporter.ask_path("Export dataset", "dataset.jsonl", [JSONL]) is None


def test_the_options_dialog_returns_the_choices_or_none(qtbot) -> None:  # type: ignore[no-untyped-def]
    parent = QWidget()
    qtbot.addWidget(parent)
    exporter = Exporter(lambda: lambda: None, parent)  # type: ignore[arg-type,return-value]

    def keep(dialog: QWidget) -> None:
        assert isinstance(dialog, DatasetOptionsDialog)
        dialog.keep_injected.setChecked(True)
        dialog.accept()

    _answer_modal(qtbot, keep)
    assert exporter.ask_dataset_options(3) == DatasetOptions(Markers.THINK, True, True)
    _answer_modal(qtbot, lambda dialog: dialog.reject())  # type: ignore[attr-defined]
    assert exporter.ask_dataset_options(3) is None
