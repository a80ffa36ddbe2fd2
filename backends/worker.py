"""The engine worker process: it owns the model for its whole life.

The client sends commands on one queue; the worker answers on another, each answer tagged
with the request id: :class:`app.events.Event` values for a load or a generation, one
:class:`Reply` for a count or an unload (so DONE only ever ends a generation). Cancellation
and "answer now" travel through shared integers, not the queue, so they take effect before
the next token even while the worker is busy: ``cancel_upto = N`` cancels every request with
an id ≤ N (ids only grow, so nothing ever needs resetting — an early Stop can never be
swallowed).

The worker never outlives the process that started it (:mod:`backends.lifetime`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from app.engine import Control, Engine, LoadParams
from app.errors import PonderError
from app.events import Event, EventKind, error_event, progress_event
from app.request import GenerationRequest
from backends.lifetime import watch_parent


@dataclass(frozen=True, slots=True)
class LoadCommand:
    request_id: int
    params: LoadParams


@dataclass(frozen=True, slots=True)
class GenerateCommand:
    request_id: int
    request: GenerationRequest


@dataclass(frozen=True, slots=True)
class CountCommand:
    request_id: int
    text: str


@dataclass(frozen=True, slots=True)
class CrashCommand:
    """Test hook: make the worker die the way llama.cpp can (signal or abort)."""

    request_id: int
    how: str = "abort"


@dataclass(frozen=True, slots=True)
class UnloadCommand:
    request_id: int


Command = LoadCommand | GenerateCommand | CountCommand | CrashCommand | UnloadCommand | None


@dataclass(frozen=True, slots=True)
class Reply:
    """The worker's answer to a count or an unload (a failure comes as an ERROR event).

    Attributes:
        request_id: the command it answers.
        tokens: for a count, how many tokens the text is.
    """

    request_id: int
    tokens: int = 0


#: What the worker puts on its answer queue.
Answer = Event | Reply


def open_engine(params: LoadParams, progress: Any) -> Engine:
    """Choose the backend and load the model.

    An endpoint → the remote server (:mod:`backends.remote`); an MLX model folder → mlx-lm
    (:mod:`backends.mlx`, which says clearly where MLX cannot run); anything else → llama.cpp.
    Each backend's heavy imports happen only here, in the worker.
    """
    if params.endpoint is not None:
        from backends.remote import RemoteEngine

        return RemoteEngine(params, progress)
    from backends.mlx import is_mlx_folder

    if is_mlx_folder(params.model_path):
        from backends.mlx import MlxEngine

        return MlxEngine(params, progress)
    from backends.llama import LlamaEngine

    return LlamaEngine(params, progress)


#: Text pieces that arrive within this long of the last event sent go out together in the
#: next one (the first piece always goes at once, so time to first token is untouched).
#: 40 ms is what a screen shows anyway (the GUI batches at 30–50 ms) and cuts the pickling,
#: pipe writes and wake-ups to at most 25 a second — work that competes with decoding for
#: the CPU when llama.cpp uses every core (docs/benchmarks.md, engine overhead).
COALESCE_S = 0.04
_TEXT_KINDS = (EventKind.REASONING, EventKind.CONTENT)


def _run_generation(
    engine: Engine, cmd: GenerateCommand, control: Control, out: Queue[Answer]
) -> None:
    events: Iterator[Event] = engine.stream(cmd.request, cmd.request_id, control)
    for event in coalesce(events, time.monotonic):
        out.put(event)


def coalesce(events: Iterable[Event], clock: Callable[[], float]) -> Iterator[Event]:
    """Merge text pieces that come within :data:`COALESCE_S` of the last event sent.

    The first piece of the reasoning and of the answer always goes at once (time to first
    token, and to the first answer token, are untouched); every other event goes at once too,
    after any text held before it. Nothing is reordered or lost: a merged piece carries the
    sum of its pieces' token counts.
    """
    pending: Event | None = None
    last_sent = 0.0
    started: set[EventKind] = set()
    for event in events:
        now = clock()
        if event.kind not in _TEXT_KINDS:
            if pending is not None:
                yield pending
                pending = None
            yield event
            last_sent = now
            continue
        if pending is not None and pending.kind is event.kind:
            pending = Event(
                event.kind,
                event.request_id,
                pending.text + event.text,
                tokens=pending.tokens + event.tokens,
            )
        else:
            if pending is not None:
                yield pending
                last_sent = now
            pending = event
            if event.kind not in started:
                started.add(event.kind)
                last_sent = -COALESCE_S  # a first piece: send it now
        if now - last_sent >= COALESCE_S:
            yield pending
            pending = None
            last_sent = now
    if pending is not None:
        yield pending


def worker_main(
    commands: Queue[Command],
    out: Queue[Answer],
    cancel_upto: Synchronized[int],
    answer_now_upto: Synchronized[int],
) -> None:
    """Entry point of the worker process."""
    watch_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the app, not the worker
    engine: Engine | None = None
    while True:
        cmd = commands.get()
        if cmd is None:
            break
        rid = cmd.request_id
        try:
            if isinstance(cmd, LoadCommand):
                if engine is not None:
                    engine.close()
                    engine = None

                def progress(value: float, rid: int = rid) -> None:
                    out.put(progress_event(rid, value))

                engine = open_engine(cmd.params, progress)
                out.put(Event(EventKind.LOADED, rid, data=engine.info.to_dict()))
            elif isinstance(cmd, GenerateCommand):
                if engine is None:
                    out.put(error_event(rid, "no model is loaded"))
                    continue
                control = Control(
                    cancelled=lambda rid=rid: cancel_upto.value >= rid,  # type: ignore[misc]
                    answer_now=lambda rid=rid: answer_now_upto.value >= rid,  # type: ignore[misc]
                )
                _run_generation(engine, cmd, control, out)
            elif isinstance(cmd, CountCommand):
                if engine is None:
                    out.put(error_event(rid, "no model is loaded"))
                    continue
                n = engine.count_tokens(cmd.text)
                out.put(Reply(rid, tokens=n))
            elif isinstance(cmd, UnloadCommand):
                if engine is not None:
                    engine.close()
                    engine = None
                out.put(Reply(rid))
            elif isinstance(cmd, CrashCommand):
                if cmd.how == "segv":
                    os.kill(os.getpid(), signal.SIGSEGV)
                os.abort()
        except PonderError as err:
            out.put(error_event(rid, str(err)))
        except Exception as err:
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            out.put(error_event(rid, f"internal engine error: {detail}"))
    if engine is not None:
        engine.close()


def spawn_context() -> Any:
    """A spawn context (fork is unsafe with llama.cpp's threads and with Qt)."""
    return mp.get_context("spawn")
