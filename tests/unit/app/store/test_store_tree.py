"""Conversations and message trees: branches, regeneration, active path, titles."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.events import ReasoningState
from app.request import ChatMessage, Effort, LoopPolicy, Sampling, ThinkingControl, ThinkMode
from app.store import (
    GenerationSettings,
    Message,
    MessageStatus,
    ModelRef,
    NotFoundError,
    Role,
    Store,
)
from app.store.store import TITLE_LENGTH, make_title

Answer = Callable[..., Message]
MODEL = ModelRef("qwq-32b", sha256="cd" * 32, size=123, path="/m/qwq.gguf")


def test_conversation_keeps_model_prompt_and_settings(store: Store) -> None:
    settings = GenerationSettings(
        sampling=Sampling(temperature=0.6, top_p=0.95),
        thinking=ThinkingControl(mode=ThinkMode.ON, budget=2048, effort=Effort.HIGH),
        max_tokens=4096,
        seed=7,
    )
    conv = store.create_conversation(model=MODEL, system_prompt="Be brief.", settings=settings)
    again = store.get_conversation(conv.id)
    assert again.model == MODEL
    assert again.system_prompt == "Be brief."
    assert again.settings == settings
    assert again.title == "" and again.title_is_auto and again.active_leaf_id is None
    assert again.created_at.tzinfo is not None


def test_the_loop_policy_is_kept_with_the_settings(store: Store) -> None:
    settings = GenerationSettings(thinking=ThinkingControl(on_loop=LoopPolicy.ANSWER))
    conv = store.create_conversation(settings=settings)
    assert store.get_conversation(conv.id).settings.thinking.on_loop is LoopPolicy.ANSWER
    odd = GenerationSettings.from_dict({"thinking": {"on_loop": "explode"}})
    assert odd.thinking.on_loop is LoopPolicy.WARN


def test_settings_from_unknown_keys_and_values_fall_back() -> None:
    data = {"sampling": {"temperature": 1.0, "future": 1}, "thinking": {"mode": "weird"}}
    settings = GenerationSettings.from_dict(data)
    assert settings.sampling.temperature == 1.0
    assert settings.thinking.mode is ThinkMode.AUTO


def test_title_comes_from_first_user_message_until_renamed(store: Store) -> None:
    conv = store.create_conversation()
    store.add_user_message(conv.id, "\n  How do   magnets work?\nDetails please")
    assert store.get_conversation(conv.id).title == "How do magnets work?"
    store.rename_conversation(conv.id, "  Magnets ")
    first = store.active_path(conv.id)[0]
    store.edit_user_message(first.id, "Something else entirely")
    got = store.get_conversation(conv.id)
    assert got.title == "Magnets" and not got.title_is_auto


def test_long_titles_are_cut_at_a_word() -> None:
    title = make_title("word " * 40)
    assert len(title) <= TITLE_LENGTH + 1 and title.endswith("…") and "wor…" not in title


def test_user_and_answer_form_the_active_path(store: Store, answer: Answer) -> None:
    conv = store.create_conversation(model=MODEL)
    user = store.add_user_message(conv.id, "Hi")
    reply = answer(conv.id, "Hello!", "The user greets me.")
    assert reply.parent_id == user.id and reply.role is Role.ASSISTANT
    assert reply.status is MessageStatus.COMPLETE
    assert reply.reasoning_state is ReasoningState.COMPLETE
    assert reply.model == MODEL  # the conversation's model by default
    store.add_user_message(conv.id, "Bye")
    path = store.active_path(conv.id)
    assert [m.content for m in path] == ["Hi", "Hello!", "Bye"]
    assert [m.parent_id for m in path] == [None, path[0].id, path[1].id]
    assert store.chat_history(conv.id) == [
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!", "The user greets me."),
        ChatMessage("user", "Bye"),
    ]


def test_regenerate_adds_a_sibling_answer_and_switches_to_it(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    user = store.add_user_message(conv.id, "Pick a number")
    first = answer(conv.id, "7")
    recorder = store.regenerate(first.id)
    assert store.get_message(recorder.message_id).parent_id == user.id
    recorder.finish(MessageStatus.COMPLETE)
    path = store.active_path(conv.id)
    assert path[-1].id == recorder.message_id
    assert path[-1].sibling_ids == (first.id, recorder.message_id)
    assert path[-1].sibling_index == 1
    assert store.activate(first.id) == first.id
    assert store.active_path(conv.id)[-1].content == "7"


def test_editing_a_user_message_starts_a_branch(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    q1 = store.add_user_message(conv.id, "2+2?")
    answer(conv.id, "4")
    q2 = store.add_user_message(conv.id, "times 3?")
    a2 = answer(conv.id, "12")
    edited = store.edit_user_message(q2.id, "times 10?")
    assert edited.parent_id == q2.parent_id
    answer(conv.id, "40")
    path = store.active_path(conv.id)
    assert [m.content for m in path] == ["2+2?", "4", "times 10?", "40"]
    assert path[2].sibling_ids == (q2.id, edited.id)
    # Switching back to the old question shows its newest continuation.
    assert store.activate(q2.id) == a2.id
    assert [m.content for m in store.active_path(conv.id)] == ["2+2?", "4", "times 3?", "12"]
    # The whole tree is still there.
    assert len(store.messages(conv.id)) == 6
    assert store.messages(conv.id)[0].id == q1.id


def test_editing_the_first_message_makes_a_new_root(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    first = store.add_user_message(conv.id, "Old question")
    answer(conv.id, "old answer")
    root2 = store.edit_user_message(first.id, "New question")
    assert root2.parent_id is None
    assert store.active_path(conv.id)[0].sibling_ids == (first.id, root2.id)
    assert store.get_conversation(conv.id).title == "New question"


def test_answer_needs_a_user_message(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    with pytest.raises(ValueError):
        store.start_answer(conv.id)
    store.add_user_message(conv.id, "q")
    reply = answer(conv.id, "a")
    with pytest.raises(ValueError):
        store.start_answer(conv.id)  # the active leaf is an answer
    with pytest.raises(ValueError):
        store.regenerate(reply.parent_id or 0)
    with pytest.raises(ValueError):
        store.edit_user_message(reply.id, "x")


def test_unknown_ids_raise_not_found(store: Store) -> None:
    other = store.create_conversation()
    store.add_user_message(other.id, "q")
    conv = store.create_conversation()
    with pytest.raises(NotFoundError, match="no conversation 999"):
        store.get_conversation(999)
    with pytest.raises(NotFoundError):
        store.rename_conversation(999, "x")
    with pytest.raises(NotFoundError):
        store.delete_conversation(999)
    with pytest.raises(NotFoundError):
        store.get_message(999)
    with pytest.raises(NotFoundError):  # a message of another conversation
        store.add_user_message(conv.id, "x", parent_id=store.active_path(other.id)[0].id)


def test_list_puts_pinned_first_and_hides_archived(store: Store) -> None:
    a = store.create_conversation(title="a")
    b = store.create_conversation(title="b")
    c = store.create_conversation(title="c")
    store.set_pinned(a.id, True)
    store.set_archived(b.id, True)
    assert [s.title for s in store.list_conversations()] == ["a", "c"]
    titles = [s.title for s in store.list_conversations(include_archived=True)]
    assert titles[0] == "a" and set(titles) == {"a", "b", "c"}
    assert [s.id for s in store.list_conversations(limit=1)] == [a.id]
    assert store.count_conversations() == 3
    assert store.count_conversations(include_archived=False) == 2
    assert store.list_conversations()[1].id == c.id


def test_delete_removes_a_deep_conversation(store: Store) -> None:
    conv = store.create_conversation()
    keep = store.create_conversation()
    store.add_user_message(keep.id, "stay")
    first = store.add_user_message(conv.id, "m0")
    depth = 1500  # deeper than SQLite's trigger depth limit (1000)
    stamp = first.created_at.isoformat()
    with store.write_session() as session:
        session.connection().exec_driver_sql(
            "INSERT INTO messages (id, conversation_id, parent_id, role, status, content, "
            "created_at, updated_at) VALUES (?, ?, ?, 'user', 'complete', ?, ?, ?)",
            [
                (first.id + i, conv.id, first.id + i - 1, f"m{i}", stamp, stamp)
                for i in range(1, depth)
            ],
        )
        session.connection().exec_driver_sql(
            "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
            (first.id + depth - 1, conv.id),
        )
    assert len(store.active_path(conv.id)) == depth
    store.delete_conversation(conv.id)
    with pytest.raises(NotFoundError):
        store.get_conversation(conv.id)
    assert [m.content for m in store.active_path(keep.id)] == ["stay"]
    assert store.integrity_check() == ["ok"]


def test_ids_are_never_reused(store: Store) -> None:
    a = store.create_conversation()
    store.delete_conversation(a.id)
    assert store.create_conversation().id > a.id


def test_path_without_reasoning_keeps_everything_else(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    store.add_user_message(conv.id, "q")
    answer(conv.id, "a", "long trace")
    full = store.active_path(conv.id)
    folded = store.active_path(conv.id, with_reasoning=False)
    assert folded[1].reasoning == "" and folded[1].reasoning_state is ReasoningState.COMPLETE
    assert [m.content for m in folded] == [m.content for m in full]
    assert store.get_message(folded[1].id).reasoning == "long trace"


def test_deleting_an_answer_shows_its_sibling(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    user = store.add_user_message(conv.id, "Pick a number")
    first = answer(conv.id, "7")
    second = store.regenerate(first.id)
    second.finish(MessageStatus.COMPLETE)
    assert store.delete_message(second.message_id) == first.id
    path = store.active_path(conv.id)
    assert [m.id for m in path] == [user.id, first.id]
    assert path[-1].sibling_ids == (first.id,)
    with pytest.raises(NotFoundError):
        store.get_message(second.message_id)
    assert store.search("Pick") and not store.search("nothing")


def test_deleting_a_turn_removes_what_follows_and_falls_back_to_the_parent(
    store: Store, answer: Answer
) -> None:
    conv = store.create_conversation()
    q1 = store.add_user_message(conv.id, "First question")
    a1 = answer(conv.id, "First answer")
    q2 = store.add_user_message(conv.id, "Second question")
    answer(conv.id, "Second answer about zebras")
    store.add_user_message(conv.id, "Third question")
    assert store.delete_message(q2.id) == a1.id  # q2 had no sibling: back to its parent
    assert [m.id for m in store.active_path(conv.id)] == [q1.id, a1.id]
    assert len(store.messages(conv.id)) == 2
    assert not store.search("zebras")  # the search index follows
    assert store.integrity_check() == ["ok"]
    # The next turn continues from there.
    again = store.add_user_message(conv.id, "Another question")
    assert again.parent_id == a1.id


def test_deleting_an_inactive_branch_keeps_the_active_one(store: Store, answer: Answer) -> None:
    conv = store.create_conversation()
    q = store.add_user_message(conv.id, "Question")
    old = answer(conv.id, "Old")
    new = store.regenerate(old.id)
    new.finish(MessageStatus.COMPLETE)
    assert store.delete_message(old.id) == new.message_id
    assert [m.id for m in store.active_path(conv.id)] == [q.id, new.message_id]


def test_deleting_the_first_message_can_empty_the_conversation(
    store: Store, answer: Answer
) -> None:
    conv = store.create_conversation()
    q = store.add_user_message(conv.id, "Only question")
    answer(conv.id, "Only answer")
    assert store.delete_message(q.id) is None
    assert store.active_path(conv.id) == []
    assert store.get_conversation(conv.id).active_leaf_id is None
    assert store.add_user_message(conv.id, "Fresh start").parent_id is None


def test_an_answer_being_written_is_not_deleted(store: Store) -> None:
    conv = store.create_conversation()
    q = store.add_user_message(conv.id, "Question")
    recorder = store.start_answer(conv.id)
    with pytest.raises(ValueError, match="still being written"):
        store.delete_message(q.id)
    recorder.finish(MessageStatus.CANCELLED)
    assert store.delete_message(recorder.message_id) == q.id
    with pytest.raises(NotFoundError):
        store.delete_message(recorder.message_id)
