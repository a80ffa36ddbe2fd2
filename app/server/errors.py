"""Errors in the OpenAI shape: ``{"error": {"message", "type", "param", "code"}}``.

Every failure the server answers with — bad input, a wrong key, a full queue, a crashed
engine, a bug — uses this body, so OpenAI clients raise their usual exceptions
(``BadRequestError``, ``AuthenticationError``, ``RateLimitError``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from app.events import Event, Failure, error_event

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
RATE_LIMIT = "rate_limit_error"
SERVER_ERROR = "server_error"
NOT_FOUND = "not_found_error"


class ApiError(Exception):
    """An error answered to the client with ``status`` and an OpenAI-style body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)

    def sse(self) -> bytes:
        """The error as one Server-Sent Event (for a failure after the stream started)."""
        return b"data: " + json.dumps(self.body(), ensure_ascii=False).encode() + b"\n\n"


def error_body(
    message: str, *, type: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(status: int, message: str, **fields: Any) -> JSONResponse:
    return ApiError(status, message, **fields).response()


# -- engine errors ------------------------------------------------------------------------------

_CONTEXT_MARKERS = ("too long for the context window",)


def event_error(event: Event) -> ApiError:
    """The HTTP error for an engine ERROR event (see :func:`engine_error`)."""
    return engine_error(event.text, event.failure or Failure())


def engine_error(message: str, failure: Failure | Mapping[str, Any]) -> ApiError:
    """The HTTP error for an engine error: its message and what went wrong (a
    :class:`Failure`, or the ERROR event's payload as JSON fields).

    A crash (or an engine that could not be restarted) is a 503: the server recovers with a
    fresh worker, so the client may retry. A prompt that does not fit the context window is
    the client's to fix (400). Anything else the engine reports is a 500.
    """
    if not isinstance(failure, Failure):
        failure = error_event(0, message, **failure).failure or Failure()
    if failure.crashed:
        return ApiError(
            503,
            f"The engine stopped while answering ({message}); it is being restarted. "
            "Retry the request.",
            type=SERVER_ERROR,
            code="engine_unavailable",
            headers={"Retry-After": "1"},
        )
    if failure.shutdown:
        return ApiError(
            503, "The server is shutting down.", type=SERVER_ERROR, code="shutting_down"
        )
    if any(marker in message for marker in _CONTEXT_MARKERS):
        return ApiError(400, message, param="messages", code="context_length_exceeded")
    return ApiError(500, f"The engine failed: {message}", type=SERVER_ERROR, code="engine_error")
