"""The real engine: SmolLM2-135M-Instruct through real llama.cpp in the worker process."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.engine import LoadParams
from app.events import Event, EventKind, FinishReason, ReasoningState
from app.request import ChatMessage, GenerationRequest, Sampling, ThinkingControl, ThinkMode
from backends.client import EngineClient

pytestmark = pytest.mark.llama

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "chat_templates"
GREEDY = Sampling(temperature=0.0)


def ask(text: str, **kwargs: object) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), seed=3, **kwargs)  # type: ignore[arg-type]


def texts(events: list[Event], kind: EventKind) -> str:
    return "".join(e.text for e in events if e.kind is kind)


@pytest.fixture(scope="module")
def engine(smollm2: Path) -> Iterator[EngineClient]:
    client = EngineClient()
    events = list(client.load(LoadParams(str(smollm2), n_ctx=2048)))
    assert events[-1].kind is EventKind.LOADED, events[-1]
    assert any(e.kind is EventKind.LOAD_PROGRESS for e in events)
    yield client
    client.close()


@pytest.fixture(scope="module")
def r1_engine(smollm2: Path) -> Iterator[EngineClient]:
    """SmolLM2's weights behind the DeepSeek-R1-distill template (prefills <think>)."""
    client = EngineClient()
    template = (TEMPLATES / "deepseek-r1-distill.jinja").read_text(encoding="utf-8")
    client.load_blocking(LoadParams(str(smollm2), n_ctx=2048, chat_template=template))
    yield client
    client.close()


def test_metadata_of_the_loaded_model(engine: EngineClient, smollm2: Path) -> None:
    info = engine.info
    assert info is not None
    assert info.architecture == "llama"
    assert info.trained_context == 8192
    assert info.n_ctx == 2048
    assert info.eos_token == "<|im_end|>"
    assert info.template_source == "model"
    assert "<|im_start|>" in info.chat_template
    assert info.family_id == "generic"
    assert info.n_threads >= 1
    assert info.size_bytes == smollm2.stat().st_size


def test_streams_a_real_answer_with_stats(engine: EngineClient) -> None:
    events = list(
        engine.generate(ask("Which city is the capital of France?", sampling=GREEDY, max_tokens=40))
    )
    content = texts(events, EventKind.CONTENT)
    assert "Paris" in content
    # Streamed in pieces: the worker sends what arrives within 40 ms as one event, so this
    # ~10-token answer comes in a few events, not one.
    assert sum(e.kind is EventKind.CONTENT for e in events) >= 2
    assert texts(events, EventKind.REASONING) == ""  # a model that does not reason: no trace
    assert [e.kind for e in events[-2:]] == [EventKind.STATS, EventKind.DONE]
    stats = events[-2].stats
    assert stats is not None
    assert stats.prompt_tokens > 10
    assert 0 < stats.content_tokens <= 40
    assert stats.decode_tokens_per_s > 0
    assert stats.time_to_first_token_ms > 0
    assert stats.time_to_first_content_ms is not None
    assert stats.reasoning_state is ReasoningState.NONE


def test_same_seed_same_answer_and_prompt_cache_reused(engine: EngineClient) -> None:
    request = ask("Name three colors.", sampling=Sampling(temperature=0.8), max_tokens=24)
    first = list(engine.generate(request))
    second = list(engine.generate(request))
    assert texts(first, EventKind.CONTENT) == texts(second, EventKind.CONTENT)
    stats = second[-2].stats
    assert stats is not None and stats.cached_prompt_tokens > 0


def test_count_tokens(engine: EngineClient) -> None:
    assert engine.count_tokens("Hello world") in (2, 3)
    assert engine.count_tokens("<|im_start|>") == 1  # special tokens parsed


def test_cancel_takes_effect_before_the_next_token(engine: EngineClient) -> None:
    stream = engine.generate(ask("Write a very long story about a dragon.", max_tokens=400))
    after_cancel = 0
    cancelled = False
    events: list[Event] = []
    for event in stream:
        events.append(event)
        if event.kind is EventKind.CONTENT:
            if cancelled:
                after_cancel += 1
            elif len(events) >= 5:
                stream.cancel()
                cancelled = True
    assert events[-1].kind is EventKind.DONE
    assert events[-1].data["finish_reason"] == "cancelled"
    # Events already in the queue when cancel was set may still arrive: at most a couple.
    assert after_cancel <= 2


def test_budget_forcing_with_r1_template(r1_engine: EngineClient) -> None:
    request = ask(
        "What is 12 times 7?",
        thinking=ThinkingControl(budget=32),
        max_tokens=120,
        sampling=Sampling(temperature=0.6),
    )
    events = list(r1_engine.generate(request))
    injected = [e for e in events if e.kind is EventKind.INJECTED]
    assert [e.data["reason"] for e in injected] == ["budget"]
    stats = events[-2].stats
    assert stats is not None
    assert stats.reasoning_tokens == 32
    assert stats.reasoning_state is ReasoningState.CAPPED
    assert texts(events, EventKind.REASONING).strip()
    assert texts(events, EventKind.CONTENT).strip(), "an answer follows the capped reasoning"
    assert stats.finish_reason in (FinishReason.BUDGET, FinishReason.LENGTH)
    # The continuation reused the KV cache: the whole run took about one prompt evaluation.
    assert stats.prompt_tokens > 10


def test_thinking_off_with_qwen3_template(smollm2: Path) -> None:
    template = (TEMPLATES / "qwen3.jinja").read_text(encoding="utf-8")
    with EngineClient() as client:
        info = client.load_blocking(LoadParams(str(smollm2), n_ctx=1024, chat_template=template))
        assert info.family_id == "qwen3" and info.template_source == "override"
        events = list(
            client.generate(
                ask("Say hello.", thinking=ThinkingControl(mode=ThinkMode.OFF), max_tokens=20)
            )
        )
    assert texts(events, EventKind.REASONING) == ""
    assert texts(events, EventKind.CONTENT).strip()
    assert events[-1].kind is EventKind.DONE


def test_worker_killed_mid_stream_is_reported_and_restartable(smollm2: Path) -> None:
    with EngineClient() as client:
        client.load_blocking(LoadParams(str(smollm2), n_ctx=1024))
        received = ""
        events: list[Event] = []
        for event in client.generate(ask("Write a long story about a cat.", max_tokens=300)):
            events.append(event)
            if event.kind is EventKind.CONTENT:
                received += event.text
                if len(events) == 8:
                    assert client.pid is not None
                    os.kill(client.pid, signal.SIGKILL)
        last = events[-1]
        assert last.kind is EventKind.ERROR
        assert last.data["crashed"] is True
        assert "engine crashed" in last.text and "SIGKILL" in last.text
        assert received  # what was streamed stays with the caller
        reload = list(client.restart())
        assert reload[-1].kind is EventKind.LOADED
        again = list(client.generate(ask("Say hi.", max_tokens=8)))
        assert again[-1].kind is EventKind.DONE


def test_abort_inside_the_engine_is_a_crash_event(smollm2: Path) -> None:
    with EngineClient() as client:
        client.load_blocking(LoadParams(str(smollm2), n_ctx=512))
        client.crash_for_test("abort")
        events = list(client.generate(ask("hi")))
        assert events[-1].kind is EventKind.ERROR
        assert "SIGABRT" in events[-1].text
        assert client.crashed is not None


def test_a_template_that_raises_is_a_clear_error(smollm2: Path) -> None:
    with EngineClient() as client:
        client.load_blocking(
            LoadParams(
                str(smollm2),
                n_ctx=512,
                chat_template="{{ raise_exception('no system role here') }}",
            )
        )
        events = list(client.generate(ask("hi")))
    assert events[-1].kind is EventKind.ERROR
    assert "no system role here" in events[-1].text


def test_garbage_and_truncated_files_fail_to_load_clearly(smollm2: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(os.urandom(4096))
    truncated = tmp_path / "truncated.gguf"
    with smollm2.open("rb") as src:
        truncated.write_bytes(src.read(5_000_000))
    with EngineClient() as client:
        for path, words in ((garbage, "not a GGUF"), (truncated, "truncated.gguf")):
            events = list(client.load(LoadParams(str(path))))
            assert events[-1].kind is EventKind.ERROR
            assert words in events[-1].text
            assert "Traceback" not in events[-1].text
        assert client.alive  # a bad file does not take the worker down
