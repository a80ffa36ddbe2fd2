"""The GUI's side of the engine: one bridge object, events batched onto the GUI thread.

The engine worker process streams events; a reader thread (never the GUI thread) collects
them, and a timer on the GUI thread takes what arrived every ~40 ms and hands it over as one
batch, so the GUI applies at most ~25 batches a second however fast tokens arrive.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from app.engine import LoadParams, ModelInfo
from app.events import Event, EventKind
from app.request import GenerationRequest
from backends.client import EngineClient, RequestStream
from ui.qt_threads import emit_from_thread

if TYPE_CHECKING:
    from app.server.service import EngineService, Job

BATCH_INTERVAL_S = 0.04
#: Ids the bridge gives the window's requests while the engine is shared with the API server
#: (the service numbers the engine's requests itself): far above any engine request id, and
#: within a C int, since they travel in Qt signals.
_SHARED_IDS = itertools.count(1_000_000_000)

log = logging.getLogger(__name__)


class EngineBridge(QObject):
    """Owns the :class:`EngineClient`; every method returns at once.

    Signals:
        load_progressed(float): loading, 0..1.
        model_loaded(object): a :class:`ModelInfo`.
        load_failed(str): why the model could not be loaded.
        events_arrived(int, list): a batch of events of one request (request id, events).
        request_finished(int): the request's last event has been delivered.
    """

    load_progressed = Signal(float)
    model_loaded = Signal(object)
    load_failed = Signal(str)
    events_arrived = Signal(int, list)
    request_finished = Signal(int)

    def __init__(self, client: EngineClient | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client or EngineClient()
        self._stream: RequestStream | None = None
        self._busy = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pending_lock = threading.Lock()
        self._pending: list[Event] = []
        self._reader_done: list[int] = []
        self._last_request = 0
        #: While the API server shares the engine: the window's requests queue there too.
        self.service: EngineService | None = None
        self._job: Job | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(int(BATCH_INTERVAL_S * 1000))
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def client(self) -> EngineClient:
        return self._client

    @property
    def info(self) -> ModelInfo | None:
        return self._client.info

    @property
    def generating(self) -> bool:
        return self._stream is not None or self._job is not None

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def load(self, params: LoadParams) -> None:
        def work() -> None:
            with self._busy:
                self._emit_load(self._client.load(params))

        self._spawn(work, "ponder-load")

    def restart(self) -> None:
        """A fresh worker with the model again, after a crash (the shared service, when the API
        server is on, restarts it by itself)."""
        if self.service is not None:
            return

        def work() -> None:
            with self._busy:
                self._emit_load(self._client.restart())

        self._spawn(work, "ponder-restart")

    def _emit_load(self, events: Iterator[Event]) -> None:
        last_progress = 0.0
        for event in events:
            if event.kind is EventKind.LOAD_PROGRESS:
                now = time.monotonic()
                if now - last_progress > 0.05:
                    last_progress = now
                    fraction = event.fraction
                    emit_from_thread(self, self.load_progressed, fraction)
            elif event.kind is EventKind.LOADED:
                emit_from_thread(self, self.model_loaded, self._client.info)
            elif event.kind is EventKind.ERROR:
                emit_from_thread(self, self.load_failed, event.text)

    def generate(
        self, request: GenerationRequest, sink: Callable[[Event], None] | None = None
    ) -> int:
        """Start a request and return its id; its events arrive in batches (``events_arrived``).

        Sending the request only queues a command to the worker, so it is done here; the
        reader thread waits for any earlier request's reader to finish first. ``sink`` is
        called with every event on the reader thread (the history recorder: database writes
        never happen on the GUI thread); an exception in it is logged, not fatal.
        """
        if self.service is not None:
            return self._generate_shared(self.service, request, sink)
        stream = self._client.generate(request)
        self._last_request = stream.request_id

        def work() -> None:
            with self._busy:
                self._stream = stream
                try:
                    for event in stream:
                        if sink is not None:
                            try:
                                sink(event)
                            except Exception:
                                log.exception("event sink failed")
                        with self._pending_lock:
                            self._pending.append(event)
                finally:
                    self._stream = None
                    with self._pending_lock:
                        self._reader_done.append(stream.request_id)

        self._spawn(work, "ponder-generate")
        if not self._timer.isActive():
            self._timer.start()
        return stream.request_id

    def _generate_shared(
        self,
        service: EngineService,
        request: GenerationRequest,
        sink: Callable[[Event], None] | None,
    ) -> int:
        """Queue the window's request in the service the API server also uses.

        Its events come on the service's engine thread; they get the bridge's id for the
        request (the window does not know the engine's), and go the usual way from there.
        """
        rid = next(_SHARED_IDS)
        self._last_request = rid

        def deliver(event: Event) -> None:
            event = dataclasses.replace(event, request_id=rid)
            if sink is not None:
                try:
                    sink(event)
                except Exception:
                    log.exception("event sink failed")
            end = event.kind in (EventKind.DONE, EventKind.ERROR)
            with self._pending_lock:
                self._pending.append(event)
                if end:
                    self._reader_done.append(rid)
            if end:
                self._job = None

        self._job = service.submit(request, deliver)
        if not self._timer.isActive():
            self._timer.start()
        return rid

    def _on_timer_timeout(self) -> None:
        """On the GUI thread: hand over what arrived since the last tick, one batch per request."""
        with self._pending_lock:
            events, self._pending = self._pending, []
            finished, self._reader_done = self._reader_done, []
        by_request: dict[int, list[Event]] = {}
        for event in events:
            by_request.setdefault(event.request_id, []).append(event)
        for request_id, batch in by_request.items():
            self.events_arrived.emit(request_id, batch)
        for request_id in finished:
            self.request_finished.emit(request_id)
        if not events and not finished and not self.generating and not self._generating_threads():
            self._timer.stop()

    def _generating_threads(self) -> bool:
        return any(t.is_alive() and t.name == "ponder-generate" for t in self._threads)

    def cancel(self) -> None:
        """Stop the running request (and any queued behind it)."""
        job = self._job
        if job is not None:
            job.cancel()  # only the window's own request, not one of the server's
        elif self._last_request and self.service is None:
            self._client.cancel(self._last_request)

    def answer_now(self) -> None:
        """Ask the running request's model to stop thinking and answer."""
        if self._job is not None:
            self._job.answer_now()  # also before it starts: it answers without thinking
        elif self._last_request and self.service is None:
            self._client.answer_now(self._last_request)

    def unload(self) -> None:
        def work() -> None:
            with self._busy:
                self._client.unload()

        self._spawn(work, "ponder-unload")

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the running request and the worker.

        Returns once the request's last events have reached its sink (the answer being
        written is saved, as stopped): the app may end right after, and a reader thread still
        behind would never write it.
        """
        self.cancel()
        self._join_readers(timeout)
        self._client.close()
        self._join_readers(1.0)  # one still waiting learns that the worker is gone

    def _join_readers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.name == "ponder-generate" and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
