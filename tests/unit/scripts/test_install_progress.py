"""scripts/progress.py: the install's one progress line, its plain lines in a log, its failures."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from tests.support.scripts import load_script

progress = load_script("progress")

BUILD = [
    "  Installing build dependencies: started",
    "  *** scikit-build-core 1.1.2 using CMake 3.25.1 (wheel)",
    "  *** Configuring CMake...",
    "  -- The C compiler identification is GNU 12.2.0",
    "  *** Building project with Ninja...",
    *[f"  [{n}/8] /usr/bin/g++ -O3 -c src/file{n}.cpp" for n in range(1, 9)],
    "  *** Installing project into wheel...",
    "  *** Making wheel...",
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_log_says_which_phase_and_how_far_the_compile_is() -> None:
    state = progress.State()
    seen = []
    for line in BUILD:
        state.read(line)
        seen.append(state.describe())
    assert seen[0] == "installing the build tools"
    assert seen[2] == "configuring"
    assert seen[4] == "compiling"  # Ninja has not counted yet
    assert seen[5:13] == [f"compiling {n}/8" for n in range(1, 9)]
    assert seen[-1] == "making the wheel"


def test_a_terminal_gets_one_line_rewritten_in_place() -> None:
    out = Terminal()
    reporter, state = progress.Reporter("Building llama.cpp", out), progress.State()
    for line in BUILD[:8]:
        state.read(line)
    reporter.update(state, 192.4)
    reporter.finish(True, 601)
    assert out.getvalue() == (
        "\r\033[KBuilding llama.cpp… 3m12s, compiling 3/8\r\033[KBuilding llama.cpp: done in 10m01s\n"
    )


def test_a_log_gets_a_few_plain_lines_not_one_per_file() -> None:
    out = io.StringIO()
    reporter, state = progress.Reporter("Building llama.cpp", out), progress.State()
    for second, line in enumerate(BUILD):
        state.read(line)
        reporter.update(state, second * 30)
        reporter.update(state, second * 30 + 1)  # polled again, nothing new: nothing said
    assert out.getvalue().splitlines() == [
        "  0s: installing the build tools",
        "  1m00s: configuring",
        "  2m00s: compiling",
        "  2m30s: compiling 1/8",
        "  3m00s: compiling 2/8",
        "  4m00s: compiling 4/8",
        "  5m00s: compiling 6/8",
        "  6m00s: compiling 8/8",
        "  6m30s: making the wheel",
    ]


def test_a_step_that_succeeds_shows_none_of_its_output(tmp_path: Path) -> None:
    out, log = io.StringIO(), tmp_path / "install.log"
    command = [sys.executable, "-c", "print('pip says a lot' * 3)"]
    code = progress.run(command, log, "Installing Ponder", "", out)
    assert code == 0
    assert out.getvalue().startswith("Installing Ponder…\nInstalling Ponder: done in ")
    assert "pip says a lot" not in out.getvalue()
    assert "pip says a lot" in log.read_text(encoding="utf-8")


def test_a_failed_step_names_its_log_and_shows_its_last_lines(tmp_path: Path) -> None:
    out, log = io.StringIO(), tmp_path / "install.log"
    script = "for n in range(100): print(f'line {n}')\nraise SystemExit('error: no compiler')"
    code = progress.run([sys.executable, "-c", script], log, "Building llama.cpp", "", out)
    assert code == 1
    text = out.getvalue()
    assert "Building llama.cpp: failed in " in text
    assert f"The full log is {log}; its last 30 lines:\n" in text
    assert "  error: no compiler\n" in text and "  line 99\n" in text
    assert "line 70\n" not in text  # only the end
    assert "line 0" in log.read_text(encoding="utf-8")  # all of it is in the log
