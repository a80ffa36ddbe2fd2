"""``run_task``: results reach the GUI thread; a job outliving its relay (at quit) is quiet."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shiboken6
from PySide6.QtCore import QObject

from ui.library_tasks import _Job, _Relay, run_task


def test_result_and_error_arrive_on_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    got: list[object] = []
    run_task(lambda: 6 * 7, got.append, got.append)
    run_task(lambda: 1 / 0, got.append, got.append)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert 42 in got and any(isinstance(g, ZeroDivisionError) for g in got)


def test_nothing_is_delivered_once_the_context_is_gone(qtbot) -> None:  # type: ignore[no-untyped-def]
    got: list[object] = []
    context = QObject()
    run_task(lambda: "late", got.append, got.append, context=context)
    shiboken6.delete(context)
    qtbot.wait(200)
    assert got == []


def test_a_job_whose_relay_was_deleted_at_quit_ends_quietly(qtbot) -> None:  # type: ignore[no-untyped-def]
    got: list[object] = []
    relay = _Relay(got.append, got.append, None)
    job = _Job(lambda: "done", relay)
    shiboken6.delete(relay)  # what PySide does to Python-owned objects when the app quits
    job.run()  # used to raise "Signal source has been deleted" in the pool thread
    qtbot.wait(50)
    assert got == []
