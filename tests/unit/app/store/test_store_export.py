"""Export (Markdown, JSON, ShareGPT JSONL) and import of the JSON export."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.events import Event, EventKind, FinishReason, ReasoningState
from app.store import ImportFormatError, Message, MessageStatus, ModelRef, Store
from app.store.domain import Conversation, GenerationSettings, InjectedSpan, Role
from app.store.export import (
    Markers,
    all_ids,
    dataset_record,
    left_out_note,
    write_json,
    write_markdown,
    write_sharegpt,
)
from app.store.importer import import_document, import_file
from app.user_files import OutputPathError, open_output

Answer = Callable[..., Message]


@pytest.fixture
def sample(store: Store, answer: Answer) -> int:
    """A conversation with a regenerated answer and an edited follow-up."""
    conv = store.create_conversation(
        model=ModelRef("r1-distill", "ab" * 32, 10, "/m.gguf"), system_prompt="Be exact."
    )
    store.add_user_message(conv.id, "What is 2+2?")
    first = answer(conv.id, "5", "Hmm, maybe 5.")
    store.regenerate(first.id).finish(MessageStatus.CANCELLED)
    store.activate(first.id)
    follow = store.add_user_message(conv.id, "Are you sure?")
    answer(conv.id, "Sorry, 4.", "2+2 is 4.")
    store.edit_user_message(follow.id, "Double it")
    recorder = store.start_answer(conv.id)
    recorder.apply(Event(EventKind.REASONING, text="4 times 2"))
    recorder.apply(Event(EventKind.INJECTED, text="\nTime is up.\n", data={"reason": "budget"}))
    recorder.apply(Event(EventKind.CONTENT, text="8"))
    recorder.apply(Event(EventKind.DONE, data={"finish_reason": "stop"}))
    return conv.id


def test_markdown_has_the_active_branch_with_reasoning_folded(store: Store, sample: int) -> None:
    out = io.StringIO()
    assert write_markdown(store, [sample], out).written == 1
    text = out.getvalue()
    assert text.startswith("# What is 2+2?\n")
    assert "<details><summary>Reasoning</summary>\n\nHmm, maybe 5.\n\n</details>" in text
    assert "Double it" in text and "Are you sure?" not in text  # active branch only
    assert "> Be exact." in text and "`r1-distill`" in text
    assert text.index("## User") < text.index("## Assistant")


def test_json_round_trips_through_import(store: Store, sample: int) -> None:
    out = io.StringIO()
    write_json(store, [sample], out)
    doc = json.loads(out.getvalue())
    assert doc["format"] == "ponder.history" and len(doc["conversations"]) == 1
    assert len(doc["conversations"][0]["messages"]) == 7  # every branch
    new_ids = import_document(store, doc)
    assert len(new_ids) == 1 and new_ids[0] != sample

    again = io.StringIO()
    write_json(store, new_ids, again)
    original, copy = doc["conversations"][0], json.loads(again.getvalue())["conversations"][0]
    assert _without_ids(copy) == _without_ids(original)
    assert [m.content for m in store.active_path(new_ids[0])] == [
        m.content for m in store.active_path(sample)
    ]
    assert store.messages(sample)  # the original is untouched


def _without_ids(conv: dict[str, Any]) -> dict[str, Any]:
    """The conversation with ids replaced by positions (ids change on import)."""
    index = {m["id"]: i for i, m in enumerate(conv["messages"])}
    out = dict(conv, id=None, active_leaf_id=index.get(conv["active_leaf_id"]))
    out["messages"] = [
        dict(m, id=index[m["id"]], parent_id=index.get(m["parent_id"])) for m in conv["messages"]
    ]
    return out


def test_import_twice_makes_two_copies(store: Store, sample: int, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    with path.open("w", encoding="utf-8") as f:
        write_json(store, all_ids(store), f)
    a, b = import_file(store, path), import_file(store, path)
    assert len({sample, *a, *b}) == 3
    assert store.count_conversations() == 3


def _sharegpt(store: Store, ids: list[int], **kwargs: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    write_sharegpt(store, ids, out, **kwargs)
    lines = out.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def _check_shape(record: dict[str, Any]) -> None:
    assert set(record) == {"system", "conversations"}
    assert isinstance(record["system"], str)
    for i, turn in enumerate(record["conversations"]):
        assert set(turn) == {"from", "value"} and isinstance(turn["value"], str)
        assert turn["from"] == ("user" if i % 2 == 0 else "assistant")
    assert record["conversations"][-1]["from"] == "assistant"


def test_sharegpt_think_markers(store: Store, sample: int) -> None:
    (record,) = _sharegpt(store, [sample], keep_injected=True)
    _check_shape(record)
    assert record["system"] == "Be exact."
    turns = record["conversations"]
    assert [t["value"] for t in turns[::2]] == ["What is 2+2?", "Double it"]
    assert turns[1]["value"] == "<think>\nHmm, maybe 5.\n</think>\n\n5"
    assert turns[3]["value"] == "<think>\n4 times 2\nTime is up.\n</think>\n\n8"


def test_sharegpt_stratos_markers(store: Store, sample: int) -> None:
    (record,) = _sharegpt(store, [sample], markers=Markers.STRATOS)
    _check_shape(record)
    assert record["conversations"][1]["value"] == (
        "<|begin_of_thought|>\n\nHmm, maybe 5.\n\n<|end_of_thought|>\n\n"
        "<|begin_of_solution|>\n\n5\n\n<|end_of_solution|>"
    )


def test_sharegpt_complete_only_cuts_at_the_first_bad_trace(
    store: Store, sample: int, answer: Answer
) -> None:
    (record,) = _sharegpt(store, [sample], complete_only=True)
    _check_shape(record)
    assert len(record["conversations"]) == 2  # the capped second answer is left out

    bad = store.create_conversation()
    store.add_user_message(bad.id, "q")
    answer(bad.id, "a", "r", state=ReasoningState.CAPPED)
    no_trace = store.create_conversation()
    store.add_user_message(no_trace.id, "q")
    answer(no_trace.id, "a")
    cut = store.create_conversation()
    store.add_user_message(cut.id, "q")
    answer(cut.id, "a", "r", finish=FinishReason.LENGTH)
    out = io.StringIO()
    counts = write_sharegpt(store, [bad.id, no_trace.id, cut.id], out, complete_only=True)
    assert (counts.written, counts.skipped) == (0, 3) and out.getvalue() == ""
    assert len(_sharegpt(store, [bad.id, no_trace.id, cut.id])) == 3


def test_sharegpt_leaves_injected_text_out_unless_kept(store: Store, sample: int) -> None:
    out = io.StringIO()
    counts = write_sharegpt(store, [sample], out)
    (record,) = [json.loads(line) for line in out.getvalue().splitlines()]
    _check_shape(record)
    assert len(record["conversations"]) == 2  # the answer with "Time is up." and its question
    assert "Time is up." not in out.getvalue()
    assert (counts.written, counts.skipped, counts.injected, counts.incomplete) == (1, 0, 1, 0)
    assert left_out_note(counts) == (
        "Left out: 1 answer with text Ponder injected (budget cap, Answer now; keep it by choice)."
    )
    # Kept by choice, also under complete-only: the capped trace is complete but for it.
    (kept,) = _sharegpt(store, [sample], complete_only=True, keep_injected=True)
    assert len(kept["conversations"]) == 4
    assert "\nTime is up.\n" in kept["conversations"][3]["value"]


def test_json_export_marks_injected_text(store: Store, sample: int) -> None:
    out = io.StringIO()
    write_json(store, [sample], out)
    (conv,) = json.loads(out.getvalue())["conversations"]
    capped = next(m for m in conv["messages"] if m["content"] == "8")
    assert capped["reasoning_state"] == "capped"
    (span,) = capped["injected"]
    assert span["reason"] == "budget"
    start = span["offset"]
    assert capped["reasoning"][start : start + len(span["text"])] == "\nTime is up.\n"


def test_left_out_note_counts_what_went_and_why(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    store.add_user_message(conv.id, "q1")
    answer(conv.id, "a1", "r1")
    store.add_user_message(conv.id, "q2")
    answer(conv.id, "a2", "r2", finish=FinishReason.LENGTH)  # incomplete: cut here
    store.add_user_message(conv.id, "q3")
    answer(conv.id, "a3", "r3")  # builds on the cut one
    store.add_user_message(conv.id, "q4")
    answer(conv.id, "a4", "r4")
    empty = store.create_conversation()
    store.add_user_message(empty.id, "only a question")
    out = io.StringIO()
    counts = write_sharegpt(store, [conv.id, empty.id], out, complete_only=True)
    assert (counts.written, counts.skipped, counts.incomplete, counts.after) == (1, 1, 1, 2)
    assert left_out_note(counts) == (
        "Left out: 1 incomplete answer (capped, cancelled, interrupted, failed or without "
        "reasoning); 2 later answers that followed them; 1 conversation with no usable answer "
        "left."
    )
    assert left_out_note(write_sharegpt(store, [conv.id], io.StringIO())) == ""


def test_an_export_file_appears_only_complete(tmp_path: Path) -> None:
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    target = tmp_path / "out.md"
    with open_output(target) as out:
        out.write("# Title\n")
        assert not target.exists()
    assert target.read_bytes() == b"# Title\n"
    with pytest.raises(RuntimeError), open_output(tmp_path / "broken.md") as out:
        out.write("half")
        raise RuntimeError("the export failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.md"]
    nowhere = tmp_path / "nowhere" / "x.md"
    with (
        pytest.raises(OutputPathError, match=r"Cannot write .*nowhere.*No such file"),
        open_output(nowhere),
    ):
        pass


_STATES = st.sampled_from(list(ReasoningState))
_FINISH = st.sampled_from([None, *FinishReason])
_STATUS = st.sampled_from([s for s in MessageStatus if s is not MessageStatus.STREAMING])


@st.composite
def _answers(draw: st.DrawFn) -> Message:
    reasoning = draw(st.sampled_from(["", "thinking", "thinking\nTime is up.\n"]))
    injected = (
        (InjectedSpan(8, "\nTime is up.\n", draw(st.sampled_from(["budget", "answer_now"]))),)
        if reasoning.endswith("up.\n")
        else ()
    )
    return _message(
        Role.ASSISTANT,
        "answer",
        reasoning=reasoning,
        injected=injected,
        reasoning_state=draw(_STATES),
        status=draw(_STATUS),
        finish_reason=draw(_FINISH),
    )


def _message(role: Role, content: str, **fields: Any) -> Message:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "id": 0,
        "conversation_id": 1,
        "parent_id": None,
        "reasoning": "",
        "reasoning_state": None,
        "injected": (),
        "stats": None,
        "model": None,
        "status": MessageStatus.COMPLETE,
        "finish_reason": None,
        "error": None,
        "created_at": now,
        "updated_at": now,
    }
    return Message(role=role, content=content, **(base | fields))


@given(
    answers=st.lists(_answers(), max_size=6),
    complete_only=st.booleans(),
    keep_injected=st.booleans(),
)
def test_dataset_records_account_for_every_answer(
    answers: list[Message], complete_only: bool, keep_injected: bool
) -> None:
    path = [m for a in answers for m in (_message(Role.USER, "q"), a)]
    conv = Conversation(
        1,
        "t",
        True,
        datetime.now(UTC),
        datetime.now(UTC),
        False,
        False,
        None,
        None,
        GenerationSettings(),
        None,
    )
    result = dataset_record(conv, path, complete_only=complete_only, keep_injected=keep_injected)
    record = result.record
    turns = record["conversations"] if record else []
    kept = turns[1::2]
    assert len(kept) + result.dropped == len(answers)  # each answer kept or counted
    assert (result.cut is None) == (result.dropped == 0)
    if not keep_injected:
        assert all("Time is up." not in t["value"] for t in kept)
    if complete_only and not keep_injected:
        assert all(a.is_complete_trace for a in answers[: len(kept)])
    if complete_only:  # finished, with a trace, not cut by a limit, failure or the user
        for a in answers[: len(kept)]:
            assert a.status is MessageStatus.COMPLETE and a.reasoning.strip()
            assert a.finish_reason in (None, FinishReason.STOP, FinishReason.BUDGET)
            assert a.reasoning_state not in (ReasoningState.INCOMPLETE, ReasoningState.NONE)
    if not complete_only and keep_injected:  # nothing asked to be left out: all kept
        assert len(kept) == len(answers)
    if record is not None:
        assert turns[-1]["from"] == "assistant"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"format": "other"}', "not a Ponder history export"),
        ('{"format": "ponder.history", "version": 99, "conversations": []}', "newer Ponder"),
        ('{"format": "ponder.history", "version": 1}', "'conversations' is missing"),
        ('{"format": "ponder.history", "version": 1, "conversations": [1]}', "not an object"),
    ],
)
def test_import_rejects_bad_files(store: Store, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFormatError, match=message):
        import_file(store, path)


def _doc(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "ponder.history",
        "version": 1,
        "conversations": [{"title": "ok", "messages": []}, {"title": "t", "messages": messages}],
    }


def _msg(mid: int, parent: int | None, **extra: Any) -> dict[str, Any]:
    return {"id": mid, "parent_id": parent, "role": "user", "status": "complete"} | extra


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([_msg(1, 2), _msg(2, 1)], "cycle"),
        ([_msg(1, 5)], "unknown parent 5"),
        ([_msg(1, None), _msg(1, None)], "duplicate ids"),
        ([_msg(1, None, role="robot")], r"conversations\[1\]\.messages\[0\]\.role"),
        ([_msg(1, None, role="system")], r"\.role is not one of \['user', 'assistant'\]"),
        ([_msg(1, None, content=3)], "content is not a string"),
        ([_msg(1, None, created_at="yesterday")], "created_at is not an ISO date"),
    ],
)
def test_import_names_the_bad_spot_and_imports_nothing(
    store: Store, messages: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ImportFormatError, match=message):
        import_document(store, _doc(messages))
    assert store.count_conversations() == 0


def test_import_orders_parents_first_and_ends_streaming(store: Store) -> None:
    messages = [
        _msg(30, 20, role="user", content="third"),
        _msg(20, 10, role="assistant", content="second", status="streaming"),
        _msg(10, None, content="first"),
    ]
    (cid,) = import_document(store, _doc(messages))[1:]
    path = store.active_path(cid)
    assert [m.content for m in path] == ["first", "second", "third"]
    assert path[1].status is MessageStatus.INTERRUPTED
