"""The generation driver over a scripted model: split, budgets, answer now, cancel, stats."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripted_model import ScriptedModel

from app.engine import Control
from app.events import Event, EventKind, FinishReason, ReasoningState, Stats
from app.families import get_family
from app.request import ChatMessage, GenerationRequest, ThinkingControl, ThinkMode
from app.templates import ChatTemplate
from backends.driver import Generation, ResolvedSampling, resolve_sampling, thinking_limit

TEMPLATES = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"
REASONING = "Let me count the letters one by one. " * 12
ANSWER = "There are 3 r's in strawberry."


def r1_template(name: str = "deepseek-r1-distill.jinja") -> ChatTemplate:
    return ChatTemplate((TEMPLATES / name).read_text(encoding="utf-8"))


def run(
    model: ScriptedModel,
    request: GenerationRequest,
    *,
    template: ChatTemplate | None = None,
    control: Control | None = None,
    family: str = "deepseek-r1",
) -> list[Event]:
    gen = Generation(
        model,
        get_family(family),
        template or r1_template(),
        request,
        7,
        control or Control(cancelled=lambda: False),
        bos_token="<｜begin▁of▁sentence｜>",
        eos_token="<｜end▁of▁sentence｜>",
        answer_reserve=64,
    )
    return list(gen.events())


def ask(text: str = "How many r's in strawberry?", **kwargs: object) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), seed=1, **kwargs)  # type: ignore[arg-type]


def texts(events: list[Event], kind: EventKind) -> str:
    return "".join(e.text for e in events if e.kind is kind)


def stats_of(events: list[Event]) -> Stats:
    stats = [e.stats for e in events if e.kind is EventKind.STATS]
    assert len(stats) == 1 and stats[0] is not None
    return stats[0]


def test_prefilled_template_splits_reasoning_and_answer() -> None:
    events = run(ScriptedModel(REASONING, ANSWER), ask())
    assert texts(events, EventKind.REASONING).strip() == REASONING.strip()
    assert texts(events, EventKind.CONTENT) == ANSWER
    assert "<think>" not in texts(events, EventKind.CONTENT)
    assert events[-1].kind is EventKind.DONE
    assert events[-1].data["finish_reason"] == "stop"
    assert events[-2].kind is EventKind.STATS
    stats = stats_of(events)
    assert stats.reasoning_state is ReasoningState.COMPLETE
    assert stats.finish_reason is FinishReason.STOP
    assert stats.content_tokens == len("\n\n" + ANSWER)  # the whitespace after the close counts
    assert stats.reasoning_tokens >= len(REASONING.strip())
    assert all(e.request_id == 7 for e in events)


def test_legacy_template_model_writes_its_own_open_tag() -> None:
    events = run(
        ScriptedModel(REASONING, ANSWER),
        ask(),
        template=r1_template("deepseek-r1-distill-legacy.jinja"),
    )
    assert texts(events, EventKind.REASONING).strip() == REASONING.strip()
    assert texts(events, EventKind.CONTENT) == ANSWER


def test_budget_caps_reasoning_injects_close_and_reuses_cache() -> None:
    model = ScriptedModel(REASONING, ANSWER)
    events = run(model, ask(thinking=ThinkingControl(budget=50)))
    injected = [e for e in events if e.kind is EventKind.INJECTED]
    assert len(injected) == 1 and injected[0].data["reason"] == "budget"
    assert "final answer" in injected[0].text
    assert texts(events, EventKind.CONTENT) == ANSWER
    stats = stats_of(events)
    assert stats.reasoning_tokens == 50
    assert stats.reasoning_state is ReasoningState.CAPPED
    assert stats.finish_reason is FinishReason.BUDGET
    # Continuation: the second call re-sent the prompt + generated tokens; only the injected
    # tokens (and the last sampled one) were new to the cache.
    assert len(model.generate_calls) == 2
    first_prompt = model.generate_calls[0]
    injected_tokens = len(model.tokenize(injected[0].text + "</think>\n\n"))
    assert model.evaluated <= first_prompt + injected_tokens + 1


def test_think_longer_replaces_early_close_with_wait() -> None:
    model = ScriptedModel(REASONING, ANSWER, close_early_at=20)
    events = run(model, ask(thinking=ThinkingControl(min_tokens=60, max_waits=3)))
    waits = [e for e in events if e.kind is EventKind.INJECTED]
    assert waits and all(e.data["reason"] == "think_longer" for e in waits)
    assert all(e.text.strip() == "Wait" for e in waits)
    assert texts(events, EventKind.CONTENT) == ANSWER
    assert "</think>" not in texts(events, EventKind.REASONING)
    assert stats_of(events).reasoning_tokens >= 60


def test_answer_now_closes_reasoning_on_request() -> None:
    count = {"n": 0}

    def answer_now() -> bool:
        count["n"] += 1
        return count["n"] > 15

    events = run(
        ScriptedModel(REASONING, ANSWER),
        ask(),
        control=Control(cancelled=lambda: False, answer_now=answer_now),
    )
    injected = [e for e in events if e.kind is EventKind.INJECTED]
    assert [e.data["reason"] for e in injected] == ["answer_now"]
    assert texts(events, EventKind.CONTENT) == ANSWER
    assert stats_of(events).reasoning_state is ReasoningState.ANSWER_NOW


def test_cancel_stops_between_tokens() -> None:
    seen = {"n": 0}

    def cancelled() -> bool:
        seen["n"] += 1
        return seen["n"] > 10

    events = run(ScriptedModel(REASONING, ANSWER), ask(), control=Control(cancelled=cancelled))
    assert events[-1].data["finish_reason"] == "cancelled"
    assert len(texts(events, EventKind.REASONING)) <= 10


def test_max_tokens_inside_reasoning_is_incomplete_not_an_answer() -> None:
    events = run(ScriptedModel(REASONING, ANSWER), ask(max_tokens=30))
    assert texts(events, EventKind.CONTENT) == ""
    stats = stats_of(events)
    assert stats.finish_reason is FinishReason.LENGTH
    assert stats.reasoning_state is ReasoningState.INCOMPLETE


def test_a_token_limit_leaves_room_for_the_answer() -> None:
    """Still thinking near max_tokens: the reasoning is closed so the answer gets written."""
    long_reasoning = REASONING * 5  # ~2,200 tokens of the scripted model: far past the limit
    events = run(ScriptedModel(long_reasoning, ANSWER), ask(max_tokens=600))
    injected = [e for e in events if e.kind is EventKind.INJECTED]
    assert [e.data["reason"] for e in injected] == ["max_tokens"]
    assert injected[0].text == ThinkingControl().cap_message
    assert texts(events, EventKind.CONTENT).strip() == ANSWER  # whole, not cut
    stats = stats_of(events)
    assert stats.finish_reason is FinishReason.STOP
    assert stats.reasoning_state is ReasoningState.CAPPED
    assert stats.reasoning_tokens + stats.content_tokens <= 600
    # The answer's room is what run() reserves (64) plus the closing text.
    assert 600 - 64 - 60 <= stats.reasoning_tokens <= 600 - 64


def test_a_stratos_answer_cut_by_the_token_limit_has_no_stray_tag_start() -> None:
    """Issue 14: the answer ended in ``<|``, the start of ``<|end_of_solution|>`` (tags are
    several tokens in these models' vocabularies, as in the scripted one)."""
    answer = "The answer is 42, since six times seven is forty-two. " * 4
    stratos = ChatTemplate((TEMPLATES / "synthetic-stratos.jinja").read_text(encoding="utf-8"))
    written = "<|begin_of_thought|>Six sevens.<|end_of_thought|>\n\n<|begin_of_solution|>" + answer
    for tail in ("<|", "<|end_of_sol"):
        model = ScriptedModel(
            "Six sevens.",
            "<|begin_of_solution|>" + answer + "<|end_of_solution|>",
            open_tag="<|begin_of_thought|>",
            close_tag="<|end_of_thought|>",
        )
        events = run(
            model, ask(max_tokens=len(written) + len(tail)), template=stratos, family="stratos"
        )
        assert stats_of(events).finish_reason is FinishReason.LENGTH
        assert texts(events, EventKind.CONTENT) == answer.strip(), tail
        assert texts(events, EventKind.REASONING) == "Six sevens."


def test_a_token_limit_that_the_reasoning_stays_under_changes_nothing() -> None:
    events = run(ScriptedModel(REASONING, ANSWER), ask(max_tokens=2000))
    assert not [e for e in events if e.kind is EventKind.INJECTED]
    assert stats_of(events).reasoning_state is ReasoningState.COMPLETE


def test_thinking_limit_shares_the_tokens() -> None:
    assert thinking_limit(200, 15) == 200 - 50 - 15  # a quarter for the answer
    assert thinking_limit(8192, 15) == 8192 - 1024 - 15  # at most the reserve
    assert thinking_limit(8192, 15, reserve=256) == 8192 - 256 - 15
    assert thinking_limit(100, 15) == 100 - 32 - 15  # at least 32
    assert thinking_limit(60, 15) is None  # too small to share: left as it is


def test_thinking_off_prefills_an_empty_block() -> None:
    model = ScriptedModel(REASONING, ANSWER)
    events = run(model, ask(thinking=ThinkingControl(mode=ThinkMode.OFF)))
    assert texts(events, EventKind.REASONING) == ""
    assert texts(events, EventKind.CONTENT) == ANSWER
    assert stats_of(events).reasoning_state is ReasoningState.NONE


def test_long_history_is_trimmed_to_the_context() -> None:
    history = []
    for i in range(30):
        history += [
            ChatMessage("user", f"question {i} " * 10),
            ChatMessage("assistant", f"answer {i} " * 10),
        ]
    history.append(ChatMessage("user", "last question"))
    events = run(
        ScriptedModel("short", "ok", n_ctx=1200), GenerationRequest(messages=tuple(history))
    )
    trunc = [e for e in events if e.kind is EventKind.CONTEXT_TRUNCATED]
    assert len(trunc) == 1 and trunc[0].data["dropped_messages"] > 0
    assert trunc[0].data["prompt_tokens"] <= 1200 - 64
    assert texts(events, EventKind.CONTENT) == "ok"


@pytest.mark.parametrize(
    ("requested", "expected_temp"),
    [((None, None), 0.6), ((0.2, None), 0.2)],
)
def test_family_preset_fills_open_sampling_values(
    requested: tuple[float | None, float | None], expected_temp: float
) -> None:
    from app.request import Sampling

    resolved = resolve_sampling(
        Sampling(temperature=requested[0]), get_family("deepseek-r1").preset
    )
    assert isinstance(resolved, ResolvedSampling)
    assert resolved.temperature == expected_temp
    assert resolved.top_p == 0.95
