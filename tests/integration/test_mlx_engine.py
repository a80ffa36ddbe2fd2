"""The MLX engine through the worker process, on a tiny model built by the test.

Runs wherever ``mlx`` and ``mlx-lm`` install (``mlx[cpu]`` on Linux x86_64; Metal on Apple
Silicon) and is skipped, with the reason, elsewhere. The model has random weights and a real
byte-level BPE tokenizer (see :mod:`tests.support.mlx_model`); its template prefills
``<think>``, so answers start in the reasoning and a thinking budget closes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlx.core", reason="MLX is not installed (pip install 'ponder[mlx]')")
pytest.importorskip("mlx_lm", reason="mlx-lm is not installed (pip install 'ponder[mlx]')")

from app.engine import LoadParams
from app.events import Event, EventKind, FinishReason, ReasoningState
from app.request import ChatMessage, GenerationRequest, ThinkingControl
from backends.client import EngineClient
from backends.mlx import is_mlx_folder
from tests.support.mlx_model import build_tiny_mlx_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def ask(text: str, **kwargs: object) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), seed=7, **kwargs)  # type: ignore[arg-type]


def kinds(events: list[Event]) -> list[EventKind]:
    return [e.kind for e in events]


@pytest.fixture(scope="module")
def mlx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_mlx_model(tmp_path_factory.mktemp("mlx") / "Tiny-R1-MLX-4bit")


@pytest.fixture(scope="module")
def mlx_engine(mlx_model: Path) -> Iterator[EngineClient]:
    client = EngineClient()
    events = list(client.load(LoadParams(str(mlx_model), n_ctx=1024)))
    assert events[-1].kind is EventKind.LOADED, events[-1]
    assert [e.data["fraction"] for e in events if e.kind is EventKind.LOAD_PROGRESS] == [0.0, 1.0]
    yield client
    client.close()


def test_folder_is_recognised(mlx_model: Path, tmp_path: Path) -> None:
    assert is_mlx_folder(mlx_model)
    assert not is_mlx_folder(mlx_model / "config.json")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text('{"model_type": "llama"}')  # not quantized: not MLX
    (plain / "model.safetensors").write_bytes(b"")
    assert not is_mlx_folder(plain)


def test_load_reports_the_model(mlx_engine: EngineClient, mlx_model: Path) -> None:
    info = mlx_engine.info
    assert info is not None
    assert info.backend == "mlx"
    assert info.path == str(mlx_model)
    assert info.name == "Tiny-R1-MLX-4bit"
    assert info.architecture == "llama"
    assert info.n_ctx == 1024
    assert info.trained_context == 4096
    assert info.template_source == "model"
    assert info.chat_template.endswith("<think>\n{% endif %}")
    assert info.eos_token == "<|im_end|>"
    assert info.n_params > 0
    assert info.size_bytes == (mlx_model / "model.safetensors").stat().st_size
    assert mlx_engine.count_tokens("<|im_start|><think>") == 2  # special tokens are parsed
    assert mlx_engine.count_tokens("<|im_start|>user") > 2


def test_budget_closes_the_reasoning_and_the_answer_follows(mlx_engine: EngineClient) -> None:
    events = list(
        mlx_engine.generate(
            ask("What is 6 times 7?", thinking=ThinkingControl(budget=6), max_tokens=40)
        )
    )
    order = kinds(events)
    assert order[-2:] == [EventKind.STATS, EventKind.DONE], order
    injected = [e for e in events if e.kind is EventKind.INJECTED]
    assert len(injected) == 1 and injected[0].data["reason"] == "budget"
    cut = order.index(EventKind.INJECTED)
    assert EventKind.REASONING in order[:cut]
    assert EventKind.CONTENT not in order[:cut]
    assert EventKind.REASONING not in order[cut:]
    assert EventKind.CONTENT in order[cut:]
    stats = events[-2].stats
    assert stats is not None
    assert stats.reasoning_tokens == 6
    assert stats.content_tokens > 0
    assert stats.reasoning_state is ReasoningState.CAPPED
    assert stats.prompt_tokens > 10
    assert stats.time_to_first_token_ms > 0 and stats.decode_tokens_per_s > 0
    assert stats.thinking_ms > 0
    assert events[-2].data["peak_memory_bytes"] > 0
    assert events[-1].data["finish_reason"] in (
        FinishReason.LENGTH.value,
        FinishReason.BUDGET.value,
    )


def test_cancel_between_tokens(mlx_engine: EngineClient) -> None:
    stream = mlx_engine.generate(ask("Tell me a long story.", max_tokens=600))
    events: list[Event] = []
    after_cancel = 0
    cancelled = False
    for event in stream:
        events.append(event)
        if event.kind is not EventKind.REASONING:
            continue
        if cancelled:
            after_cancel += 1
        elif sum(e.kind is EventKind.REASONING for e in events) == 3:
            stream.cancel()
            cancelled = True
    assert events[-1].kind is EventKind.DONE
    assert events[-1].data["finish_reason"] == FinishReason.CANCELLED.value
    # The worker sends text pieces that come within a few ms as one event, so an event can
    # hold several tokens; what matters is that the engine stops at the next token: at most
    # the pieces already queued arrive after cancel(), and nowhere near max_tokens are made.
    assert after_cancel <= 2
    stats = events[-2].stats
    assert stats is not None and stats.reasoning_tokens < 150
    assert stats.reasoning_state is ReasoningState.INCOMPLETE


def test_answer_now_closes_the_reasoning(mlx_engine: EngineClient) -> None:
    # Room to think: the tiny model is fast, and the worker sends ~40 ms of text per event,
    # so the request must still be running when the first piece of reasoning arrives.
    stream = mlx_engine.generate(ask("Think hard.", max_tokens=400))
    events: list[Event] = []
    asked = False
    for event in stream:
        events.append(event)
        if event.kind is EventKind.REASONING and not asked:
            stream.answer_now()
            asked = True
    injected = [e for e in events if e.kind is EventKind.INJECTED]
    assert [e.data["reason"] for e in injected] == ["answer_now"]
    stats = events[-2].stats
    assert stats is not None and stats.reasoning_state is ReasoningState.ANSWER_NOW


def test_the_prompt_cache_is_reused_by_the_next_turn(mlx_engine: EngineClient) -> None:
    first = ask("Hello there", thinking=ThinkingControl(budget=4), max_tokens=12)
    events = list(mlx_engine.generate(first))
    reasoning = "".join(e.text for e in events if e.kind is EventKind.REASONING)
    answer = "".join(e.text for e in events if e.kind is EventKind.CONTENT)
    second = GenerationRequest(
        messages=(
            *first.messages,
            ChatMessage("assistant", answer, reasoning),
            ChatMessage("user", "And then?"),
        ),
        thinking=ThinkingControl(budget=4),
        max_tokens=12,
        seed=7,
    )
    stats = list(mlx_engine.generate(second))[-2].stats
    assert stats is not None
    # At least the first user turn's tokens came from the cache, not evaluated again.
    assert stats.cached_prompt_tokens >= len("<|im_start|>user\nHello there<|im_end|>") // 8
    assert stats.cached_prompt_tokens < stats.prompt_tokens


def test_same_seed_same_answer(mlx_engine: EngineClient) -> None:
    request = ask("Repeat after me", thinking=ThinkingControl(budget=5), max_tokens=15)

    def run() -> str:
        return "".join(
            e.text
            for e in mlx_engine.generate(request)
            if e.kind in (EventKind.REASONING, EventKind.CONTENT)
        )

    assert run() == run()


def test_chat_cli_runs_an_mlx_folder(mlx_model: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable, "-m", "app", "chat", "--model", str(mlx_model), "--json",
            "--prompt", "Hi", "--budget", "3", "--max-tokens", "10", "--seed", "1", "--no-save",
        ],
        capture_output=True, text=True, timeout=180, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[-2:] == ["stats", "done"]
    assert "injected" in types and "reasoning" in types
    assert events[-2]["reasoning_tokens"] == 3
    assert events[-2]["peak_memory_bytes"] > 0
