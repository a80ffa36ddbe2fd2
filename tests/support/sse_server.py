"""A tiny hand-scripted OpenAI-compatible server (stdlib ``http.server`` on a thread).

For the cases a real server will not produce on demand: HTTP errors, malformed chunks, a
silent server, a connection dropped mid-answer, inline ``<think>`` tags, ``reasoning``
instead of ``reasoning_content``. Each ``POST /v1/chat/completions`` is answered by
``server.script(body)``, a :class:`Reply`; its ``parts`` are written in order, a float
meaning "sleep that long" (the connection then closes: the end of the stream).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def chunk(
    content: str | None = None,
    *,
    reasoning: str | None = None,
    field_name: str = "reasoning_content",
    finish: str | None = None,
) -> bytes:
    """One ``data:`` event of a streamed chat completion."""
    delta: dict[str, Any] = {}
    if reasoning is not None:
        delta[field_name] = reasoning
    if content is not None:
        delta["content"] = content
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "tiny",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def usage_chunk(prompt: int, completion: int, reasoning: int | None = None) -> bytes:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


@dataclass
class Reply:
    """What the server answers: a status, headers and body parts (bytes, or seconds to wait)."""

    parts: list[bytes | float] = field(default_factory=list)
    status: int = 200
    content_type: str = "text/event-stream"


def sse(*parts: bytes | float) -> Reply:
    return Reply(list(parts))


def error_reply(status: int, message: str) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "test", "code": None}})
    return Reply([body.encode()], status=status, content_type="application/json")


class ScriptedServer:
    """The server; use as a context manager. ``requests`` holds the bodies received."""

    def __init__(self, script: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.script: Callable[[dict[str, Any]], Reply] = script or (
            lambda body: sse(chunk("Hello"), chunk(finish="stop"), DONE)
        )
        self.models: list[dict[str, Any]] = [{"id": "tiny", "object": "model", "owned_by": "test"}]
        self.models_reply: Reply | None = None
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.disconnected = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, reply: Reply) -> None:
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.end_headers()
                    for part in reply.parts:
                        if isinstance(part, float):
                            time.sleep(part)
                            continue
                        self.wfile.write(part)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server.disconnected.set()

            def do_GET(self) -> None:
                server.headers.append(dict(self.headers))
                if self.path.rstrip("/") != "/v1/models":
                    self._send(error_reply(404, f"no route {self.path}"))
                elif server.models_reply is not None:
                    self._send(server.models_reply)
                else:
                    body = json.dumps({"object": "list", "data": server.models}).encode()
                    self._send(Reply([body], content_type="application/json"))

            def do_POST(self) -> None:
                server.headers.append(dict(self.headers))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                if self.path != "/v1/chat/completions":
                    self._send(error_reply(404, f"no route {self.path}"))
                    return
                self._send(server.script(body))

        return Handler


def slow_parts(parts: list[bytes], delay: float) -> Iterator[bytes | float]:
    """``parts`` with ``delay`` seconds before each."""
    for part in parts:
        yield delay
        yield part
