"""The loop guard: legitimate traces that repeat notation stay quiet, loops are caught."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.events import Event, EventKind, FinishReason, done_event
from app.loop_guard import LoopGuard, LoopHit
from app.server.openai_format import ChunkWriter, Translator, completion_body
from tests.support import reasoning_traces as traces


def feed_all(text: str, size: int = 4, guard: LoopGuard | None = None) -> LoopHit | None:
    """Feed ``text`` in pieces of ``size`` characters (about a token each); the first hit."""
    guard = guard or LoopGuard()
    first: LoopHit | None = None
    for i in range(0, len(text), size):
        hit = guard.feed(text[i : i + size])
        if hit is not None:
            assert first is None, "the guard fires once"
            first = hit
    return first


def feed_chunks(text: str, cuts: list[int]) -> LoopHit | None:
    guard = LoopGuard()
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    hits = [guard.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
    found = [h for h in hits if h is not None]
    assert len(found) <= 1
    return found[0] if found else None


LEGIT = traces.legit_corpus()


@pytest.mark.parametrize("name", sorted(LEGIT))
def test_legitimate_traces_do_not_trigger(name: str) -> None:
    text = LEGIT[name]
    assert len(text.split()) > 1000, "the trace is long enough to mean something"
    assert feed_all(text) is None


def test_legitimate_traces_do_repeat_long_spans() -> None:
    """The corpus is not trivially clean: each repeats 12-word spans (a naive count fires)."""
    for name in ("enumeration", "proof", "requoting", "code_rewrites"):
        naive = LoopGuard(dense_min=1, dense_max=1, dense_share=0.0)  # condition 1 alone
        assert feed_all(LEGIT[name], guard=naive) is not None, name


def test_step_by_step_arithmetic_with_many_equals_lines() -> None:
    text = traces.arithmetic(2000)
    assert text.count("=") > 4000
    assert feed_all(text) is None


def test_long_mixed_legitimate_trace() -> None:
    text = "\n\n".join(LEGIT.values()) + "\n\n" + traces.prose(8000, seed=99)
    assert len(text.split()) > 30_000
    assert feed_all(text) is None


def test_recheck_cycle_triggers_with_the_repeated_passage() -> None:
    hit = feed_all(traces.recheck_loop(12))
    assert hit is not None
    assert hit.repeats >= 4
    assert hit.period_words == len(traces.RECHECK_CYCLE.split())
    assert hit.passage == traces.RECHECK_CYCLE.strip()  # one whole cycle, from its start
    # Caught within a few cycles of the loop starting (the prefix is ~400 words).
    assert hit.at_word <= 400 + 5 * hit.period_words


def test_loop_is_caught_early_not_at_the_end() -> None:
    hit = feed_all(traces.recheck_loop(200))
    assert hit is not None and hit.at_word < 800


def test_long_period_loop_triggers() -> None:
    hit = feed_all(traces.long_period_loop(6))
    assert hit is not None
    assert hit.period_words > 140
    assert hit.passage.startswith("Hmm, so I am back where I started.")


def test_alternating_paragraphs_trigger() -> None:
    hit = feed_all(traces.alternating_loop(12))
    assert hit is not None
    assert "Let me check divisibility by 7" in hit.passage


def test_degenerate_short_loop_triggers_with_a_readable_passage() -> None:
    hit = feed_all(traces.word_loop(200))
    assert hit is not None
    assert hit.period_words == 1
    assert hit.passage.split() == ["A:"] * 12  # a short cycle is shown a few times over


def test_real_smollm2_loop_triggers() -> None:
    """What SmolLM2 wrote under the R1 template at temperature 0 ("a long story about the sea")."""
    hit = feed_all(traces.SEA_LOOP)
    assert hit is not None
    assert hit.passage == (
        "It is a place where the past is revealed, and where the future is revealed."
    )
    assert hit.at_word < 150


def test_fires_once_then_stays_quiet() -> None:
    guard = LoopGuard()
    text = traces.recheck_loop(30)
    hits = [guard.feed(text[i : i + 3]) for i in range(0, len(text), 3)]
    assert sum(h is not None for h in hits) == 1
    assert guard.hit is not None


def test_whitespace_and_long_runs_without_spaces() -> None:
    guard = LoopGuard()
    assert guard.feed("\n" * 10_000) is None
    assert guard.feed("x" * 500) is None  # cut into 48-character words, not one huge word
    assert guard.words == 500 // 48
    assert guard.feed(" ") is None
    assert guard.words == 500 // 48 + 1
    assert feed_all("=" * 20_000) is not None  # an endless run of one character is a loop


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        LoopGuard(dense_min=200, dense_max=100)


SAMPLES = {
    "loop": traces.recheck_loop(8, prefix_words=60),
    "short loop": traces.word_loop(120),
    "legit": traces.enumeration(25) + traces.requoting(2),
}


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(SAMPLES)),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=400),
)
def test_any_chunking_gives_the_same_decision(name: str, cuts: list[int]) -> None:
    text = SAMPLES[name]
    whole = LoopGuard().feed(text)
    assert (whole is None) == (name == "legit")
    assert feed_chunks(text, cuts) == whole


@settings(max_examples=40, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(["a", "b", "=", "1", "Wait,", "\n", "  ", "x" * 50, "é", "12."]),
        max_size=300,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=10**5), max_size=100),
)
def test_chunking_invariance_on_arbitrary_text(words: list[str], cuts: list[int]) -> None:
    text = " ".join(words) * 3
    whole = LoopGuard()
    whole_hit = whole.feed(text)
    assert feed_chunks(text, cuts) == whole_hit


def test_openai_stream_carries_on_through_a_loop_event() -> None:
    """The API has no field for it: no chunk for the event, a note in the whole body."""
    events = [
        Event(EventKind.REASONING, 1, "It is a place. "),
        Event(EventKind.REASONING_LOOP, 1, "It is a place.", {"repeats": 4, "policy": "answer"}),
        Event(EventKind.INJECTED, 1, "\n\nTime is up.\n", {"reason": "loop"}),
        Event(EventKind.CONTENT, 1, "The sea."),
        done_event(1, FinishReason.STOP),
    ]
    translator = Translator([])
    writer = ChunkWriter("chatcmpl-1", "m", 1)
    chunks = []
    for event in events:
        reasoning, content = translator.feed(event)
        if reasoning or content:
            chunks.append(writer.delta(reasoning, content))
    deltas = [json.loads(c[len(b"data: ") :])["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"reasoning_content": "It is a place. "},
        {"reasoning_content": "\n\nTime is up.\n"},
        {"content": "The sea."},
    ]
    body = completion_body("chatcmpl-1", 1, "m", translator.answer)
    assert body["choices"][0]["message"]["content"] == "The sea."
    assert body["warnings"] == ["The reasoning went in circles, repeating: It is a place."]
