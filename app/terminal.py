"""Text for the terminal: untrusted text shown, never obeyed; a closed pipe ends quietly.

Titles, answers, imported files and hub listings are untrusted: an escape sequence in them
(``ESC ] 52`` writes the clipboard, ``ESC [ 2J`` clears the screen, a bidi override reorders
what the user reads) must not reach the terminal as a command. :func:`safe_text` shows such
characters as visible escapes (``\\x1b``, ``\\u202e``); :func:`safe_json` does the same inside
JSON strings with JSON's own escapes, so the data read back is unchanged. Only output the user
asked for as raw bytes (``history export --out -``, ``chat`` answers piped to another program)
is written as it is.

:func:`run_cli` runs a command so that a reader that goes away (``ponder models catalog |
head -3``) ends it quietly with status 141 (128 + SIGPIPE, as other tools do), never with a
traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

#: C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates,
#: and lone surrogates (which cannot even be encoded for the terminal).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: In JSON text, C0 controls are escaped by ``json.dumps`` already.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

EXIT_BROKEN_PIPE = 141


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def safe_text(text: str) -> str:
    """``text`` with every control character shown as an escape (tab and newline kept).

    A Windows line end (``\\r\\n``) becomes a plain newline; any other carriage return, which
    could hide what came before it on the line, is shown as ``\\x0d``.
    """
    return _UNSAFE.sub(_visible, text.replace("\r\n", "\n"))


def safe_json(
    data: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> str:
    """``json.dumps`` that keeps readable text but escapes what a terminal would obey.

    The escapes are JSON's own (``\\u009b``), so a program reading it gets the same data.
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=default)
    return _UNSAFE_IN_JSON.sub(_json_escape, text)


class SafeWriter(io.TextIOBase):
    """A text stream that passes everything through :func:`safe_text` to ``inner``."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(safe_text(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def safe_stdout() -> Iterator[None]:
    """Within the block, whatever is printed to standard output goes through :func:`safe_text`."""
    inner = sys.stdout
    sys.stdout = SafeWriter(inner)
    try:
        yield
    finally:
        sys.stdout = inner


def run_cli(command: Callable[[], int]) -> int:
    """Run ``command``; a closed standard output ends it with :data:`EXIT_BROKEN_PIPE`."""
    try:
        status = command()
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return status


def _silence_stdout() -> None:
    """Point standard output at /dev/null so that the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
