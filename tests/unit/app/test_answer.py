"""One answer fold: the same stream gives the same answer however it is cut, and the CLI's
JSON lines, the API's reply, the saved message and the API history all agree with it."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.answer import Answer
from app.cli.chat import JsonPrinter, run_turn
from app.events import (
    TEXT_KINDS,
    Event,
    EventKind,
    Failure,
    FinishReason,
    InjectReason,
    LoopReport,
    ReasoningState,
    Stats,
    Truncation,
    done_event,
    error_event,
    injected_event,
    loop_event,
    truncated_event,
)
from app.request import ChatMessage, GenerationRequest, LoopPolicy
from app.server.history import ApiHistory
from app.server.hooks import CompletedExchange
from app.server.openai_format import Translator, completion_body, openai_finish, usage
from app.store import MessageStatus, Store, open_store, start_turn
from tests.support.reasoning_traces import legit_corpus, recheck_loop

RID = 7
#: Real-looking reasoning text to cut pieces from (and a loop passage).
CORPUS = "".join(legit_corpus().values()) + recheck_loop(3, prefix_words=20)

corpus_piece = st.tuples(st.integers(0, len(CORPUS) - 1), st.integers(0, 40)).map(
    lambda at: CORPUS[at[0] : at[0] + at[1]]
)
piece = st.one_of(corpus_piece, st.text(max_size=8))

text_event = st.builds(
    lambda kind, text, tokens: Event(kind, RID, text, tokens=tokens),
    st.sampled_from(TEXT_KINDS),
    piece,
    st.integers(0, 5),
)
injected = st.builds(
    lambda text, reason, tokens: injected_event(RID, text, reason, tokens),
    piece,
    st.sampled_from(InjectReason),
    st.one_of(st.none(), st.integers(0, 500)),
)
warning = st.builds(lambda text: Event(EventKind.WARNING, RID, text), piece)
loop = st.builds(
    lambda passage, report: loop_event(RID, passage, report),
    corpus_piece,
    st.builds(
        LoopReport,
        st.integers(2, 9),
        st.integers(1, 50),
        st.integers(0, 900),
        st.sampled_from([LoopPolicy.WARN, LoopPolicy.ANSWER]),
    ),
)
middle = st.lists(
    st.one_of(text_event, text_event, text_event, injected, warning, loop), max_size=25
)
truncation = st.builds(
    lambda t: truncated_event(RID, t),
    st.builds(Truncation, st.integers(1, 9), st.integers(1, 4096), st.integers(512, 8192)),
)
stats = st.builds(
    lambda s: Event(EventKind.STATS, RID, stats=s),
    st.builds(
        Stats,
        prompt_tokens=st.integers(0, 4000),
        reasoning_tokens=st.integers(0, 900),
        content_tokens=st.integers(0, 900),
        finish_reason=st.sampled_from(FinishReason),
        reasoning_state=st.sampled_from(ReasoningState),
    ),
)
done = st.builds(lambda reason: done_event(RID, reason), st.sampled_from(FinishReason))
error = st.builds(
    lambda message, crashed: error_event(
        RID, message, crashed=crashed, signal=9 if crashed else None
    ),
    piece,
    st.booleans(),
)


@st.composite
def streams(draw: st.DrawFn, *, ends: st.SearchStrategy[Event] | None = None) -> list[Event]:
    """An engine's events for one request, in the documented order."""
    events = draw(st.lists(truncation, max_size=1)) + draw(middle)
    events += draw(st.lists(stats, max_size=1))
    end = ends if ends is not None else st.one_of(done, error, st.none())
    last = draw(end)
    return [*events, last] if last is not None else events


def cut(events: list[Event], data: st.DataObject) -> list[Event]:
    """The same stream with its text events cut into smaller pieces (tokens on the first)."""
    out: list[Event] = []
    for event in events:
        if event.kind not in TEXT_KINDS or len(event.text) < 2:
            out.append(event)
            continue
        points = sorted(
            data.draw(st.sets(st.integers(1, len(event.text) - 1), max_size=3), label="cuts")
        )
        bounds = [0, *points, len(event.text)]
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            out.append(Event(event.kind, RID, event.text[a:b], tokens=event.tokens if not i else 0))
    return out


def merged(events: list[Event]) -> list[Event]:
    """The same stream with neighbouring text pieces of one kind merged (as the worker does)."""
    out: list[Event] = []
    for event in events:
        prev = out[-1] if out else None
        if prev is not None and event.kind in TEXT_KINDS and prev.kind is event.kind:
            out[-1] = Event(
                event.kind, RID, prev.text + event.text, tokens=prev.tokens + event.tokens
            )
        else:
            out.append(event)
    return out


def snapshot(a: Answer) -> tuple[Any, ...]:
    return (
        a.reasoning,
        a.content,
        a.injected,
        a.warnings,
        a.loop,
        a.loop_report,
        a.truncation,
        a.stats,
        a.finish_reason,
        a.error,
        a.failure,
        a.finished,
        a.reasoning_state,
    )


@settings(max_examples=200, deadline=None)
@given(events=streams(), data=st.data())
def test_folding_piece_by_piece_gives_the_answer_folded_at_once(
    events: list[Event], data: st.DataObject
) -> None:
    whole = Answer.of(events)
    step = Answer()
    for event in cut(events, data):
        step.add(event)
        if data.draw(st.booleans(), label="read now"):  # reading joins the pieces so far
            _ = (step.reasoning, step.content)
    assert snapshot(step) == snapshot(whole)
    assert snapshot(Answer.of(merged(events))) == snapshot(whole)
    # What the answer holds is what the stream said, each text once.
    end = next(
        (i for i, e in enumerate(events) if e.kind in (EventKind.DONE, EventKind.ERROR)), None
    )
    said = events if end is None else events[: end + 1]
    reasoning_kinds = (EventKind.REASONING, EventKind.INJECTED)
    assert whole.reasoning == "".join(e.text for e in said if e.kind in reasoning_kinds)
    assert whole.content == "".join(e.text for e in said if e.kind is EventKind.CONTENT)
    for span in whole.injected:
        assert whole.reasoning[span.offset : span.offset + len(span.text)] == span.text
    assert whole.finished is (end is not None)


def test_an_answer_holds_each_kind_of_fact() -> None:
    answer = Answer.of(
        [
            truncated_event(RID, Truncation(2, 900, 1024)),
            Event(EventKind.WARNING, RID, "this model file has no usable chat template"),
            Event(EventKind.REASONING, RID, "The sea is blue. "),
            loop_event(RID, "The sea is blue.", LoopReport(4, 4, 30, LoopPolicy.ANSWER)),
            injected_event(RID, "Time is up.", InjectReason.LOOP, 30),
            Event(EventKind.CONTENT, RID, "Blue."),
            error_event(RID, "engine crashed (SIGKILL, signal 9)", crashed=True, signal=9),
            Event(EventKind.CONTENT, RID, "after the end"),
        ]
    )
    assert (answer.reasoning, answer.content) == ("The sea is blue. Time is up.", "Blue.")
    assert [(s.offset, s.reason) for s in answer.injected] == [(17, InjectReason.LOOP)]
    assert answer.truncation == Truncation(2, 900, 1024)
    assert answer.warnings == ["this model file has no usable chat template"]
    assert answer.loop == "The sea is blue." and answer.loop_report is not None
    assert answer.loop_report.policy is LoopPolicy.ANSWER
    assert answer.reasoning_state is ReasoningState.ANSWER_NOW  # no STATS: a guess
    assert answer.finish_reason is FinishReason.ERROR
    assert answer.failure == Failure(crashed=True, signal=9)


# -- the CLI ------------------------------------------------------------------------------------


class _Stream:
    def __init__(self, events: list[Event]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def cancel(self) -> None:
        pass

    def answer_now(self) -> None:
        pass


class _Client:
    def __init__(self, events: list[Event]) -> None:
        self._events = events

    def generate(self, request: GenerationRequest) -> _Stream:
        return _Stream(self._events)


REQUEST = GenerationRequest(messages=(ChatMessage("user", "Why is the sea blue?"),))


@settings(max_examples=100, deadline=None)
@given(events=streams())
def test_the_cli_json_lines_agree_with_the_fold(events: list[Event]) -> None:
    out = io.StringIO()
    result = run_turn(_Client(events), REQUEST, JsonPrinter(out))
    fold = Answer.of(events)
    assert snapshot(result.answer) == snapshot(fold)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["type"] for line in lines] == [e.kind.value for e in events]
    assert "".join(x.get("text", "") for x in lines if x["type"] in ("reasoning", "injected")) == (
        fold.reasoning
    )
    assert "".join(x["text"] for x in lines if x["type"] == "content") == fold.content
    assert [x["reason"] for x in lines if x["type"] == "injected"] == [
        s.reason.value for s in fold.injected if s.reason
    ]
    ends = [x for x in lines if x["type"] in ("done", "error")]
    if ends and ends[-1]["type"] == "error":
        assert fold.error == (ends[-1]["message"] or "The engine failed.")
    elif ends:
        assert ends[-1]["finish_reason"] == (fold.finish_reason and fold.finish_reason.value)
    if fold.truncation is not None:
        line = next(x for x in lines if x["type"] == "context_truncated")
        assert line["dropped_messages"] == fold.truncation.dropped_messages


# -- the API ------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(events=streams(ends=done))
def test_the_api_reply_agrees_with_the_fold(events: list[Event]) -> None:
    translator = Translator([])
    for event in events:
        translator.feed(event)
    fold = Answer.of(events)
    assert snapshot(translator.answer) == snapshot(fold)
    body = completion_body("chatcmpl-1", 0, "m", translator.answer)
    choice = body["choices"][0]
    assert choice["message"]["content"] == fold.content
    assert choice["message"].get("reasoning_content", "") == fold.reasoning
    assert choice["finish_reason"] == openai_finish(fold)
    assert body["usage"] == usage(fold.stats)
    loop_note = (
        [f"The reasoning went in circles, repeating: {fold.loop}"] if fold.loop is not None else []
    )
    assert body.get("warnings", []) == fold.warnings + loop_note


def test_the_api_reply_is_cut_at_a_stop_sequence() -> None:
    translator = Translator(["STOP"])
    for event in [
        Event(EventKind.REASONING, RID, "hm"),
        Event(EventKind.CONTENT, RID, "one ST"),
        Event(EventKind.CONTENT, RID, "OP two"),
        Event(EventKind.REASONING, RID, "late"),
        done_event(RID, FinishReason.CANCELLED),
    ]:
        translator.feed(event)
    body = completion_body("c", 0, "m", translator.answer, stop_hit=translator.stop_hit)
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "one ",
        "reasoning_content": "hm",
    }
    assert body["choices"][0]["finish_reason"] == "stop"


# -- the history --------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "history.db") as s:
        yield s


def _saved_as_folded(store: Store, message_id: int, fold: Answer) -> None:
    m = store.get_message(message_id)
    assert (m.reasoning, m.content) == (fold.reasoning, fold.content)
    assert [(s.offset, s.text, s.reason) for s in m.injected] == [
        (s.offset, s.text, s.reason.value if s.reason else "") for s in fold.injected
    ]
    assert m.reasoning_state is fold.reasoning_state
    assert m.stats == fold.stats
    assert m.error == fold.error


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=streams(), shared=st.booleans())
def test_the_saved_message_agrees_with_the_fold(
    store: Store, events: list[Event], shared: bool
) -> None:
    turn = start_turn(store, "Why is the sea blue?")
    for event in events:
        if shared:  # as ponder chat does: it folds, the recorder saves what the fold holds
            turn.recorder.answer.add(event)
            turn.recorder.update(event)
        else:
            turn.recorder.apply(event)
    turn.recorder.finish()
    fold = Answer.of(events)
    _saved_as_folded(store, turn.recorder.message_id, fold)
    m = store.get_message(turn.recorder.message_id)
    assert m.finish_reason is fold.finish_reason
    expected = {
        None: MessageStatus.INTERRUPTED,
        FinishReason.CANCELLED: MessageStatus.CANCELLED,
        FinishReason.ERROR: MessageStatus.ERROR,
    }.get(fold.finish_reason, MessageStatus.COMPLETE)
    assert m.status is expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=streams(ends=done))
def test_the_api_history_saves_the_answer_its_client_got(store: Store, events: list[Event]) -> None:
    translator = Translator([])
    for event in events:
        translator.feed(event)
    request = GenerationRequest(messages=(ChatMessage("user", "Why is the sea blue?"),))
    exchange = CompletedExchange(
        "chatcmpl-1", 0, "m", request, translator.answer, FinishReason.STOP, streamed=False
    )
    saved: list[int] = []
    ApiHistory(lambda: store, on_saved=saved.append)(exchange)
    answer = store.active_path(saved[0])[-1]
    _saved_as_folded(store, answer.id, Answer.of(events))
    assert answer.status is MessageStatus.COMPLETE and answer.finish_reason is FinishReason.STOP
