"""Ponder's OpenAI-compatible API served on 127.0.0.1 for a test, over a fake or a real engine.

:func:`serve_api` runs the real app (``create_app`` + ``EngineService``) under uvicorn on a
thread (``ServerThread``, a free port); :func:`serve_fake` does so over the scripted fake engine
of ``app.server.testing``. Both yield a :class:`Served`: the address, the service and the engine,
and a client to talk to it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

import httpx
import openai

from app.engine import LoadParams
from app.server.app import create_app
from app.server.runner import ServerThread
from app.server.security import LOOPBACK_HOSTS
from app.server.service import EngineService
from app.server.testing import FakeEngineClient, loaded_fake

KEY = "test-key"
FAKE_MODEL = "/models/fake-model.gguf"


@dataclass
class Served:
    """A running API: its base URL (the API is under ``/v1``), its service and its engine.

    ``engine`` is the client the service drives: a :class:`FakeEngineClient`, an
    ``EngineClient``, or a test's wrapper around one.
    """

    url: str
    service: EngineService
    engine: Any
    api_key: str | None = KEY
    client_timeout: float | None = None

    @property
    def fake(self) -> FakeEngineClient:
        """The scripted fake engine behind it (for a server made with one)."""
        assert isinstance(self.engine, FakeEngineClient), self.engine
        return self.engine

    def client(self, key: str | EllipsisType | None = ..., **kwargs: Any) -> openai.OpenAI:
        """The real ``openai`` client, with the served key unless ``key`` says otherwise
        (``None``: no key), and no retries."""
        chosen = self.api_key if key is ... else key
        kwargs.setdefault("max_retries", 0)
        if self.client_timeout is not None:
            kwargs.setdefault("timeout", self.client_timeout)
        return openai.OpenAI(base_url=self.url + "/v1", api_key=chosen or "none", **kwargs)

    def post(
        self, body: Any, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """POST ``body`` (bytes as they are, anything else as JSON) to chat completions, with
        the served key."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        auth = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        sent = {"content-type": "application/json", **auth, **(headers or {})}
        return httpx.post(
            self.url + "/v1/chat/completions", content=content, headers=sent, **kwargs
        )

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Wait until no request runs or waits in the service's queue."""
        deadline = time.monotonic() + timeout
        while self.service.busy or self.service.queued:
            assert time.monotonic() < deadline, "the engine stayed busy"
            time.sleep(0.01)


@contextlib.contextmanager
def serve_api(
    engine: Any,
    params: LoadParams,
    *,
    api_key: str | None = KEY,
    load: bool = False,
    client_timeout: float | None = None,
    **app_options: Any,
) -> Iterator[Served]:
    """Serve ``engine`` through the real app until the block ends.

    Args:
        engine: what the service drives (it stays the caller's to close).
        params: the model the service serves (and loads, with ``load``).
        api_key: the key clients must send; ``None``: none (open on loopback).
        load: load the model before serving (a real engine; a fake comes loaded).
        client_timeout: the timeout of :meth:`Served.client` (the ``openai`` default if None).
        app_options: ``create_app`` options over these defaults: no CORS, 8 waiting requests,
            64 KB bodies, loopback host names only.

    At the end a held fake is let go, the server stops, and the service closes.
    """
    service = EngineService(params, client=engine)
    try:
        if load:
            service.load()
        options: dict[str, Any] = {
            "cors_origins": None,
            "queue_limit": 8,
            "max_body_bytes": 64 * 1024,
            "trusted_hosts": LOOPBACK_HOSTS,
            **app_options,
        }
        with ServerThread(create_app(service, api_key=api_key, **options)) as server:
            try:
                yield Served(server.url, service, engine, api_key, client_timeout)
            finally:
                hold = getattr(engine, "hold", None)
                if hold is not None:
                    hold.set()
    finally:
        service.close()


@contextlib.contextmanager
def serve_fake(
    fake: FakeEngineClient | None = None, *, model_path: str = FAKE_MODEL, **options: Any
) -> Iterator[Served]:
    """:func:`serve_api` over the scripted fake engine (a fresh loaded one if none given)."""
    with serve_api(fake or loaded_fake(model_path), LoadParams(model_path), **options) as served:
        yield served
