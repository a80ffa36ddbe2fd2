"""Export from the window: the real window, a real history file in PONDER_HOME, the files'
bytes read back (and compared with what ``ponder history export`` writes)."""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QLabel

import ui.chat.export_dialog
from app.cli.history import add_history_parser, run_history
from app.events import Event, EventKind, FinishReason, ReasoningState, Stats, done_event
from app.store import Store, open_store
from app.store.export import Markers
from tests.support.window import load_model, open_window, window_open
from ui.chat.conversation_list import IdRole
from ui.chat.export_dialog import JSON, JSONL, MARKDOWN, DatasetOptions, DatasetOptionsDialog
from ui.window import MainWindow

# The offscreen platform cannot resize to hints: not this code's warning; any other fails.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

NO_MODIFIER = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
INJECTED = "\nTime is up, give the final answer now.\n"


def _answer(
    store: Store,
    cid: int,
    reasoning: str,
    content: str,
    *,
    injected: str = "",
    finish: FinishReason = FinishReason.STOP,
) -> None:
    recorder = store.start_answer(cid)
    recorder.apply(Event(EventKind.REASONING, text=reasoning))
    state = ReasoningState.COMPLETE
    if injected:
        recorder.apply(Event(EventKind.INJECTED, text=injected, data={"reason": "budget"}))
        state = ReasoningState.CAPPED
    recorder.apply(Event(EventKind.CONTENT, text=content))
    recorder.apply(Event(EventKind.STATS, stats=Stats(reasoning_state=state)))
    recorder.apply(done_event(0, finish))


@pytest.fixture
def history(ponder_home: Path) -> dict[str, int]:
    """Sky: a complete turn, then one capped by the budget (Ponder's text injected).
    Egg: one complete turn. Story: an answer the user stopped."""
    with open_store() as store:
        sky = store.create_conversation(system_prompt="Be brief.")
        store.add_user_message(sky.id, "Why is the sky blue?")
        _answer(store, sky.id, "Light scatters off nitrogen.", "Rayleigh scattering.")
        store.add_user_message(sky.id, "And at sunset?")
        _answer(store, sky.id, "Longer path through air", "It turns red.", injected=INJECTED)
        egg = store.create_conversation()
        store.add_user_message(egg.id, "Boil an egg?")
        _answer(store, egg.id, "Eggs take time.", "Nine minutes.")
        story = store.create_conversation()
        store.add_user_message(story.id, "Tell a story about the sky")
        _answer(store, story.id, "Once upon", "There was", finish=FinishReason.CANCELLED)
    return {"sky": sky.id, "egg": egg.id, "story": story.id}


@pytest.fixture
def window(qtbot, history: dict[str, int]) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot) as w:
        qtbot.waitUntil(lambda: w.list_model.rowCount() == 3, timeout=10_000)
        yield w


def _click_row(qtbot, w: MainWindow, cid: int, modifier: Any = NO_MODIFIER) -> QPoint:  # type: ignore[no-untyped-def]
    """Click a conversation in the sidebar; returns where (for its context menu)."""
    model = w.list_view.model()
    row = next(r for r in range(model.rowCount()) if model.index(r, 0).data(IdRole) == cid)
    center = w.list_view.visualRect(model.index(row, 0)).center()
    qtbot.mouseClick(w.list_view.viewport(), Qt.MouseButton.LeftButton, modifier, center)
    return center


def _ask(path: Path, chosen: str, asked: list[tuple[str, str, list[str]]]) -> Any:
    def ask(title: str, name: str, filters: list[str]) -> tuple[str, str]:
        asked.append((title, name, filters))
        return str(path), chosen

    return ask


def _wait_for_note(qtbot, w: MainWindow, start: str) -> str:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: w.statusBar().currentMessage().startswith(start), timeout=20_000)
    return w.statusBar().currentMessage()


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ponder")
    add_history_parser(parser.add_subparsers(dest="command", required=True))
    return run_history(parser.parse_args(["history", *argv]))


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_the_open_conversation_to_markdown_and_json(
    qtbot, window: MainWindow, history: dict[str, int], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    w, sky = window, history["sky"]
    _click_row(qtbot, w, sky)
    qtbot.waitUntil(lambda: w.conversation_id == sky and len(w.view.widgets) == 4, timeout=10_000)

    asked: list[tuple[str, str, list[str]]] = []
    w.exporter.ask_path = _ask(tmp_path / "sky", MARKDOWN, asked)  # no suffix: the filter's
    qtbot.keyClick(w, Qt.Key.Key_E, CTRL_SHIFT)
    assert asked == [("Export conversation", "Why is the sky blue.md", [MARKDOWN, JSON])]
    note = _wait_for_note(qtbot, w, "Exported")
    md = tmp_path / "sky.md"
    assert note == f"Exported “Why is the sky blue?” to {md}."
    data = md.read_bytes()
    assert data.startswith(b"# Why is the sky blue?\n")
    assert b"<details><summary>Reasoning</summary>\n\nLight scatters off nitrogen." in data
    assert b"## User\n\nAnd at sunset?\n" in data and data.endswith(b"It turns red.\n")
    # The same bytes as the command line's export: one implementation of the format.
    assert _cli("export", str(sky), "--format", "md", "--out", str(tmp_path / "cli.md")) == 0
    assert data == (tmp_path / "cli.md").read_bytes()

    w.exporter.ask_path = _ask(tmp_path / "sky.json", MARKDOWN, asked)  # the suffix decides
    qtbot.keyClick(w, Qt.Key.Key_E, CTRL_SHIFT)
    _wait_for_note(qtbot, w, f"Exported “Why is the sky blue?” to {tmp_path / 'sky.json'}")
    doc = json.loads((tmp_path / "sky.json").read_bytes())
    (conv,) = doc["conversations"]
    assert doc["format"] == "ponder.history" and conv["system_prompt"] == "Be brief."
    capped = next(m for m in conv["messages"] if m["content"] == "It turns red.")
    (span,) = capped["injected"]  # the text Ponder injected is marked
    assert span["text"] == INJECTED and span["reason"] == "budget"
    assert capped["reasoning"][span["offset"] :].startswith(INJECTED)
    assert capped["reasoning_state"] == "capped"
    assert not list(tmp_path.glob("*.part"))


def test_export_selected_conversations_as_a_dataset(
    qtbot, window: MainWindow, history: dict[str, int], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    w = window
    _click_row(qtbot, w, history["sky"])
    where = _click_row(qtbot, w, history["egg"], CTRL)
    dialogs: list[DatasetOptionsDialog] = []

    def options(count: int, *, keep: bool = False) -> DatasetOptions:
        dialog = DatasetOptionsDialog(count, w)  # the real dialog, driven, not shown modal
        dialogs.append(dialog)
        dialog.keep_injected.setChecked(keep)
        return dialog.options()

    w.exporter.ask_dataset_options = options
    out = tmp_path / "two.jsonl"
    w.exporter.ask_path = _ask(out, JSONL, [])
    menu = w.context_menu(where)
    assert menu is not None
    (action,) = [a for a in menu.actions() if a.text() == "Export 2 as dataset…"]
    action.trigger()
    assert w.statusBar().currentMessage() == f"Exporting 2 conversations to {out}…"
    note = _wait_for_note(qtbot, w, "Exported")
    assert note == (
        f"Exported 2 conversations to {out}. Left out: 1 answer with text Ponder injected "
        "(budget cap, Answer now; keep it by choice)."
    )
    # Complete-only is on, keeping injected text off, by default.
    assert dialogs[0].complete_only.isChecked() and not dialogs[0].keep_injected.isChecked()
    assert "Export 2 conversations" in dialogs[0].intro.text()
    by_question = {r["conversations"][0]["value"]: r for r in _records(out)}
    assert by_question["Why is the sky blue?"]["conversations"] == [
        {"from": "user", "value": "Why is the sky blue?"},
        {
            "from": "assistant",
            "value": "<think>\nLight scatters off nitrogen.\n</think>\n\nRayleigh scattering.",
        },
    ]
    assert "Time is up" not in out.read_text(encoding="utf-8")
    assert by_question["Boil an egg?"]["conversations"][1]["value"] == (
        "<think>\nEggs take time.\n</think>\n\nNine minutes."
    )

    # Kept by explicit choice: the capped answer and its injected text are in.
    w.exporter.ask_dataset_options = lambda count: options(count, keep=True)
    qtbot.keyClick(w, Qt.Key.Key_D, CTRL_SHIFT)  # the selection is still the two
    note = _wait_for_note(qtbot, w, "Exported")
    assert note == f"Exported 2 conversations to {out}."
    by_question = {r["conversations"][0]["value"]: r for r in _records(out)}
    turns = by_question["Why is the sky blue?"]["conversations"]
    assert len(turns) == 4 and turns[3]["value"] == (
        f"<think>\nLonger path through air{INJECTED}</think>\n\nIt turns red."
    )
    # The command line writes the same bytes with the same choices.
    cli = tmp_path / "cli.jsonl"
    ids = [str(r) for r in sorted(history.values())[:2]]
    argv = ["export", *ids, "--format", "sharegpt", "--complete-only", "--keep-injected"]
    assert _cli(*argv, "--out", str(cli)) == 0
    assert sorted(cli.read_bytes().splitlines()) == sorted(out.read_bytes().splitlines())


def test_search_results_as_a_dataset_say_what_complete_only_left_out(
    qtbot, window: MainWindow, history: dict[str, int], tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    w = window
    monkeypatch.setattr("ui.chat.export_dialog._PROGRESS_EVERY_S", 0.0)  # a note per conversation
    notes: list[str] = []
    w.exporter.progressed.connect(notes.append)
    w.search_box.setText("sky")
    qtbot.waitUntil(lambda: w.list_view.model() is w.search_model, timeout=10_000)
    qtbot.waitUntil(lambda: w.search_model.rowCount() >= 2, timeout=10_000)

    def stratos(count: int) -> DatasetOptions:
        dialog = DatasetOptionsDialog(count, w)
        dialog.markers.setCurrentIndex(1)
        assert count == 2  # sky and story, each once
        return dialog.options()

    w.exporter.ask_dataset_options = stratos
    out = tmp_path / "found.jsonl"
    w.exporter.ask_path = _ask(out, JSONL, [])
    qtbot.keyClick(w, Qt.Key.Key_D, CTRL_SHIFT)  # nothing selected: every result
    note = _wait_for_note(qtbot, w, "Exported")
    assert note == (
        f"Exported 1 conversation to {out}. Left out: 1 incomplete answer (capped, cancelled, "
        "interrupted, failed or without reasoning); 1 answer with text Ponder injected "
        "(budget cap, Answer now; keep it by choice); 1 conversation with no usable answer left."
    )
    assert notes == [
        f"Exporting 2 conversations to {out}…",
        f"Exporting 1 of 2 conversations to {out}…",
        f"Exporting 2 of 2 conversations to {out}…",
    ]
    (record,) = _records(out)
    assert record["system"] == "Be brief."
    assert record["conversations"][1]["value"] == (
        "<|begin_of_thought|>\n\nLight scatters off nitrogen.\n\n<|end_of_thought|>\n\n"
        "<|begin_of_solution|>\n\nRayleigh scattering.\n\n<|end_of_solution|>"
    )
    # A search hit's menu offers all results too.
    center = w.list_view.visualRect(w.search_model.index(0, 0)).center()
    menu = w.context_menu(center)
    assert menu is not None
    assert "Export all 2 conversations found as dataset…" in [a.text() for a in menu.actions()]


def test_an_unwritable_path_is_a_message_not_a_traceback(
    qtbot, window: MainWindow, history: dict[str, int], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    w = window
    target = tmp_path / "no such folder" / "x.md"
    w.exporter.ask_path = _ask(target, MARKDOWN, [])
    w.export_conversation(history["egg"])
    note = _wait_for_note(qtbot, w, "Export failed")
    assert note == f"Export failed: Cannot write {target}: No such file or directory."
    assert not target.parent.exists()

    blocker = tmp_path / "taken.json"
    blocker.mkdir()  # a folder where the file should go
    w.exporter.ask_path = _ask(blocker, JSON, [])
    w.export_conversation(history["egg"])
    note = _wait_for_note(qtbot, w, "Export failed")
    assert note == f"Export failed: {blocker} is a folder; name a file to write."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ponder-home", "taken.json"]


def test_the_file_is_written_off_the_gui_thread(
    qtbot, window: MainWindow, history: dict[str, int], tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    threads: list[threading.Thread] = []
    real = ui.chat.export_dialog.write_markdown

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(ui.chat.export_dialog, "write_markdown", recording)
    w = window
    w.exporter.ask_path = _ask(tmp_path / "egg.md", MARKDOWN, [])
    w.export_conversation(history["egg"])
    _wait_for_note(qtbot, w, "Exported")
    assert threads and threads[0] is not threading.main_thread()
    assert (tmp_path / "egg.md").read_bytes().startswith(b"# Boil an egg?\n")


def test_nothing_to_export_says_what_to_do(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    w = window
    asked: list[Any] = []
    w.exporter.ask_path = lambda *args: asked.append(args)  # type: ignore[assignment,func-returns-value]
    qtbot.keyClick(w, Qt.Key.Key_E, CTRL_SHIFT)
    assert w.statusBar().currentMessage() == "Open a conversation to export it."
    qtbot.keyClick(w, Qt.Key.Key_D, CTRL_SHIFT)
    assert "Select conversations" in w.statusBar().currentMessage()
    assert asked == []


def test_dataset_dialog_explains_its_choices(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = DatasetOptionsDialog(1)
    qtbot.addWidget(dialog)
    dialog.show()
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    boxes = {box.text(): box.isChecked() for box in dialog.findChildren(QCheckBox)}
    assert boxes == {
        "Complete answers only": True,
        "Keep text Ponder injected (budget cap, Answer now)": False,
    }
    assert any("capped, cancelled, interrupted or failed" in t for t in texts)
    assert any("left out with the turns after it" in t for t in texts)
    assert dialog.options() == DatasetOptions(Markers.THINK, True, False)
    dialog.complete_only.setChecked(False)
    dialog.keep_injected.setChecked(True)
    dialog.markers.setCurrentIndex(1)
    assert dialog.options() == DatasetOptions(Markers.STRATOS, False, True)


@pytest.mark.llama
def test_a_real_capped_answer_is_left_out_of_the_dataset_unless_kept(
    qtbot, ponder_home: Path, smollm2: Path, r1_template: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """SmolLM2 under the R1 template, a 24-token thinking budget: Ponder closes the
    reasoning with its own text; the dataset export leaves that answer out unless asked."""
    w = open_window(qtbot)
    w.settings.n_ctx = 1024
    w.settings_panel.max_tokens.setValue(96)
    w.settings_panel.seed.setValue(3)
    load_model(qtbot, w, smollm2, chat_template=r1_template)
    w.composer.set_thinking("budget", 24)
    w.composer.edit.setPlainText("Is 91 a prime number?")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not w.busy, timeout=240_000)
    cid = w.conversation_id
    assert cid is not None
    (answer,) = [m for m in w.store.active_path(cid) if m.role.value == "assistant"]
    assert answer.injected, "the budget closed the reasoning with Ponder's text"
    injected = answer.injected[0].text
    qtbot.waitUntil(lambda: w.list_model.rowCount() == 1, timeout=10_000)
    _click_row(qtbot, w, cid)

    w.exporter.ask_dataset_options = lambda _count: DatasetOptions()  # the defaults
    out = tmp_path / "real.jsonl"
    w.exporter.ask_path = _ask(out, JSONL, [])
    qtbot.keyClick(w, Qt.Key.Key_D, CTRL_SHIFT)
    note = _wait_for_note(qtbot, w, "Exported")
    assert "1 answer with text Ponder injected" in note
    assert out.read_bytes() == b""

    w.exporter.ask_dataset_options = lambda _count: DatasetOptions(
        complete_only=False, keep_injected=True
    )
    qtbot.keyClick(w, Qt.Key.Key_D, CTRL_SHIFT)
    assert _wait_for_note(qtbot, w, "Exported") == f"Exported 1 conversation to {out}."
    (record,) = _records(out)
    assert injected.strip() in record["conversations"][1]["value"]

    w.exporter.ask_path = _ask(tmp_path / "real.json", JSON, [])
    qtbot.keyClick(w, Qt.Key.Key_E, CTRL_SHIFT)
    _wait_for_note(qtbot, w, "Exported “Is 91")
    (conv,) = json.loads((tmp_path / "real.json").read_bytes())["conversations"]
    saved = conv["messages"][1]
    span = saved["injected"][0]
    assert saved["reasoning"][span["offset"] :].startswith(span["text"]) and span["reason"]
    w.close()
