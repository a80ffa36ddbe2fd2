"""The engine worker never outlives the process that started it.

On Linux the kernel kills the worker when its parent dies (``PR_SET_PDEATHSIG``); on every OS
a thread in the worker waits on multiprocessing's parent sentinel (the spawn pipe's EOF on
POSIX, the parent's process handle on Windows) and ends it at once. The Linux signal fires
when the *thread* that started the worker ends, and the app starts workers from short job
threads (a model load), so every worker is started from one long-lived thread
(:func:`start_process`).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

#: The worker's exit code when it ended because its parent was gone.
EXIT_ORPHANED = 3
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def watch_parent() -> None:
    """End this process as soon as the process that spawned it is gone.

    Nothing to do when not running as a spawned child (``parent_process()`` is None).
    """
    parent = mp.parent_process()
    if parent is None:
        return
    _kill_me_with_parent()
    if not parent.is_alive():  # it died before the signal was armed
        os._exit(EXIT_ORPHANED)
    thread = threading.Thread(
        target=_exit_when_gone, args=(parent,), name="ponder-parent-watch", daemon=True
    )
    thread.start()


def _exit_when_gone(parent: Any) -> None:
    parent.join()  # returns when the sentinel is ready: the parent is gone
    os._exit(EXIT_ORPHANED)  # at once: no engine teardown, no flushing half-sent events


def _kill_me_with_parent() -> None:
    """Linux: ask the kernel for SIGKILL when the parent (its spawning thread) ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # an unusual libc: the sentinel thread still works
        pass


class _Launcher:
    """One daemon thread that starts every worker process and then lives on."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the launcher thread and return (or raise) what it did."""
        reply: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="ponder-launcher", daemon=True
                )
                self._thread.start()
            self._jobs.put((job, reply))
        error = reply.get()
        if error is not None:
            raise error

    def _loop(self) -> None:
        while True:
            job, reply = self._jobs.get()
            try:
                job()
            except BaseException as err:  # handed to the caller, raised there
                reply.put(err)
            else:
                reply.put(None)


_launcher = _Launcher()


def start_process(process: Any) -> None:
    """Start a worker process from the long-lived launcher thread (see :class:`_Launcher`)."""
    _launcher.run(process.start)
