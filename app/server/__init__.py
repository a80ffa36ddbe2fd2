"""``ponder serve``: a local OpenAI-compatible API with the reasoning kept apart.

    from app.server import EngineService
    from app.server.app import create_app
    from app.server.runner import ServerThread

    service = EngineService(LoadParams("model.gguf"))
    service.load()
    app = create_app(service, api_key=None, cors_origins=None, queue_limit=32,
                     max_body_bytes=4 * 1024 * 1024, trusted_hosts=LOOPBACK_HOSTS)
    with ServerThread(app, "127.0.0.1", 8642) as server:   # or uvicorn in the foreground
        ...

Modules: :mod:`~app.server.service` (one engine, requests in line), :mod:`~app.server.app`
(routes), :mod:`~app.server.schema` (request validation), :mod:`~app.server.openai_format`
(response shapes), :mod:`~app.server.security` (API key, bind rules), :mod:`~app.server.hooks`
(history saving), :mod:`~app.server.runner` (uvicorn), :mod:`~app.server.testing` (a fake
engine client).

FastAPI and uvicorn are dependencies of Ponder, but this package itself imports neither: the
desktop app shares an :class:`EngineService` without loading them, and imports
:mod:`app.server.app` / :mod:`app.server.runner` only when the user turns serving on.
"""

from app.server.hooks import CompletedExchange, OnCompletion
from app.server.service import (
    EngineService,
    Job,
    QueueFullError,
    ServiceClosedError,
    ServiceState,
    model_id_for,
)

__all__ = [
    "CompletedExchange",
    "EngineService",
    "Job",
    "OnCompletion",
    "QueueFullError",
    "ServiceClosedError",
    "ServiceState",
    "model_id_for",
]
