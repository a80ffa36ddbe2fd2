"""The ASGI app: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions``, and
Ponder's one extension, ``POST /v1/chat/completions/{id}/answer_now`` (end a request's
reasoning now; ``id`` is the ``chatcmpl-…`` id of the stream's chunks).

Requests go to one shared :class:`EngineService`. The engine's events reach the event loop
through a per-request :class:`asyncio.Queue` fed from the engine thread, so nothing here
blocks the loop. A streamed answer starts only once the engine produced its first event, so
a request that fails at once (a crash, a prompt too long) still gets a proper status code;
a failure after that arrives as an SSE ``data: {"error": ...}`` event (OpenAI clients raise
it as an ``APIError``).

A client that goes away — mid-stream, or while its request waits — cancels the request.

A request names the model it wants: the id ``GET /v1/models`` lists, or one of its aliases
(:func:`served_names`: the model file's name, with or without ``.gguf``, and what the server
was started with, e.g. a library id). Any other name is answered 404 ``model_not_found``, as
OpenAI does, rather than silently with another model. A request without ``model`` gets the
served one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.events import Event, EventKind, FinishReason
from app.request import GenerationRequest
from app.server.errors import (
    NOT_FOUND,
    RATE_LIMIT,
    SERVER_ERROR,
    ApiError,
    error_response,
    event_error,
)
from app.server.hooks import CompletedExchange, OnCompletion
from app.server.openai_format import (
    SSE_DONE,
    ChunkWriter,
    Translator,
    completion_body,
    new_completion_id,
)
from app.server.schema import (
    ChatCompletionRequest,
    parse_request,
    stop_sequences,
    to_generation_request,
)
from app.server.security import BearerAuth, HostCheck
from app.server.service import (
    EngineService,
    Job,
    QueueFullError,
    ServiceClosedError,
    model_id_for,
)

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 32
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: How often a waiting request checks whether its client is still there.
DISCONNECT_POLL_S = 0.25


class _EventBridge:
    """Events from the engine thread into this request's asyncio queue."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def put(self, event: Event) -> None:  # engine thread
        self._loop.call_soon_threadsafe(self.queue.put_nowait, event)

    async def get(self, request: Request) -> Event | None:
        """The next event, or ``None`` once the client disconnected."""
        while True:
            try:
                return await asyncio.wait_for(self.queue.get(), DISCONNECT_POLL_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return None


class _Chat:
    """What one chat-completion request needs to answer."""

    def __init__(
        self,
        engine: EngineService,
        request: Request,
        body: ChatCompletionRequest,
        generation: GenerationRequest,
        hook: OnCompletion | None,
        running: dict[str, _Chat],
    ) -> None:
        self.engine = engine
        self.request = request
        self.body = body
        self.generation = generation
        self.hook = hook
        self.completion_id = new_completion_id()
        self.created = int(time.time())
        self.translator = Translator(stop_sequences(body))
        self.bridge = _EventBridge()
        self.job: Job | None = None
        self._running = running

    def submit(self, queue_limit: int) -> None:
        try:
            self.job = self.engine.submit(self.generation, self.bridge.put, queue_limit=queue_limit)
        except QueueFullError as err:
            raise ApiError(
                429,
                f"The server is busy: {err.waiting} requests are already waiting for the model. "
                "Retry later.",
                type=RATE_LIMIT,
                code="queue_full",
                headers={"Retry-After": "1"},
            ) from None
        except ServiceClosedError:
            raise ApiError(
                503, "The server is shutting down.", type=SERVER_ERROR, code="shutting_down"
            ) from None
        self._running[self.completion_id] = self

    def cancel(self) -> None:
        """Stop the job (a no-op once it ended); the request can no longer be reached."""
        self._running.pop(self.completion_id, None)
        if self.job is not None:
            self.job.cancel()

    def feed(self, event: Event) -> tuple[str, str]:
        reasoning, content = self.translator.feed(event)
        if self.translator.stopped:
            self.cancel()  # a stop sequence matched: the engine can stop now
        return reasoning, content

    async def completed(self) -> None:
        """Hand the finished exchange to the history hook (in a thread; errors logged)."""
        if self.hook is None:
            return
        answer = self.translator.answer
        exchange = CompletedExchange(
            completion_id=self.completion_id,
            created=self.created,
            model=self.engine.model_id,
            request=self.generation,
            answer=answer,
            # A stop sequence ends the answer as the model's own end would (the engine saw a
            # cancel).
            finish_reason=FinishReason.STOP
            if self.translator.stop_hit
            else answer.finish_reason or FinishReason.STOP,
            streamed=bool(self.body.stream),
        )
        try:
            await anyio.to_thread.run_sync(self.hook, exchange)
        except Exception:
            log.exception("the on_completion hook failed for %s", self.completion_id)

    # -- non-streaming -----------------------------------------------------------------

    async def whole(self) -> Response:
        try:
            while True:
                event = await self.bridge.get(self.request)
                if event is None:
                    return Response(status_code=499)  # nobody is listening any more
                self.feed(event)
                if event.kind is EventKind.ERROR:
                    raise event_error(event)
                if event.kind is EventKind.DONE:
                    break
        finally:
            self.cancel()  # the client went away (or the answer ended: a no-op)
        body = completion_body(
            self.completion_id,
            self.created,
            self.engine.model_id,
            self.translator.answer,
            stop_hit=self.translator.stop_hit,
        )
        await self.completed()
        return JSONResponse(body)

    # -- streaming ---------------------------------------------------------------------

    async def stream(self) -> Response:
        first = await self.bridge.get(self.request)
        if first is None:
            self.cancel()
            return Response(status_code=499)
        if first.kind is EventKind.ERROR:
            raise event_error(first)
        return StreamingResponse(
            self._chunks(first),
            media_type="text/event-stream",
            headers={
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "X-Request-Id": self.completion_id,
            },
            background=BackgroundTask(self.cancel),
        )

    async def _chunks(self, first: Event) -> AsyncIterator[bytes]:
        writer = ChunkWriter(self.completion_id, self.engine.model_id, self.created)
        include_usage = bool(self.body.stream_options and self.body.stream_options.include_usage)
        try:
            yield writer.role()
            event = first
            while True:
                if event.kind is EventKind.ERROR:
                    yield event_error(event).sse()
                    return
                reasoning, content = self.feed(event)
                if reasoning or content:
                    yield writer.delta(reasoning, content)
                if event.kind is EventKind.DONE:
                    answer = self.translator.answer
                    yield writer.finish(self.translator.finish_reason)
                    if include_usage:
                        yield writer.usage(answer.stats)
                    yield SSE_DONE
                    await self.completed()
                    return
                event = await self.bridge.queue.get()
        finally:
            self.cancel()  # the client went away mid-stream (or the answer ended: a no-op)


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    too_large = ApiError(
        413, f"The request body is larger than {limit} bytes.", code="request_too_large"
    )
    if length is not None:
        try:
            if int(length) > limit:
                raise too_large
        except ValueError:
            raise ApiError(400, "Invalid Content-Length header.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content_type(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        # Also what keeps a web page from posting here: a cross-origin JSON request needs a
        # CORS preflight, which only configured origins pass.
        raise ApiError(
            415,
            "Send the request body as JSON, with the header 'Content-Type: application/json'.",
            code="unsupported_media_type",
        )


def served_names(engine: EngineService, aliases: Sequence[str] = ()) -> frozenset[str]:
    """The model names a request may use: the served id and its aliases."""
    path = engine.params.model_path
    names = (engine.model_id, Path(path).name, model_id_for(path), *aliases)
    return frozenset(n for n in names if n)


def _check_model(engine: EngineService, aliases: Sequence[str], name: str | None) -> None:
    if name is None or name in served_names(engine, aliases):
        return
    raise ApiError(
        404,
        f"The model '{name}' does not exist: this server serves '{engine.model_id}' "
        "(see GET /v1/models).",
        param="model",
        code="model_not_found",
    )


def create_app(
    engine: EngineService,
    *,
    api_key: str | None,
    cors_origins: list[str] | None,
    model_aliases: Sequence[str] = (),
    queue_limit: int = DEFAULT_QUEUE_LIMIT,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    save_history: bool = False,
    on_completion: OnCompletion | None = None,
    trusted_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The OpenAI-compatible API over ``engine``.

    Args:
        engine: the shared engine; the app neither loads nor closes it.
        api_key: when set, every request but ``GET /health`` needs ``Authorization: Bearer``.
        cors_origins: origins allowed to call from a browser (``None``: no CORS at all).
        model_aliases: more names requests may use for the served model (see
            :func:`served_names`).
        queue_limit: how many requests may wait for the engine; more get a 429.
        max_body_bytes: larger request bodies get a 413.
        save_history: pass each completed exchange to ``on_completion``.
        on_completion: the history hook (see :mod:`app.server.hooks`); required when
            ``save_history`` is set.
        trusted_hosts: the only ``Host`` names answered (``None``: any). A loopback-bound
            server should pass :data:`app.server.security.LOOPBACK_HOSTS`.
    """
    if save_history and on_completion is None:
        raise ValueError("save_history needs an on_completion hook to save with")
    if queue_limit < 0 or max_body_bytes <= 0:
        raise ValueError("queue_limit must be >= 0 and max_body_bytes > 0")
    hook = on_completion if save_history else None

    app = FastAPI(title="Ponder", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    running: dict[str, _Chat] = {}  # requests in flight, by completion id (event loop only)

    @app.exception_handler(ApiError)
    async def _on_api_error(request: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = NOT_FOUND if exc.status_code == 404 else "invalid_request_error"
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return error_response(exc.status_code, message, type=kind, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _on_bug(request: Request, exc: Exception) -> Response:
        log.error("unexpected error serving %s", request.url.path, exc_info=exc)
        return error_response(
            500, "Internal server error.", type=SERVER_ERROR, code="internal_error"
        )

    @app.get("/health")
    async def health() -> Response:
        state = engine.state
        status = "ok" if state.ready else "unavailable"
        body = {
            "status": status,
            "busy": state.busy,
            "queued": state.queued,
            "restarts": state.restarts,
        }
        return JSONResponse(body, status_code=200 if state.ready else 503)

    def model_card() -> dict[str, Any]:
        info = engine.info
        try:
            created = int(Path(engine.params.model_path).stat().st_mtime)
        except OSError:
            created = 0
        card: dict[str, Any] = {
            "id": engine.model_id,
            "object": "model",
            "created": created,
            "owned_by": "ponder",
        }
        if info is not None:
            card["context_length"] = info.n_ctx
        return card

    @app.get("/v1/models")
    @app.get("/models", include_in_schema=False)
    async def models() -> Response:
        return JSONResponse({"object": "list", "data": [model_card()]})

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> Response:
        if model_id not in served_names(engine, model_aliases):
            raise ApiError(
                404,
                f"The model '{model_id}' does not exist.",
                type=NOT_FOUND,
                code="model_not_found",
            )
        return JSONResponse(model_card())

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions", include_in_schema=False)
    async def chat_completions(request: Request) -> Response:
        _check_content_type(request)
        body = parse_request(await _read_body(request, max_body_bytes))
        _check_model(engine, model_aliases, body.model)
        chat = _Chat(engine, request, body, to_generation_request(body), hook, running)
        chat.submit(queue_limit)
        try:
            if body.stream:
                return await chat.stream()  # the stream cancels the job itself when it ends
            return await chat.whole()
        except BaseException:
            chat.cancel()
            raise

    @app.post("/v1/chat/completions/{completion_id}/answer_now")
    async def answer_now(completion_id: str) -> Response:
        """Ponder's extension: end this request's reasoning now and let the model answer."""
        chat = running.get(completion_id)
        if chat is None or chat.job is None or not chat.job.answer_now():
            raise ApiError(
                404,
                f"No request '{completion_id}' is in progress.",
                type=NOT_FOUND,
                code="request_not_found",
            )
        return JSONResponse(
            {"id": completion_id, "object": "chat.completion.answer_now", "accepted": True}
        )

    # Outermost last: Host check → CORS → bearer token → routes.
    if api_key:
        app.add_middleware(BearerAuth, api_key=api_key)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    if trusted_hosts is not None:
        app.add_middleware(HostCheck, hosts=tuple(trusted_hosts))
    return app
