"""The reasoning's figures for every way it can end: its time and the tokens its events carry.

"Thought for N s" must end where the reasoning ended (also when Ponder closed it: budget,
Answer now, the loop guard, the token limit), and the token counts on the text events must
add up to the engine's counts, so that what the window shows live equals the saved stats.

The scripted model here takes :data:`TOKEN_S` of a fake clock per token, so times are exact
and nothing depends on this machine's speed.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted_model import ScriptedModel

import backends.driver as driver
from app.engine import Control
from app.events import Event, EventKind, FinishReason, ReasoningState, Stats
from app.families import get_family
from app.request import (
    ChatMessage,
    GenerationRequest,
    LoopPolicy,
    ThinkingControl,
)
from app.templates import ChatTemplate
from backends.driver import Generation, ResolvedSampling
from backends.worker import COALESCE_S, coalesce
from tests.support import reasoning_traces as traces

TEMPLATES = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"
REASONING = "Let me count the letters one by one. " * 12
ANSWER = "There are 3 r's in strawberry."
TOKEN_S = 0.01  # each token takes 10 ms of the fake clock


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TimedModel(ScriptedModel):
    """The scripted model, each token taking :data:`TOKEN_S` of ``clock``."""

    def __init__(self, clock: FakeClock, reasoning: str, answer: str, **kw: object) -> None:
        super().__init__(reasoning, answer, **kw)  # type: ignore[arg-type]
        self.clock = clock

    def generate(
        self, tokens: Sequence[int], sampling: ResolvedSampling, seed: int
    ) -> Iterator[int]:
        for token in super().generate(tokens, sampling, seed):
            self.clock.now += TOKEN_S
            yield token


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(driver, "time", types.SimpleNamespace(perf_counter=fake))
    return fake


def run(
    model: ScriptedModel,
    thinking: ThinkingControl | None = None,
    *,
    control: Control | None = None,
    max_tokens: int | None = None,
    template: str = "deepseek-r1-distill.jinja",
) -> list[Event]:
    request = GenerationRequest(
        messages=(ChatMessage("user", "How many r's in strawberry?"),),
        thinking=thinking or ThinkingControl(),
        max_tokens=max_tokens,
        seed=1,
    )
    gen = Generation(
        model,
        get_family("deepseek-r1"),
        ChatTemplate((TEMPLATES / template).read_text(encoding="utf-8")),
        request,
        7,
        control or Control(cancelled=lambda: False),
        bos_token="<｜begin▁of▁sentence｜>",
        eos_token="<｜end▁of▁sentence｜>",
        answer_reserve=64,
    )
    return list(gen.events())


def stats_of(events: list[Event]) -> Stats:
    [stats] = [e.stats for e in events if e.stats is not None]
    return stats


def carried(events: list[Event], kind: EventKind) -> int:
    return sum(e.tokens for e in events if e.kind is kind)


def assert_counts_add_up(events: list[Event]) -> Stats:
    """The text events' token counts are the engine's, and the reasoning's are all in by the
    time it ends (before the injected close, before the first piece of the answer)."""
    stats = stats_of(events)
    assert carried(events, EventKind.REASONING) == stats.reasoning_tokens
    assert carried(events, EventKind.CONTENT) == stats.content_tokens
    assert all(e.tokens >= 0 for e in events)
    ends = [
        i
        for i, e in enumerate(events)
        if e.kind is EventKind.CONTENT
        or (e.kind is EventKind.INJECTED and e.data["reason"] != "think_longer")
    ]
    if ends:
        before = events[: ends[0]]
        assert carried(before, EventKind.REASONING) == stats.reasoning_tokens
        # Any reasoning text after that is text held back at the close: it carries no tokens.
        assert carried(events[ends[0] :], EventKind.REASONING) == 0
    return stats


def assert_thinking_ends_with_the_reasoning(stats: Stats) -> None:
    """thinking_ms covers the reasoning tokens (one token's time per token), not the answer."""
    assert stats.thinking_ms > 0
    assert stats.thinking_ms == pytest.approx(stats.reasoning_tokens * TOKEN_S * 1000, abs=25)
    if stats.time_to_first_content_ms is not None:
        assert stats.thinking_ms < stats.time_to_first_content_ms


def test_natural_close(clock: FakeClock) -> None:
    events = run(TimedModel(clock, REASONING, ANSWER))
    stats = assert_counts_add_up(events)
    assert stats.reasoning_state is ReasoningState.COMPLETE
    assert_thinking_ends_with_the_reasoning(stats)
    # The closing tag (and the trailing space, trimmed) show no text: an empty piece carries
    # them before the answer.
    first_content = next(i for i, e in enumerate(events) if e.kind is EventKind.CONTENT)
    carrier = events[first_content - 1]
    assert carrier.kind is EventKind.REASONING and carrier.text == "" and carrier.tokens == 2


def test_budget(clock: FakeClock) -> None:
    events = run(TimedModel(clock, REASONING, ANSWER), ThinkingControl(budget=48))
    stats = assert_counts_add_up(events)
    assert stats.reasoning_tokens == 48
    assert stats.finish_reason is FinishReason.BUDGET
    assert_thinking_ends_with_the_reasoning(stats)
    # The answer's own time is not in it: ~32 answer tokens came after the close.
    assert stats.total_ms - stats.thinking_ms >= stats.content_tokens * TOKEN_S * 1000


def test_answer_now(clock: FakeClock) -> None:
    calls = {"n": 0}

    def answer_now() -> bool:
        calls["n"] += 1
        return calls["n"] > 30

    control = Control(cancelled=lambda: False, answer_now=answer_now)
    events = run(TimedModel(clock, REASONING, ANSWER), control=control)
    stats = assert_counts_add_up(events)
    assert stats.reasoning_state is ReasoningState.ANSWER_NOW
    assert stats.reasoning_tokens == 31
    assert_thinking_ends_with_the_reasoning(stats)


def test_loop_guard_answers(clock: FakeClock) -> None:
    looping = traces.recheck_loop(12, prefix_words=80)
    model = TimedModel(clock, looping, ANSWER, n_ctx=16384)
    events = run(model, ThinkingControl(on_loop=LoopPolicy.ANSWER))
    [injected] = [e for e in events if e.kind is EventKind.INJECTED]
    assert injected.data["reason"] == "loop"
    stats = assert_counts_add_up(events)
    assert stats.reasoning_tokens == injected.data["reasoning_tokens"]
    assert_thinking_ends_with_the_reasoning(stats)


def test_token_limit_near(clock: FakeClock) -> None:
    events = run(TimedModel(clock, REASONING * 5, ANSWER), max_tokens=600)
    assert [e.data["reason"] for e in events if e.kind is EventKind.INJECTED] == ["max_tokens"]
    stats = assert_counts_add_up(events)
    assert_thinking_ends_with_the_reasoning(stats)


def test_token_limit_inside_the_reasoning(clock: FakeClock) -> None:
    events = run(TimedModel(clock, REASONING, ANSWER), max_tokens=30)
    stats = assert_counts_add_up(events)
    assert stats.reasoning_state is ReasoningState.INCOMPLETE
    assert stats.reasoning_tokens == 30
    assert_thinking_ends_with_the_reasoning(stats)


def test_cancel(clock: FakeClock) -> None:
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 20

    events = run(TimedModel(clock, REASONING, ANSWER), control=Control(cancelled=cancelled))
    stats = assert_counts_add_up(events)
    assert stats.finish_reason is FinishReason.CANCELLED
    assert stats.reasoning_tokens == 20
    assert_thinking_ends_with_the_reasoning(stats)


def test_think_longer(clock: FakeClock) -> None:
    model = TimedModel(clock, REASONING, ANSWER, close_early_at=20)
    events = run(model, ThinkingControl(min_tokens=60, max_waits=3))
    assert [e for e in events if e.kind is EventKind.INJECTED]
    stats = assert_counts_add_up(events)
    assert stats.reasoning_state is ReasoningState.COMPLETE


def test_the_model_writes_its_own_open_tag(clock: FakeClock) -> None:
    model = TimedModel(clock, REASONING, ANSWER)
    events = run(model, ThinkingControl(budget=40), template="deepseek-r1-distill-legacy.jinja")
    stats = assert_counts_add_up(events)
    assert stats.reasoning_tokens == 40
    assert_thinking_ends_with_the_reasoning(stats)


# Text that makes the splitter hold pieces back (a "<" may start a tag), several lines.
_texts = st.text(alphabet="ab <>/t\nk.é", min_size=1, max_size=120).filter(
    lambda t: "</think>" not in t and "<think>" not in t and t.strip()
)


@settings(max_examples=60, deadline=None)
@given(
    reasoning=_texts,
    answer=_texts,
    budget=st.one_of(st.none(), st.integers(1, 80)),
    step=st.sampled_from([0.001, COALESCE_S / 3, COALESCE_S * 2]),
)
def test_counts_add_up_for_any_text_and_after_merging(
    reasoning: str, answer: str, budget: int | None, step: float
) -> None:
    """Whatever the text, the counts add up — also after the worker merged the pieces."""
    events = run(ScriptedModel(reasoning, answer), ThinkingControl(budget=budget))
    stats = assert_counts_add_up(events)
    times = iter(i * step for i in range(len(events)))
    merged = list(coalesce(events, lambda: next(times)))
    assert carried(merged, EventKind.REASONING) == stats.reasoning_tokens
    assert carried(merged, EventKind.CONTENT) == stats.content_tokens
