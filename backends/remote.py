"""Remote models: an OpenAI-compatible server (llama.cpp's server, vLLM, Ollama, LM Studio,
another Ponder...) behind the engine contract, run in the worker like the local engines.

* Loading lists the server's models (``GET /v1/models``), checks the model is there and
  recognises the server from the listing (``owned_by``), which decides how thinking control
  is asked for.
* A request streams ``POST /v1/chat/completions``. Reasoning comes from ``reasoning_content``
  (DeepSeek, llama.cpp, Ponder) or ``reasoning`` (newer vLLM) deltas; when the server sends
  neither, tags inline in the content are split with :class:`app.reasoning.ReasoningSplitter`.
* Thinking control goes where the server understands it: ``chat_template_kwargs.
  enable_thinking``, ``reasoning_effort``, and Ponder's own ``thinking_budget``. A control the
  server cannot apply is announced with a WARNING event, never silently dropped; so is an
  optional field the server refuses with a 400 (the request is then retried without it).
* The HTTP exchange runs on a thread of its own; the generation loop polls it every
  :data:`POLL_S` seconds, so a cancel ends the request at once even while the server is
  silent (the socket is shut, which the server sees as the client going away).
* Every failure (connection refused, timeouts, 401, 404, 429, 5xx, a malformed chunk, a
  dropped connection) ends the request with one clear ERROR event.

The wire format itself (URLs, listing, request bodies, chunks, error messages) is in
:mod:`backends.remote_api`.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import replace
from typing import Any

import httpx2

from app.engine import (
    Backend,
    Control,
    LoadParams,
    ModelFile,
    ModelInfo,
    ModelTemplate,
    RuntimeParams,
)
from app.errors import EngineError
from app.events import (
    Event,
    EventKind,
    FinishReason,
    ReasoningState,
    Stats,
    done_event,
    error_event,
)
from app.families import GENERIC, Family, family_from_name
from app.reasoning import ReasoningSplitter, SegmentKind
from app.reasoning_formats import THINK
from app.request import GenerationRequest
from app.templates import TemplateSource
from backends.remote_api import (
    CONNECT_TIMEOUT_S,
    OPTIONAL_FIELDS,
    READ_TIMEOUT_S,
    MalformedChunkError,
    ServerKind,
    api_base,
    auth_headers,
    list_models,
    parse_chunk,
    request_body,
    status_message,
    transport_message,
    usage_int,
)
from backends.tally import TokenTally

POLL_S = 0.05


# -- the HTTP exchange on its own thread ---------------------------------------------------


class _Exchange:
    """One streamed POST, read on a thread; what it reads comes out of :attr:`items`.

    Items are ``(kind, value)``: ``("status", (code, reason, body))`` for an error answer,
    ``("json", text)`` for a whole (non-streamed) answer, ``("line", text)`` per SSE line,
    ``("eof", None)`` at the end of the stream, ``("error", exception)`` when reading failed.
    """

    def __init__(self, client: httpx2.Client, url: str, body: dict[str, Any]) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._client = client
        self._url = url
        self._body = body
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="ponder-remote", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout: float = 1.0) -> None:
        """Wait briefly for the reader to see the end of the stream, then abort."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.abort()

    def abort(self) -> None:
        """Stop reading now: shutting the socket wakes a read blocked on a silent server."""
        self._stop.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _trace(self, name: str, info: Mapping[str, Any]) -> None:
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sock = sock
                if self._stop.is_set():
                    self.abort()

    def _run(self) -> None:
        put = self.items.put
        try:
            with self._client.stream(
                "POST", self._url, json=self._body, extensions={"trace": self._trace}
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    put(("status", (response.status_code, response.reason_phrase, response.text)))
                    return
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    response.read()
                    put(("json", response.text))
                    return
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    put(("line", line))
                put(("eof", None))
        except Exception as err:
            if not self._stop.is_set():
                put(("error", err))


# -- turning chunks into events --------------------------------------------------------------


class _Trim:
    """Leading whitespace of a part dropped, trailing whitespace held until text follows."""

    def __init__(self) -> None:
        self.started = False
        self._held = ""

    def feed(self, text: str) -> str:
        if not self.started:
            text = text.lstrip()
            if not text:
                return ""
            self.started = True
        text = self._held + text
        body = text.rstrip()
        self._held = text[len(body) :]
        return body


class _Reader:
    """One answer's deltas → REASONING / CONTENT events, with what the stats need."""

    def __init__(self, request_id: int, family: Family) -> None:
        self._rid = request_id
        fmt = family.reasoning if family.reasoning.open_tags else THINK
        self._inline = ReasoningSplitter(fmt)
        self._inline_used = False
        self._fields = False  # the server separates the reasoning itself
        self._reasoning = _Trim()
        self._content = _Trim()
        self.reasoning_chunks = 0
        self.content_chunks = 0
        # A chunk counts as a token, as in the stats without usage; one with no text of its
        # own (whitespace held back) is carried by the next piece of its kind, if any.
        self._tally = TokenTally(request_id)
        self.first: float | None = None
        self.last: float | None = None
        self.reasoning_start: float | None = None
        self.reasoning_end: float | None = None
        self.first_content: float | None = None

    def delta(self, reasoning: str, content: str) -> list[Event]:
        if not reasoning and not content:
            return []
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        events: list[Event] = []
        if reasoning and not self._fields:
            self._fields = True
            if self._inline_used:  # content came first, oddly: release what the splitter held
                events += self._segments(self._inline.finish(), now)
        in_reasoning = bool(reasoning)
        if reasoning:
            events += self._emit(EventKind.REASONING, self._reasoning.feed(reasoning), now)
        if content and self._fields:
            events += self._emit(EventKind.CONTENT, self._content.feed(content), now)
        elif content:  # inline tags, counted as the driver counts tokens
            self._inline_used = True
            was_reasoning = self._inline.in_reasoning
            segments = self._inline.feed(content)
            closed = any(seg.kind is SegmentKind.REASONING_END for seg in segments)
            in_reasoning = was_reasoning or closed or self._inline.in_reasoning
            events += self._segments(segments, now)
        if in_reasoning:
            self.reasoning_chunks += 1
        else:
            self.content_chunks += 1
        self._tally.count(EventKind.REASONING if in_reasoning else EventKind.CONTENT)
        return self._tally.attach(events)

    def finish(self) -> list[Event]:
        if self._fields or not self._inline_used:
            return []
        return self._tally.attach(self._segments(self._inline.finish(), time.perf_counter()))

    def state(self) -> ReasoningState:
        if not self._fields:
            return self._inline.state if self._inline_used else ReasoningState.NONE
        if self.reasoning_start is None:
            return ReasoningState.NONE
        return ReasoningState.COMPLETE if self.first_content else ReasoningState.INCOMPLETE

    def _segments(self, segments: list[Any], now: float) -> list[Event]:
        events: list[Event] = []
        for seg in segments:
            if seg.kind is SegmentKind.REASONING_END:
                self.reasoning_end = self.reasoning_end or now
            elif seg.kind is SegmentKind.REASONING:
                events += self._emit(EventKind.REASONING, seg.text, now)
            else:
                events += self._emit(EventKind.CONTENT, seg.text, now)
        return events

    def _emit(self, kind: EventKind, text: str, now: float) -> list[Event]:
        if not text:
            return []
        if kind is EventKind.REASONING:
            self.reasoning_start = self.reasoning_start or now
        else:
            self.first_content = self.first_content or now
            if self.reasoning_start is not None:
                self.reasoning_end = self.reasoning_end or now
        return [Event(kind, self._rid, text)]


# -- the engine ------------------------------------------------------------------------------


class RemoteEngine:
    """A model served by an OpenAI-compatible server. One owner (the worker)."""

    def __init__(
        self, params: LoadParams, progress: Any = None, *, timeout: float = READ_TIMEOUT_S
    ) -> None:
        if not params.endpoint:
            raise EngineError("no endpoint given for a remote model")
        self._base = api_base(params.endpoint)
        self._key = params.api_key
        self._timeout = timeout
        if progress is not None:
            progress(0.0)
        self.kind, models = list_models(params.endpoint, params.api_key)
        names = [m.id for m in models]
        model_id = params.model_path.strip()
        if not model_id and len(models) == 1:
            model_id = models[0].id
        if not model_id:
            raise EngineError(
                f"choose a model of {self._base}: " + (", ".join(names[:20]) or "it lists none")
            )
        if models and model_id not in names:
            shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
            raise EngineError(f"{self._base} does not serve '{model_id}' (it serves: {shown})")
        card = next((m for m in models if m.id == model_id), None)
        self._model = model_id
        self._family = family_from_name(model_id) or GENERIC
        self._client = httpx2.Client(
            headers=auth_headers(params.api_key),
            timeout=httpx2.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
            limits=httpx2.Limits(max_keepalive_connections=0),  # a fresh socket to abort
        )
        n_ctx = (card.context_length if card else None) or 0
        self.info = ModelInfo(
            ModelFile(
                model_id,
                "remote",
                model_id,
                trained_context=n_ctx,
                special_tokens={"server": self.kind.value},
            ),
            RuntimeParams(n_ctx, backend=Backend.REMOTE, endpoint=self._base),
            ModelTemplate("", TemplateSource.REMOTE, self._family.id),  # the server's own
        )
        if progress is not None:
            progress(1.0)

    def stream(
        self, request: GenerationRequest, request_id: int, control: Control
    ) -> Iterator[Event]:
        body, warnings = request_body(request, self._model, self.kind, self._family)
        for text in warnings:
            yield Event(EventKind.WARNING, request_id, text)
        while True:  # each retry leaves out at least one more optional field
            outcome = yield from self._attempt(body, request, request_id, control)
            if outcome is None:
                return
            refused = [k for k in OPTIONAL_FIELDS if k in body and k in outcome]
            for key in refused:
                del body[key]
            yield Event(
                EventKind.WARNING,
                request_id,
                f"the server does not accept {', '.join(refused)}; asked again without",
            )

    def _attempt(
        self, body: dict[str, Any], request: GenerationRequest, rid: int, control: Control
    ) -> Generator[Event, None, str | None]:
        """Run one request; returns a 400's text when it names an optional field to drop."""
        start = time.perf_counter()
        reader = _Reader(rid, self._family)
        exchange = _Exchange(self._client, self._base + "/chat/completions", body)
        exchange.start()
        finish: FinishReason | None = None
        server_finish: str | None = None
        usage: dict[str, Any] | None = None
        data_lines: list[str] = []
        warned_answer_now = False
        try:
            while finish is None:
                if control.cancelled():
                    finish = FinishReason.CANCELLED
                    break
                if control.answer_now() and not warned_answer_now:
                    warned_answer_now = True
                    yield Event(
                        EventKind.WARNING,
                        rid,
                        "answer now is not available for a remote model (stop it instead)",
                    )
                try:
                    kind, value = exchange.items.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if kind == "status":
                    code, reason, text = value
                    if code == 400 and any(k in body and k in text for k in OPTIONAL_FIELDS):
                        return str(text)
                    yield error_event(rid, status_message(
                        self._base, code, reason, text, model=self._model,
                        has_key=bool(self._key)))  # fmt: skip
                    return None
                if kind == "error":
                    yield error_event(rid, transport_message(self._base, value, self._timeout))
                    return None
                chunks: list[str] = []
                if kind == "json":
                    chunks.append(value)
                elif kind == "line":
                    line = value
                    if line.startswith("data:"):
                        data_lines.append(line[5:].removeprefix(" "))
                    elif not line.strip() and data_lines:
                        chunks.append("\n".join(data_lines))
                        data_lines = []
                elif kind == "eof" and data_lines:
                    chunks.append("\n".join(data_lines))
                    data_lines = []
                for data in chunks:
                    if data.strip() == "[DONE]":
                        finish = self._finish(server_finish)
                        break
                    try:
                        reasoning, content, fin, chunk_usage, error = parse_chunk(data)
                    except MalformedChunkError as err:
                        snippet = data if len(data) <= 80 else data[:80] + "…"
                        yield error_event(
                            rid, f"{self._base} sent a malformed chunk ({err}): {snippet!r}"
                        )
                        return None
                    if error is not None:
                        yield error_event(rid, f"{self._base} failed mid-answer: {error}")
                        return None
                    usage = chunk_usage or usage
                    server_finish = fin or server_finish
                    yield from reader.delta(reasoning, content)
                if finish is None and kind in ("json", "eof"):
                    if server_finish is None:
                        yield error_event(
                            rid, f"{self._base} closed the connection in the middle of the answer"
                        )
                        return None
                    finish = self._finish(server_finish)
        finally:
            if finish in (None, FinishReason.CANCELLED):
                exchange.abort()  # cancelled or failed: the server sees the client go away
        try:
            yield from reader.finish()
            stats = self._stats(reader, usage, start, finish, reader.state())
            budget = request.thinking.budget
            if (
                budget is not None
                and self.kind is ServerKind.PONDER
                and stats.reasoning_tokens >= budget
            ):  # Ponder's server closed the reasoning at the budget, as the driver reports it
                finish = FinishReason.BUDGET if finish is FinishReason.STOP else finish
                stats = replace(stats, finish_reason=finish, reasoning_state=ReasoningState.CAPPED)
            yield Event(EventKind.STATS, rid, stats=stats)
            yield done_event(rid, stats.finish_reason)
        finally:
            exchange.finish()  # after DONE: the server ends its stream on its own terms
        return None

    @staticmethod
    def _finish(server_finish: str | None) -> FinishReason:
        return FinishReason.LENGTH if server_finish == "length" else FinishReason.STOP

    def _stats(
        self,
        reader: _Reader,
        usage: dict[str, Any] | None,
        start: float,
        finish: FinishReason,
        state: ReasoningState,
    ) -> Stats:
        end = time.perf_counter()
        counted = reader.reasoning_chunks + reader.content_chunks
        completion = usage_int(usage, "completion_tokens")
        reasoning = usage_int(usage, "completion_tokens_details", "reasoning_tokens")
        if completion is None or finish is FinishReason.CANCELLED:
            completion, reasoning = counted, reader.reasoning_chunks
        elif reasoning is None:  # share the server's count as the chunks were shared
            reasoning = round(completion * reader.reasoning_chunks / counted) if counted else 0
        reasoning = min(reasoning, completion)
        first, last = reader.first, reader.last
        ttft = (first - start) * 1000.0 if first is not None else 0.0
        prompt = usage_int(usage, "prompt_tokens") or 0
        cached = usage_int(usage, "prompt_tokens_details", "cached_tokens") or 0
        decode_s = (last - first) if first is not None and last is not None else 0.0
        thinking_ms = 0.0
        if reader.reasoning_start is not None:
            thinking_ms = ((reader.reasoning_end or end) - reader.reasoning_start) * 1000.0
        return Stats(
            prompt_tokens=prompt,
            cached_prompt_tokens=cached,
            prompt_eval_ms=ttft,
            prompt_tokens_per_s=(prompt - cached) / (ttft / 1000.0) if ttft > 0 else 0.0,
            time_to_first_token_ms=ttft,
            time_to_first_content_ms=(
                (reader.first_content - start) * 1000.0 if reader.first_content else None
            ),
            reasoning_tokens=reasoning,
            content_tokens=completion - reasoning,
            decode_tokens_per_s=(completion - 1) / decode_s
            if decode_s > 0 and completion > 1
            else 0.0,
            thinking_ms=thinking_ms,
            total_ms=(end - start) * 1000.0,
            finish_reason=finish,
            reasoning_state=state,
        )

    def count_tokens(self, text: str) -> int:
        """An estimate (about four characters a token): servers have no common tokenizer API."""
        return max(1, (len(text) + 3) // 4) if text else 0

    def close(self) -> None:
        self._client.close()
