"""The loop guard inside the driver: warn, answer (like "answer now", reason "loop"), off."""

from __future__ import annotations

from pathlib import Path

from scripted_model import ScriptedModel

from app.engine import Control
from app.events import Event, EventKind, ReasoningState, Stats
from app.families import get_family
from app.request import ChatMessage, GenerationRequest, LoopPolicy, ThinkingControl
from app.templates import ChatTemplate
from backends.driver import Generation
from tests.support import reasoning_traces as traces

TEMPLATE = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"
LOOPING = traces.recheck_loop(12, prefix_words=80)
LEGIT = traces.arithmetic(60)
ANSWER = "The second train catches up at 6 pm, 180 km from the station."


def run(reasoning: str, policy: LoopPolicy, control: Control | None = None) -> list[Event]:
    model = ScriptedModel(reasoning, ANSWER, n_ctx=16384)
    request = GenerationRequest(
        messages=(ChatMessage("user", "When does the second train catch up?"),),
        thinking=ThinkingControl(on_loop=policy),
        seed=1,
    )
    template = ChatTemplate((TEMPLATE / "deepseek-r1-distill.jinja").read_text(encoding="utf-8"))
    gen = Generation(
        model,
        get_family("deepseek-r1"),
        template,
        request,
        5,
        control or Control(cancelled=lambda: False),
        bos_token="<｜begin▁of▁sentence｜>",
        eos_token="<｜end▁of▁sentence｜>",
        answer_reserve=64,
    )
    return list(gen.events())


def of(events: list[Event], kind: EventKind) -> list[Event]:
    return [e for e in events if e.kind is kind]


def text(events: list[Event], kind: EventKind) -> str:
    return "".join(e.text for e in of(events, kind))


def stats(events: list[Event]) -> Stats:
    found = [e.stats for e in events if e.stats is not None]
    assert len(found) == 1 and found[0] is not None
    return found[0]


def test_warn_emits_the_event_once_and_thinking_goes_on() -> None:
    events = run(LOOPING, LoopPolicy.WARN)
    loops = of(events, EventKind.REASONING_LOOP)
    assert len(loops) == 1
    loop = loops[0]
    assert loop.request_id == 5
    assert loop.text == traces.RECHECK_CYCLE.strip()
    assert loop.data["policy"] == "warn"
    assert loop.data["repeats"] >= 4
    assert 0 < loop.data["reasoning_tokens"] < len(LOOPING)
    assert loop.to_json_dict()["type"] == "reasoning_loop"
    assert not of(events, EventKind.INJECTED)
    # The whole scripted trace was written, then the model's own answer.
    assert text(events, EventKind.REASONING).strip() == LOOPING.strip()
    assert text(events, EventKind.CONTENT) == ANSWER
    assert stats(events).reasoning_state is ReasoningState.COMPLETE
    # The event comes in the stream where the loop was noticed, among the reasoning.
    index = events.index(loop)
    assert events[index - 1].kind is EventKind.REASONING
    assert events[index + 1].kind is EventKind.REASONING


def test_answer_ends_the_reasoning_like_answer_now_with_reason_loop() -> None:
    events = run(LOOPING, LoopPolicy.ANSWER)
    [loop] = of(events, EventKind.REASONING_LOOP)
    assert loop.data["policy"] == "answer"
    [injected] = of(events, EventKind.INJECTED)
    assert injected.data["reason"] == "loop"
    assert "final answer" in injected.text
    assert events.index(loop) < events.index(injected)
    # Nothing of the reasoning after the loop was noticed, then the answer.
    reasoning = text(events, EventKind.REASONING)
    assert len(reasoning) < len(LOOPING) / 2
    assert text(events, EventKind.CONTENT) == ANSWER
    s = stats(events)
    assert s.reasoning_state is ReasoningState.ANSWER_NOW
    assert s.finish_reason.value == "stop"


def test_off_does_not_watch() -> None:
    events = run(LOOPING, LoopPolicy.OFF)
    assert not of(events, EventKind.REASONING_LOOP)
    assert not of(events, EventKind.INJECTED)
    assert text(events, EventKind.CONTENT) == ANSWER


def test_legitimate_trace_is_left_alone() -> None:
    for policy in (LoopPolicy.WARN, LoopPolicy.ANSWER):
        events = run(LEGIT, policy)
        assert not of(events, EventKind.REASONING_LOOP)
        assert not of(events, EventKind.INJECTED)
        assert text(events, EventKind.REASONING).strip() == LEGIT.strip()
        assert stats(events).reasoning_state is ReasoningState.COMPLETE


def test_answer_now_before_the_loop_is_noticed_wins() -> None:
    calls = {"n": 0}

    def answer_now() -> bool:
        calls["n"] += 1
        return calls["n"] > 50

    events = run(
        LOOPING, LoopPolicy.ANSWER, Control(cancelled=lambda: False, answer_now=answer_now)
    )
    assert [e.data["reason"] for e in of(events, EventKind.INJECTED)] == ["answer_now"]
    assert not of(events, EventKind.REASONING_LOOP)
    assert text(events, EventKind.CONTENT) == ANSWER
