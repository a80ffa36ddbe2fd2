"""Writing to a path the user named (``--out PATH``), whatever is there.

* Nothing there yet: the text is written beside it and renamed into place when complete, so a
  failed or interrupted write leaves no half file.
* A regular file: replaced the same way, but only when the user said so (``--force``, or a
  yes at the prompt); a symbolic link is followed, the file it points at is replaced.
* A device or a pipe (``/dev/null``, ``/dev/stdout``, a FIFO another program reads): written
  directly; renaming over it would put a regular file where the device node was. Write errors
  (``/dev/full``: no space left) are reported, never taken for success.
* A folder, a socket or a disk device: refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from app.errors import PonderError


class OutputPathError(PonderError):
    """The named path cannot (or may not) be written; the message says why."""


Confirm = Callable[[Path], bool]


@contextlib.contextmanager
def open_output(
    target: str | Path, *, force: bool = False, confirm: Confirm | None = None
) -> Iterator[TextIO]:
    """A text stream writing to ``target``; the file is complete once the block ends.

    Args:
        target: the path the user gave.
        force: replace an existing regular file without asking.
        confirm: asked whether to replace an existing regular file when not ``force``;
            ``None`` refuses (the message names ``--force``).

    Raises:
        OutputPathError: the path is refused, or writing failed (the message says why).
    """
    path = Path(target).expanduser()
    try:
        info: os.stat_result | None = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise _error(path, err) from err
    if info is not None and not stat.S_ISREG(info.st_mode):
        with _direct(path, info) as handle:
            yield handle
        return
    if info is not None and not force and not (confirm is not None and confirm(path)):
        raise OutputPathError(f"{path} already exists; add --force to replace it.")
    with _aside(Path(os.path.realpath(path))) as handle:
        yield handle


@contextlib.contextmanager
def _direct(path: Path, info: os.stat_result) -> Iterator[TextIO]:
    """Write into a device or pipe as it is (no rename: it must stay what it is)."""
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise OutputPathError(f"{path} is a folder; name a file to write.")
    if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        kind = "a disk device" if stat.S_ISBLK(mode) else "not a file"
        raise OutputPathError(f"{path} is {kind}; Ponder does not write there.")
    try:
        handle = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as err:
        raise _error(path, err) from err
    try:
        with handle:
            yield handle
            handle.flush()  # so that a device's error (ENOSPC) is raised here
    except OSError as err:
        raise _error(path, err) from err


@contextlib.contextmanager
def _aside(path: Path) -> Iterator[TextIO]:
    """Write to a temporary file beside ``path``; rename it into place when complete."""
    try:
        fd, part = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as err:
        raise _error(path, err) from err
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(part, 0o666 & ~_umask())
        os.replace(part, path)
    except OSError as err:
        _remove(part)
        raise _error(path, err) from err
    except BaseException:
        _remove(part)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(part: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(part)


def _error(path: Path, err: OSError) -> OutputPathError:
    return OutputPathError(f"Cannot write {path}: {err.strerror or err}.")
