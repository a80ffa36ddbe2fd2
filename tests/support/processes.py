"""Real Ponder processes for the lifetime tests: start one, find its engine worker, prove it gone.

A :class:`Launched` process runs in its own session (a signal to its group is what Ctrl+C in
a terminal sends), with stdout and stderr in files the test reads while it runs. Every
descendant seen is remembered, so teardown can kill by PID whatever a failed test left.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
_PR_SET_CHILD_SUBREAPER = 36


def is_worker(proc: psutil.Process) -> bool:
    """The engine worker: a multiprocessing spawn child."""
    with contextlib.suppress(psutil.Error):
        return "spawn_main" in " ".join(proc.cmdline())
    return False


def is_resource_tracker(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "resource_tracker" in " ".join(proc.cmdline())
    return False


def is_template_renderer(proc: psutil.Process) -> bool:
    """The worker's chat-template renderer (:mod:`app.template_sandbox`)."""
    with contextlib.suppress(psutil.Error):
        line = " ".join(proc.cmdline())
        return "app.template_renderer" in line or "--ponder-template-renderer" in line
    return False


def _kind(proc: psutil.Process) -> str:
    if is_worker(proc):
        return "worker"
    if is_template_renderer(proc):
        return "template renderer"
    return "resource tracker" if is_resource_tracker(proc) else "other"


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # ours to reap when this process is the subreaper
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def seconds_until_gone(pids: Sequence[int], limit: float) -> float | None:
    """Seconds until none of ``pids`` runs, or None if some still ran after ``limit``."""
    start = time.monotonic()
    while time.monotonic() - start <= limit:
        if not any(running(pid) for pid in pids):
            return time.monotonic() - start
        time.sleep(0.02)
    return None


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def orphans_come_home() -> Iterator[None]:
    """Linux: orphans of our children are re-parented to this process, which reaps them.

    Without it a killed parent's orphans go to PID 1, which in some containers never reaps
    them; they are gone either way (:func:`running` counts a zombie as gone).
    """
    libc = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        if libc is not None:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


class Launched:
    """A Ponder command run as a user runs it, in its own session."""

    def __init__(self, argv: Sequence[str], folder: Path, env: dict[str, str]) -> None:
        self.out_path = folder / "stdout.txt"
        self.err_path = folder / "stderr.txt"
        self.seen: dict[int, str] = {}  # pid → what it was
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                cwd=ROOT,
                start_new_session=True,
            )
        self.seen[self.proc.pid] = "parent"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def descendants(self) -> list[psutil.Process]:
        try:
            found = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for child in found:
            if self.seen.get(child.pid, "other") == "other":  # just forked: not yet exec'd
                self.seen[child.pid] = _kind(child)
        return found

    def wait_for_worker(self, timeout: float = 120) -> psutil.Process:
        """The engine worker, once it runs (and the resource tracker, remembered too)."""
        workers: list[psutil.Process] = []

        def found() -> bool:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.stderr()}"
            workers[:] = [p for p in self.descendants() if is_worker(p)]
            return bool(workers)

        wait_until(found, timeout, "the engine worker")
        return workers[0]

    def children_pids(self) -> list[int]:
        """Every process it started that the test saw (worker, resource tracker)."""
        self.descendants()
        return [pid for pid in self.seen if pid != self.pid]

    def signal(self, signum: int, *, group: bool = False) -> None:
        if group:
            os.killpg(self.pid, signum)
        else:
            os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def cleanup(self) -> None:
        """Kill, by PID, whatever of it still runs (a failed test must leave nothing)."""
        for pid in self.seen:
            if running(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        for pid in self.seen:
            running(pid)  # reaps what is ours to reap
