"""Export (Markdown, JSON, ShareGPT JSONL) and import of the JSON export."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.events import Event, EventKind, FinishReason, ReasoningState
from app.store import ImportFormatError, Message, MessageStatus, ModelRef, Store
from app.store.export import (
    Markers,
    all_ids,
    write_json,
    write_markdown,
    write_sharegpt,
)
from app.store.importer import import_document, import_file

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
    (record,) = _sharegpt(store, [sample])
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
