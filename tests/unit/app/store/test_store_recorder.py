"""Streaming persistence: what the recorder writes, when, and what happens when it cannot."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from app.events import (
    Event,
    EventKind,
    FinishReason,
    ReasoningState,
    Stats,
    done_event,
    error_event,
)
from app.store import (
    AnswerRecorder,
    MessageStatus,
    NotFoundError,
    StorageWriteError,
    Store,
    open_store,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _recorder(store: Store, clock: FakeClock | None = None) -> AnswerRecorder:
    conv = store.create_conversation()
    store.add_user_message(conv.id, "Question?")
    recorder = store.start_answer(conv.id)
    if clock is not None:  # the same answer, with a clock the test moves
        recorder = AnswerRecorder(
            store, store.get_message(recorder.message_id), flush_interval=0.5, clock=clock
        )
    return recorder


def _saved(store: Store, recorder: AnswerRecorder) -> tuple[str, str, MessageStatus]:
    m = store.get_message(recorder.message_id)
    return m.reasoning, m.content, m.status


def test_answer_starts_streaming_and_empty(store: Store) -> None:
    recorder = _recorder(store)
    assert _saved(store, recorder) == ("", "", MessageStatus.STREAMING)
    assert store.get_message(recorder.message_id).reasoning_state is ReasoningState.NONE


def test_flushes_at_most_every_interval_and_at_the_end(store: Store) -> None:
    clock = FakeClock()
    recorder = _recorder(store, clock)
    recorder.apply(Event(EventKind.REASONING, text="a"))
    clock.now = 0.2
    recorder.apply(Event(EventKind.REASONING, text="b"))
    assert _saved(store, recorder)[0] == ""  # not yet due
    clock.now = 0.6
    recorder.apply(Event(EventKind.REASONING, text="c"))
    assert _saved(store, recorder)[0] == "abc"
    assert store.get_message(recorder.message_id).reasoning_state is ReasoningState.INCOMPLETE
    clock.now = 0.7
    recorder.apply(Event(EventKind.CONTENT, text="X"))
    recorder.flush_if_due()
    assert _saved(store, recorder)[1] == ""
    clock.now = 1.2
    recorder.flush_if_due()  # a UI timer flushes a quiet stream
    assert _saved(store, recorder) == ("abc", "X", MessageStatus.STREAMING)
    recorder.apply(Event(EventKind.WARNING, text="ignored"))
    recorder.apply(Event(EventKind.STATS, stats=Stats(reasoning_state=ReasoningState.COMPLETE)))
    recorder.apply(done_event(1, FinishReason.STOP))
    assert _saved(store, recorder) == ("abc", "X", MessageStatus.COMPLETE)
    final = store.get_message(recorder.message_id)
    assert final.stats is not None and final.finish_reason is FinishReason.STOP
    assert final.reasoning_state is ReasoningState.COMPLETE


def test_injected_text_is_part_of_the_reasoning_and_marked(store: Store) -> None:
    recorder = _recorder(store)
    recorder.apply(Event(EventKind.REASONING, text="Let me count. 1, 2"))
    recorder.apply(Event(EventKind.INJECTED, text="\nWait", data={"reason": "think_longer"}))
    recorder.apply(Event(EventKind.REASONING, text=", 3."))
    cap = "\n\nTime is up.\n"
    recorder.apply(Event(EventKind.INJECTED, text=cap, data={"reason": "budget"}))
    assert recorder.reasoning_state is ReasoningState.CAPPED
    recorder.apply(Event(EventKind.CONTENT, text="Three."))
    recorder.apply(done_event(1, FinishReason.BUDGET))
    m = store.get_message(recorder.message_id)
    assert m.reasoning == "Let me count. 1, 2\nWait, 3." + cap
    assert [(s.reason, s.text) for s in m.injected] == [("think_longer", "\nWait"), ("budget", cap)]
    for span in m.injected:
        assert m.reasoning[span.offset : span.offset + len(span.text)] == span.text
    assert m.reasoning_state is ReasoningState.CAPPED
    assert m.status is MessageStatus.COMPLETE and m.finish_reason is FinishReason.BUDGET
    assert not m.is_complete_trace


def test_a_loop_cut_by_the_guard_counts_as_answer_now(store: Store) -> None:
    recorder = _recorder(store)
    recorder.apply(Event(EventKind.REASONING, text="It is a place. It is a place."))
    cut = "\n\nTime is up. I will give the final answer now.\n"
    recorder.apply(Event(EventKind.INJECTED, text=cut, data={"reason": "loop"}))
    assert recorder.reasoning_state is ReasoningState.ANSWER_NOW  # before STATS says so
    recorder.apply(Event(EventKind.CONTENT, text="A place."))
    recorder.apply(done_event(1, FinishReason.STOP))
    m = store.get_message(recorder.message_id)
    assert m.reasoning_state is ReasoningState.ANSWER_NOW
    assert [s.reason for s in m.injected] == ["loop"]


@pytest.mark.parametrize(
    ("last", "status"),
    [
        (done_event(1, FinishReason.CANCELLED), MessageStatus.CANCELLED),
        (done_event(1, FinishReason.ERROR), MessageStatus.ERROR),
        (done_event(1, FinishReason.LENGTH), MessageStatus.COMPLETE),
        (error_event(1, "The engine crashed."), MessageStatus.ERROR),
    ],
)
def test_end_events_set_the_status(store: Store, last: Event, status: MessageStatus) -> None:
    recorder = _recorder(store)
    recorder.apply(Event(EventKind.CONTENT, text="partial"))
    recorder.apply(last)
    recorder.apply(Event(EventKind.CONTENT, text="late"))  # after the end: ignored
    m = store.get_message(recorder.message_id)
    assert m.status is status and m.content == "partial"
    if last.kind is EventKind.ERROR:
        assert m.error == "The engine crashed."


def test_finish_without_done_marks_interrupted_or_given_status(store: Store) -> None:
    recorder = _recorder(store)
    recorder.apply(Event(EventKind.REASONING, text="thinking"))
    recorder.finish()
    assert _saved(store, recorder) == ("thinking", "", MessageStatus.INTERRUPTED)
    other = _recorder(store)
    other.apply(Event(EventKind.CONTENT, text="x"))
    other.finish(MessageStatus.CANCELLED)
    assert _saved(store, other)[2] is MessageStatus.CANCELLED
    conv = store.get_conversation(other.conversation_id)
    assert conv.updated_at >= store.get_message(other.message_id).created_at


def _fail_writes_with(store: Store, pragma: str) -> None:
    """Make every new connection of the store refuse writes as a full or read-only disk."""
    engine = store._engine

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute(pragma)

    engine.dispose()


@pytest.mark.parametrize(
    ("pragma", "words"),
    [
        ("PRAGMA max_page_count = 1", "full"),  # below the current size: SQLITE_FULL
        ("PRAGMA query_only = ON", "read-only"),
    ],
)
def test_write_failure_keeps_text_and_database(store: Store, pragma: str, words: str) -> None:
    recorder = _recorder(store)
    recorder.apply(Event(EventKind.REASONING, text="saved part. "))
    recorder.flush()
    if "max_page_count" in pragma:
        with store._engine.connect() as conn:
            size = conn.exec_driver_sql("PRAGMA page_count").scalar()
        pragma = f"PRAGMA max_page_count = {size}"
    _fail_writes_with(store, pragma)
    big = "lost on disk but kept in memory " * 2000  # needs new pages
    with pytest.raises(StorageWriteError, match=words) as caught:
        recorder.apply(Event(EventKind.REASONING, text=big))
        recorder.flush()
    assert str(store.path) in str(caught.value)
    assert recorder.reasoning == "saved part. " + big
    assert recorder.write_error is caught.value
    recorder.apply(Event(EventKind.CONTENT, text="answer"))  # streaming goes on
    with pytest.raises(StorageWriteError):
        recorder.apply(done_event(1, FinishReason.STOP))
    assert recorder.content == "answer" and recorder.status is MessageStatus.COMPLETE
    # The database kept the last good write and is sound.
    path = store.path
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute(
        "SELECT reasoning, status FROM messages WHERE id = ?", (recorder.message_id,)
    ).fetchone() == ("saved part. ", "streaming")
    db.close()


def test_a_later_flush_succeeds_once_writes_work_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _recorder(store)
    real = store.save_answer

    def failing(*args: Any, **kwargs: Any) -> None:
        raise StorageWriteError("disk full")

    monkeypatch.setattr(store, "save_answer", failing)
    recorder.apply(Event(EventKind.CONTENT, text="kept"))
    with pytest.raises(StorageWriteError):
        recorder.apply(done_event(1, FinishReason.STOP))
    monkeypatch.setattr(store, "save_answer", real)
    recorder.finish()  # retries the unsaved end
    assert _saved(store, recorder) == ("", "kept", MessageStatus.COMPLETE)
    assert recorder.write_error is None


def test_writes_fail_clearly_on_a_read_only_database(home: Any) -> None:
    with open_store() as s:
        path = s.path
    with (
        open_store(path) as s2,
        pytest.raises(StorageWriteError, match="read-only"),
    ):
        _fail_writes_with(s2, "PRAGMA query_only = ON")
        s2.create_conversation()


pieces = st.lists(
    st.tuples(
        st.sampled_from([EventKind.REASONING, EventKind.CONTENT, EventKind.INJECTED]),
        st.text(min_size=0, max_size=12),
        st.floats(min_value=0, max_value=0.4),
    ),
    max_size=30,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=pieces)
def test_saved_text_is_the_concatenation_whatever_the_timing(
    store: Store, events: list[tuple[EventKind, str, float]]
) -> None:
    clock = FakeClock()
    recorder = _recorder(store, clock)
    reasoning = content = ""
    for kind, text, dt in events:
        clock.now += dt
        recorder.apply(Event(kind, text=text, data={"reason": "budget"}))
        if kind is EventKind.CONTENT:
            content += text
        else:
            reasoning += text
        saved_reasoning, saved_content, _ = _saved(store, recorder)
        assert reasoning.startswith(saved_reasoning) and content.startswith(saved_content)
    recorder.apply(done_event(1, FinishReason.STOP))
    m = store.get_message(recorder.message_id)
    assert (m.reasoning, m.content) == (reasoning, content)
    for span in m.injected:
        assert m.reasoning[span.offset : span.offset + len(span.text)] == span.text


def test_deleting_the_conversation_mid_stream_is_a_storage_error(store: Store) -> None:
    recorder = _recorder(store)
    store.delete_conversation(recorder.conversation_id)
    recorder.apply(Event(EventKind.CONTENT, text="still shown"))
    with pytest.raises(NotFoundError):
        recorder.finish()
    assert recorder.content == "still shown"
    assert isinstance(recorder.write_error, NotFoundError)
