"""``ponder serve`` with the real SmolLM2 engine, driven by the real ``openai`` client.

The server runs under uvicorn on a background thread bound to 127.0.0.1 (a free port); the
engine is a real worker process running llama.cpp. Answers are kept short (small
``max_tokens``) so the module runs in well under a minute on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from app.engine import LoadParams, ModelInfo
from app.events import Event, EventKind
from app.request import GenerationRequest
from app.server.app import create_app
from app.server.runner import ServerThread
from backends.client import EngineClient
from tests.support.served_api import Served, serve_api

pytestmark = pytest.mark.llama

ROOT = Path(__file__).resolve().parents[2]
KEY = "integration-key"
SERVED = "SmolLM2-135M-Instruct.Q4_1"  # the id GET /v1/models lists for the test model
AUTH = {"Authorization": f"Bearer {KEY}"}
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]


class RecordingClient:
    """The real EngineClient, noting how each request ended (to prove cancellations)."""

    def __init__(self, inner: EngineClient) -> None:
        self.inner = inner
        self.endings: list[str] = []
        self.injected: list[str] = []  # why Ponder injected text, each time it did

    @property
    def info(self) -> ModelInfo | None:
        return self.inner.info

    @property
    def alive(self) -> bool:
        return self.inner.alive

    @property
    def pid(self) -> int | None:
        return self.inner.pid

    def load_blocking(self, params: LoadParams) -> ModelInfo:
        return self.inner.load_blocking(params)

    def restart(self) -> Iterator[Event]:
        return self.inner.restart()

    def close(self, timeout: float = 5.0) -> None:
        self.inner.close(timeout)

    def generate(self, request: GenerationRequest) -> _RecordingStream:
        return _RecordingStream(self, self.inner.generate(request))


class _RecordingStream:
    def __init__(self, owner: RecordingClient, stream: Any) -> None:
        self._owner = owner
        self._stream = stream

    def cancel(self) -> None:
        self._stream.cancel()

    def answer_now(self) -> None:
        self._stream.answer_now()

    def __iter__(self) -> Iterator[Event]:
        for event in self._stream:
            if event.kind is EventKind.INJECTED:
                self._owner.injected.append(str(event.data.get("reason")))
            if event.kind is EventKind.DONE:
                self._owner.endings.append(str(event.data.get("finish_reason")))
            elif event.kind is EventKind.ERROR:
                self._owner.endings.append("error")
            yield event


@contextlib.contextmanager
def serve(params: LoadParams, **app_kwargs: Any) -> Iterator[Served]:
    engine = RecordingClient(EngineClient())
    try:
        with serve_api(
            engine,
            params,
            api_key=KEY,
            load=True,
            # Generous: two shared cores can be slow when other work runs beside the tests.
            client_timeout=240,
            queue_limit=32,
            max_body_bytes=256 * 1024,
            **app_kwargs,
        ) as served:
            yield served
    finally:
        engine.close()


@pytest.fixture(scope="module")
def served(smollm2: Path) -> Iterator[Served]:
    with serve(LoadParams(str(smollm2), n_ctx=2048)) as s:
        yield s


@pytest.fixture(scope="module")
def r1_served(smollm2: Path, r1_template: str) -> Iterator[Served]:
    """SmolLM2's weights behind the DeepSeek-R1-distill template (the prompt opens <think>)."""
    params = LoadParams(
        str(smollm2), n_ctx=2048, chat_template=r1_template, chat_template_name="r1"
    )
    with serve(params) as s:
        yield s


def reasoning_of(obj: Any) -> str:
    return str((obj.model_extra or {}).get("reasoning_content") or "")


# -- answers -----------------------------------------------------------------------------------


def test_non_streaming_answer_with_usage(served: Served) -> None:
    with served.client() as client:
        completion = client.chat.completions.create(
            model="SmolLM2-135M-Instruct.Q4_1",
            messages=FRANCE,
            max_tokens=30,
            seed=1,
        )
    choice = completion.choices[0]
    assert (choice.message.content or "").strip()
    assert reasoning_of(choice.message) == ""  # SmolLM2's own template: no reasoning
    assert choice.finish_reason in ("stop", "length")
    assert completion.model == "SmolLM2-135M-Instruct.Q4_1"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 10
    assert 0 < usage.completion_tokens <= 30
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_streaming_matches_the_whole_answer(served: Served) -> None:
    # Same seed, same answer (temperature 0 is avoided: llama-cpp-python's greedy path is slow).
    settings: dict[str, Any] = {"messages": FRANCE, "max_tokens": 24, "temperature": 0.7, "seed": 1}
    with served.client() as client:
        whole = client.chat.completions.create(model=SERVED, **settings)
        pieces: list[str] = []
        usage = None
        finish = None
        for chunk in client.chat.completions.create(
            model=SERVED, stream=True, stream_options={"include_usage": True}, **settings
        ):
            usage = chunk.usage or usage
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
    assert len([p for p in pieces if p]) > 3  # really streamed, token by token
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_reasoning_content_with_the_r1_template_and_a_budget(r1_served: Served) -> None:
    with r1_served.client() as client:
        completion = client.chat.completions.create(
            model=SERVED,
            messages=[{"role": "user", "content": "What is 12 times 7?"}],
            max_tokens=90,
            temperature=0.6,
            seed=3,
            extra_body={"thinking_budget": 16},
        )
    message = completion.choices[0].message
    reasoning = reasoning_of(message)
    assert reasoning.strip(), "the trace is in reasoning_content"
    assert "Time is up" in reasoning  # the budget's injected close is part of the trace
    assert "<think>" not in (message.content or "") and "</think>" not in (message.content or "")
    assert (message.content or "").strip(), "an answer follows the capped reasoning"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 16
    assert usage.completion_tokens > 16
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_streamed_reasoning_comes_before_the_answer(r1_served: Served) -> None:
    kinds: list[str] = []
    usage = None
    with r1_served.client() as client:
        stream = client.chat.completions.create(
            model=SERVED,
            messages=[{"role": "user", "content": "Is 17 a prime number?"}],
            max_tokens=60,
            seed=5,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"thinking_budget": 12},
        )
        for chunk in stream:
            usage = chunk.usage or usage
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if reasoning_of(delta):
                kinds.append("r")
            if delta.content:
                kinds.append("c")
    assert "r" in kinds and "c" in kinds
    assert kinds.index("c") > max(i for i, k in enumerate(kinds) if k == "r")
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 12


def test_thinking_off_through_chat_template_kwargs(r1_served: Served) -> None:
    with r1_served.client() as client:
        completion = client.chat.completions.create(
            model=SERVED,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=20,
            # Greedy: sampled at random, about 1 run in 12 came back with reasoning here
            # (SmolLM2 is not a reasoning model; what it writes varies with each draw).
            temperature=0,
            seed=7,
            extra_body={"chat_template_kwargs": {"enable_thinking": False}},
        )
    assert reasoning_of(completion.choices[0].message) == ""
    assert completion.usage is not None and completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0


# -- refusals ----------------------------------------------------------------------------------


def test_auth_failures(served: Served) -> None:
    with served.client(key="wrong-key") as client, pytest.raises(openai.AuthenticationError) as err:
        client.chat.completions.create(model=SERVED, messages=FRANCE, max_tokens=4)
    assert err.value.status_code == 401
    assert err.value.code == "invalid_api_key"
    no_key = httpx.post(served.url + "/v1/chat/completions", json={"messages": FRANCE}, timeout=30)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "missing_api_key"


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b'{"messages": [{"role": "user", "content": "hi"}', 400),  # truncated JSON
        (json.dumps({"messages": [{"role": "user", "content": 42}]}).encode(), 400),
        (json.dumps({"messages": FRANCE, "max_tokens": 10**9}).encode(), 400),
        (json.dumps({"messages": FRANCE, "max_tokens": -1}).encode(), 400),
        (json.dumps({"messages": FRANCE, "temperature": "0.5"}).encode(), 400),
        (json.dumps({"messages": []}).encode(), 400),
        (json.dumps({"messages": [{"role": "wizard", "content": "hi"}]}).encode(), 400),
        (json.dumps({"messages": [{"role": "user", "content": "x" * 300_000}]}).encode(), 413),
    ],
)
def test_malformed_requests_get_openai_errors(served: Served, content: bytes, status: int) -> None:
    response = httpx.post(
        served.url + "/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json", **AUTH},
        timeout=30,
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


# -- reliability ---------------------------------------------------------------------------------


def test_disconnect_mid_stream_cancels_and_frees_the_engine(served: Served) -> None:
    served.wait_idle()
    before = len(served.engine.endings)
    body = {"model": SERVED, "messages": STORY, "max_tokens": 400, "stream": True, "seed": 2}
    with httpx.stream(
        "POST", served.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=120
    ) as r:
        assert r.status_code == 200
        chunks = 0
        for line in r.iter_lines():
            chunks += line.startswith("data: ")
            if chunks == 6:
                break  # leaving the block drops the connection
    served.wait_idle(timeout=60)
    assert served.engine.endings[before] == "cancelled"
    started = time.monotonic()
    with served.client() as client:
        answer = client.chat.completions.create(model=SERVED, messages=FRANCE, max_tokens=8)
    assert answer.choices[0].message.content
    assert time.monotonic() - started < 60


def test_twenty_concurrent_clients_all_complete(served: Served) -> None:
    def one(i: int) -> str:
        with served.client() as client:
            messages = [{"role": "user", "content": f"Say the number {i}."}]
            if i % 2:
                stream = client.chat.completions.create(
                    model=SERVED, messages=messages, max_tokens=6, stream=True
                )
                return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            completion = client.chat.completions.create(
                model=SERVED, messages=messages, max_tokens=6
            )
            return completion.choices[0].message.content or ""

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(one, range(20)))
    assert len(answers) == 20
    assert all(a.strip() for a in answers)
    served.wait_idle()


def test_queue_limit_429_with_a_second_app_on_the_same_engine(served: Served) -> None:
    """A second app (as the GUI's toggle would make) shares the engine, with a line of one."""
    served.wait_idle()
    strict = create_app(
        served.service, api_key=KEY, cors_origins=None, queue_limit=1, max_body_bytes=65536
    )
    with ServerThread(strict) as server, ThreadPoolExecutor(1) as pool:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=240)
        with client:
            running = client.chat.completions.create(
                model=SERVED, messages=STORY, max_tokens=300, stream=True
            )
            next(iter(running))  # the engine is now busy with it
            waiting = pool.submit(
                client.chat.completions.create, model=SERVED, messages=FRANCE, max_tokens=4
            )
            deadline = time.monotonic() + 10
            while served.service.queued < 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            with pytest.raises(openai.RateLimitError) as err:
                client.chat.completions.create(model=SERVED, messages=FRANCE, max_tokens=4)
            assert err.value.body["code"] == "queue_full"  # type: ignore[index]
            running.close()  # the client walks away: the waiting request runs next
            assert waiting.result(timeout=240).choices[0].message.content is not None
    served.wait_idle()


def test_engine_crash_is_503_and_a_fresh_worker_answers_next(smollm2: Path) -> None:
    with serve(LoadParams(str(smollm2), n_ctx=1024)) as s, s.client() as client:
        first_pid = s.engine.pid
        with ThreadPoolExecutor(1) as pool:
            doomed = pool.submit(
                client.chat.completions.create, model=SERVED, messages=STORY, max_tokens=300
            )
            deadline = time.monotonic() + 10
            while not s.service.busy:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.3)
            assert first_pid is not None
            os.kill(first_pid, signal.SIGKILL)
            with pytest.raises(openai.InternalServerError) as err:
                doomed.result(timeout=240)
        assert err.value.status_code == 503
        assert "SIGKILL" in err.value.message
        answer = client.chat.completions.create(model=SERVED, messages=FRANCE, max_tokens=12)
        assert (answer.choices[0].message.content or "").strip()
        assert s.engine.pid not in (None, first_pid)
        assert httpx.get(s.url + "/health").json()["restarts"] == 1

        # A crash after the stream started arrives as an error event; the server recovers again.
        stream = client.chat.completions.create(
            model=SERVED, messages=STORY, max_tokens=300, stream=True
        )
        with pytest.raises(openai.APIError, match="restarted"):
            for n, _chunk in enumerate(stream):
                if n == 3:
                    pid = s.engine.pid
                    assert pid is not None
                    os.kill(pid, signal.SIGKILL)
        again = client.chat.completions.create(model=SERVED, messages=FRANCE, max_tokens=6)
        assert again.choices[0].message.content is not None


# -- the command -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def ponder_serve(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, list[str]]]:
    """``ponder serve ARGS`` in a subprocess (source tree); yields its URL and stderr lines.

    Stops it with Ctrl+C (SIGINT) and checks it exited 0 without a traceback.
    """
    port = _free_port()
    script = (
        "import argparse, sys\n"
        "from app.cli.serve import add_serve_parser\n"
        "p = argparse.ArgumentParser(prog='ponder')\n"
        "add_serve_parser(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "sys.exit(a.handler(a))\n"
    )
    env = dict(env or os.environ, PYTHONPATH=str(ROOT), PONDER_API_KEY=KEY)
    argv = [sys.executable, "-c", script, "serve", *args, "--port", str(port), "--ctx", "512"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True
    )
    reader.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert any(f"{url}/v1" in line for line in lines), lines
        yield url, lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(5)
        proc.stderr.close()
    assert code == 0, "".join(lines)
    assert "Traceback" not in "".join(lines)


def test_ponder_serve_command_end_to_end(smollm2: Path) -> None:
    with ponder_serve("--model", str(smollm2)) as (url, _lines):
        with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
            assert client.models.list().data[0].id == "SmolLM2-135M-Instruct.Q4_1"
            answer = client.chat.completions.create(model=SERVED, messages=FRANCE, max_tokens=6)
            assert answer.choices[0].message.content is not None
        assert httpx.get(url + "/v1/models").status_code == 401


def test_ponder_serve_answers_when_the_history_is_not_a_database(
    smollm2: Path, ponder_home: Path
) -> None:
    from app.paths import database_path

    database_path().write_bytes(b"my notes, not a database\n" * 8)
    with ponder_serve("--model", str(smollm2), "--save-history") as (url, lines):
        with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
            answer = client.chat.completions.create(model=SERVED, messages=FRANCE, max_tokens=4)
        assert answer.choices[0].message.content is not None
    warnings = [line for line in lines if "history is off for this run" in line]
    assert len(warnings) == 1 and "is not an SQLite database" in warnings[0], lines
    assert not any("saved in the history" in line for line in lines)


def test_ponder_serve_a_library_id_and_save_the_chats(smollm2: Path, ponder_home: Path) -> None:
    from app.library import add_user_path, list_local_models
    from app.store import open_store

    add_user_path(smollm2)
    (model,) = [m for m in list_local_models() if m.path == smollm2]
    assert "/" in model.id  # "folder/name": an id, not a path
    with ponder_serve("--model", model.id, "--save-history") as (url, lines):
        assert any("saved in the history" in line for line in lines), lines
        with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
            first = client.chat.completions.create(model=model.id, messages=FRANCE, max_tokens=8)
            said = first.choices[0].message.content or ""
            follow_up = [
                *FRANCE,
                {"role": "assistant", "content": said},
                {"role": "user", "content": "And of Italy?"},
            ]
            stream = client.chat.completions.create(
                model=model.id, messages=follow_up, max_tokens=8, stream=True
            )
            second = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with open_store() as store:  # the server has exited: everything it saved is there
        (conv,) = store.list_conversations()
        path = store.active_path(conv.id)
        assert conv.title.endswith("· API")
    assert [m.content for m in path] == [FRANCE[0]["content"], said, "And of Italy?", second]
    assert all(m.status.value == "complete" for m in path)
    assert path[1].model is not None and path[1].model.path == str(smollm2)
    assert path[3].stats is not None and path[3].stats.content_tokens > 0


def test_answer_now_from_an_api_client(r1_served: Served) -> None:
    """The trace stops where the client asked, is marked, and the model answers after it."""
    reasoning: list[str] = []
    content: list[str] = []
    accepted: httpx.Response | None = None
    with r1_served.client() as client:
        stream = client.chat.completions.create(
            model=SERVED,
            messages=[{"role": "user", "content": "Tell me a long story about the sea."}],
            max_tokens=200,
            temperature=0.0,
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = None
        for chunk in stream:
            usage = chunk.usage or usage
            if not chunk.choices:
                continue
            reasoning.append(reasoning_of(chunk.choices[0].delta))
            content.append(chunk.choices[0].delta.content or "")
            if accepted is None and len("".join(reasoning).split()) >= 10:
                accepted = httpx.post(
                    f"{r1_served.url}/v1/chat/completions/{chunk.id}/answer_now",
                    headers=AUTH,
                    timeout=10,
                )
    assert accepted is not None and accepted.status_code == 200, accepted
    assert r1_served.engine.injected[-1] == "answer_now"  # not the token limit's own cut
    trace = "".join(reasoning)
    assert "Time is up" in trace, trace[-300:]  # the injected close, as with a budget
    assert "".join(content).strip(), "the model answered after its thinking was ended"
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens < 100
