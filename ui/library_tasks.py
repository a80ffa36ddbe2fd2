"""Run short library jobs (hub calls, disk scans) off the GUI thread.

:func:`run_task` starts ``func`` on Qt's global thread pool and delivers its result, or the
exception it raised, on the GUI thread through a queued signal (Picard's ``run_task``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from shiboken6 import isValid

from ui.qt_threads import emit_from_thread

_alive: set[_Relay] = set()


class _Relay(QObject):
    """Lives on the GUI thread; the job emits from a pool thread, so delivery is queued.

    Signals:
        succeeded(object): the job's result.
        failed(object): the exception the job raised.
    """

    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(
        self,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        context: QObject | None,
    ) -> None:
        super().__init__()
        self.on_done = on_done
        self.on_error = on_error
        self.context = context
        self.succeeded.connect(self._on_self_succeeded, Qt.ConnectionType.QueuedConnection)
        self.failed.connect(self._on_self_failed, Qt.ConnectionType.QueuedConnection)

    def _deliver(self, callback: Callable[[Any], None], value: Any) -> None:
        _alive.discard(self)
        self.deleteLater()
        if self.context is not None and not isValid(self.context):
            return
        callback(value)

    @Slot(object)
    def _on_self_succeeded(self, value: Any) -> None:
        self._deliver(self.on_done, value)

    @Slot(object)
    def _on_self_failed(self, err: Any) -> None:
        self._deliver(self.on_error, err)


class _Job(QRunnable):
    def __init__(self, func: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.func = func
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.func()
        except Exception as err:  # delivered to the caller as a value
            emit_from_thread(self.relay, self.relay.failed, err)
        else:
            emit_from_thread(self.relay, self.relay.succeeded, result)


def run_task(
    func: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[BaseException], None],
    *,
    context: QObject | None = None,
    pool: QThreadPool | None = None,
) -> None:
    """Run ``func`` in the thread pool; call ``on_done(result)`` or ``on_error(exc)`` on the
    GUI thread. With ``context``, nothing is delivered once that object is destroyed. ``pool``:
    another pool than Qt's global one (one thread: jobs run one at a time, in order)."""
    relay = _Relay(on_done, on_error, context)
    _alive.add(relay)
    (pool or QThreadPool.globalInstance()).start(_Job(func, relay))
