"""Serve the window's model over the OpenAI-compatible API, sharing its engine.

:class:`LocalServer` wraps the engine the window already has in an
:class:`app.server.service.EngineService`, starts :func:`app.server.create_app` on a uvicorn
thread bound to 127.0.0.1 (or, for other devices on the network, to every address with an
API key required: :meth:`LocalServer.network_key`), and points the window's bridge at the service, so the window's
requests and the API's wait in one line for the one model. Its state (answering, waiting)
arrives on the GUI thread as :attr:`LocalServer.state_changed`.

With :attr:`LocalServer.save_history` set, each finished API exchange is written to the
history (its own store connection, on the server's worker thread) and
:attr:`LocalServer.conversation_saved` tells the window which conversation changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal

from app.errors import PonderError

if TYPE_CHECKING:
    from app.server.history import ApiHistory
    from app.server.hooks import CompletedExchange
    from app.server.runner import ServerThread
    from app.server.service import EngineService
    from ui.engine.bridge import EngineBridge

#: The port ``ponder serve`` uses too.
DEFAULT_PORT = 8642
HOST = "127.0.0.1"
NETWORK_HOST = "0.0.0.0"  # every address: only ever with an API key


def lan_address() -> str:
    """This computer's address on its network (what other devices type), or 127.0.0.1."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a UDP "connect" picks a route; nothing is sent
            return str(probe.getsockname()[0])
        except OSError:
            return HOST


class LocalServer(QObject):
    """The API server of one window.

    Signals:
        state_changed(object): a :class:`ServiceState` (requests running and waiting).
        conversation_saved(int): an API exchange was saved in this conversation.
        save_failed(str): saving an API exchange failed (the client still got its answer).

    Attributes:
        save_history: whether finished API exchanges are saved (read at each answer, so
            switching it applies at once).
    """

    state_changed = Signal(object)
    conversation_saved = Signal(int)
    save_failed = Signal(str)
    _state_posted = Signal(object)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.service: EngineService | None = None
        self.server: ServerThread | None = None
        self.save_history = False
        self.network = False  # whether the running server answers other devices
        self.key_kept = False  # whether the network key is kept in the system keyring
        self._key: str | None = None
        self._address = HOST  # what other devices type, found when serving starts
        self._history: ApiHistory | None = None
        self._state_posted.connect(self.state_changed, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def url(self) -> str:
        """The API's base URL (``…/v1``), or "" when off."""
        if self.server is None:
            return ""
        if self.network:
            return f"http://{self._address}:{self.server.port}/v1"
        return f"{self.server.url}/v1"

    def network_key(self) -> str:
        """The key other devices send (``Authorization: Bearer KEY``); the same all session,
        and across sessions when the system keyring keeps it."""
        if self._key is None:
            from app.remote_keys import serve_api_key

            self._key, self.key_kept = serve_api_key()
        return self._key

    def new_network_key(self) -> str:
        """Replace the key; a server running for the network must be switched on again."""
        from app.remote_keys import new_serve_api_key

        self._key, self.key_kept = new_serve_api_key()
        return self._key

    def start(self, port: int = DEFAULT_PORT, *, network: bool = False) -> str:
        """Serve the loaded model on ``127.0.0.1:port`` (0: any free port); returns the URL.

        With ``network``, on every address of this computer, and every request but
        ``/health`` must carry the :meth:`network_key`.

        Raises:
            PonderError: no model is loaded, or the port cannot be used.
        """
        if self.server is not None:
            return self.url
        info = self.bridge.info
        if info is None:
            raise PonderError("load a model first: the server answers with the loaded model")
        from app.engine import Backend, LoadParams

        if info.backend is Backend.REMOTE:
            raise PonderError("a remote model is served by its own server already")
        from app.server.app import create_app
        from app.server.runner import ServerThread
        from app.server.security import LOOPBACK_HOSTS
        from app.server.service import EngineService

        params = LoadParams(
            info.path, n_ctx=info.n_ctx, n_gpu_layers=info.n_gpu_layers, flash_attn=info.flash_attn
        )
        service = EngineService(params, client=self.bridge.client)
        service.add_listener(self._state_posted.emit)
        app = create_app(
            service,
            api_key=self.network_key() if network else None,
            cors_origins=None,
            trusted_hosts=None if network else LOOPBACK_HOSTS,
            save_history=True,  # the hook itself checks ``save_history``
            on_completion=self._on_completion,
        )
        server = ServerThread(app, NETWORK_HOST if network else HOST, port)
        try:
            server.start()
        except Exception:
            service.close()
            raise
        self.service, self.server = service, server
        self.network = network
        self._address = lan_address() if network else HOST
        self.bridge.service = service
        self.state_changed.emit(service.state)
        return self.url

    def stop(self) -> None:
        """Stop serving; the window's engine stays loaded and is the window's alone again."""
        server, service = self.server, self.service
        self.server = self.service = None
        self.network = False
        if server is not None:
            server.stop()
        if service is not None:
            service.close()  # requests still waiting for the API get an error; not the engine
        if self.bridge.service is service:
            self.bridge.service = None
        if self._history is not None:
            self._history.close()
            self._history = None

    def _on_completion(self, exchange: CompletedExchange) -> None:
        """On a server worker thread: save the exchange when the user asked for it."""
        if not self.save_history:
            return
        history = self._history
        if history is None:
            from app.server.history import ApiHistory
            from app.store import ModelRef, open_store

            info = self.bridge.info
            model = (
                ModelRef(Path(info.path).stem, None, info.size_bytes, info.path) if info else None
            )
            history = self._history = ApiHistory(
                open_store, model=model, on_saved=self.conversation_saved.emit
            )
        try:
            history(exchange)
        except PonderError as err:
            self.save_failed.emit(str(err))
