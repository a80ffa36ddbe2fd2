"""Running the app with uvicorn: in the foreground (``ponder serve``) or on a thread (the GUI).

The listening socket is bound here, before uvicorn starts, so a port in use is a clear
:class:`ServeError` rather than a log line and ``sys.exit`` inside uvicorn.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from app.errors import PonderError

#: Seconds a shutdown waits for open connections (a streaming answer) before cutting them.
GRACEFUL_SHUTDOWN_S = 3


class ServeError(PonderError):
    """The server could not start (address in use, bad host name...)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (``port`` 0: any free port), ready for uvicorn.

    Raises:
        ServeError: the address cannot be used.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ServeError(f"cannot listen on {host!r}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use (choose another with --port)"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def make_server(
    app: ASGIApp, *, log_level: str = "warning", access_log: bool = False, own_logging: bool = False
) -> uvicorn.Server:
    """A uvicorn server for ``app``.

    ``own_logging``: let uvicorn configure logging (its usual console output; for
    ``ponder serve``). Otherwise the host application's logging is left as it is.
    """
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=uvicorn.config.LOGGING_CONFIG if own_logging else None,
        access_log=access_log,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return uvicorn.Server(config)


class ServerThread:
    """The app served by uvicorn on a background thread; :meth:`stop` ends it.

    Args:
        app: the ASGI app (see :func:`app.server.create_app`).
        host: the address to bind.
        port: the port (0: a free one; read :attr:`port` after :meth:`start`).
    """

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self._server = make_server(app, log_level=log_level)
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8642`` (the API is under ``/v1``)."""
        return url_for(self.host, self.port)

    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve; returns once the server accepts connections.

        Raises:
            ServeError: the address cannot be used, or the server did not start in time.
        """
        sock = bind_socket(self.host, self._requested_port)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="ponder-api-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                self.stop()
                raise ServeError("the API server did not start in time")
            time.sleep(0.01)
        if not self._server.started:
            raise ServeError(f"the API server failed to start: {self.error!r}")

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._server.run(sockets=[sock])
        except BaseException as err:  # SystemExit from a failed uvicorn startup, or a bug
            self.error = err

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting requests, let open ones end briefly, and join the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
