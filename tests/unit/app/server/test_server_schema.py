"""Request validation and its mapping to GenerationRequest; response shapes; stop sequences."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.events import Event, EventKind, FinishReason, Stats
from app.request import Effort, ThinkMode
from app.server.errors import ApiError, engine_error
from app.server.openai_format import (
    StopMatcher,
    Translator,
    completion_body,
    finish_reason,
    usage,
)
from app.server.schema import parse_request, to_generation_request

USER = [{"role": "user", "content": "hi"}]


def parse(**body: Any) -> Any:
    return parse_request(json.dumps(body).encode())


def rejected(raw: bytes | dict[str, Any]) -> ApiError:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(ApiError) as err:
        parse_request(data)
    assert err.value.status == 400
    body = err.value.body()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error"
    return err.value


def test_unset_sampling_stays_none_for_the_family_preset() -> None:
    req = to_generation_request(parse(messages=USER))
    s = req.sampling
    assert (s.temperature, s.top_p, s.top_k, s.min_p, s.repeat_penalty) == (None,) * 5
    assert req.max_tokens is None and req.seed is None
    assert req.thinking.mode is ThinkMode.AUTO and req.thinking.budget is None


def test_fields_map_to_the_engine_request() -> None:
    body = parse(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": "4", "reasoning_content": "2+2"},
            {"role": "assistant", "content": None, "reasoning": "vllm name"},
            {"role": "user", "content": "again"},
        ],
        temperature=0.5,
        top_p=0.9,
        top_k=20,
        min_p=0.1,
        max_tokens=50,
        max_completion_tokens=40,
        seed=-7,
        reasoning_effort="high",
        thinking_budget=64,
        chat_template_kwargs={"enable_thinking": False, "custom": 1},
    )
    req = to_generation_request(body)
    roles = [m.role for m in req.messages]
    assert roles == ["system", "user", "assistant", "assistant", "user"]
    assert req.messages[1].content == "a\nb"
    assert req.messages[2].reasoning == "2+2"
    assert req.messages[3].reasoning == "vllm name" and req.messages[3].content == ""
    assert req.sampling.temperature == 0.5 and req.sampling.top_k == 20
    assert req.max_tokens == 40  # max_completion_tokens wins
    assert req.seed is not None and 0 <= req.seed < 2**32
    assert req.thinking.effort is Effort.HIGH
    assert req.thinking.budget == 64
    assert req.thinking.mode is ThinkMode.OFF
    assert req.template_kwargs == (("custom", 1),)


def test_thinking_switches() -> None:
    on = to_generation_request(parse(messages=USER, chat_template_kwargs={"enable_thinking": True}))
    assert on.thinking.mode is ThinkMode.ON
    off = to_generation_request(parse(messages=USER, reasoning_effort="none"))
    assert off.thinking.mode is ThinkMode.OFF and off.thinking.effort is None
    assert to_generation_request(parse(messages=USER, seed=-1)).seed is None
    minimal = to_generation_request(parse(messages=USER, reasoning_effort="minimal"))
    assert minimal.thinking.effort is Effort.LOW and minimal.thinking.mode is ThinkMode.AUTO


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "system", "content": "only"}]}, "messages"),
        ({"messages": USER, "max_tokens": 10**9}, "max_tokens"),
        ({"messages": USER, "max_tokens": -1}, "max_tokens"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"messages": USER, "max_tokens": "10"}, "max_tokens"),
        ({"messages": USER, "temperature": "hot"}, "temperature"),
        ({"messages": USER, "temperature": 9}, "temperature"),
        ({"messages": USER, "top_k": 1.5}, "top_k"),
        ({"messages": USER, "stream": "yes"}, "stream"),
        ({"messages": USER, "thinking_budget": -5}, "thinking_budget"),
        ({"messages": USER, "reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"messages": USER, "n": 3}, "n"),
        ({"messages": USER, "seed": 2**70}, "seed"),
        ({"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": USER, "tools": [{"type": "function"}]}, "tools"),
        (
            {"messages": USER, "chat_template_kwargs": {"enable_thinking": "no"}},
            "chat_template_kwargs.enable_thinking",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0]",
        ),
        ({"messages": "hello"}, "messages"),
    ],
)
def test_bad_bodies_are_400_naming_the_parameter(body: dict[str, Any], param: str) -> None:
    assert rejected(body).param == param


@pytest.mark.parametrize(
    "raw", [b"{bad", b"", b"[1, 2]", b"null", b"\xff\xfe", b'{"messages": NaN}']
)
def test_malformed_json_is_400(raw: bytes) -> None:
    err = rejected(raw)
    assert err.code == "invalid_json" or err.param == "messages"


def test_unknown_fields_are_ignored() -> None:
    body = parse(
        messages=USER, frequency_penalty=0.5, logit_bias={}, response_format={"type": "text"}
    )
    assert to_generation_request(body).messages[0].content == "hi"


# -- responses ----------------------------------------------------------------------------------


def test_finish_reasons_in_openai_words() -> None:
    assert finish_reason(FinishReason.STOP) == "stop"
    assert finish_reason(FinishReason.BUDGET) == "stop"
    assert finish_reason(FinishReason.LENGTH) == "length"
    assert finish_reason(FinishReason.CANCELLED) == "stop"
    assert finish_reason("weird") == "stop"


def test_usage_counts_reasoning_tokens() -> None:
    u = usage(Stats(prompt_tokens=10, reasoning_tokens=7, content_tokens=5, cached_prompt_tokens=4))
    assert u["prompt_tokens"] == 10
    assert u["completion_tokens"] == 12
    assert u["total_tokens"] == 22
    assert u["completion_tokens_details"] == {"reasoning_tokens": 7}
    assert u["prompt_tokens_details"] == {"cached_tokens": 4}


def test_translator_builds_the_whole_answer() -> None:
    t = Translator([])
    stats = Stats(
        prompt_tokens=3, reasoning_tokens=2, content_tokens=2, finish_reason=FinishReason.BUDGET
    )
    events = [
        Event(EventKind.REASONING, 1, "think "),
        Event(EventKind.INJECTED, 1, "[time is up]", {"reason": "budget"}),
        Event(EventKind.WARNING, 1, "careful"),
        Event(EventKind.CONTENT, 1, "Hello"),
        Event(EventKind.CONTENT, 1, " world"),
        Event(EventKind.STATS, 1, stats=stats),
        Event(EventKind.DONE, 1, data={"finish_reason": "budget"}),
    ]
    for event in events:
        t.feed(event)
    body = completion_body("chatcmpl-x", 1, "m", t.answer)
    message = body["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "Hello world",
        "reasoning_content": "think [time is up]",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 2
    assert body["warnings"] == ["careful"]


def test_no_reasoning_no_reasoning_field() -> None:
    t = Translator([])
    t.feed(Event(EventKind.CONTENT, 1, "x"))
    t.feed(Event(EventKind.DONE, 1, data={"finish_reason": "length"}))
    body = completion_body("c", 1, "m", t.answer)
    assert "reasoning_content" not in body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("pieces", "stops", "expected"),
    [
        (["Hello wor", "ld. Bye"], ["world"], "Hello "),
        (["abc", "END", "xyz"], ["END"], "abc"),
        (["ab", "cE", "N", "D!"], ["END"], "abc"),
        (["no stop ", "here E"], ["END"], "no stop here E"),
        (["x\n\nUser:", " hi"], ["User:", "\n\n"], "x"),
        (["plain"], [], "plain"),
    ],
)
def test_stop_sequences_across_pieces(pieces: list[str], stops: list[str], expected: str) -> None:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(p) for p in pieces) + matcher.flush()
    assert out == expected
    assert matcher.stopped == (expected != "".join(pieces))


def test_engine_errors_get_sensible_statuses() -> None:
    crash = engine_error("engine crashed (SIGKILL, signal 9)", {"crashed": True})
    assert crash.status == 503 and crash.headers["Retry-After"]
    overflow = engine_error("The message is too long for the context window: ...", {})
    assert overflow.status == 400 and overflow.code == "context_length_exceeded"
    other = engine_error("template failed", {})
    assert other.status == 500 and other.body()["error"]["type"] == "server_error"
