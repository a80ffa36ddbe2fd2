"""Which process is streaming an answer, so that only orphaned answers become interrupted.

A streaming answer records its writer as ``"<pid>:<process start time>"``. When the store
opens, a streaming answer whose writer is gone (killed, crashed, power cut) is marked
``interrupted``; one whose writer still runs (the GUI, while ``ponder history`` runs in a
terminal) is left alone. The start time guards against a reused pid.
"""

from __future__ import annotations

import os

_cache: tuple[int, str] | None = None


def writer_identity() -> str:
    """This process, as recorded in ``messages.writer``."""
    global _cache
    pid = os.getpid()
    if _cache is None or _cache[0] != pid:  # recomputed after a fork
        _cache = (pid, f"{pid}:{_start_time(pid)}")
    return _cache[1]


def writer_alive(identity: str | None) -> bool:
    """Whether the process named by ``identity`` still runs (``False`` when unknown)."""
    if not identity:
        return False
    pid_text, _, start_text = identity.partition(":")
    try:
        pid, start = int(pid_text), int(start_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return identity == writer_identity()
    now = _start_time(pid)
    return now is not None and abs(now - start) <= 1


def _start_time(pid: int) -> int | None:
    import psutil  # lazily: only needed when answers stream or were left streaming

    try:
        return int(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None
