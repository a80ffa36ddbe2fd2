"""The remote engine through the worker, against another Ponder on 127.0.0.1.

"Another Ponder" is Ponder's own OpenAI-compatible server (``create_app`` + ``EngineService``
under uvicorn on a thread): with the scripted fake engine for the fast cases, and with the
real SmolLM2 engine (behind the DeepSeek-R1 template, so it reasons) for one end-to-end run.
The client side is the real :class:`EngineClient` and worker process, so the events are
exactly those a local model produces; ``ponder chat --endpoint`` and ``ponder models``
(remote sources) run as a user runs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from app.cli.models import main as models_main
from app.engine import LoadParams
from app.events import Event, EventKind, FinishReason, ReasoningState
from app.request import ChatMessage, Effort, GenerationRequest, ThinkingControl, ThinkMode
from app.server.testing import Script, loaded_fake
from backends.client import EngineClient
from tests.support.served_api import Served, serve_api

ROOT = Path(__file__).resolve().parents[2]
KEY = "remote-test-key"
THOUGHT = "First I recall the map of Europe and then the capitals one by one."


@contextlib.contextmanager
def another_ponder(
    client: Any, params: LoadParams, *, api_key: str | None = KEY
) -> Iterator[Served]:
    real = isinstance(client, EngineClient)
    try:
        with serve_api(
            client, params, api_key=api_key, load=real, max_body_bytes=256 * 1024
        ) as served:
            yield served
    finally:
        if real:
            client.close()


@pytest.fixture(scope="module")
def fake_ponder() -> Iterator[Served]:
    fake = loaded_fake("/models/Tiny-R1-Distill.gguf", token_delay=0.01)
    fake.script = Script(answer=lambda req: (THOUGHT, "Paris is the capital of France."))
    with another_ponder(fake, LoadParams("/models/Tiny-R1-Distill.gguf")) as p:
        yield p


@pytest.fixture(scope="module")
def remote(fake_ponder: Served) -> Iterator[EngineClient]:
    client = EngineClient()
    client.load_blocking(LoadParams("Tiny-R1-Distill", endpoint=fake_ponder.url, api_key=KEY))
    yield client
    client.close()


def ask(text: str = "What is the capital of France?", **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), **kwargs)


def texts(events: list[Event], kind: EventKind) -> str:
    return "".join(e.text for e in events if e.kind is kind)


def test_loaded_like_a_local_model(remote: EngineClient, fake_ponder: Served) -> None:
    info = remote.info
    assert info is not None
    assert (info.backend, info.name, info.path) == ("remote", "Tiny-R1-Distill", "Tiny-R1-Distill")
    assert info.endpoint == fake_ponder.url + "/v1"
    assert info.family_id == "deepseek-r1"  # from the model's name
    assert info.n_ctx == 2048  # Ponder lists its context length
    assert info.special_tokens["server"] == "ponder"


def test_the_same_events_as_a_local_model(remote: EngineClient) -> None:
    events = list(remote.generate(ask(max_tokens=200)))
    kinds = [e.kind for e in events]
    assert kinds[-2:] == [EventKind.STATS, EventKind.DONE]
    assert set(kinds[:-2]) == {EventKind.REASONING, EventKind.CONTENT}
    assert kinds.index(EventKind.CONTENT) > kinds.index(EventKind.REASONING)
    assert texts(events, EventKind.REASONING) == THOUGHT
    assert texts(events, EventKind.CONTENT) == "Paris is the capital of France."
    stats = events[-2].stats
    assert stats is not None
    assert stats.reasoning_tokens == len(THOUGHT.split())  # from the server's usage
    assert stats.content_tokens == 6
    assert stats.prompt_tokens > 0
    assert stats.reasoning_state is ReasoningState.COMPLETE
    assert stats.time_to_first_token_ms > 0 and stats.decode_tokens_per_s > 0
    assert events[-1].data["finish_reason"] == "stop"


def test_thinking_control_reaches_the_server(remote: EngineClient, fake_ponder: Served) -> None:
    assert fake_ponder.fake is not None
    events = list(remote.generate(ask(thinking=ThinkingControl(budget=3, effort=Effort.LOW))))
    sent = fake_ponder.fake.requests[-1]
    assert (sent.thinking.budget, sent.thinking.effort) == (3, Effort.LOW)
    assert not [e for e in events if e.kind is EventKind.WARNING]
    stats = events[-2].stats
    assert stats is not None
    assert stats.reasoning_state is ReasoningState.CAPPED
    assert stats.finish_reason is FinishReason.BUDGET
    list(remote.generate(ask(thinking=ThinkingControl(mode=ThinkMode.OFF))))
    assert fake_ponder.fake.requests[-1].thinking.mode is ThinkMode.OFF


def test_cancel_mid_stream_stops_the_server_too(remote: EngineClient, fake_ponder: Served) -> None:
    assert fake_ponder.fake is not None
    fake_ponder.fake.token_delay = 0.1
    cancels = fake_ponder.fake.cancels
    try:
        stream = remote.generate(ask())
        events: list[Event] = []
        started = time.monotonic()
        for event in stream:
            events.append(event)
            if len(events) == 2:
                stream.cancel()
        assert time.monotonic() - started < 3
    finally:
        fake_ponder.fake.token_delay = 0.01
    assert events[-1].data["finish_reason"] == "cancelled"
    deadline = time.monotonic() + 5
    while fake_ponder.fake.cancels == cancels and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_ponder.fake.cancels > cancels, "the server went on generating"


def test_wrong_key_and_unknown_model(fake_ponder: Served) -> None:
    with EngineClient() as client:
        events = list(client.load(LoadParams("Tiny-R1-Distill", endpoint=fake_ponder.url)))
        assert events[-1].kind is EventKind.ERROR
        assert "refused the request (401 Unauthorized): it needs an API key" in events[-1].text
        events = list(client.load(LoadParams("nope", endpoint=fake_ponder.url, api_key=KEY)))
        assert events[-1].kind is EventKind.ERROR
        assert "does not serve 'nope' (it serves: Tiny-R1-Distill)" in events[-1].text


# -- as a user runs it ----------------------------------------------------------------------


def ponder(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
    )


def test_chat_cli_with_an_endpoint(fake_ponder: Served, ponder_home: Path) -> None:
    proc = ponder(
        "chat", "--endpoint", fake_ponder.url, "--api-key", KEY, "--model", "Tiny-R1-Distill",
        "--json", "--prompt", "Capital of France?", "--budget", "4",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[-2:] == ["stats", "done"]
    assert {"reasoning", "content"} <= set(types)
    assert events[-2]["reasoning_state"] == "capped"
    assert isinstance(events[-1]["conversation_id"], int)  # saved like any chat
    assert KEY not in proc.stdout + proc.stderr


def models(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = models_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_remote_sources_in_the_model_library(
    fake_ponder: Served,
    ponder_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_PONDER_KEY", KEY)
    code, out, err = models(
        capsys, "add-remote", "box", fake_ponder.url, "--api-key-env", "TEST_PONDER_KEY"
    )
    assert code == 0, err
    assert "it serves 1 model(s) (ponder): Tiny-R1-Distill" in out
    code, out, _ = models(capsys, "list")
    assert code == 0 and "box" in out and fake_ponder.url in out
    assert "$TEST_PONDER_KEY" in out and KEY not in out
    code, out, _ = models(capsys, "list", "--json")
    assert json.loads(out) == [
        {
            "id": "box",
            "source": "remote",
            "name": "box",
            "url": fake_ponder.url,
            "api_key_env": "TEST_PONDER_KEY",
        }
    ]
    assert KEY not in (ponder_home / "config" / "remote_sources.json").read_text()
    # A source is used by name; its key comes from the environment.
    chat = ponder("chat", "--endpoint", "box", "--json", "--no-save", "-p", "Hi")
    assert chat.returncode == 0, chat.stderr
    assert json.loads(chat.stdout.splitlines()[-1])["finish_reason"] == "stop"
    code, _, err = models(capsys, "add-remote", "nobox", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach http://127.0.0.1:9/v1" in err
    monkeypatch.delenv("TEST_PONDER_KEY")
    code, _, err = models(capsys, "add-remote", "box2", fake_ponder.url, "--api-key-env", "NOPE_X")
    assert code == 1 and "$NOPE_X is not set" in err
    assert models(capsys, "rm-remote", "box")[0] == 0
    assert json.loads(models(capsys, "list", "--json")[1]) == []
    assert models(capsys, "rm-remote", "box")[0] == 1


# -- the real engine on the other side ------------------------------------------------------


@pytest.mark.llama
def test_real_smollm2_behind_another_ponder(smollm2: Path, r1_template: str) -> None:
    params = LoadParams(str(smollm2), n_ctx=2048, chat_template=r1_template)
    with (
        another_ponder(EngineClient(), params) as served,
        EngineClient() as client,
    ):
        info = client.load_blocking(
            LoadParams("SmolLM2-135M-Instruct.Q4_1", endpoint=served.url, api_key=KEY)
        )
        assert info.n_ctx == 2048
        request = ask(thinking=ThinkingControl(budget=8), max_tokens=30, seed=3)
        events = list(client.generate(request))
    kinds = [e.kind for e in events]
    assert kinds[-2:] == [EventKind.STATS, EventKind.DONE], events[-1]
    assert EventKind.REASONING in kinds
    stats = events[-2].stats
    assert stats is not None
    assert stats.prompt_tokens > 10
    # The budget cut the reasoning on the server side; the answer then followed.
    assert stats.reasoning_state is ReasoningState.CAPPED
    assert stats.reasoning_tokens == 8
    assert "Time is up" in texts(events, EventKind.REASONING)


@contextlib.contextmanager
def llama_cpp_server(model: Path) -> Iterator[str]:
    """``python -m llama_cpp.server`` in a process of its own; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    argv += ["--model_alias", "smol", "--n_ctx", "1024", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--verbose", "false"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(url + "/v1/models", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.mark.llama
def test_llama_cpp_python_server(smollm2: Path) -> None:
    """llama-cpp-python's own OpenAI-compatible server (``llama_cpp.server``), SmolLM2 behind it."""
    pytest.importorskip(
        "sse_starlette", reason="llama_cpp.server needs pip install 'llama-cpp-python[server]'"
    )
    with llama_cpp_server(smollm2) as url, EngineClient() as client:
        info = client.load_blocking(LoadParams("smol", endpoint=url))
        assert info.backend == "remote" and info.special_tokens["server"] == "generic"
        request = ask(thinking=ThinkingControl(mode=ThinkMode.ON, budget=4), max_tokens=12)
        events = list(client.generate(request))
    kinds = [e.kind for e in events]
    assert kinds[-2:] == [EventKind.STATS, EventKind.DONE], events[-1]
    # No budget on this server: said so, not silently ignored; the rest was accepted.
    assert kinds[0] is EventKind.WARNING and "thinking budget is not available" in events[0].text
    assert texts(events, EventKind.CONTENT).strip()
    stats = events[-2].stats
    assert stats is not None
    assert stats.content_tokens == 12  # counted from the chunks (no usage while streaming)
    assert stats.finish_reason is FinishReason.LENGTH
