"""Conversation → prompt: history and system policies, thinking control, context trimming."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ContextOverflowError, TemplateError
from app.families import FAMILIES, Family
from app.prompting import (
    PromptPlan,
    apply_off_suffix,
    build_messages,
    plan_prompt,
    prompt_prefilled,
    split_reasoning,
    thinking_kwargs,
)
from app.reasoning_formats import (
    FORMATS,
    HARMONY,
    NONE,
    S1,
    STRATOS,
    THINK,
    THOUGHT,
    ReasoningFormat,
)
from app.request import (
    ChatMessage,
    Effort,
    GenerationRequest,
    ThinkingControl,
    ThinkMode,
)
from app.templates import CHATML_TEMPLATE, ChatTemplate

FIXTURES = Path(__file__).parents[2] / "fixtures" / "chat_templates"
R1_BOS = "<｜begin▁of▁sentence｜>"
R1_EOS = "<｜end▁of▁sentence｜>"

HISTORY = (
    ChatMessage("user", "What is 2+2?"),
    ChatMessage("assistant", "The answer is 4.", reasoning="SECRET-REASONING-ONE"),
    ChatMessage("user", "And 3+3?"),
)


@functools.cache
def template(name: str) -> ChatTemplate:
    return ChatTemplate((FIXTURES / name).read_text(encoding="utf-8"))


def family(family_id: str) -> Family:
    return FAMILIES[family_id]


def plan(
    request: GenerationRequest,
    family_id: str,
    template_name: str,
    *,
    n_ctx: int = 1_000_000,
    reserve_tokens: int = 0,
) -> PromptPlan:
    return plan_prompt(
        request,
        family(family_id),
        template(template_name),
        bos_token=R1_BOS if family_id == "deepseek-r1" else "",
        eos_token=R1_EOS if family_id == "deepseek-r1" else "",
        count_tokens=len,
        n_ctx=n_ctx,
        reserve_tokens=reserve_tokens,
    )


def off() -> ThinkingControl:
    return ThinkingControl(mode=ThinkMode.OFF)


# --- split_reasoning -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt", "reasoning", "answer"),
    [
        ("plain answer", THINK, None, "plain answer"),
        ("<think>\nhmm\n</think>\n\nAnswer.", THINK, "hmm", "Answer."),
        ("hmm\n</think>\n\nAnswer.", THINK, "hmm", "Answer."),  # opening tag was prefilled
        ("<think>still going", THINK, "still going", ""),
        ("<think>a</think>B<think>c</think>D", THINK, "a\n\nc", "BD"),
        ("<thought>\nx\n</thought>\ny", THOUGHT, "x", "y"),
        (
            "<|begin_of_thought|>\nt\n<|end_of_thought|>\n\n"
            "<|begin_of_solution|>\n42\n<|end_of_solution|>",
            STRATOS,
            "t",
            "42",
        ),
        ("<|im_start|>think\nt\n<|im_start|>answer\nAnswer: 4", S1, "t", "Answer: 4"),
        (
            "<|channel|>analysis<|message|>t<|end|>"
            "<|start|>assistant<|channel|>final<|message|>Hi<|return|>",
            HARMONY,
            "t",
            "Hi",
        ),
        ("<think>x</think> y", NONE, None, "<think>x</think> y"),
    ],
)
def test_split_reasoning(
    text: str, fmt: ReasoningFormat, reasoning: str | None, answer: str
) -> None:
    assert split_reasoning(text, fmt) == (reasoning, answer)


_PLAIN = st.text(alphabet="abc xyz\n:.", max_size=8)


@given(st.sampled_from(sorted(FORMATS)), st.data())
def test_split_reasoning_leaves_no_tags_in_the_answer(fmt_name: str, data: st.DataObject) -> None:
    fmt = FORMATS[fmt_name]
    tags = [*fmt.open_tags, *fmt.close_tags, *fmt.answer_open_tags, *fmt.answer_close_tags]
    pieces = data.draw(st.lists(st.sampled_from(tags) | _PLAIN if tags else _PLAIN, max_size=8))
    text = "".join(pieces)
    reasoning, answer = split_reasoning(text, fmt)
    assert not any(tag in answer for tag in tags)
    if not any(tag in text for tag in tags):
        assert (reasoning, answer) == (None, text)
    else:
        assert reasoning is None or reasoning == reasoning.strip()


# --- build_messages --------------------------------------------------------------------------


def test_drop_policy_leaves_out_reasoning_and_stray_tags() -> None:
    messages = (
        ChatMessage("user", "Q1"),
        ChatMessage("assistant", "A1", reasoning="R1"),
        ChatMessage("user", "Q2"),
        ChatMessage("assistant", "<think>raw</think>\n\nA2"),
        ChatMessage("user", "Q3"),
    )
    built = build_messages(messages, family("qwq"), None)
    assert built == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
        {"role": "user", "content": "Q3"},
    ]


def test_reasoning_content_policy_passes_reasoning() -> None:
    messages = (
        ChatMessage("user", "Q1"),
        ChatMessage("assistant", "A1", reasoning="R1"),
        ChatMessage("user", "Q2"),
        ChatMessage("assistant", "<think>\nraw\n</think>\n\nA2"),
        ChatMessage("user", "Q3"),
    )
    built = build_messages(messages, family("qwen3"), None)
    assert built[1] == {"role": "assistant", "content": "A1", "reasoning_content": "R1"}
    assert built[3] == {"role": "assistant", "content": "A2", "reasoning_content": "raw"}


def test_thinking_field_only_on_an_unfinished_last_turn() -> None:
    messages = (
        ChatMessage("user", "Q1"),
        ChatMessage("assistant", "A1", reasoning="R1"),
        ChatMessage("user", "Q2"),
        ChatMessage("assistant", "A2", reasoning="R2"),
    )
    built = build_messages(messages, family("gpt-oss"), None)
    assert built[1] == {"role": "assistant", "content": "A1"}
    assert built[3] == {"role": "assistant", "content": "A2", "thinking": "R2"}
    built = build_messages((*messages, ChatMessage("user", "Q3")), family("gpt-oss"), None)
    assert all("thinking" not in m for m in built)


def test_system_prompt_kept() -> None:
    built = build_messages((ChatMessage("user", "Q"),), family("qwq"), "Be brief.")
    assert built == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q"},
    ]


def test_system_prompt_folded_into_first_user_turn() -> None:
    built = build_messages(HISTORY, family("deepseek-r1"), "Be brief.")
    assert built[0] == {"role": "user", "content": "Be brief.\n\nWhat is 2+2?"}
    assert built[2] == {"role": "user", "content": "And 3+3?"}
    assert all(m["role"] != "system" for m in built)


def test_system_messages_join_the_system_prompt() -> None:
    messages = (ChatMessage("system", "Use metric units."), ChatMessage("user", "Q"))
    built = build_messages(messages, family("qwq"), "Be brief.")
    assert built[0] == {"role": "system", "content": "Be brief.\n\nUse metric units."}
    assert build_messages(messages, family("qwq"), None)[0]["content"] == "Use metric units."


@pytest.mark.parametrize("system", [None, "", "  \n"])
def test_no_system_prompt(system: str | None) -> None:
    for family_id in ("qwq", "deepseek-r1"):
        built = build_messages((ChatMessage("user", "Q"),), family(family_id), system)
        assert built == [{"role": "user", "content": "Q"}]


def test_fold_without_a_user_turn() -> None:
    built = build_messages((), family("deepseek-r1"), "S")
    assert built == [{"role": "user", "content": "S"}]


def test_build_messages_does_not_change_its_input() -> None:
    messages = list(HISTORY)
    build_messages(messages, family("deepseek-r1"), "S")
    assert tuple(messages) == HISTORY


# --- thinking control ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family_id", "control", "kwargs", "empty_block", "warns"),
    [
        ("qwen3", ThinkingControl(), {"enable_thinking": True}, False, False),
        ("qwen3", ThinkingControl(mode=ThinkMode.ON), {"enable_thinking": True}, False, False),
        ("qwen3", off(), {"enable_thinking": False}, False, False),
        ("deepseek-r1", ThinkingControl(), {}, False, False),
        ("deepseek-r1", off(), {}, True, False),
        ("qwq", off(), {}, True, False),
        ("exaone-deep", off(), {}, True, False),
        ("gpt-oss", ThinkingControl(), {}, False, False),
        (
            "gpt-oss",
            ThinkingControl(effort=Effort.HIGH),
            {"reasoning_effort": "high"},
            False,
            False,
        ),
        ("gpt-oss", off(), {"reasoning_effort": "low"}, False, True),
        (
            "gpt-oss",
            ThinkingControl(mode=ThinkMode.OFF, effort=Effort.HIGH),
            {"reasoning_effort": "low"},
            False,
            True,
        ),
        ("generic", off(), {}, False, False),
        ("generic", ThinkingControl(mode=ThinkMode.ON), {}, False, False),
        ("qwq", ThinkingControl(effort=Effort.LOW), {}, False, True),
        ("generic", ThinkingControl(effort=Effort.LOW), {}, False, True),
    ],
)
def test_thinking_kwargs(
    family_id: str,
    control: ThinkingControl,
    kwargs: dict[str, object],
    empty_block: bool,
    warns: bool,
) -> None:
    setup = thinking_kwargs(family(family_id), control)
    assert setup.template_kwargs == kwargs
    assert setup.empty_block is empty_block
    assert bool(setup.warnings) is warns
    got_kwargs, got_block, got_warnings = setup  # a tuple too
    assert (got_kwargs, got_block, got_warnings) == tuple(setup)


def test_gpt_oss_off_warning_text() -> None:
    setup = thinking_kwargs(family("gpt-oss"), off())
    assert setup.warnings == ("gpt-oss cannot turn reasoning off; using low effort",)


def test_effort_warning_names_the_family() -> None:
    setup = thinking_kwargs(family("qwq"), ThinkingControl(effort=Effort.HIGH))
    assert setup.warnings == ("QwQ has no reasoning effort setting; the effort is ignored",)


@pytest.mark.parametrize(
    ("prompt", "fmt", "expected"),
    [
        ("<｜Assistant｜><think>\n", THINK, True),
        ("<｜Assistant｜><think>", THINK, True),
        ("<｜Assistant｜>", THINK, False),
        ("<think>\n\n</think>\n\n", THINK, False),
        ("[|assistant|]<thought>\n", THOUGHT, True),
        ("<|im_start|>assistant\n<|im_start|>think\n", S1, True),
        ("<|start|>assistant", HARMONY, False),
        ("<think>", NONE, False),
        ("", THINK, False),
    ],
)
def test_prompt_prefilled(prompt: str, fmt: ReasoningFormat, expected: bool) -> None:
    assert prompt_prefilled(prompt, fmt) is expected


@pytest.mark.parametrize(
    ("prompt", "fmt", "expected"),
    [
        ("A<think>\n", THINK, "A<think>\n\n</think>\n\n"),
        ("A", THINK, "A<think>\n\n</think>\n\n"),
        ("A<thought>\n", THOUGHT, "A<thought>\n\n</thought>\n\n"),
        (
            "A",
            STRATOS,
            "A<|begin_of_thought|>\n\n<|end_of_thought|>\n\n<|begin_of_solution|>",
        ),
        ("A", NONE, "A"),
    ],
)
def test_apply_off_suffix(prompt: str, fmt: ReasoningFormat, expected: str) -> None:
    result = apply_off_suffix(prompt, fmt)
    assert result == expected
    assert not prompt_prefilled(result, fmt)


# --- whole prompts with the real templates ---------------------------------------------------


def test_r1_current_prompt() -> None:
    result = plan(
        GenerationRequest(HISTORY, system_prompt="Be brief."),
        "deepseek-r1",
        "deepseek-r1-distill.jinja",
    )
    assert result.prompt == (
        f"{R1_BOS}<｜User｜>Be brief.\n\nWhat is 2+2?<｜Assistant｜>The answer is 4.{R1_EOS}"
        "<｜User｜>And 3+3?<｜Assistant｜><think>\n"
    )
    assert result.prefilled
    assert result.dropped_messages == 0
    assert result.warnings == ()
    assert result.prompt_tokens == len(result.prompt)


def test_r1_legacy_prompt_is_not_prefilled() -> None:
    result = plan(GenerationRequest(HISTORY), "deepseek-r1", "deepseek-r1-distill-legacy.jinja")
    assert result.prompt.endswith("<｜User｜>And 3+3?<｜Assistant｜>")
    assert not result.prefilled
    assert "SECRET-REASONING-ONE" not in result.prompt


@pytest.mark.parametrize("name", ["deepseek-r1-distill.jinja", "deepseek-r1-distill-legacy.jinja"])
def test_r1_off_closes_an_empty_block(name: str) -> None:
    result = plan(GenerationRequest(HISTORY, thinking=off()), "deepseek-r1", name)
    assert result.prompt.endswith("<｜User｜>And 3+3?<｜Assistant｜><think>\n\n</think>\n\n")
    assert not result.prefilled


def test_r1_history_never_carries_reasoning() -> None:
    messages = (
        ChatMessage("user", "Q1"),
        ChatMessage("assistant", "<think>\nRAW-THOUGHTS\n</think>\n\nA1", reasoning=None),
        ChatMessage("user", "Q2"),
        ChatMessage("assistant", "A2", reasoning="STORED-THOUGHTS"),
        ChatMessage("user", "Q3"),
    )
    prompt = plan(GenerationRequest(messages), "deepseek-r1", "deepseek-r1-distill.jinja").prompt
    assert "THOUGHTS" not in prompt
    assert "<｜Assistant｜>A1<｜end▁of▁sentence｜>" in prompt


def test_qwq_prompt() -> None:
    result = plan(GenerationRequest(HISTORY, system_prompt="S"), "qwq", "qwq-32b.jinja")
    assert result.prompt.startswith("<|im_start|>system\nS<|im_end|>\n")
    assert result.prompt.endswith(
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    )
    assert "SECRET-REASONING-ONE" not in result.prompt
    assert result.prefilled


def test_qwq_off() -> None:
    result = plan(GenerationRequest(HISTORY, thinking=off()), "qwq", "qwq-32b.jinja")
    assert result.prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not result.prefilled


def test_qwen3_prompt() -> None:
    result = plan(GenerationRequest(HISTORY), "qwen3", "qwen3.jinja")
    assert result.prompt.endswith("<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n")
    assert not result.prefilled  # Qwen3 writes <think> itself
    assert result.template_kwargs == {"enable_thinking": True}
    # The reasoning is passed as reasoning_content, and the real template leaves out the
    # reasoning of turns before the last user message.
    assert "SECRET-REASONING-ONE" not in result.prompt
    assert "<|im_start|>assistant\nThe answer is 4.<|im_end|>" in result.prompt


def test_qwen3_template_uses_reasoning_content_of_the_current_turn() -> None:
    messages = build_messages(
        (ChatMessage("user", "Q"), ChatMessage("assistant", "A", reasoning="R")),
        family("qwen3"),
        None,
    )
    prompt = template("qwen3.jinja").render(messages, add_generation_prompt=False)
    assert prompt.endswith("<|im_start|>assistant\n<think>\nR\n</think>\n\nA<|im_end|>\n")


def test_qwen3_off() -> None:
    result = plan(GenerationRequest(HISTORY, thinking=off()), "qwen3", "qwen3.jinja")
    assert result.prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert result.template_kwargs == {"enable_thinking": False}
    assert not result.prefilled


def test_gpt_oss_prompt() -> None:
    request = GenerationRequest(
        HISTORY, system_prompt="Be brief.", thinking=ThinkingControl(effort=Effort.HIGH)
    )
    result = plan(request, "gpt-oss", "gpt-oss.jinja")
    assert "Reasoning: high" in result.prompt
    assert "<|start|>developer<|message|># Instructions\n\nBe brief." in result.prompt
    assert "SECRET-REASONING-ONE" not in result.prompt
    assert "<|channel|>final<|message|>The answer is 4.<|end|>" in result.prompt
    assert result.prompt.endswith("<|start|>assistant")
    assert not result.prefilled
    assert result.template_kwargs == {"reasoning_effort": "high"}


def test_gpt_oss_off_uses_low_effort() -> None:
    result = plan(GenerationRequest(HISTORY, thinking=off()), "gpt-oss", "gpt-oss.jinja")
    assert "Reasoning: low" in result.prompt
    assert result.warnings == ("gpt-oss cannot turn reasoning off; using low effort",)


def test_gpt_oss_template_renders_thinking_of_an_unfinished_last_turn() -> None:
    messages = build_messages(
        (ChatMessage("user", "Q"), ChatMessage("assistant", "A", reasoning="R")),
        family("gpt-oss"),
        None,
    )
    prompt = template("gpt-oss.jinja").render(messages, add_generation_prompt=False)
    assert prompt.endswith(
        "<|start|>assistant<|channel|>analysis<|message|>R<|end|>"
        "<|start|>assistant<|channel|>final<|message|>A<|return|>"
    )


def test_gpt_oss_history_with_raw_harmony_content_renders() -> None:
    messages = (
        ChatMessage("user", "Q1"),
        ChatMessage(
            "assistant",
            "<|channel|>analysis<|message|>RAW<|end|><|start|>assistant<|channel|>final<|message|>A1",
        ),
        ChatMessage("user", "Q2"),
    )
    prompt = plan(GenerationRequest(messages), "gpt-oss", "gpt-oss.jinja").prompt
    assert "RAW" not in prompt
    assert "<|channel|>final<|message|>A1<|end|>" in prompt


def test_generic_off_changes_nothing() -> None:
    on = plan(GenerationRequest(HISTORY), "generic", "synthetic-chatml-smollm2.jinja")
    result = plan(
        GenerationRequest(HISTORY, thinking=off()), "generic", "synthetic-chatml-smollm2.jinja"
    )
    assert result.prompt == on.prompt
    assert result.warnings == ()


def test_exaone_off_and_prefill() -> None:
    auto = plan(GenerationRequest(HISTORY), "exaone-deep", "synthetic-exaone-deep.jinja")
    assert auto.prefilled
    result = plan(
        GenerationRequest(HISTORY, thinking=off()), "exaone-deep", "synthetic-exaone-deep.jinja"
    )
    assert result.prompt.endswith("[|assistant|]<thought>\n\n</thought>\n\n")


def test_magistral_keeps_its_default_system_prompt() -> None:
    result = plan(
        GenerationRequest(HISTORY, system_prompt="Be brief."),
        "magistral",
        "synthetic-magistral.jinja",
    )
    assert "[THINK]" in result.prompt
    assert "[INST]Be brief.\n\nWhat is 2+2?[/INST]" in result.prompt


def test_request_template_kwargs() -> None:
    request = GenerationRequest(
        HISTORY,
        template_kwargs=(("model_identity", "You are Ponder."), ("bos_token", "x")),
        thinking=off(),
    )
    result = plan(request, "gpt-oss", "gpt-oss.jinja")
    assert result.prompt.startswith("<|start|>system<|message|>You are Ponder.\n")
    assert result.template_kwargs == {
        "model_identity": "You are Ponder.",
        "reasoning_effort": "low",
    }
    assert any("'bos_token'" in w for w in result.warnings)


def test_thinking_control_wins_over_request_kwargs() -> None:
    request = GenerationRequest(
        HISTORY, template_kwargs=(("enable_thinking", True),), thinking=off()
    )
    assert plan(request, "qwen3", "qwen3.jinja").template_kwargs == {"enable_thinking": False}


def test_template_errors_pass_through() -> None:
    bad = ChatTemplate("{{ raise_exception('no system role') }}")
    with pytest.raises(TemplateError, match="no system role"):
        plan_prompt(
            GenerationRequest(HISTORY),
            family("generic"),
            bad,
            bos_token="",
            eos_token="",
            count_tokens=len,
            n_ctx=10_000,
            reserve_tokens=0,
        )


# --- trimming --------------------------------------------------------------------------------


def conversation(pairs: int, size: int = 50) -> tuple[ChatMessage, ...]:
    messages: list[ChatMessage] = []
    for i in range(pairs):
        messages.append(ChatMessage("user", f"Q{i}:" + "q" * size))
        messages.append(ChatMessage("assistant", f"A{i}:" + "a" * size, reasoning="r" * size))
    messages.append(ChatMessage("user", "LAST:" + "z" * size))
    return tuple(messages)


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return len(text)


def trim(
    request: GenerationRequest,
    n_ctx: int,
    reserve: int = 0,
    family_id: str = "qwq",
    tmpl: ChatTemplate | None = None,
    counter: Counter | None = None,
) -> PromptPlan:
    tmpl = tmpl or ChatTemplate(CHATML_TEMPLATE)
    return plan_prompt(
        request,
        family(family_id),
        tmpl,
        bos_token="",
        eos_token="",
        count_tokens=counter or len,
        n_ctx=n_ctx,
        reserve_tokens=reserve,
    )


def test_fits_without_trimming_in_one_render() -> None:
    counter = Counter()
    result = trim(GenerationRequest(conversation(5)), n_ctx=100_000, counter=counter)
    assert result.dropped_messages == 0
    assert counter.calls == 1


def test_trimming_drops_oldest_pairs_and_keeps_system_and_last_user() -> None:
    request = GenerationRequest(conversation(10), system_prompt="SYSTEM")
    full = len(trim(request, n_ctx=10**6).prompt)
    counter = Counter()
    result = trim(request, n_ctx=full // 2, reserve=100, counter=counter)
    assert result.dropped_messages > 0
    assert result.dropped_messages % 2 == 0  # whole user/assistant pairs
    assert result.prompt_tokens + 100 <= full // 2
    assert result.prompt.startswith("<|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\n")
    assert "LAST:" in result.prompt
    first_kept = result.dropped_messages // 2
    assert f"Q{first_kept}:" in result.prompt
    assert f"Q{first_kept - 1}:" not in result.prompt
    # Maximal: keeping one more pair would not fit.
    one_more = GenerationRequest(
        conversation(10)[result.dropped_messages - 2 :], system_prompt="SYSTEM"
    )
    assert len(trim(one_more, n_ctx=10**6).prompt) + 100 > full // 2
    assert counter.calls <= 2 + math.ceil(math.log2(11)) + 1


def test_trimming_folds_the_system_prompt_into_the_first_kept_turn() -> None:
    request = GenerationRequest(conversation(6), system_prompt="SYSTEM")
    full = len(trim(request, n_ctx=10**6, family_id="deepseek-r1").prompt)
    result = trim(request, n_ctx=full - 10, family_id="deepseek-r1")
    assert result.dropped_messages == 2
    assert result.prompt.startswith("<|im_start|>user\nSYSTEM\n\nQ1:")


def test_only_the_last_user_turn_left() -> None:
    request = GenerationRequest(conversation(4), system_prompt="SYSTEM")
    alone = GenerationRequest(conversation(4)[-1:], system_prompt="SYSTEM")
    needed = len(trim(alone, n_ctx=10**6).prompt)
    result = trim(request, n_ctx=needed + 7, reserve=7)
    assert result.dropped_messages == 8
    assert result.prompt == trim(alone, n_ctx=10**6).prompt


def test_overflow_only_when_the_last_user_turn_alone_does_not_fit() -> None:
    request = GenerationRequest(conversation(4), system_prompt="SYSTEM")
    alone = GenerationRequest(conversation(4)[-1:], system_prompt="SYSTEM")
    needed = len(trim(alone, n_ctx=10**6).prompt)
    with pytest.raises(ContextOverflowError, match="too long for the context window") as info:
        trim(request, n_ctx=needed + 6, reserve=7)
    assert str(needed) in str(info.value)
    with pytest.raises(ContextOverflowError):
        trim(alone, n_ctx=needed - 1)


def test_assistant_turns_before_the_first_user_turn_go_first() -> None:
    messages = (ChatMessage("assistant", "Hello! " * 20), *conversation(1))
    full = len(trim(GenerationRequest(messages), n_ctx=10**6).prompt)
    result = trim(GenerationRequest(messages), n_ctx=full - 1)
    assert result.dropped_messages == 1
    assert "Hello!" not in result.prompt


def test_no_user_turn_at_all() -> None:
    messages = (ChatMessage("assistant", "Hello"),)
    assert trim(GenerationRequest(messages), n_ctx=10**6).dropped_messages == 0
    with pytest.raises(ContextOverflowError):
        trim(GenerationRequest(messages), n_ctx=5)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=80), min_size=1, max_size=15),
    n_ctx=st.integers(min_value=0, max_value=3000),
    reserve=st.integers(min_value=0, max_value=200),
)
def test_trimming_properties(sizes: list[int], n_ctx: int, reserve: int) -> None:
    messages: list[ChatMessage] = []
    for i, size in enumerate(sizes):
        role = "user" if i % 2 == 0 else "assistant"
        messages.append(ChatMessage(role, f"{role}{i}:" + "x" * size))
    if messages[-1].role != "user":
        messages.append(ChatMessage("user", "last"))
    request = GenerationRequest(tuple(messages), system_prompt="S")
    qwq = template("qwq-32b.jinja")

    def render_from(start: int) -> str:
        sub = GenerationRequest(tuple(messages[start:]), system_prompt="S")
        return trim(sub, n_ctx=10**9, tmpl=qwq).prompt

    last = len(messages) - 1
    try:
        result = trim(request, n_ctx=n_ctx, reserve=reserve, tmpl=qwq)
    except ContextOverflowError:
        assert len(render_from(last)) + reserve > n_ctx
        return
    dropped = result.dropped_messages
    assert len(result.prompt) + reserve <= n_ctx
    assert result.prompt == render_from(dropped)
    assert dropped == 0 or messages[dropped].role == "user"
    assert dropped <= last
    assert result.prompt.startswith("<|im_start|>system\nS<|im_end|>")
    earlier_cuts = [c for c in range(dropped) if c == 0 or messages[c].role == "user"]
    if earlier_cuts:
        assert len(render_from(earlier_cuts[-1])) + reserve > n_ctx
