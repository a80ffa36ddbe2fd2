"""A program on a pseudo-terminal, as a person runs it: what they see, and the keys they type."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Colours and cursor moves, to compare what the screen says.
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Terminal:
    """A child process on a pseudo-terminal: what a person sees, and keys they type."""

    def __init__(self, argv: list[str], root: Path = ROOT) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its controlling terminal is the pty, so Ctrl+C is SIGINT
            os.environ["PYTHONPATH"] = str(root)
            os.chdir(root)
            os.execv(argv[0], argv)
        self.pid = pid
        self.fd = fd
        self.screen = ""

    def read_until(self, predicate, timeout: float) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate(self.screen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; the terminal shows:\n{self.screen[-3000:]}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"the program ended; it showed:\n{self.screen[-3000:]}")
                self.screen += data.decode("utf-8", errors="replace")
        return self.screen

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:  # keep draining so the child never blocks on a full terminal
                if select.select([self.fd], [], [], 0.2)[0]:
                    self.screen += os.read(self.fd, 65536).decode("utf-8", errors="replace")
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise AssertionError("the program did not exit")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def close(self) -> None:
        self.kill()
        os.close(self.fd)
