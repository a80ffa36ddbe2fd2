"""Serve the window's model over the OpenAI-compatible API, sharing its engine.

:class:`LocalServer` wraps the engine the window already has in an
:class:`app.server.service.EngineService`, starts :func:`app.server.create_app` on a uvicorn
thread bound to 127.0.0.1, and points the window's bridge at the service, so the window's
requests and the API's wait in one line for the one model. Its state (answering, waiting)
arrives on the GUI thread as :attr:`LocalServer.state_changed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal

from app.errors import PonderError

if TYPE_CHECKING:
    from app.server.runner import ServerThread
    from app.server.service import EngineService
    from ui.bridge import EngineBridge

#: The port ``ponder serve`` uses too.
DEFAULT_PORT = 8642
HOST = "127.0.0.1"


class LocalServer(QObject):
    """The API server of one window.

    Signals:
        state_changed(object): a :class:`ServiceState` (requests running and waiting).
    """

    state_changed = Signal(object)
    _state_posted = Signal(object)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.service: EngineService | None = None
        self.server: ServerThread | None = None
        self._state_posted.connect(self.state_changed, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def url(self) -> str:
        """The API's base URL (``…/v1``), or "" when off."""
        return f"{self.server.url}/v1" if self.server is not None else ""

    def start(self, port: int = DEFAULT_PORT) -> str:
        """Serve the loaded model on ``127.0.0.1:port`` (0: any free port); returns the URL.

        Raises:
            PonderError: no model is loaded, or the port cannot be used.
        """
        if self.server is not None:
            return self.url
        info = self.bridge.info
        if info is None:
            raise PonderError("load a model first: the server answers with the loaded model")
        if info.backend == "remote":
            raise PonderError("a remote model is served by its own server already")
        from app.server.app import create_app
        from app.server.runner import ServerThread
        from app.server.security import LOOPBACK_HOSTS
        from app.server.service import EngineService
        from backends.base import LoadParams

        params = LoadParams(
            info.path, n_ctx=info.n_ctx, n_gpu_layers=info.n_gpu_layers, flash_attn=info.flash_attn
        )
        service = EngineService(params, client=self.bridge.client)
        service.add_listener(self._state_posted.emit)
        app = create_app(service, api_key=None, cors_origins=None, trusted_hosts=LOOPBACK_HOSTS)
        server = ServerThread(app, HOST, port)
        try:
            server.start()
        except Exception:
            service.close()
            raise
        self.service, self.server = service, server
        self.bridge.service = service
        self.state_changed.emit(service.state)
        return self.url

    def stop(self) -> None:
        """Stop serving; the window's engine stays loaded and is the window's alone again."""
        server, service = self.server, self.service
        self.server = self.service = None
        if server is not None:
            server.stop()
        if service is not None:
            service.close()  # requests still waiting for the API get an error; not the engine
        if self.bridge.service is service:
            self.bridge.service = None
