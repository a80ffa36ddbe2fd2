"""The remote engine in-process, against a hand-scripted OpenAI-compatible server on 127.0.0.1.

Covers what a real server will not do on demand: errors, malformed chunks, silence, dropped
connections, inline tags, ``reasoning`` instead of ``reasoning_content``, and cancelling.
The same engine through the worker, against Ponder's own server, is in
``tests/integration/test_remote_engine.py``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.engine import Control, LoadParams
from app.errors import EngineError
from app.events import Event, EventKind, FinishReason, ReasoningState
from app.families import GENERIC, get_family
from app.request import (
    ChatMessage,
    Effort,
    GenerationRequest,
    Sampling,
    ThinkingControl,
    ThinkMode,
)
from backends.remote import RemoteEngine
from backends.remote_api import ServerKind, api_base, list_models, request_body
from tests.support.sse_server import (
    DONE,
    Reply,
    ScriptedServer,
    chunk,
    error_reply,
    sse,
    usage_chunk,
)

NEVER = Control(cancelled=lambda: False)


def ask(text: str = "Hi", **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), **kwargs)


def texts(events: list[Event], kind: EventKind) -> str:
    return "".join(e.text for e in events if e.kind is kind)


def run(engine: RemoteEngine, request: GenerationRequest | None = None, **kw: Any) -> list[Event]:
    return list(engine.stream(request or ask(), 5, kw.get("control", NEVER)))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


def engine_for(server: ScriptedServer, model: str = "tiny", **kw: Any) -> RemoteEngine:
    timeout = kw.pop("timeout", 5.0)
    return RemoteEngine(LoadParams(model, endpoint=server.url, **kw), timeout=timeout)


# -- URLs and loading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("http://localhost:11434/v1/", "http://localhost:11434/v1"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"),
    ],
)
def test_api_base(endpoint: str, base: str) -> None:
    assert api_base(endpoint) == base


@pytest.mark.parametrize("bad", ["", "127.0.0.1:8080", "ftp://host/", "http://"])
def test_bad_endpoints_are_refused(bad: str) -> None:
    with pytest.raises(EngineError, match="not an http"):
        api_base(bad)


def test_load_lists_models_and_sends_the_key(server: ScriptedServer) -> None:
    server.models = [
        {"id": "tiny", "owned_by": "ponder", "context_length": 4096},
        {"id": "other", "owned_by": "ponder"},
    ]
    progress: list[float] = []
    engine = RemoteEngine(
        LoadParams("tiny", endpoint=server.url, api_key="sekrit"), progress.append
    )
    assert progress == [0.0, 1.0]
    assert engine.kind is ServerKind.PONDER
    info = engine.info
    assert (info.backend, info.name, info.n_ctx, info.endpoint) == (
        "remote",
        "tiny",
        4096,
        server.url + "/v1",
    )
    assert server.headers[-1]["Authorization"] == "Bearer sekrit"
    assert "sekrit" not in repr(LoadParams("tiny", endpoint=server.url, api_key="sekrit"))
    engine.close()


def test_the_only_model_is_chosen_when_none_is_named(server: ScriptedServer) -> None:
    assert engine_for(server, "").info.name == "tiny"


def test_a_model_the_server_does_not_list(server: ScriptedServer) -> None:
    with pytest.raises(EngineError, match=r"does not serve 'huge' \(it serves: tiny\)"):
        engine_for(server, "huge")


def test_server_kinds_from_the_listing(server: ScriptedServer) -> None:
    for owner, kind in [
        ("llamacpp", ServerKind.LLAMA_CPP),
        ("vllm", ServerKind.VLLM),
        ("library", ServerKind.OLLAMA),
        ("someone", ServerKind.GENERIC),
    ]:
        server.models = [{"id": "tiny", "owned_by": owner}]
        assert list_models(server.url)[0] is kind


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EngineError, match=r"connection refused \(is the server running\?\)"):
        RemoteEngine(LoadParams("m", endpoint=f"http://127.0.0.1:{port}"))


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, r"refused the request \(401 Unauthorized\): it needs an API key.*Invalid key"),
        (404, r"not found \(404 Not Found\).*no such route"),
        (500, r"failed \(500 Internal Server Error\): Invalid key"),
    ],
)
def test_load_errors(server: ScriptedServer, status: int, message: str) -> None:
    text = "no such route" if status == 404 else "Invalid key"
    server.models_reply = error_reply(status, text)
    with pytest.raises(EngineError, match=message):
        engine_for(server)


# -- streaming and the reasoning split ----------------------------------------------------------


def test_reasoning_content_then_content_with_usage(server: ScriptedServer) -> None:
    server.script = lambda body: sse(
        chunk(reasoning="\nLet me "),
        chunk(reasoning="think.  "),
        chunk(reasoning="\n"),
        chunk("\n\nParis"),
        chunk(" it is."),
        chunk(finish="stop"),
        usage_chunk(20, 9, reasoning=4),
        DONE,
    )
    events = run(engine_for(server))
    assert [e.kind for e in events] == [
        EventKind.REASONING,
        EventKind.REASONING,
        EventKind.CONTENT,
        EventKind.CONTENT,
        EventKind.STATS,
        EventKind.DONE,
    ]
    assert texts(events, EventKind.REASONING) == "Let me think."
    assert texts(events, EventKind.CONTENT) == "Paris it is."
    stats = events[-2].stats
    assert stats is not None
    assert (stats.prompt_tokens, stats.reasoning_tokens, stats.content_tokens) == (20, 4, 5)
    assert stats.reasoning_state is ReasoningState.COMPLETE
    assert stats.finish_reason is FinishReason.STOP
    assert stats.time_to_first_token_ms > 0 and stats.thinking_ms >= 0
    assert events[-1].data["finish_reason"] == "stop"
    sent = server.requests[-1]
    assert sent["stream"] is True and sent["model"] == "tiny"
    assert sent["stream_options"] == {"include_usage": True}


def test_reasoning_field_named_reasoning(server: ScriptedServer) -> None:
    server.script = lambda body: sse(
        chunk(reasoning="Hmm", field_name="reasoning"),
        chunk("42", finish="length"),
        DONE,
    )
    events = run(engine_for(server))
    assert texts(events, EventKind.REASONING) == "Hmm"
    assert texts(events, EventKind.CONTENT) == "42"
    stats = events[-2].stats
    assert stats is not None and stats.finish_reason is FinishReason.LENGTH
    # No usage: tokens are counted from the chunks.
    assert (stats.reasoning_tokens, stats.content_tokens) == (1, 1)


def test_inline_think_tags_are_split(server: ScriptedServer) -> None:
    server.script = lambda body: sse(
        chunk("<th"),
        chunk("ink>Let me see"),
        chunk(" this.</th"),
        chunk("ink>\n\nThe answer"),
        chunk(" is 4."),
        chunk(finish="stop"),
        DONE,
    )
    events = run(engine_for(server))
    assert texts(events, EventKind.REASONING) == "Let me see this."
    assert texts(events, EventKind.CONTENT) == "The answer is 4."
    assert "<think>" not in texts(events, EventKind.CONTENT)
    stats = events[-2].stats
    assert stats is not None
    assert stats.reasoning_state is ReasoningState.COMPLETE
    # Counted per chunk as the driver counts tokens ("<th" is undecided, so not reasoning yet).
    assert (stats.reasoning_tokens, stats.content_tokens) == (3, 2)


def test_a_plain_answer_has_no_reasoning(server: ScriptedServer) -> None:
    server.script = lambda body: sse(chunk("Just "), chunk("this."), chunk(finish="stop"), DONE)
    events = run(engine_for(server))
    assert texts(events, EventKind.CONTENT) == "Just this."
    stats = events[-2].stats
    assert stats is not None and stats.reasoning_state is ReasoningState.NONE


def test_a_whole_json_answer_when_the_server_does_not_stream(server: ScriptedServer) -> None:
    body = (
        b'{"choices": [{"message": {"role": "assistant", "reasoning_content": "Thought.",'
        b' "content": "Done."}, "finish_reason": "stop"}],'
        b' "usage": {"prompt_tokens": 5, "completion_tokens": 3}}'
    )
    server.script = lambda _: Reply([body], content_type="application/json")
    events = run(engine_for(server))
    assert (texts(events, EventKind.REASONING), texts(events, EventKind.CONTENT)) == (
        "Thought.",
        "Done.",
    )
    assert events[-1].kind is EventKind.DONE


# -- failures mid-request ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (error_reply(401, "bad key"), r"refused the request \(401 Unauthorized\).*bad key"),
        (error_reply(404, "model 'tiny' not found"), r"not found \(404.*model 'tiny' not found"),
        (error_reply(503, "overloaded"), r"failed \(503 Service Unavailable\): overloaded"),
        (error_reply(429, "slow down"), r"busy or rate-limited"),
        (sse(chunk("ok"), b"data: {not json\n\n"), r"malformed chunk \(not JSON\): '\{not json'"),
        (sse(b'data: {"choices": [{"delta": {"content": 7}}]}\n\n'), r"'content' is not text"),
        (sse(chunk("half an ans")), r"closed the connection in the middle of the answer"),
        (
            sse(chunk("ok"), b'data: {"error": {"message": "engine crashed"}}\n\n'),
            r"failed mid-answer: engine crashed",
        ),
    ],
)
def test_errors_during_a_request(server: ScriptedServer, reply: Reply, message: str) -> None:
    engine = engine_for(server)
    server.script = lambda body: reply
    events = run(engine)
    assert events[-1].kind is EventKind.ERROR, events
    assert re.search(message, events[-1].text), events[-1].text
    assert server.url in events[-1].text


def test_a_silent_server_times_out(server: ScriptedServer) -> None:
    engine = engine_for(server, timeout=0.5)
    server.script = lambda body: sse(3.0)
    started = time.monotonic()
    events = run(engine)
    assert time.monotonic() - started < 2.5
    assert events[-1].kind is EventKind.ERROR
    assert "sent nothing for 0.5 s (timed out" in events[-1].text


def test_the_server_going_away_between_requests(server: ScriptedServer) -> None:
    engine = engine_for(server)
    server.__exit__()
    events = run(engine)
    assert events[-1].kind is EventKind.ERROR
    assert "connection refused" in events[-1].text


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_mid_stream_closes_the_connection(server: ScriptedServer) -> None:
    parts: list[bytes | float] = [chunk(reasoning="step ")]
    for i in range(100):
        parts += [0.05, chunk(f"word{i} ")]
    server.script = lambda body: sse(*parts)
    flag = threading.Event()
    events: list[Event] = []
    for event in engine_for(server).stream(ask(), 5, Control(cancelled=flag.is_set)):
        events.append(event)
        if event.kind is EventKind.CONTENT and len(events) == 3:
            flag.set()
    assert events[-1].kind is EventKind.DONE
    assert events[-1].data["finish_reason"] == "cancelled"
    stats = events[-2].stats
    assert stats is not None and stats.finish_reason is FinishReason.CANCELLED
    assert stats.content_tokens < 10
    assert server.disconnected.wait(5), "the server never saw the client go away"


def test_cancel_while_the_server_is_silent(server: ScriptedServer) -> None:
    server.script = lambda body: sse(30.0)
    flag = threading.Event()
    threading.Timer(0.2, flag.set).start()
    started = time.monotonic()
    events = list(engine_for(server).stream(ask(), 5, Control(cancelled=flag.is_set)))
    assert time.monotonic() - started < 1.5
    assert events[-1].data["finish_reason"] == "cancelled"


def test_answer_now_is_announced_as_unavailable(server: ScriptedServer) -> None:
    server.script = lambda body: sse(
        chunk(reasoning="a"), 0.2, chunk(reasoning="b"), chunk("c", finish="stop"), DONE
    )
    control = Control(cancelled=lambda: False, answer_now=lambda: True)
    events = run(engine_for(server), control=control)
    warnings = [e.text for e in events if e.kind is EventKind.WARNING]
    assert warnings == ["answer now is not available for a remote model (stop it instead)"]
    assert events[-1].kind is EventKind.DONE


# -- thinking control --------------------------------------------------------------------------


def test_ponder_gets_every_thinking_control() -> None:
    request = ask(
        thinking=ThinkingControl(mode=ThinkMode.OFF, budget=64, effort=Effort.HIGH),
        sampling=Sampling(temperature=0.6, top_k=20),
        max_tokens=100,
        seed=1,
    )
    body, warnings = request_body(request, "m", ServerKind.PONDER, get_family("deepseek-r1"))
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert (body["thinking_budget"], body["reasoning_effort"]) == (64, "high")
    assert (body["temperature"], body["top_k"], body["max_tokens"], body["seed"]) == (
        0.6,
        20,
        100,
        1,
    )
    assert "top_p" not in body  # unset: the server's (or the family's) default
    assert warnings == []


def test_unsupported_controls_are_announced() -> None:
    request = ask(thinking=ThinkingControl(mode=ThinkMode.OFF, budget=64, min_tokens=100))
    body, warnings = request_body(request, "m", ServerKind.LLAMA_CPP, get_family("deepseek-r1"))
    assert "thinking_budget" not in body
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert any("thinking budget is not available" in w for w in warnings)
    assert any("think longer is not available" in w for w in warnings)
    assert any("turning reasoning off is not available for DeepSeek-R1" in w for w in warnings)
    qwen, qwarn = request_body(
        ask(thinking=ThinkingControl(mode=ThinkMode.OFF)),
        "m",
        ServerKind.VLLM,
        get_family("qwen3"),
    )
    assert qwen["chat_template_kwargs"] == {"enable_thinking": False} and qwarn == []
    ollama, _ = request_body(
        ask(thinking=ThinkingControl(mode=ThinkMode.OFF)), "m", ServerKind.OLLAMA, GENERIC
    )
    assert ollama["reasoning_effort"] == "none" and "chat_template_kwargs" not in ollama


def test_warnings_reach_the_stream_first(server: ScriptedServer) -> None:
    events = run(engine_for(server), ask(thinking=ThinkingControl(budget=10)))
    assert events[0].kind is EventKind.WARNING and "budget" in events[0].text
    assert events[-1].kind is EventKind.DONE


def test_a_refused_optional_field_is_dropped_and_announced(server: ScriptedServer) -> None:
    def script(body: dict[str, Any]) -> Reply:
        if "chat_template_kwargs" in body:
            return error_reply(400, "Unrecognized request argument: chat_template_kwargs")
        return sse(chunk("fine"), chunk(finish="stop"), DONE)

    server.script = script
    events = run(engine_for(server), ask(thinking=ThinkingControl(mode=ThinkMode.ON)))
    warnings = [e.text for e in events if e.kind is EventKind.WARNING]
    assert warnings == ["the server does not accept chat_template_kwargs; asked again without"]
    assert texts(events, EventKind.CONTENT) == "fine"
    assert len(server.requests) == 2


def test_history_goes_without_old_reasoning_except_to_ponder() -> None:
    request = GenerationRequest(
        messages=(
            ChatMessage("user", "a"),
            ChatMessage("assistant", "b", reasoning="thought"),
            ChatMessage("user", "c"),
        ),
        system_prompt="Be brief.",
    )
    body, _ = request_body(request, "m", ServerKind.GENERIC, GENERIC)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    body, _ = request_body(request, "m", ServerKind.PONDER, GENERIC)
    assert body["messages"][2]["reasoning_content"] == "thought"
