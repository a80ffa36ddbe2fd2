"""Tests for app.reasoning: the incremental splitter against examples and the reference."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.events import ReasoningState
from app.reasoning import (
    ReasoningSplitter,
    Segment,
    SegmentKind,
    split_text,
)
from app.reasoning_formats import (
    FORMATS,
    HARMONY,
    NONE,
    S1,
    SEED_THINK,
    STRATOS,
    THINK,
    THINK_BRACKET,
    THOUGHT,
    ReasoningFormat,
)

COMPLETE = ReasoningState.COMPLETE
INCOMPLETE = ReasoningState.INCOMPLETE
NOTHING = ReasoningState.NONE


@dataclass(frozen=True)
class Result:
    reasoning: str
    content: str
    state: ReasoningState
    segments: list[Segment]


def run(fmt: ReasoningFormat, chunks: list[str], *, prefilled: bool = False) -> Result:
    splitter = ReasoningSplitter(fmt, prefilled=prefilled)
    calls = [splitter.feed(chunk) for chunk in chunks]
    calls.append(splitter.finish())
    for call in calls:
        for a, b in itertools.pairwise(call):
            assert a.kind is not b.kind, "one call merges adjacent segments of one kind"
    segments = [s for call in calls for s in call]
    return Result(
        "".join(s.text for s in segments if s.kind is SegmentKind.REASONING),
        "".join(s.text for s in segments if s.kind is SegmentKind.CONTENT),
        splitter.state,
        segments,
    )


def all_tags(fmt: ReasoningFormat) -> tuple[str, ...]:
    return fmt.open_tags + fmt.close_tags + fmt.answer_open_tags + fmt.answer_close_tags


def tag_chunks(text: str, fmt: ReasoningFormat) -> list[str]:
    """Chunks as a tokenizer with special tokens gives them: every tag whole."""
    tags = sorted(all_tags(fmt), key=len, reverse=True)
    if not tags:
        return [text]
    pattern = "(" + "|".join(re.escape(t) for t in tags) + ")"
    return [c for c in re.split(pattern, text) if c]


def check_well_formed(result: Result, text: str) -> None:
    """Segments are non-empty, ordered reasoning → end → content, and the offset is right."""
    kinds = [s.kind for s in result.segments]
    ends = [s for s in result.segments if s.kind is SegmentKind.REASONING_END]
    assert len(ends) == (1 if result.state is COMPLETE else 0)
    if ends:
        end = kinds.index(SegmentKind.REASONING_END)
        assert SegmentKind.CONTENT not in kinds[:end]
        assert SegmentKind.REASONING not in kinds[end:]
        assert text[ends[0].offset :].startswith(ends[0].text)
    else:
        assert not (SegmentKind.REASONING in kinds and SegmentKind.CONTENT in kinds)
    for seg in result.segments:
        if seg.kind is not SegmentKind.REASONING_END:
            assert seg.text
            assert seg.offset == -1


# -- examples, one or more per format -----------------------------------------------------------


class Case(NamedTuple):
    """One raw output and how it must split."""

    id: str
    fmt: ReasoningFormat
    raw: str
    reasoning: str
    content: str
    state: ReasoningState = COMPLETE
    prefilled: bool = False

    @property
    def expected(self) -> tuple[str, str, ReasoningState]:
        return self.reasoning, self.content, self.state


HARMONY_RAW = (
    "<|channel|>analysis<|message|>User wants 2+2. Easy.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>"
)
STRATOS_RAW = (
    "<|begin_of_thought|>\n\nFirst, 3*3=9.\n\n<|end_of_thought|>\n\n"
    "<|begin_of_solution|>\n\nThe answer is 9.\n\n<|end_of_solution|>"
)

CASES_BY_EXAMPLE = [
    Case(
        "think",
        THINK,
        "<think>\nLet me add: 2+2.\n</think>\n\nIt is 4.",
        "Let me add: 2+2.",
        "It is 4.",
    ),
    Case(
        "think-prefilled",
        THINK,
        "Add: 2+2.\n</think>\n\nIt is 4.",
        "Add: 2+2.",
        "It is 4.",
        prefilled=True,
    ),
    Case(
        "think-prefilled-duplicate-open",
        THINK,
        "\n<think>\nHmm, a < b.\n</think>\n\nYes.",
        "Hmm, a < b.",
        "Yes.",
        prefilled=True,
    ),
    Case("think-leading-whitespace", THINK, "\n\n  <think>  x  </think>  y  ", "x", "y"),
    Case("qwen3-empty-think", THINK, "<think>\n\n</think>\n\nHello!", "", "Hello!"),
    Case(
        "think-never-reasons",
        THINK,
        " Hi <b>you</b>. </think> is text.",
        "",
        "Hi <b>you</b>. </think> is text.",
        NOTHING,
    ),
    Case(
        "think-incomplete",
        THINK,
        "<think>\nStill thinking...\n",
        "Still thinking...",
        "",
        INCOMPLETE,
    ),
    Case(
        "think-incomplete-cut-tag",
        THINK,
        "Still thinking </thi",
        "Still thinking </thi",
        "",
        INCOMPLETE,
        prefilled=True,
    ),
    Case(
        "thought-prefilled",
        THOUGHT,
        "Consider the cases.</thought>\nTwo.",
        "Consider the cases.",
        "Two.",
        prefilled=True,
    ),
    Case("thought", THOUGHT, "<thought>\nConsider.\n</thought>\n\nDone.", "Consider.", "Done."),
    Case(
        "think-bracket",
        THINK_BRACKET,
        "[THINK]Check [1], [2].[/THINK]Both hold.",
        "Check [1], [2].",
        "Both hold.",
    ),
    Case(
        "seed-think",
        SEED_THINK,
        "<seed:think>\nplan: <seed:x>\n</seed:think>\nResult.",
        "plan: <seed:x>",
        "Result.",
    ),
    Case("stratos", STRATOS, STRATOS_RAW, "First, 3*3=9.", "The answer is 9."),
    Case(
        "s1",
        S1,
        "<|im_start|>think\nStep 1: 6*7.\n<|im_start|>answer\nAnswer: 42",
        "Step 1: 6*7.",
        "Answer: 42",
    ),
    Case(
        "s1-prefilled",
        S1,
        "\nStep 1.<|im_start|>answer\nAnswer: 42",
        "Step 1.",
        "Answer: 42",
        prefilled=True,
    ),
    Case("harmony", HARMONY, HARMONY_RAW, "User wants 2+2. Easy.", "2 + 2 = 4."),
    Case(
        "harmony-straight-to-final",
        HARMONY,
        "<|channel|>final<|message|>Hi.<|return|>",
        "",
        "Hi.",
        NOTHING,
    ),
    Case(
        "harmony-final-with-start",
        HARMONY,
        "<|start|>assistant<|channel|>final<|message|>Hi.",
        "",
        "Hi.",
        NOTHING,
    ),
    Case(
        "none",
        NONE,
        "\n<think>not reasoning</think> Plain.\n",
        "",
        "<think>not reasoning</think> Plain.",
        NOTHING,
    ),
    Case(
        "none-prefilled-is-ignored",
        NONE,
        "Plain answer.",
        "",
        "Plain answer.",
        NOTHING,
        prefilled=True,
    ),
]


def assert_splits(case: Case, chunks: list[str], how: str = "") -> Result:
    result = run(case.fmt, chunks, prefilled=case.prefilled)
    assert (result.reasoning, result.content, result.state) == case.expected, how
    check_well_formed(result, case.raw)
    return result


@pytest.mark.parametrize("case", CASES_BY_EXAMPLE, ids=[c.id for c in CASES_BY_EXAMPLE])
class TestExamples:
    def test_reference(self, case: Case) -> None:
        assert split_text(case.raw, case.fmt, prefilled=case.prefilled) == case.expected

    def test_whole(self, case: Case) -> None:
        assert_splits(case, [case.raw])

    def test_split_in_two_at_every_position(self, case: Case) -> None:
        raw = case.raw
        for i in range(len(raw) + 1):
            assert_splits(case, [raw[:i], raw[i:]], f"split at {i}")

    def test_split_in_three_at_every_position(self, case: Case) -> None:
        raw = case.raw
        for i in range(len(raw) + 1):
            for j in range(i, min(len(raw), i + 25) + 1):
                assert_splits(case, [raw[:i], raw[i:j], raw[j:]], f"split at {i}, {j}")

    def test_char_by_char(self, case: Case) -> None:
        assert_splits(case, list(case.raw))

    def test_tags_as_whole_tokens(self, case: Case) -> None:
        assert_splits(case, tag_chunks(case.raw, case.fmt))

    def test_reasoning_end_offset(self, case: Case) -> None:
        raw, close = case.raw, case.fmt.close_tag
        for chunks in ([raw], list(raw), tag_chunks(raw, case.fmt)):
            segments = run(case.fmt, chunks, prefilled=case.prefilled).segments
            ends = [(s.text, s.offset) for s in segments if s.kind is SegmentKind.REASONING_END]
            assert ends == ([(close, raw.index(close))] if case.state is COMPLETE else [])


# -- streaming behaviour --------------------------------------------------------------------------


def texts(segments: list[Segment]) -> list[tuple[str, str]]:
    return [(s.kind.value, s.text) for s in segments]


def test_text_is_released_as_soon_as_it_cannot_be_a_tag() -> None:
    splitter = ReasoningSplitter(THINK)
    assert splitter.feed("<thi") == []
    assert (splitter.state, splitter.reasoning_started) == (NOTHING, False)
    assert splitter.feed("nk>\n") == []
    assert (splitter.state, splitter.reasoning_started, splitter.in_reasoning) == (
        INCOMPLETE,
        True,
        True,
    )
    assert texts(splitter.feed("Hello")) == [("reasoning", "Hello")]
    assert texts(splitter.feed(" wor")) == [("reasoning", " wor")]
    assert texts(splitter.feed("ld <")) == [("reasoning", "ld")]  # " <" held back
    assert texts(splitter.feed("3")) == [("reasoning", " <3")]
    assert splitter.feed("\n\n") == []  # trailing whitespace held back
    assert texts(splitter.feed("</")) == []
    assert texts(splitter.feed("think>")) == [("reasoning_end", "</think>")]
    assert not splitter.in_reasoning and splitter.state is COMPLETE
    assert splitter.feed("\n\n") == []
    assert texts(splitter.feed("Yes")) == [("content", "Yes")]
    assert texts(splitter.feed(".\n")) == [("content", ".")]
    assert splitter.finish() == []
    assert splitter.state is COMPLETE


def test_one_feed_can_hold_reasoning_end_and_content() -> None:
    splitter = ReasoningSplitter(THINK, prefilled=True)
    assert splitter.feed("abc") == [Segment(SegmentKind.REASONING, "abc")]
    assert splitter.feed(" def</think>\n\nxyz") == [
        Segment(SegmentKind.REASONING, " def"),
        Segment(SegmentKind.REASONING_END, "</think>", 7),
        Segment(SegmentKind.CONTENT, "xyz"),
    ]


def test_answer_close_tag_split_across_chunks_is_removed() -> None:
    splitter = ReasoningSplitter(STRATOS)
    out = splitter.feed("<|begin_of_thought|>t<|end_of_thought|><|begin_of_solution|>Ans")
    assert texts(out) == [
        ("reasoning", "t"),
        ("reasoning_end", "<|end_of_thought|>"),
        ("content", "Ans"),
    ]
    assert splitter.feed("wer<|end_of") == [Segment(SegmentKind.CONTENT, "wer")]
    assert splitter.feed("_solution|>") == []
    assert splitter.finish() == []


def test_cut_off_answer_close_tag_is_text_at_finish() -> None:
    result = run(HARMONY, ["<|channel|>final<|message|>", "Hi <|ret"])
    assert result.content == "Hi <|ret"


def test_an_answer_cut_inside_its_close_tag_ends_without_the_start_of_the_tag() -> None:
    """Issue 14: a Stratos answer cut at the token limit ended in a stray ``<|``."""
    for tail in ("<|", "<|end_of", "<|end_of_solution|"):
        splitter = ReasoningSplitter(STRATOS)
        out = splitter.feed("<|begin_of_thought|>t<|end_of_thought|>\n\n<|begin_of_solution|>")
        out += splitter.feed("The answer is 42. ")
        out += splitter.feed(tail)
        out += splitter.finish(cut=True)
        content = "".join(s.text for s in out if s.kind is SegmentKind.CONTENT)
        assert content == "The answer is 42.", tail


def test_reasoning_cut_inside_its_close_tag_ends_without_the_start_of_the_tag() -> None:
    splitter = ReasoningSplitter(THINK, prefilled=True)
    out = splitter.feed("Still thinking </thi") + splitter.finish(cut=True)
    assert texts(out) == [("reasoning", "Still thinking")]
    assert splitter.state is INCOMPLETE


def test_cut_drops_only_what_was_held_back() -> None:
    splitter = ReasoningSplitter(HARMONY)
    out = splitter.feed("<|channel|>final<|message|>a <b> |c") + splitter.finish(cut=True)
    assert texts(out) == [("content", "a <b> |c")]


def test_stream_ending_inside_reasoning_has_no_content() -> None:
    splitter = ReasoningSplitter(THINK)
    segments = splitter.feed("<think>\nLet me think. The answer might be 4") + splitter.finish()
    assert texts(segments) == [("reasoning", "Let me think. The answer might be 4")]
    assert splitter.state is INCOMPLETE
    assert splitter.in_reasoning


def test_prefilled_stream_of_only_whitespace() -> None:
    result = run(THINK, ["\n", "  "], prefilled=True)
    assert (result.reasoning, result.content, result.state) == ("", "", INCOMPLETE)
    assert result.segments == []


def test_model_that_never_reasons_gives_no_reasoning_segments() -> None:
    for fmt in FORMATS.values():
        splitter = ReasoningSplitter(fmt)
        segments = [s for c in "  The answer is 4." for s in splitter.feed(c)]
        segments += splitter.finish()
        assert {s.kind for s in segments} == {SegmentKind.CONTENT}
        assert "".join(s.text for s in segments) == "The answer is 4."
        assert splitter.state is NOTHING
        assert not splitter.reasoning_started and not splitter.in_reasoning


def test_empty_stream() -> None:
    for prefilled in (False, True):
        result = run(THINK, [], prefilled=prefilled)
        assert result.segments == []
        assert result.state is (INCOMPLETE if prefilled else NOTHING)


def test_feed_after_finish_raises_and_finish_is_idempotent() -> None:
    splitter = ReasoningSplitter(THINK)
    splitter.feed("Hi")
    assert splitter.finish() == []  # "Hi" went out with feed
    assert splitter.finish() == []
    with pytest.raises(RuntimeError):
        splitter.feed("more")


def test_prefilled_starts_in_reasoning() -> None:
    splitter = ReasoningSplitter(THOUGHT, prefilled=True)
    assert splitter.in_reasoning and splitter.reasoning_started
    assert splitter.state is INCOMPLETE


def test_only_one_duplicate_open_tag_is_dropped() -> None:
    raw = "<think>\n<think>\n<think>x</think>y"
    assert split_text(raw, THINK) == ("<think>x", "y", COMPLETE)
    assert run(THINK, list(raw)).reasoning == "<think>x"
    assert run(THINK, ["<think>x</think>y"], prefilled=True).reasoning == "x"


def test_reasoning_tags_in_the_answer_are_text() -> None:
    raw = "<think>a</think>Use <think> and </think> tags."
    result = run(THINK, list(raw))
    assert result.content == "Use <think> and </think> tags."
    assert [s.offset for s in result.segments if s.kind is SegmentKind.REASONING_END] == [8]


def test_several_answer_open_tags_and_whitespace_are_dropped() -> None:
    raw = (
        "<|channel|>analysis<|message|>a<|end|>\n <|start|>assistant<|channel|>final<|message|>"
        " \n<|channel|>final<|message|>\n\nAnswer<|return|>"
    )
    assert split_text(raw, HARMONY) == ("a", "Answer", COMPLETE)
    assert run(HARMONY, tag_chunks(raw, HARMONY)).content == "Answer"


# -- force_close ----------------------------------------------------------------------------------


def test_force_close_switches_to_after_close() -> None:
    splitter = ReasoningSplitter(THINK, prefilled=True)
    assert texts(splitter.feed("Thinking hard about it")) == [
        ("reasoning", "Thinking hard about it")
    ]
    splitter.force_close()
    assert splitter.state is ReasoningState.CAPPED
    assert not splitter.in_reasoning
    out = splitter.feed("\n\n") + splitter.feed("The answer is 4.") + splitter.finish()
    assert texts(out) == [("content", "The answer is 4.")]
    assert splitter.state is ReasoningState.CAPPED


def test_force_close_releases_held_text_on_the_next_call() -> None:
    splitter = ReasoningSplitter(THINK)
    assert texts(splitter.feed("<think>x <")) == [("reasoning", "x")]
    splitter.force_close()
    assert texts(splitter.feed("Answer")) == [("reasoning", " <"), ("content", "Answer")]


def test_force_close_drops_answer_open_tags_the_model_writes() -> None:
    splitter = ReasoningSplitter(HARMONY)
    splitter.feed("<|channel|>analysis<|message|>long analysis")
    splitter.force_close()
    out = splitter.feed("<|start|>assistant") + splitter.feed("<|channel|>final<|message|>Done")
    out += splitter.finish()
    assert texts(out) == [("content", "Done")]


def test_force_close_with_answer_now() -> None:
    splitter = ReasoningSplitter(THINK, prefilled=True)
    splitter.feed("hmm")
    splitter.force_close(state=ReasoningState.ANSWER_NOW)
    assert splitter.state is ReasoningState.ANSWER_NOW
    with pytest.raises(ValueError):
        ReasoningSplitter(THINK).force_close(state=ReasoningState.COMPLETE)


def test_force_close_outside_reasoning_does_nothing() -> None:
    splitter = ReasoningSplitter(THINK)
    splitter.feed("<think>a</think>b")
    splitter.force_close()
    assert splitter.state is COMPLETE
    never = ReasoningSplitter(THINK)
    never.feed("Hello")
    never.force_close()
    assert never.state is NOTHING


def test_force_close_before_any_reasoning_text() -> None:
    splitter = ReasoningSplitter(THINK, prefilled=True)
    splitter.feed("\n<thi")  # maybe a duplicate open tag: held
    splitter.force_close()
    assert texts(splitter.feed("Answer") + splitter.finish()) == [
        ("reasoning", "<thi"),
        ("content", "Answer"),
    ]


# -- properties: any text, any chunking, same result as the reference ---------------------------

WORDS = ["a", "b", "x y", "4", "<", ">", "|", "/", "[", "]", "<|", "|>", "</", "think", "end"]
SPACES = [" ", "\n", "\n\n", "\t", "  "]
OTHER_TAGS = sorted({t for f in FORMATS.values() for t in all_tags(f)})


def cut_off_tags(tags: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A proper prefix of one of ``tags``: a tag the stream could break off inside."""
    return st.sampled_from(sorted({t[:k] for t in tags for k in range(1, len(t))}))


def raw_outputs(fmt: ReasoningFormat) -> st.SearchStrategy[str]:
    """Text mixing the format's tags, cut-off tags, other formats' tags, words and spaces.

    Half the time it is shaped like a real output (open, reasoning, close, answer tags,
    answer) with noise everywhere, so that every state and transition is reached often.
    """
    own = all_tags(fmt)
    pieces = [
        st.sampled_from(WORDS),
        st.sampled_from(SPACES),
        st.text(alphabet="ab <>|/[]:\n", max_size=4),
        st.sampled_from(OTHER_TAGS),
    ]
    if own:
        pieces += [st.sampled_from(own)] * 3
        pieces.append(cut_off_tags(own))
    noise = st.lists(st.one_of(pieces), max_size=6).map("".join)
    free = st.lists(st.one_of(pieces), max_size=20).map("".join)

    def maybe(tags: tuple[str, ...]) -> st.SearchStrategy[str]:
        # the tag half the time, else nothing or whitespace
        blank = st.sampled_from(["", *SPACES])
        return st.one_of(st.sampled_from(tags), blank) if tags else blank

    shaped = st.tuples(
        maybe(fmt.open_tags + fmt.answer_open_tags),
        maybe(fmt.open_tags),
        noise,
        maybe(fmt.close_tags),
        maybe(fmt.answer_open_tags),
        noise,
        maybe(fmt.answer_close_tags),
        noise,
    ).map("".join)
    return st.one_of(free, shaped)


@st.composite
def outputs_and_chunkings(draw: st.DrawFn, fmt: ReasoningFormat) -> tuple[str, list[str]]:
    """A raw output and any way to cut it into chunks (empty chunks included)."""
    text = draw(RAW_OUTPUTS[fmt.name])
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


# Not a real family: every tag is a prefix of another, which the matcher must also get right.
OVERLAP = ReasoningFormat(
    "overlap",
    ("<t>", "<t>>"),
    ("</t>", "</t>>", "</t>>>"),
    answer_open_tags=("<a>", "<a>>"),
    answer_close_tags=("<e>", "<e>>"),
)
PROPERTY_FORMATS = {**FORMATS, OVERLAP.name: OVERLAP}
RAW_OUTPUTS = {name: raw_outputs(fmt) for name, fmt in PROPERTY_FORMATS.items()}
CASES = {name: outputs_and_chunkings(fmt) for name, fmt in PROPERTY_FORMATS.items()}


@pytest.mark.parametrize("name", sorted(PROPERTY_FORMATS))
@settings(max_examples=300, deadline=None)
@given(data=st.data(), prefilled=st.booleans())
def test_incremental_matches_reference(name: str, data: st.DataObject, prefilled: bool) -> None:
    fmt = PROPERTY_FORMATS[name]
    text, chunks = data.draw(CASES[name], label="text, chunks")
    expected = split_text(text, fmt, prefilled=prefilled)

    reasoning, content, state = expected
    assert reasoning == reasoning.strip() and content == content.strip()
    assert reasoning in text
    if state is INCOMPLETE:
        assert content == ""

    whole = run(fmt, [text], prefilled=prefilled)
    whole_end = [s for s in whole.segments if s.kind is SegmentKind.REASONING_END]
    for how, pieces in (
        ("whole", [text]),
        ("any chunking", chunks),
        ("char by char", list(text)),
        ("tags as tokens", tag_chunks(text, fmt)),
    ):
        result = run(fmt, pieces, prefilled=prefilled)
        assert (result.reasoning, result.content, result.state) == expected, how
        check_well_formed(result, text)
        end = [s for s in result.segments if s.kind is SegmentKind.REASONING_END]
        assert end == whole_end, how


@pytest.mark.parametrize("name", sorted(PROPERTY_FORMATS))
@settings(max_examples=150, deadline=None)
@given(data=st.data(), prefilled=st.booleans())
def test_a_cut_stream_gives_what_a_whole_one_does_less_a_cut_off_tag(
    name: str, data: st.DataObject, prefilled: bool
) -> None:
    """``finish(cut=True)`` only leaves out a tag's start held back at the end, never more."""
    fmt = PROPERTY_FORMATS[name]
    text, chunks = data.draw(CASES[name], label="text, chunks")
    whole = run(fmt, chunks, prefilled=prefilled)
    splitter = ReasoningSplitter(fmt, prefilled=prefilled)
    segments = [s for chunk in chunks for s in splitter.feed(chunk)]
    segments += splitter.finish(cut=True)
    reasoning = "".join(s.text for s in segments if s.kind is SegmentKind.REASONING)
    content = "".join(s.text for s in segments if s.kind is SegmentKind.CONTENT)
    assert whole.reasoning.startswith(reasoning) and whole.content.startswith(content)
    dropped = whole.reasoning[len(reasoning) :] + whole.content[len(content) :]
    held = [t[:k] for t in all_tags(fmt) for k in range(1, len(t))]
    assert dropped == "" or dropped.strip() in held, dropped
    if not any(text.rstrip().endswith(h) for h in held):
        assert (reasoning, content) == (whole.reasoning, whole.content)
