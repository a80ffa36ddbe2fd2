"""The HTTP API over a fake engine: real uvicorn, real ``openai`` client, real httpx.

Fast (no model); the same behaviours against the real SmolLM2 engine are in
``tests/integration/test_server_openai.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from app.engine import LoadParams
from app.server.app import create_app
from app.server.hooks import CompletedExchange
from app.server.service import EngineService
from app.server.testing import loaded_fake
from tests.support.served_api import KEY, Served, serve_fake

USER = [{"role": "user", "content": "hello there"}]
AUTH = {"Authorization": f"Bearer {KEY}"}


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


# -- the happy paths with the openai client ------------------------------------------------------


def test_non_streaming_with_the_openai_client(served: Served) -> None:
    with served.client() as client:
        completion = client.chat.completions.create(
            model="fake-model", messages=USER, max_tokens=50
        )
    message = completion.choices[0].message
    assert message.content == "You said: hello there"
    assert (message.model_extra or {})["reasoning_content"] == "Let me think about it."
    assert completion.model == "fake-model"
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == 5 + 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 5


def test_streaming_with_the_openai_client(served: Served) -> None:
    reasoning, content, finish, usage = "", "", None, None
    with served.client() as client:
        stream = client.chat.completions.create(
            model="fake-model", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            content += delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert reasoning == "Let me think about it."
    assert content == "You said: hello there"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 5


def test_max_tokens_gives_length(served: Served) -> None:
    with served.client() as client:
        completion = client.chat.completions.create(model="fake-model", messages=USER, max_tokens=3)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_stop_sequence_cuts_the_answer_and_stops_the_engine(served: Served) -> None:
    with served.client() as client:
        completion = client.chat.completions.create(
            model="fake-model", messages=USER, stop=[" there"]
        )
        chunks = client.chat.completions.create(
            model="fake-model", messages=USER, stop="said", stream=True
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert completion.choices[0].message.content == "You said: hello"
    assert completion.choices[0].finish_reason == "stop"
    assert streamed == "You "


def test_models_and_health(served: Served) -> None:
    with served.client() as client:
        models = client.models.list()
        assert [m.id for m in models.data] == ["fake-model"]
        assert client.models.retrieve("fake-model").id == "fake-model"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("other")
    health = httpx.get(served.url + "/health")  # no key needed
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "busy": False, "queued": 0, "restarts": 0}


@pytest.mark.parametrize("stream", [False, True])
def test_an_unknown_model_is_404_model_not_found(served: Served, stream: bool) -> None:
    with served.client() as client, pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER, stream=stream)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert "'gpt-4o'" in error["message"] and "'fake-model'" in error["message"]
    raw = served.post({"model": "gpt-4o", "messages": USER})
    assert assert_openai_error(raw, 404)["code"] == "model_not_found"
    assert served.fake.requests == []  # the engine never saw it


def test_the_served_model_answers_to_its_documented_aliases() -> None:
    with serve_fake(model_aliases=["library/fake-model-q4"]) as s, s.client() as client:
        for name in ("fake-model", "fake-model.gguf", "library/fake-model-q4"):
            answer = client.chat.completions.create(model=name, messages=USER)
            assert answer.choices[0].message.content == "You said: hello there"
            assert answer.model == "fake-model"
            assert client.models.retrieve(name).id == "fake-model"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="fake", messages=USER)
        no_model = s.post({"messages": USER})  # no name at all: the served model
        assert no_model.status_code == 200
        assert no_model.json()["choices"][0]["message"]["content"] == "You said: hello there"


# -- security ----------------------------------------------------------------------------------


def test_missing_or_wrong_key_is_401(served: Served) -> None:
    for key in ("wrong", None):
        with served.client(key=key) as client, pytest.raises(openai.AuthenticationError) as err:
            client.chat.completions.create(model="fake-model", messages=USER)
        assert err.value.status_code == 401
    raw = httpx.get(served.url + "/v1/models")
    assert assert_openai_error(raw, 401)["code"] == "missing_api_key"
    basic = httpx.get(served.url + "/v1/models", headers={"Authorization": f"Basic {KEY}"})
    assert_openai_error(basic, 401)
    assert served.fake.requests == []


def test_no_key_configured_means_open_on_loopback() -> None:
    with serve_fake(api_key=None) as s, s.client(key="whatever") as client:
        assert (
            client.chat.completions.create(model="fake-model", messages=USER)
            .choices[0]
            .message.content
        )


def test_foreign_host_header_is_refused(served: Served) -> None:
    response = httpx.get(served.url + "/v1/models", headers={**AUTH, "Host": "evil.example:8642"})
    assert assert_openai_error(response, 400)["code"] == "invalid_host"
    ok = httpx.get(served.url + "/v1/models", headers={**AUTH, "Host": "localhost:1"})
    assert ok.status_code == 200


def test_no_cors_unless_configured(served: Served) -> None:
    origin = {"Origin": "http://localhost:3000"}
    preflight = {**origin, "Access-Control-Request-Method": "POST"}
    assert (
        "access-control-allow-origin"
        not in httpx.get(served.url + "/health", headers=origin).headers
    )
    assert httpx.options(served.url + "/v1/chat/completions", headers=preflight).status_code >= 400
    with serve_fake(cors_origins=["http://localhost:3000"]) as s:
        ok = httpx.options(
            s.url + "/v1/chat/completions",
            headers={**preflight, "Access-Control-Request-Headers": "authorization,content-type"},
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = httpx.get(s.url + "/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- malformed requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        {"messages": []},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"messages": USER, "max_tokens": 10**9},
        {"messages": USER, "max_tokens": -5},
        {"messages": USER, "temperature": "warm"},
        {"messages": [{"role": "user", "content": {"nested": True}}]},
    ],
)
def test_malformed_requests_are_400(served: Served, body: Any) -> None:
    assert_openai_error(served.post(body), 400)
    assert served.fake.requests == []


def test_bad_request_through_the_openai_client(served: Served) -> None:
    with served.client() as client, pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="fake-model", messages=USER, max_tokens=10**9)
    assert err.value.status_code == 400


def test_wrong_content_type_is_415(served: Served) -> None:
    response = served.post(
        json.dumps({"messages": USER}).encode(), headers={"content-type": "text/plain"}
    )
    assert_openai_error(response, 415)


def test_oversize_body_is_413(served: Served) -> None:
    huge = {"messages": [{"role": "user", "content": "x" * 100_000}]}
    assert assert_openai_error(served.post(huge), 413)["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}]}'

    response = httpx.post(
        served.url + "/v1/chat/completions",
        content=chunks(),
        headers={"content-type": "application/json", **AUTH},
    )
    assert_openai_error(response, 413)


def test_unknown_paths_and_methods_have_openai_errors(served: Served) -> None:
    assert_openai_error(httpx.get(served.url + "/v1/nothing", headers=AUTH), 404)
    assert_openai_error(httpx.get(served.url + "/v1/chat/completions", headers=AUTH), 405)


def test_prompt_too_long_is_400() -> None:
    fake = loaded_fake()
    fake.fail_with = "The message is too long for the context window: the prompt needs 9000 tokens"
    with serve_fake(fake) as s:
        error = assert_openai_error(s.post({"messages": USER}), 400)
        assert error["code"] == "context_length_exceeded"
        streamed = assert_openai_error(s.post({"messages": USER, "stream": True}), 400)
        assert streamed["code"] == "context_length_exceeded"


# -- reliability ---------------------------------------------------------------------------------


def test_client_disconnect_mid_stream_cancels_the_generation() -> None:
    fake = loaded_fake(token_delay=0.01)
    long = [{"role": "user", "content": "word " * 500}]
    with serve_fake(fake) as s:
        with httpx.stream(
            "POST",
            s.url + "/v1/chat/completions",
            json={"messages": long, "stream": True},
            headers=AUTH,
        ) as response:
            assert response.status_code == 200
            lines = 0
            for line in response.iter_lines():
                lines += bool(line)
                if lines == 5:
                    break  # leaving the block closes the connection
        s.wait_idle(timeout=3)
        assert fake.cancels >= 1
        started = time.monotonic()
        with s.client() as client:
            assert (
                client.chat.completions.create(model="fake-model", messages=USER)
                .choices[0]
                .message.content
            )
        assert time.monotonic() - started < 2


def test_client_that_gives_up_while_waiting_is_dropped_from_the_line() -> None:
    fake = loaded_fake()
    fake.hold = threading.Event()
    with serve_fake(fake) as s:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(
                s.post, {"messages": [{"role": "user", "content": "first"}]}, timeout=10
            )
            while not s.service.busy:
                time.sleep(0.01)
            with pytest.raises(httpx.ReadTimeout):
                s.post({"messages": [{"role": "user", "content": "impatient"}]}, timeout=0.5)
            deadline = time.monotonic() + 3
            while s.service.queued:
                assert time.monotonic() < deadline, "the abandoned request still waits"
                time.sleep(0.02)
            fake.hold.set()
            assert first.result().status_code == 200
        assert [r.messages[-1].content for r in fake.requests] == ["first"]


def test_queue_limit_gives_429() -> None:
    fake = loaded_fake()
    fake.hold = threading.Event()
    with serve_fake(fake, queue_limit=1) as s, ThreadPoolExecutor(2) as pool:
        running = pool.submit(s.post, {"messages": USER}, timeout=10)
        while not s.service.busy:
            time.sleep(0.01)
        waiting = pool.submit(s.post, {"messages": USER}, timeout=10)
        while s.service.queued < 1:
            time.sleep(0.01)
        with s.client() as client, pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="fake-model", messages=USER)
        assert err.value.response.headers["retry-after"]
        health = httpx.get(s.url + "/health").json()
        assert health["busy"] is True and health["queued"] == 1
        fake.hold.set()
        assert running.result().status_code == 200
        assert waiting.result().status_code == 200


def test_twenty_concurrent_clients_all_complete() -> None:
    fake = loaded_fake(token_delay=0.001)
    with serve_fake(fake, queue_limit=32) as s:

        def one(i: int) -> str:
            with s.client() as client:
                msgs = [{"role": "user", "content": f"number {i}"}]
                if i % 2:
                    stream = client.chat.completions.create(
                        model="fake-model", messages=msgs, stream=True
                    )
                    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                answer = client.chat.completions.create(model="fake-model", messages=msgs)
                return answer.choices[0].message.content or ""

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(one, range(20)))
    assert answers == [f"You said: number {i}" for i in range(20)]


def test_engine_crash_is_503_then_recovers() -> None:
    fake = loaded_fake()
    fake.crash_after = 2
    with serve_fake(fake) as s, s.client() as client:
        with pytest.raises(openai.InternalServerError) as err:
            client.chat.completions.create(model="fake-model", messages=USER)
        assert err.value.status_code == 503
        assert err.value.response.headers["retry-after"]
        answer = client.chat.completions.create(model="fake-model", messages=USER)
        assert answer.choices[0].message.content == "You said: hello there"
        assert fake.restarts == 1
        assert httpx.get(s.url + "/health").json()["restarts"] == 1


def test_engine_crash_mid_stream_is_an_error_event() -> None:
    fake = loaded_fake()
    fake.crash_after = 6  # after the reasoning and one answer token
    with serve_fake(fake) as s, s.client() as client:
        received = ""
        with pytest.raises(openai.APIError) as err:
            for chunk in client.chat.completions.create(
                model="fake-model", messages=USER, stream=True
            ):
                if chunk.choices:
                    received += chunk.choices[0].delta.content or ""
        assert "restarted" in err.value.message
        assert received == "You"
        again = client.chat.completions.create(model="fake-model", messages=USER)
        assert again.choices[0].message.content


def test_the_openai_client_retries_a_crash_by_itself() -> None:
    fake = loaded_fake()
    fake.crash_after = 0
    with (
        serve_fake(fake) as s,
        openai.OpenAI(base_url=s.url + "/v1", api_key=KEY, max_retries=2) as client,
    ):
        answer = client.chat.completions.create(model="fake-model", messages=USER)
    assert answer.choices[0].message.content == "You said: hello there"


# -- history hook --------------------------------------------------------------------------------


def test_history_hook_gets_each_exchange_when_enabled() -> None:
    saved: list[CompletedExchange] = []
    with serve_fake(save_history=True, on_completion=saved.append) as s, s.client() as client:
        client.chat.completions.create(model="fake-model", messages=USER)
        list(client.chat.completions.create(model="fake-model", messages=USER, stream=True))
    assert [e.streamed for e in saved] == [False, True]
    first = saved[0]
    assert first.content == "You said: hello there"
    assert first.reasoning == "Let me think about it."
    assert first.request.messages[-1].content == "hello there"
    assert first.stats is not None and first.completion_id.startswith("chatcmpl-")


def test_history_hook_is_off_by_default_and_its_failures_stay_inside() -> None:
    calls: list[CompletedExchange] = []
    with serve_fake(on_completion=calls.append) as s, s.client() as client:
        client.chat.completions.create(model="fake-model", messages=USER)
    assert calls == []

    def broken(exchange: CompletedExchange) -> None:
        raise OSError("disk full")

    with serve_fake(save_history=True, on_completion=broken) as s, s.client() as client:
        assert (
            client.chat.completions.create(model="fake-model", messages=USER)
            .choices[0]
            .message.content
        )


def test_save_history_needs_a_hook() -> None:
    service = EngineService(LoadParams("m.gguf"), client=loaded_fake())
    with pytest.raises(ValueError, match="on_completion"):
        create_app(
            service,
            api_key=None,
            cors_origins=None,
            queue_limit=1,
            max_body_bytes=1024,
            save_history=True,
        )
