"""Run short library jobs (hub calls, disk scans) off the GUI thread.

:func:`run_task` starts ``func`` on Qt's global thread pool and delivers its result, or the
exception it raised, on the GUI thread through a queued signal (Picard's ``run_task``).

No Qt object is made or released per job: a pool thread that drops the last reference to a
Python-owned QObject destroys it there, and PySide's clean-up then takes Qt's connection lock
and waits for the GIL while the GUI thread, holding the GIL, waits for that same lock in a
``connect()`` (a deadlock seen in CI: Compare's message widget vs. a finished job). The job
holds only a number; one :class:`_Dispatcher` per application, made on the GUI thread, carries
every result, and the callbacks stay on the GUI thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from shiboken6 import isValid

from ui.qt_threads import emit_from_thread

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class _Pending:
    on_done: Callable[[Any], None]  # takes what its job returned: the job's type is gone here
    on_error: Callable[[BaseException], None]
    context: QObject | None


class _Dispatcher(QObject):
    """Lives on the GUI thread as long as the application; jobs emit from pool threads, so
    delivery is queued.

    Signals:
        finished(int, bool, object): a job's number, whether it succeeded, its result or error.
    """

    finished = Signal(int, bool, object)

    def __init__(self, parent: QObject | None) -> None:
        super().__init__(parent)
        self._pending: dict[int, _Pending] = {}
        self._numbers = itertools.count(1)
        self.finished.connect(self._on_self_finished, Qt.ConnectionType.QueuedConnection)

    def add(self, pending: _Pending) -> int:
        number = next(self._numbers)
        self._pending[number] = pending
        return number

    @Slot(int, bool, object)
    def _on_self_finished(self, number: int, ok: bool, value: object) -> None:
        pending = self._pending.pop(number, None)
        if pending is None:
            return
        if pending.context is not None and not isValid(pending.context):
            return
        if ok:
            pending.on_done(value)
        elif isinstance(value, BaseException):  # always: the job delivers what it raised
            pending.on_error(value)


#: The GUI thread's reference to the dispatcher: its Python wrapper is never released by a
#: pool thread (a job's reference is never the last one).
_dispatchers: list[_Dispatcher] = []


def _dispatcher() -> _Dispatcher:
    """The application's dispatcher (a child of the QApplication, made on first use)."""
    app = QCoreApplication.instance()
    _dispatchers[:] = [d for d in _dispatchers if isValid(d) and d.parent() is app]
    if not _dispatchers:
        _dispatchers.append(_Dispatcher(app))
    return _dispatchers[0]


class _Job(QRunnable):
    def __init__(self, func: Callable[[], object], dispatcher: _Dispatcher, number: int) -> None:
        super().__init__()
        self.func: Callable[[], object] | None = func
        self.dispatcher = dispatcher  # owned by the application: never released here
        self.number = number

    def run(self) -> None:
        func, self.func = self.func, None  # its captures are released here, with the GIL held
        assert func is not None
        try:
            result = func()
        except Exception as err:  # delivered to the caller as a value
            emit_from_thread(self.dispatcher, self.dispatcher.finished, self.number, False, err)
        else:
            emit_from_thread(self.dispatcher, self.dispatcher.finished, self.number, True, result)
        del func


def run_task(
    func: Callable[[], R],
    on_done: Callable[[R], None],
    on_error: Callable[[BaseException], None],
    *,
    context: QObject | None = None,
    pool: QThreadPool | None = None,
) -> None:
    """Run ``func`` in the thread pool; call ``on_done(result)`` or ``on_error(exc)`` on the
    GUI thread. With ``context``, nothing is delivered once that object is destroyed. ``pool``:
    another pool than Qt's global one (one thread: jobs run one at a time, in order)."""
    dispatcher = _dispatcher()
    number = dispatcher.add(_Pending(on_done, on_error, context))
    (pool or QThreadPool.globalInstance()).start(_Job(func, dispatcher, number))
