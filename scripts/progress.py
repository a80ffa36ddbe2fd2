"""Run one long install step quietly: its output goes to a log file, the person sees progress.

``scripts/install.sh`` runs pip through this so that a 10-minute compile shows one updating
line ("Building llama.cpp… 3m12s, compiling 40/83") on a terminal, or a few plain lines in a
CI log, instead of pip's "still running..." and its build tools' warnings. When the step fails
it says so, names the log and prints the log's last lines.

    python scripts/progress.py --log FILE --title "Building llama.cpp" [--note TEXT] -- CMD...

Exits with the command's exit status. Standard library only: it runs before Ponder is
installed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

# Lines of pip -v and scikit-build-core's output that start a phase, and what to call it.
PHASES = [
    (re.compile(r"Installing build dependencies"), "installing the build tools"),
    (re.compile(r"\*\*\* Configuring CMake"), "configuring"),
    (re.compile(r"\*\*\* Building project"), "compiling"),
    (re.compile(r"\*\*\* Installing project"), "making the wheel"),
]
STEP = re.compile(r"^\s*\[(\d+)/(\d+)\]")
TAIL = 30  # log lines shown when the step fails
PLAIN_EVERY = 0.25  # without a terminal: a line at each quarter of the compile


class State:
    """What the log says so far: the phase and the build's step counter."""

    def __init__(self) -> None:
        self.phase, self.done, self.total = "", 0, 0

    def read(self, line: str) -> None:
        for pattern, name in PHASES:
            if pattern.search(line):
                self.phase, self.done, self.total = name, 0, 0
        step = STEP.match(line)
        if step:
            self.done, self.total = int(step.group(1)), int(step.group(2))

    def describe(self) -> str:
        if self.phase == "compiling" and self.total:
            return f"compiling {self.done}/{self.total}"
        return self.phase


def elapsed(seconds: float) -> str:
    """``45s`` or ``3m12s``."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Reporter:
    """Says where the step is: one rewritten line on a terminal, a few plain lines otherwise."""

    def __init__(self, title: str, out: TextIO) -> None:
        self.title, self.out = title, out
        self.live = out.isatty()
        self.said = ("", -1.0)  # (phase, quarter) last printed as a plain line

    def update(self, state: State, seconds: float) -> None:
        detail = state.describe()
        if self.live:
            text = f"{self.title}… {elapsed(seconds)}" + (f", {detail}" if detail else "")
            self.out.write(f"\r\033[K{text}")
        else:
            quarter = int(state.done / state.total / PLAIN_EVERY) if state.total else -1
            if detail and (state.phase, quarter) != self.said:
                self.said = (state.phase, quarter)
                self.out.write(f"  {elapsed(seconds)}: {detail}\n")
        self.out.flush()

    def finish(self, ok: bool, seconds: float) -> None:
        if self.live:
            self.out.write("\r\033[K")
        word = "done" if ok else "failed"
        self.out.write(f"{self.title}: {word} in {elapsed(seconds)}\n")
        self.out.flush()


def finished(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """Whether ``proc`` has ended, waiting up to ``seconds`` for it."""
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def run(command: list[str], log: Path, title: str, note: str, out: TextIO) -> int:
    """Run ``command`` with its output appended to ``log``; report progress on ``out``."""
    reporter, state = Reporter(title, out), State()
    if not reporter.live:
        out.write(f"{title}{f' ({note})' if note else ''}…\n")
    elif note:
        out.write(f"{title} ({note})\n")
    start = time.monotonic()
    with open(log, "a", encoding="utf-8") as sink, open(log, encoding="utf-8") as source:
        source.seek(0, 2)
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        partial = ""
        try:
            while not finished(proc, 0.5):
                *lines, partial = (partial + source.read()).split("\n")
                for line in lines:
                    state.read(line)
                reporter.update(state, time.monotonic() - start)
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
    code = proc.returncode
    reporter.finish(code == 0, time.monotonic() - start)
    if code != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        out.write(f"The full log is {log}; its last {min(TAIL, len(lines))} lines:\n")
        out.write("".join(f"  {line}\n" for line in lines[-TAIL:]))
        out.flush()
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--note", default="", help="said once at the start, e.g. how long")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    try:
        return run(command, args.log, args.title, args.note, sys.stdout)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
