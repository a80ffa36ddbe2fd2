"""Signals emitted from worker threads, safe when the app is quitting.

At quit PySide deletes the Qt objects Python still owns while a worker thread may still be
finishing (a model load, a folder scan, a formula). Emitting on a deleted object raises
``RuntimeError: Signal source has been deleted`` in that thread: nobody is left to tell,
so :func:`emit_from_thread` drops the news instead.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, SignalInstance
from shiboken6 import isValid


def emit_from_thread(owner: QObject, signal: SignalInstance, *args: object) -> bool:
    """Emit ``signal`` (an attribute of ``owner``) unless ``owner`` is gone; ``True`` if sent."""
    if not isValid(owner):
        return False
    try:
        signal.emit(*args)
    except RuntimeError:
        if isValid(owner):
            raise  # a real error, not a deleted sender
        return False
    return True
