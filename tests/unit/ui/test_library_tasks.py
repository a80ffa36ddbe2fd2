"""``run_task``: results reach the GUI thread; a job outliving its dispatcher (at quit) is
quiet; jobs that end while the GUI thread builds widgets never lock it up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shiboken6
from PySide6.QtCore import QObject

from ui.tasks import _Dispatcher, _Job, _Pending, run_task

ROOT = Path(__file__).resolve().parents[3]


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


def test_a_job_whose_dispatcher_was_deleted_at_quit_ends_quietly(qtbot) -> None:  # type: ignore[no-untyped-def]
    got: list[object] = []
    dispatcher = _Dispatcher(None)
    number = dispatcher.add(_Pending(got.append, got.append, None))
    job = _Job(lambda: "done", dispatcher, number)
    shiboken6.delete(dispatcher)  # what PySide does to Python-owned objects when the app quits
    job.run()  # must not raise "Signal source has been deleted" in the pool thread
    qtbot.wait(50)
    assert got == []


STRESS = textwrap.dedent(
    """
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication, QTextBrowser
    import ui.tasks as lt

    app = QApplication([])
    orig = lt._Job.run
    def slow_end(self):
        orig(self)
        time.sleep(0.003)  # the pool thread lets go of the job while the callback still runs
    lt._Job.run = slow_end
    done, keep = [], []
    def callback(value):
        end = time.monotonic() + 0.005
        while time.monotonic() < end:  # builds widgets: many connect() calls
            keep.append(QTextBrowser())
        del keep[:-20]
        done.append(value)
    for i in range(200):
        lt.run_task(lambda i=i: i, callback, callback)
    start = time.monotonic()
    while len(done) < 200 and time.monotonic() - start < 60:
        app.processEvents()
    print(len(done))
    """
)


def test_jobs_ending_while_the_gui_thread_connects_never_lock_it_up() -> None:
    """CI once hung for good here: a finished job released a per-job QObject on its pool
    thread, whose clean-up took Qt's connection lock and waited for the GIL while the GUI
    thread, holding the GIL, waited for that lock in a connect(). No Qt object is released
    off the GUI thread now. (The race did not reproduce on demand: this is a stress run in a
    child process, so that a lock-up fails the test instead of hanging the suite.)"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", STRESS], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "200"
