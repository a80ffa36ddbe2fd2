"""The loop guard on a real looping model: SmolLM2 behind the R1-distill template.

At temperature 0, asked for a story about the sea, SmolLM2 writes "It is a place where the
past is revealed, and where the future is revealed." over and over from about the 30th token;
the guard notices it after ~125 reasoning tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.engine import LoadParams
from app.events import Event, EventKind, ReasoningState
from app.request import ChatMessage, GenerationRequest, LoopPolicy, Sampling, ThinkingControl
from backends.client import EngineClient

pytestmark = pytest.mark.llama

ROOT = Path(__file__).resolve().parents[2]
R1 = ROOT / "tests" / "fixtures" / "chat_templates" / "deepseek-r1-distill.jinja"
PROMPT = "Tell me a long story about the sea."
LOOPING_LINE = "the future is revealed"


def ask(policy: LoopPolicy, max_tokens: int) -> GenerationRequest:
    return GenerationRequest(
        messages=(ChatMessage("user", PROMPT),),
        sampling=Sampling(temperature=0.0),
        thinking=ThinkingControl(on_loop=policy),
        max_tokens=max_tokens,
        seed=1,
    )


def of(events: list[Event], kind: EventKind) -> list[Event]:
    return [e for e in events if e.kind is kind]


@pytest.fixture(scope="module")
def engine(smollm2: Path) -> Iterator[EngineClient]:
    client = EngineClient()
    client.load_blocking(
        LoadParams(str(smollm2), n_ctx=1024, chat_template=R1.read_text(encoding="utf-8"))
    )
    yield client
    client.close()


def loop_cuts(events: list[Event]) -> list[Event]:
    """Text injected because of the loop (the token limit's own cut, much later, aside)."""
    return [e for e in of(events, EventKind.INJECTED) if e.data["reason"] != "max_tokens"]


def test_warn_reports_the_loop_and_thinking_goes_on(engine: EngineClient) -> None:
    # 300 tokens: the reasoning may take ~210 before room is kept for the answer.
    events = list(engine.generate(ask(LoopPolicy.WARN, 300)))
    [loop] = of(events, EventKind.REASONING_LOOP)
    assert LOOPING_LINE in loop.text
    assert loop.data["policy"] == "warn" and loop.data["repeats"] >= 4
    assert loop.data["reasoning_tokens"] < 180
    assert not loop_cuts(events)
    after = events[events.index(loop) + 1 :]
    assert any(e.kind is EventKind.REASONING for e in after), "the model went on thinking"


def test_answer_ends_the_loop_and_the_model_answers(engine: EngineClient) -> None:
    events = list(engine.generate(ask(LoopPolicy.ANSWER, 200)))
    [loop] = of(events, EventKind.REASONING_LOOP)
    [injected] = of(events, EventKind.INJECTED)
    assert injected.data["reason"] == "loop"
    assert events.index(loop) < events.index(injected)
    content = "".join(e.text for e in of(events, EventKind.CONTENT))
    assert content.strip(), "an answer after the loop was cut"
    stats = events[-2].stats
    assert stats is not None
    assert stats.reasoning_state is ReasoningState.ANSWER_NOW
    assert stats.content_tokens > 0
    assert stats.reasoning_tokens <= loop.data["reasoning_tokens"] + 2


def test_off_never_reports(engine: EngineClient) -> None:
    events = list(engine.generate(ask(LoopPolicy.OFF, 300)))
    assert not of(events, EventKind.REASONING_LOOP)
    assert not loop_cuts(events)
    reasoning = "".join(e.text for e in of(events, EventKind.REASONING))
    assert reasoning.count(LOOPING_LINE) >= 6  # it did loop; nobody said so


def test_a_small_token_limit_still_gets_an_answer(engine: EngineClient) -> None:
    """Thinking without end under max_tokens=160: the reasoning is closed in time, and the
    answer is written in the room left (USERS.md #9: not an empty answer)."""
    events = list(engine.generate(ask(LoopPolicy.OFF, 160)))
    [cut] = of(events, EventKind.INJECTED)
    assert cut.data["reason"] == "max_tokens"
    assert "".join(e.text for e in of(events, EventKind.CONTENT)).strip()
    stats = events[-2].stats
    assert stats is not None and stats.reasoning_state is ReasoningState.CAPPED
    assert stats.content_tokens >= 20
    assert stats.reasoning_tokens + stats.content_tokens <= 160


def ponder_chat(smollm2: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "chat",
            "--model",
            str(smollm2),
            "--chat-template",
            str(R1),
            "--prompt",
            PROMPT,
            "--temperature",
            "0",
            "--ctx",
            "1024",
            "--no-save",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=280,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def test_cli_on_loop_answer_json(smollm2: Path) -> None:
    proc = ponder_chat(smollm2, "--on-loop", "answer", "--json", "--max-tokens", "200")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    loop = events[types.index("reasoning_loop")]
    assert LOOPING_LINE in loop["text"] and loop["policy"] == "answer"
    injected = events[types.index("injected")]
    assert injected["reason"] == "loop"
    assert types.index("reasoning_loop") < types.index("injected") < types.index("content")
    assert "".join(e["text"] for e in events if e["type"] == "content").strip()
    assert events[-2]["reasoning_state"] == "answer_now"


def test_cli_warns_on_stderr(smollm2: Path) -> None:
    proc = ponder_chat(smollm2, "--max-tokens", "300")  # --on-loop warn is the default
    assert proc.returncode == 0, proc.stderr
    warning = next(line for line in proc.stderr.splitlines() if "going in circles" in line)
    assert warning.startswith("warning: the model seems to be going in circles")
    assert LOOPING_LINE in warning and "--on-loop answer" in warning
    assert LOOPING_LINE in proc.stdout  # the trace went on
