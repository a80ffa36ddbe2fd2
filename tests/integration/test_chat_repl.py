"""``ponder chat`` frictions, as a person meets them: the REPL's /commands in a real terminal,
``--continue ID`` without ``--model``, and the note when a thinking control does nothing.

The real SmolLM2 with its own template: a model that does not reason. Answers are kept to a
few tokens; what is asserted is what Ponder prints and saves, not what the model says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.store import open_store
from tests.support.pty_terminal import ANSI, ROOT, Terminal

pytestmark = pytest.mark.llama

NAME = "SmolLM2-135M-Instruct Q4_1"


def ponder(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


class Repl:
    """The REPL on a pseudo-terminal: type a line, get what the screen showed until the next
    prompt (colours removed)."""

    def __init__(self, *args: str) -> None:
        self.term = Terminal([sys.executable, "-m", "app", "chat", *args])
        self.greeting = self.term.read_until(lambda s: "\n> " in s, timeout=300)

    def line(self, text: str, timeout: float = 300) -> str:
        start = len(self.term.screen)
        self.term.type(text + "\r")
        screen = self.term.read_until(lambda s: "\n> " in s[start:], timeout=timeout)
        return ANSI.sub("", screen[start:]).replace("\r\n", "\n")


@pytest.mark.timeout(1500)
def test_repl_commands(smollm2: Path, tmp_path: Path) -> None:
    other = tmp_path / "Other-SmolLM2-Q4_1.gguf"
    other.symlink_to(smollm2)
    repl = Repl("--model", str(smollm2), "--max-tokens", "6", "--temperature", "0", "--ctx", "1024")
    try:
        assert "/help lists the commands" in repl.greeting
        shown = repl.line("/help")
        for usage in ("/model [FILE|ID]", "/budget N|off", "/think on|off|auto", "/new", "/exit"):
            assert usage in shown, shown
        assert "unknown command /frobnicate; /help lists them" in repl.line("/frobnicate")

        shown = repl.line("/model")
        assert NAME in shown and f"file     {smollm2}" in shown, shown
        assert "context  1024 tokens" in shown and "does not reason" in shown

        shown = repl.line("/budget 32")
        assert "reasoning budget: 32 tokens" in shown
        assert f"note: {NAME} does not reason; /budget has no effect" in shown
        shown = repl.line("/budget lots")
        assert "/budget takes a number of tokens" in shown
        assert "reasoning budget: off" in repl.line("/budget off")
        shown = repl.line("/think off")
        assert "thinking: off" in shown
        assert f"note: {NAME} does not reason; /think off has no effect" in shown

        # `//` sends a message that starts with `/`: the model answers it (stats line).
        shown = repl.line("//etc is a folder")
        assert "── " in shown and "saved as conversation 1" in shown, shown
        assert "a new conversation" in repl.line("/new")
        shown = repl.line("Hi")
        assert "saved as conversation 2" in shown, shown

        # A file that is not there: said so, and the loaded model stays.
        shown = repl.line(f"/model {tmp_path / 'nope.gguf'}")
        assert "nope.gguf" in shown and f"file     {smollm2}" in shown, shown
        # Another file: loaded in place of the first; the next answer is saved as its.
        shown = repl.line(f"/model {other}")
        assert "Other-SmolLM2 Q4_1" in shown and f"file     {other}" in shown, shown
        assert "note: Other-SmolLM2 Q4_1 does not reason; --think off has no effect" in shown
        assert "saved as conversation 2" in repl.line("Bye")
        repl.term.type("/exit\r")
        assert repl.term.wait(timeout=30) == 0
    finally:
        repl.term.close()

    with open_store() as store:
        first = [(m.role.value, m.content) for m in store.active_path(1)]
        second = store.active_path(2)
    # Commands never reached the model or the history; `//` became one `/`.
    assert [turn for turn in first if turn[0] == "user"] == [("user", "/etc is a folder")]
    assert [m.content for m in second if m.role.value == "user"] == ["Hi", "Bye"]
    models = [m.model.path for m in second if m.role.value == "assistant" and m.model]
    assert models == [str(smollm2), str(other)]


def test_ctrl_d_quits(smollm2: Path) -> None:
    repl = Repl("--model", str(smollm2), "--ctx", "1024", "--no-save")
    try:
        repl.term.type("\x04")
        assert repl.term.wait(timeout=30) == 0
    finally:
        repl.term.close()


def test_note_when_thinking_controls_do_nothing(smollm2: Path) -> None:
    proc = ponder(
        "chat",
        "--model",
        str(smollm2),
        "--prompt",
        "Hi",
        "--budget",
        "16",
        "--effort",
        "low",
        "--max-tokens",
        "4",
        "--ctx",
        "1024",
        "--no-save",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == [f"note: {NAME} does not reason; --budget and --effort have no effect"]
    assert "── " in proc.stdout  # the chat went on: an answer and its stats


def test_continue_uses_the_conversations_model(smollm2: Path, tmp_path: Path) -> None:
    model = tmp_path / "Moved-Away-Q4_1.gguf"
    model.symlink_to(smollm2)
    common = ("--max-tokens", "4", "--temperature", "0", "--ctx", "1024")
    first = ponder("chat", "--model", str(model), "--prompt", "Hi", *common)
    assert first.returncode == 0, first.stderr
    assert "saved as conversation 1" in first.stderr

    again = ponder("chat", "--continue", "1", "--prompt", "And then?", *common)
    assert again.returncode == 0, again.stderr
    assert "saved as conversation 1" in again.stderr
    with open_store() as store:
        path = store.active_path(1)
    assert [m.content for m in path if m.role.value == "user"] == ["Hi", "And then?"]
    assert {m.model.path for m in path if m.model} == {str(model)}

    model.unlink()
    gone = ponder("chat", "--continue", "1", "--prompt", "Still there?", *common)
    assert gone.returncode == 1
    assert gone.stderr == (
        f"ponder: conversation 1 used Moved-Away Q4_1, whose file {model} is not there any "
        "more; choose a model with --model FILE\n"
    )
