"""Who may talk to the server: the bearer token, and which addresses need one.

The server binds 127.0.0.1 unless told otherwise, and refuses any other address without an
API key (:func:`check_bind`). With a key, every request except ``GET /health`` (and CORS
preflights, answered before this check) must carry ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.server.errors import AUTHENTICATION, INVALID_REQUEST, error_body

#: Paths anyone may read (a liveness probe says nothing about the model or the key).
PUBLIC_PATHS = frozenset({"/health"})

#: Host names a loopback-bound server answers to (DNS rebinding protection).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this computer only."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, api_key: str | None) -> str | None:
    """Why binding ``host`` is refused (``None``: it is allowed)."""
    if api_key or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without an API key: anyone who can reach this computer "
        "could use the model. Set --api-key (or PONDER_API_KEY), or bind 127.0.0.1."
    )


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class BearerAuth:
    """ASGI middleware: 401 with an OpenAI-style body unless the bearer token matches."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope))
        if token is not None and hmac.compare_digest(token.encode(), self._key):
            await self.app(scope, receive, send)
            return
        if token is None:
            message = (
                "You didn't provide an API key. Send it in the Authorization header: "
                "'Authorization: Bearer YOUR_KEY'."
            )
            code = "missing_api_key"
        else:
            message = "Incorrect API key provided."
            code = "invalid_api_key"
        body = json.dumps(error_body(message, type=AUTHENTICATION, code=code)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="ponder"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class HostCheck:
    """ASGI middleware: 400 unless the Host header names one of ``hosts`` (port ignored).

    A server on 127.0.0.1 is still reachable from a web page through DNS rebinding (the
    page's own host name made to resolve to 127.0.0.1); the browser then sends that name in
    ``Host``, which this refuses.
    """

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...]) -> None:
        self.app = app
        self._hosts = {h.lower().strip("[]") for h in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if _host_name(host) in self._hosts:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            error_body(
                f"Host {host!r} is not served here.", type=INVALID_REQUEST, code="invalid_host"
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8642
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host
