"""One engine shared by every caller: requests run one at a time, the rest wait in line.

:class:`EngineService` owns one engine client (one worker process) and one thread, the
*engine thread*, that runs requests in the order they were submitted. A caller submits a
:class:`GenerationRequest` with a *sink* (a callable taking each :class:`Event`, called on
the engine thread) and gets a :class:`Job` back, which it may cancel at any time, from any
thread — before the request started (it is then skipped) or while it runs (the engine stops
before its next token).

The sink of every job receives the request's events up to and including a terminal DONE or
ERROR, exactly once. When the worker process dies, the job in flight ends with the crash's
ERROR event (``data["crashed"]`` is true) and the service starts a fresh worker, loading the
same model again, before it runs the next job.

The API server uses a bounded line (``queue_limit``); the desktop app can submit its own
requests to the same service without a limit, and watch :attr:`EngineService.state`.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.engine import LoadParams, ModelInfo
from app.events import Event, EventKind, FinishReason, done_event, error_event
from app.request import GenerationRequest

log = logging.getLogger(__name__)

_SHARD_SUFFIX = re.compile(r"-\d{5}-of-\d{5}$")


class RequestStreamLike(Protocol):
    """What the service needs from :class:`backends.client.RequestStream`."""

    def __iter__(self) -> Iterator[Event]: ...

    def cancel(self) -> None: ...

    def answer_now(self) -> None: ...


class EngineClientLike(Protocol):
    """What the service needs from :class:`backends.client.EngineClient`."""

    info: ModelInfo | None

    @property
    def alive(self) -> bool: ...

    def load_blocking(self, params: LoadParams) -> ModelInfo: ...

    def generate(self, request: GenerationRequest) -> RequestStreamLike: ...

    def restart(self) -> Iterator[Event]: ...

    def close(self, timeout: float = 5.0) -> None: ...


class QueueFullError(Exception):
    """More requests are waiting than the caller's limit allows."""

    def __init__(self, waiting: int, limit: int) -> None:
        super().__init__(f"{waiting} requests are already waiting (limit {limit})")
        self.waiting = waiting
        self.limit = limit


class ServiceClosedError(Exception):
    """The service was closed; it takes no more requests."""


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What the GUI shows: whether a request runs and how many wait."""

    busy: bool
    queued: int
    restarts: int
    ready: bool


def model_id_for(path: str | Path) -> str:
    """The id a model is served under: its file name without ``.gguf`` (and shard suffix)."""
    stem = Path(path).name
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    return _SHARD_SUFFIX.sub("", stem) or "model"


Sink = Callable[[Event], None]


class Job:
    """One submitted request: waiting, then running, then finished."""

    def __init__(
        self,
        request: GenerationRequest,
        sink: Sink,
        on_cancel: Callable[[Job], None] | None = None,
    ) -> None:
        self.request = request
        self._sink = sink
        self._on_cancel = on_cancel
        self._lock = threading.Lock()
        self._cancelled = False
        self._answer_now = False
        self._stream: RequestStreamLike | None = None
        self.started = False
        self.finished = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the request; safe from any thread, a no-op once it finished."""
        with self._lock:
            if self.finished or self._cancelled:
                return
            self._cancelled = True
            stream = self._stream
        if stream is not None:
            stream.cancel()
        elif self._on_cancel is not None:
            self._on_cancel(self)  # still waiting: leave the line now

    def answer_now(self) -> bool:
        """End the reasoning and answer from what was thought so far; safe from any thread.

        A request still waiting for the engine will answer without thinking further once it
        starts. ``False`` once the request finished or was cancelled (nothing to do).
        """
        with self._lock:
            if self.finished or self._cancelled:
                return False
            self._answer_now = True
            stream = self._stream
        if stream is not None:
            stream.answer_now()
        return True

    # -- engine thread only ---------------------------------------------------------------

    def _attach(self, stream: RequestStreamLike) -> None:
        with self._lock:
            self._stream = stream
            cancelled = self._cancelled
            answer_now = self._answer_now
        if cancelled:
            stream.cancel()
        elif answer_now:
            stream.answer_now()

    def _deliver(self, event: Event) -> bool:
        """Hand an event to the sink; ``False`` when the sink failed (the job is cancelled)."""
        if event.kind in (EventKind.DONE, EventKind.ERROR):
            with self._lock:
                self.finished = True
                self._stream = None
        try:
            self._sink(event)
        except Exception:  # a consumer gone away (its event loop closed): stop the work
            log.debug("event sink failed; cancelling the request", exc_info=True)
            self.cancel()
            return False
        return True


_STOP = object()


class EngineService:
    """One engine client, one model, one request at a time.

    Args:
        params: how the model is (or will be) loaded; used again after a crash.
        client: an engine client to use (the desktop app passes its own, already loaded);
            default a new :class:`backends.client.EngineClient`, owned and closed here.
        model_id: the name the model is served under; default from the file name.
    """

    def __init__(
        self,
        params: LoadParams,
        *,
        client: EngineClientLike | None = None,
        model_id: str | None = None,
    ) -> None:
        if client is None:
            from backends.client import EngineClient

            client = EngineClient()
            self._owns_client = True
        else:
            self._owns_client = False
        self.params = params
        self.client: EngineClientLike = client
        self.model_id = model_id or model_id_for(params.model_path)
        self._cond = threading.Condition()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._restarting = False
        self._closed = False
        self._restarts = 0
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[ServiceState], None]] = []
        #: Why the engine is unavailable after a failed restart (``None`` when it is fine).
        self.client_problem: str | None = None

    # -- state ----------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo | None:
        return self.client.info

    @property
    def busy(self) -> bool:
        """Whether a request runs (or the engine restarts) now."""
        with self._cond:
            return self._running is not None or self._restarting

    @property
    def queued(self) -> int:
        """How many requests wait for the engine."""
        with self._cond:
            return len(self._waiting)

    @property
    def state(self) -> ServiceState:
        with self._cond:
            return self._state_locked()

    def _state_locked(self) -> ServiceState:
        return ServiceState(
            busy=self._running is not None or self._restarting,
            queued=len(self._waiting),
            restarts=self._restarts,
            ready=self.client.info is not None and not self._restarting and not self._closed,
        )

    def add_listener(self, listener: Callable[[ServiceState], None]) -> None:
        """Call ``listener(state)`` (on the thread that changed it) whenever it changes."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        state = self.state
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("service state listener failed")

    # -- lifecycle ------------------------------------------------------------------------

    def load(self) -> ModelInfo:
        """Load the model now (blocking) unless the client has it loaded already.

        Raises:
            EngineError: the model could not be loaded (the message says why).
        """
        if self.client.info is not None and self.client.alive:
            return self.client.info
        return self.client.load_blocking(self.params)

    def start(self) -> None:
        """Start the engine thread (done by the first :meth:`submit`)."""
        with self._cond:
            if self._closed:
                raise ServiceClosedError("the engine service is closed")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="ponder-engine-service", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop: waiting jobs get an ERROR, the running one is cancelled, the thread ends.

        The engine client is closed too when the service created it.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
            waiting = list(self._waiting)
            self._waiting.clear()
            running = self._running
            self._cond.notify_all()
        for job in waiting:
            job._deliver(error_event(0, "the server is shutting down", shutdown=True))
        if running is not None:
            running.cancel()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._owns_client:
            self.client.close()
        self._notify()

    def __enter__(self) -> EngineService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------

    def submit(
        self, request: GenerationRequest, sink: Sink, *, queue_limit: int | None = None
    ) -> Job:
        """Queue a request; ``sink`` gets its events on the engine thread.

        Args:
            request: what to generate.
            sink: called with each event, ending with DONE or ERROR. It must not block for
                long: the engine waits for it.
            queue_limit: refuse the request when this many already wait (``None``: no limit).

        Raises:
            QueueFullError: ``queue_limit`` requests already wait.
            ServiceClosedError: the service was closed.
        """
        self.start()
        job = Job(request, sink, self._on_job_cancelled)
        with self._cond:
            if self._closed:
                raise ServiceClosedError("the engine service is closed")
            busy = self._running is not None or self._restarting or bool(self._waiting)
            if queue_limit is not None and busy and len(self._waiting) >= queue_limit:
                raise QueueFullError(len(self._waiting), queue_limit)
            self._waiting.append(job)
            self._cond.notify_all()
        self._notify()
        return job

    def _on_job_cancelled(self, job: Job) -> None:
        """A waiting job was cancelled: out of the line, and its DONE (cancelled) at once."""
        with self._cond:
            try:
                self._waiting.remove(job)
            except ValueError:
                return  # the engine thread took it meanwhile; it sees the flag and skips it
        job._deliver(done_event(0, FinishReason.CANCELLED))
        self._notify()

    # -- the engine thread ----------------------------------------------------------------

    def _next_job(self) -> Job | object:
        with self._cond:
            while not self._waiting and not self._closed:
                self._cond.wait()
            if self._closed:
                return _STOP
            job = self._waiting.popleft()
            self._running = job
            return job

    def _run(self) -> None:
        while True:
            job = self._next_job()
            if not isinstance(job, Job):
                return
            try:
                crashed = self._run_job(job)
            except Exception as err:  # a bug in a client: report it to the caller, go on
                log.exception("engine request failed")
                if not job.finished:
                    job._deliver(error_event(0, f"internal server error: {err}"))
                crashed = not self.client.alive
            with self._cond:
                self._running = None
                if crashed and not self._closed:
                    self._restarting = True
            self._notify()
            if crashed and not self._closed:
                self._restart()

    def _run_job(self, job: Job) -> bool:
        """Run one job; ``True`` when the engine crashed under it."""
        if job.cancelled:
            job._deliver(done_event(0, FinishReason.CANCELLED))
            return False
        # An earlier restart failed (or the model was never loaded): try once more.
        if (self.client.info is None or not self.client.alive) and not self._restart():
            why = self.client_problem or "the model is not loaded"
            job._deliver(error_event(0, f"the engine is unavailable: {why}", crashed=True))
            return False
        job.started = True
        stream = self.client.generate(job.request)
        job._attach(stream)
        crashed = False
        consumer_gone = False
        for event in _terminated(stream):
            if event.failure is not None and event.failure.crashed:
                crashed = True
            # Once the consumer is gone, keep reading until the (cancelled) request ends.
            if not consumer_gone and not job._deliver(event):
                consumer_gone = True
        job.finished = True
        return crashed

    def _restart(self) -> bool:
        """A fresh worker with the model loaded again; ``False`` when that failed."""
        with self._cond:
            self._restarting = True
        self._notify()
        ok = False
        try:
            for event in self.client.restart():
                if event.kind is EventKind.ERROR:
                    self.client_problem = event.text
                    log.error("the engine could not be restarted: %s", event.text)
            ok = self.client.info is not None
            if ok:
                self.client_problem = None
        except Exception as err:  # EngineError, OSError, or a bug: stay up, report it
            self.client_problem = str(err) or type(err).__name__
            log.error("the engine could not be restarted: %s", self.client_problem)
        finally:
            with self._cond:
                self._restarting = False
                if ok:
                    self._restarts += 1
            self._notify()
        return ok


def _terminated(events: Iterable[Event]) -> Iterator[Event]:
    """The events, always ending with DONE or ERROR (a stream that just stops gets an ERROR)."""
    for event in events:
        yield event
        if event.kind in (EventKind.DONE, EventKind.ERROR):
            return
    yield error_event(0, "the engine ended the request without an answer")
