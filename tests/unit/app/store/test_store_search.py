"""Search with FTS5 and with the forced LIKE fallback: the same API, the same answers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.events import Event, EventKind
from app.store import Message, MessageStatus, Store, open_store
from app.store import fts as fts_module

Answer = Callable[..., Message]


@pytest.fixture(params=[True, False], ids=["fts5", "like"])
def any_store(request: pytest.FixtureRequest, home: Path) -> Iterator[Store]:
    with open_store(use_fts=request.param) as s:
        assert s.fts_enabled is request.param
        yield s


def _conversation(store: Store, title: str, question: str, reasoning: str, content: str) -> int:
    conv = store.create_conversation(title=title)
    store.add_user_message(conv.id, question)
    recorder = store.start_answer(conv.id)
    recorder.apply(Event(EventKind.REASONING, text=reasoning))
    recorder.apply(Event(EventKind.CONTENT, text=content))
    recorder.finish(MessageStatus.COMPLETE)
    return conv.id


def test_finds_titles_answers_and_reasoning(any_store: Store) -> None:
    sky = _conversation(
        any_store,
        "Sky colour",
        "Why is the sky blue?",
        "Sunlight hits nitrogen; shorter wavelengths scatter more.",
        "Because of Rayleigh scattering.",
    )
    _conversation(any_store, "Cooking", "How long to boil an egg?", "Eggs need time.", "9 min.")
    by_field = {h.field: h for h in any_store.search("rayleigh")}
    assert set(by_field) == {"content"}
    hit = by_field["content"]
    assert hit.conversation_id == sky and hit.conversation_title == "Sky colour"
    assert "[Rayleigh]" in hit.snippet and hit.message_id is not None
    assert [h.field for h in any_store.search("NITROGEN")] == ["reasoning"]
    assert "[nitrogen]" in any_store.search("nitrogen")[0].snippet
    title_hits = [h for h in any_store.search("colour") if h.field == "title"]
    assert title_hits and title_hits[0].message_id is None
    assert any_store.search("sky blue")[0].conversation_id == sky  # every word must match
    assert any_store.search("sky egg") == []
    assert any_store.search("  ?!* \"'  ") == []  # nothing searchable; no syntax error
    assert any_store.search('"unbalanced AND (') == []


def test_markers_and_limit(any_store: Store) -> None:
    for i in range(5):
        _conversation(any_store, f"t{i}", "zebra question", "zebra thoughts", "zebra answer")
    hits = any_store.search("zebra", limit=3, mark=("<b>", "</b>"))
    assert len(hits) == 3 and all("<b>" in h.snippet for h in hits)
    assert [h.rank for h in hits] == sorted(h.rank for h in hits)


def test_streaming_text_is_found_once_finished(any_store: Store) -> None:
    conv = any_store.create_conversation()
    any_store.add_user_message(conv.id, "q")
    recorder = any_store.start_answer(conv.id, flush_interval=0)
    recorder.apply(Event(EventKind.CONTENT, text="platypus"))
    assert any_store.search("platypus") == []  # not indexed while streaming
    recorder.finish()
    assert [h.message_id for h in any_store.search("platypus")] == [recorder.message_id]


def test_index_follows_renames_and_deletes(any_store: Store) -> None:
    cid = _conversation(any_store, "Old name", "walrus?", "walrus", "walrus!")
    any_store.rename_conversation(cid, "Brand new")
    assert any_store.search("old name") == []
    assert any_store.search("brand")[0].conversation_id == cid
    any_store.delete_conversation(cid)
    assert any_store.search("walrus") == []
    assert any_store.search("brand") == []


def test_index_is_rebuilt_after_running_without_fts(home: Path) -> None:
    if not fts_module.fts5_available():
        pytest.skip("this SQLite has no FTS5")
    with open_store() as s:
        _conversation(s, "A", "kangaroo?", "", "kangaroo")
    with open_store(use_fts=False) as s:  # e.g. opened by a Python without FTS5
        cid = _conversation(s, "B", "koala?", "", "koala")
        s.delete_conversation(_first_id(s, "kangaroo"))
        db = sqlite3.connect(s.path)
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        db.close()
        assert triggers == []  # writes must not need FTS5
    with open_store() as s:
        assert s.fts_enabled
        assert [h.conversation_id for h in s.search("koala") if h.message_id] == [cid, cid]
        assert s.search("kangaroo") == []
        db = sqlite3.connect(s.path)
        db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        db.close()


def _first_id(store: Store, word: str) -> int:
    return store.search(word)[0].conversation_id


def test_like_snippet_is_short_and_marked() -> None:
    text = "x " * 200 + "needle" + " y" * 200
    snippet = fts_module._snippet(text, ["needle"], ("[", "]"))
    assert "[needle]" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 140


def test_prefix_lets_the_last_word_be_unfinished(any_store: Store) -> None:
    _conversation(any_store, "Light", "Why blue?", "Scattering.", "Rayleigh scattering.")
    assert any_store.search("rayl", prefix=True)[0].field == "content"
    if any_store.fts_enabled:  # LIKE always matches inside words
        assert any_store.search("rayl") == []
