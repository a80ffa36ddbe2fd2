"""One Role for the engine's messages and the history's: what the store hands the engine
is the same enum it stores, under the same values."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from app.request import ChatMessage, Role
from app.store import Message, Store
from app.store import domain as store_domain

Answer = Callable[..., Message]


def test_a_message_role_is_the_enum_whatever_the_caller_gave() -> None:
    assert store_domain.Role is Role
    assert ChatMessage("user", "hi").role is Role.USER
    assert ChatMessage(Role.SYSTEM, "be brief").role is Role.SYSTEM
    assert ChatMessage("assistant", "ok") == ChatMessage(Role.ASSISTANT, "ok")


def test_the_history_gives_the_engine_enum_roles_stored_as_their_values(
    store: Store, answer: Answer
) -> None:
    conv = store.create_conversation()
    store.add_user_message(conv.id, "What is 2+2?")
    answer(conv.id, "4", "Two and two.")
    history = store.chat_history(conv.id)
    assert [(m.role, m.content, m.reasoning) for m in history] == [
        (Role.USER, "What is 2+2?", None),
        (Role.ASSISTANT, "4", "Two and two."),
    ]
    assert all(type(m.role) is Role for m in history)
    db = sqlite3.connect(store.path)
    try:
        stored = [r[0] for r in db.execute("SELECT role FROM messages ORDER BY id")]
    finally:
        db.close()
    assert stored == ["user", "assistant"]
