"""Each kind's payload is read through typed properties; the JSON lines and the worker's
pickles carry the same fields as before."""

from __future__ import annotations

import pickle

import pytest

from app.events import (
    Event,
    EventKind,
    Failure,
    FinishReason,
    InjectReason,
    LoopReport,
    Truncation,
    done_event,
    error_event,
    injected_event,
    loop_event,
    progress_event,
    truncated_event,
)
from app.request import LoopPolicy
from app.server.errors import engine_error, event_error

BUILT = [
    (
        injected_event(3, "\nTime is up.\n", InjectReason.BUDGET, 12),
        {"type": "injected", "text": "\nTime is up.\n", "reason": "budget", "reasoning_tokens": 12},
    ),
    (
        injected_event(3, " [answer now]", InjectReason.ANSWER_NOW),
        {"type": "injected", "text": " [answer now]", "reason": "answer_now"},
    ),
    (
        truncated_event(3, Truncation(2, 1900, 2048)),
        {"type": "context_truncated", "dropped_messages": 2, "prompt_tokens": 1900, "n_ctx": 2048},
    ),
    (
        loop_event(3, "Let me check again.", LoopReport(5, 4, 180, LoopPolicy.ANSWER)),
        {
            "type": "reasoning_loop",
            "text": "Let me check again.",
            "repeats": 5,
            "period_words": 4,
            "reasoning_tokens": 180,
            "policy": "answer",
        },
    ),
    (progress_event(3, 0.5), {"type": "load_progress", "fraction": 0.5}),
    (done_event(3, FinishReason.CANCELLED), {"type": "done", "finish_reason": "cancelled"}),
    (
        error_event(3, "engine crashed (SIGSEGV, signal 11)", crashed=True, signal=11),
        {
            "type": "error",
            "message": "engine crashed (SIGSEGV, signal 11)",
            "crashed": True,
            "signal": 11,
        },
    ),
    (
        error_event(3, "engine stopped unexpectedly", crashed=True),
        {
            "type": "error",
            "message": "engine stopped unexpectedly",
            "crashed": True,
            "signal": None,
        },
    ),
    (error_event(3, "bad template"), {"type": "error", "message": "bad template"}),
]


@pytest.mark.parametrize(("event", "line"), BUILT)
def test_built_events_print_the_same_json_lines_and_pickle_whole(
    event: Event, line: dict[str, object]
) -> None:
    assert list(event.to_json_dict().items()) == list(line.items())  # the order too
    again = pickle.loads(pickle.dumps(event))
    assert again == event and again.to_json_dict() == line


def test_each_kind_reads_its_payload_typed() -> None:
    assert injected_event(1, "x", InjectReason.LOOP, 3).inject_reason is InjectReason.LOOP
    assert done_event(1, FinishReason.BUDGET).finish_reason is FinishReason.BUDGET
    assert truncated_event(1, Truncation(1, 2, 3)).truncation == Truncation(1, 2, 3)
    report = LoopReport(4, 6, 90, LoopPolicy.WARN)
    assert loop_event(1, "again", report).loop == report
    assert progress_event(1, 0.25).fraction == 0.25
    assert error_event(1, "gone", crashed=True, signal=9).failure == Failure(True, 9)
    assert error_event(1, "busy", shutdown=True).failure == Failure(shutdown=True)


def test_events_built_the_old_way_read_the_same() -> None:
    injected = Event(EventKind.INJECTED, text="Wait", data={"reason": "think_longer"})
    assert injected.inject_reason is InjectReason.THINK_LONGER
    done = Event(EventKind.DONE, data={"finish_reason": "length"})
    assert done.finish_reason is FinishReason.LENGTH
    assert Event(EventKind.DONE, data={"finish_reason": "new-in-v9"}).finish_reason is (
        FinishReason.STOP
    )


def test_a_payload_belongs_to_its_kind() -> None:
    count_reply = Event(EventKind.DONE, data={"tokens": 12})
    assert count_reply.finish_reason is None  # the reply to a count is no end of an answer
    content = Event(EventKind.CONTENT, text="x")
    assert (content.inject_reason, content.finish_reason, content.truncation) == (None,) * 3
    assert (content.loop, content.failure, content.fraction) == (None, None, 0.0)


def test_the_api_status_of_an_engine_error_comes_from_its_failure() -> None:
    crash = error_event(1, "engine crashed (SIGKILL, signal 9)", crashed=True, signal=9)
    assert event_error(crash).status == 503
    assert event_error(error_event(1, "busy", shutdown=True)).code == "shutting_down"
    assert event_error(error_event(1, "template failed")).status == 500
    assert engine_error("x", Failure(crashed=True)).status == 503
