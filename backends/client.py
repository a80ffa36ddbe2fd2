"""The one object the app uses to talk to an engine worker process.

    client = EngineClient()
    for event in client.load(LoadParams("model.gguf")): ...
    stream = client.generate(GenerationRequest(messages=(...,)))
    for event in stream: ...          # REASONING / CONTENT / ... / STATS / DONE (or ERROR)
    stream.cancel()                   # from any thread; takes effect before the next token

If the worker dies (segfault, ``abort()`` inside llama.cpp, the OOM killer) the stream ends
with an ERROR event saying "engine crashed (signal N)"; what was streamed stays with the
caller, and :meth:`EngineClient.restart` starts a fresh worker and reloads the model.
If the worker cannot even be started (no file handles left, a broken install), a load ends
with an ERROR event saying so, and other requests raise :class:`EngineError`.
Requests run one at a time; callers that share a client serialise their requests.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import signal
import threading
import traceback
from collections.abc import Iterator
from typing import Any

from app.engine import LoadParams, ModelInfo
from app.errors import EngineCrashedError, EngineError
from app.events import Event, EventKind, error_event
from app.request import GenerationRequest
from backends.lifetime import start_process
from backends.worker import (
    Answer,
    Command,
    CountCommand,
    CrashCommand,
    GenerateCommand,
    LoadCommand,
    Reply,
    UnloadCommand,
    spawn_context,
    worker_main,
)

_POLL_S = 0.05
_TERMINAL = (EventKind.DONE, EventKind.ERROR, EventKind.LOADED)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class RequestStream:
    """The events of one request, in order; iterate once."""

    def __init__(self, client: EngineClient, request_id: int, failure: Event | None = None) -> None:
        self._client = client
        self.request_id = request_id
        self.finished = False
        self._failure = failure  # the request never reached a worker: its only event

    def __iter__(self) -> Iterator[Event]:
        if self._failure is not None:
            self.finished = True
            yield self._failure
            return
        try:
            while not self.finished:
                event = self._client._next_event(self.request_id)
                if event.kind in (EventKind.DONE, EventKind.ERROR):
                    self.finished = True
                yield event
        finally:
            if not self.finished:  # the caller walked away: stop the work it no longer wants
                self.cancel()

    def cancel(self) -> None:
        self._client.cancel(self.request_id)

    def answer_now(self) -> None:
        self._client.answer_now(self.request_id)


class EngineClient:
    """Starts, feeds and watches one engine worker process."""

    def __init__(self) -> None:
        self._ctx: Any = spawn_context()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._proc: Any = None
        self._commands: Any = None
        self._events: Any = None
        self._cancel_upto: Any = None
        self._answer_upto: Any = None
        self._params: LoadParams | None = None
        self.info: ModelInfo | None = None
        self.crashed: str | None = None

    # -- process lifecycle ------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before it started, or if it never could)."""
        pid = None if self._proc is None else self._proc.pid
        return None if pid is None else int(pid)

    def start(self) -> None:
        """Start the worker process (done lazily by the first request).

        Raises:
            EngineError: the worker process could not be started.
        """
        if self.alive:
            return
        try:
            self._commands = self._ctx.Queue()
            self._events = self._ctx.Queue()
            self._cancel_upto = self._ctx.Value("q", 0, lock=False)
            self._answer_upto = self._ctx.Value("q", 0, lock=False)
            self._proc = self._ctx.Process(
                target=worker_main,
                args=(self._commands, self._events, self._cancel_upto, self._answer_upto),
                name="ponder-engine",
                daemon=True,
            )
            start_process(self._proc)
        except Exception as err:
            self._proc = None
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            raise EngineError(f"could not start the engine: {detail}") from err
        self.crashed = None

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker, politely first."""
        proc = self._proc
        if proc is None:
            return
        if proc.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._commands.put(None)
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout)
        for q in (self._commands, self._events):
            q.close()
            q.cancel_join_thread()
        self._proc = None
        self.info = None

    def restart(self) -> Iterator[Event]:
        """A fresh worker, with the last model loaded again (if there was one)."""
        self.close()
        if self._params is not None:
            yield from self.load(self._params)
            return
        try:
            self.start()
        except EngineError as err:
            yield error_event(0, str(err))

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------------

    def _send(self, cmd: Command) -> None:
        self.start()
        with self._lock:
            self._commands.put(cmd)

    def _next_id(self) -> int:
        return next(self._ids)

    def _next_answer(self, request_id: int) -> Answer:
        """The worker's next answer to ``request_id``; stale answers to older requests are
        dropped. A worker that died answers with an ERROR event."""
        while True:
            try:
                answer: Answer = self._events.get(timeout=_POLL_S)
            except queue.Empty:
                if self._proc is None or not self._proc.is_alive():
                    return self._crash_event(request_id)
                continue
            if answer.request_id == request_id:
                return answer

    def _next_event(self, request_id: int) -> Event:
        """The next event of a load or a generation (which the worker answers with events)."""
        answer = self._next_answer(request_id)
        assert isinstance(answer, Event), answer
        return answer

    def _reply(self, request_id: int) -> Reply:
        """The worker's reply to a count or an unload.

        Raises:
            EngineError: the worker failed to do it, or died.
        """
        answer = self._next_answer(request_id)
        if isinstance(answer, Event):  # only ever an ERROR
            raise EngineError(answer.text)
        return answer

    def _crash_event(self, request_id: int) -> Event:
        # Events the worker put just before it died may still be in the pipe.
        code = self._proc.exitcode if self._proc is not None else None
        if code is not None and code < 0:
            why = f"engine crashed ({_signal_name(-code)}, signal {-code})"
        elif code is None:
            why = "engine stopped unexpectedly"
        else:
            why = f"engine exited unexpectedly (exit code {code})"
        self.crashed = why
        self.info = None
        return error_event(
            request_id, why, crashed=True, signal=-code if code and code < 0 else None
        )

    def load(self, params: LoadParams) -> Iterator[Event]:
        """Load a model: LOAD_PROGRESS events, then LOADED (or ERROR)."""
        rid = self._next_id()
        self._params = params
        try:
            self._send(LoadCommand(rid, params))
        except EngineError as err:
            yield error_event(rid, str(err))
            return
        while True:
            event = self._next_event(rid)
            if event.kind is EventKind.LOADED:
                self.info = ModelInfo.from_dict(event.data)
            yield event
            if event.kind in _TERMINAL:
                return

    def load_blocking(self, params: LoadParams) -> ModelInfo:
        """Load a model, raising :class:`EngineError` on failure."""
        for event in self.load(params):
            if event.kind is EventKind.ERROR:
                if event.failure is not None and event.failure.crashed:
                    raise EngineCrashedError(event.text)
                raise EngineError(event.text)
        assert self.info is not None
        return self.info

    def generate(self, request: GenerationRequest) -> RequestStream:
        """Start generating; iterate the returned stream for its events (one ERROR if the
        worker could not be started)."""
        rid = self._next_id()
        try:
            self._send(GenerateCommand(rid, request))
        except EngineError as err:
            return RequestStream(self, rid, failure=error_event(rid, str(err)))
        return RequestStream(self, rid)

    def cancel(self, request_id: int) -> None:
        """Cancel a request (and any older one); safe from any thread."""
        if self._cancel_upto is not None and self._cancel_upto.value < request_id:
            self._cancel_upto.value = request_id

    def answer_now(self, request_id: int) -> None:
        """Ask the model to end its reasoning now and answer."""
        if self._answer_upto is not None and self._answer_upto.value < request_id:
            self._answer_upto.value = request_id

    def count_tokens(self, text: str) -> int:
        rid = self._next_id()
        self._send(CountCommand(rid, text))
        return self._reply(rid).tokens

    def unload(self) -> None:
        rid = self._next_id()
        self._send(UnloadCommand(rid))
        with contextlib.suppress(EngineError):  # a dead worker holds no model either
            self._reply(rid)
        self.info = None
        self._params = None

    def crash_for_test(self, how: str = "abort") -> None:
        """Make the worker die as llama.cpp can (tests only)."""
        self._send(CrashCommand(self._next_id(), how))
