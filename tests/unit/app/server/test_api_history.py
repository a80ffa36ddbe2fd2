"""API conversations saved in the history, and the answer-now extension of the API.

A real uvicorn server over the fake engine, the real ``openai`` client, and a real SQLite
history file under ``PONDER_HOME``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from app.engine import LoadParams
from app.events import EventKind, ReasoningState
from app.server.history import ApiHistory
from app.server.service import EngineService
from app.server.testing import FakeEngineClient, Script, loaded_fake
from app.store import Message, MessageStatus, Role, Store, open_store
from tests.support.served_api import KEY, serve_fake

SYSTEM = {"role": "system", "content": "Be brief."}


@contextlib.contextmanager
def serve(
    fake: FakeEngineClient | None = None, *, save: bool = True
) -> Iterator[tuple[openai.OpenAI, str, FakeEngineClient]]:
    history = ApiHistory(open_store)
    try:
        with (
            serve_fake(fake, save_history=save, on_completion=history) as served,
            served.client() as client,
        ):
            yield client, served.url, served.fake
    finally:
        history.close()


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """A streamed exchange is saved just after the client saw [DONE]: poll for it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "not saved in time"
        time.sleep(0.02)


def path_of(store: Store, conversation_id: int) -> list[Message]:
    return store.active_path(conversation_id)


def test_a_multi_turn_api_chat_is_one_conversation(ponder_home: Any) -> None:
    with serve() as (client, _url, _fake):
        first = client.chat.completions.create(
            model="fake-model", messages=[SYSTEM, {"role": "user", "content": "hello there"}]
        )
        answer = first.choices[0].message.content
        assert answer == "You said: hello there"
        client.chat.completions.create(
            model="fake-model",
            messages=[
                SYSTEM,
                {"role": "user", "content": "hello there"},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "and again"},
            ],
        )
    with open_store() as store:
        conversations = store.list_conversations()
        assert len(conversations) == 1
        conv = store.get_conversation(conversations[0].id)
        assert conv.title == "hello there · API"
        assert conv.system_prompt == "Be brief."
        assert conv.model is not None and conv.model.model_id == "fake-model"
        path = path_of(store, conv.id)
    assert [(m.role, m.content) for m in path] == [
        (Role.USER, "hello there"),
        (Role.ASSISTANT, "You said: hello there"),
        (Role.USER, "and again"),
        (Role.ASSISTANT, "You said: and again"),
    ]
    answer_msg = path[1]
    assert answer_msg.reasoning == "Let me think about it."
    assert answer_msg.status is MessageStatus.COMPLETE
    assert answer_msg.reasoning_state is ReasoningState.COMPLETE
    assert answer_msg.stats is not None and answer_msg.stats.content_tokens == 4


def test_a_chat_begun_elsewhere_is_saved_with_the_turns_the_client_sent(ponder_home: Any) -> None:
    messages = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer from another server"},
        {"role": "user", "content": "follow-up"},
    ]
    with serve() as (client, _url, _fake):
        stream = client.chat.completions.create(model="fake-model", messages=messages, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with open_store() as store:
        conv_id = wait_for(lambda: [c.id for c in store.list_conversations()])[0]
        path = wait_for(
            lambda: [m for m in path_of(store, conv_id) if m.status.value != "streaming"]
        )
        assert store.get_conversation(conv_id).title == "first question · API"
    assert [m.content for m in path] == [
        "first question",
        "an answer from another server",
        "follow-up",
        "You said: follow-up",
    ]


def test_a_different_history_starts_a_new_conversation(ponder_home: Any) -> None:
    with serve() as (client, _url, _fake):
        client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "one"}]
        )
        client.chat.completions.create(
            model="fake-model",
            messages=[
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "not what was answered"},
                {"role": "user", "content": "two"},
            ],
        )
    with open_store() as store:
        assert store.count_conversations() == 2


def test_a_capped_trace_keeps_its_injected_text_and_state(ponder_home: Any) -> None:
    script = Script(answer=lambda req: ("a b c d e f g h", "done"))
    with serve(loaded_fake(script=script)) as (client, _url, _fake):
        client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "think"}],
            extra_body={"thinking_budget": 3},
        )
    with open_store() as store:
        conv = store.list_conversations()[0]
        answer = path_of(store, conv.id)[-1]
    assert answer.reasoning == "a b c [time is up]"
    assert answer.reasoning_state is ReasoningState.CAPPED
    assert [(s.offset, s.text, s.reason) for s in answer.injected] == [
        (5, " [time is up]", "budget")
    ]


def test_the_saved_answer_is_the_one_a_stop_sequence_cut(ponder_home: Any) -> None:
    with serve() as (client, _url, _fake):
        answer = client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hello"}], stop=["said"]
        )
    assert answer.choices[0].message.content == "You "
    with open_store() as store:
        saved = path_of(store, store.list_conversations()[0].id)[-1]
    assert saved.content == "You "
    assert saved.status is MessageStatus.COMPLETE


def test_a_conversation_deleted_meanwhile_is_started_again(ponder_home: Any) -> None:
    turn = [{"role": "user", "content": "hi"}]
    with serve() as (client, _url, _fake):
        answer = client.chat.completions.create(model="fake-model", messages=turn)
        with open_store() as store:
            store.delete_conversation(store.list_conversations()[0].id)
        again = [*turn, {"role": "assistant", "content": answer.choices[0].message.content}]
        client.chat.completions.create(
            model="fake-model", messages=[*again, {"role": "user", "content": "still there?"}]
        )
    with open_store() as store:
        (conv,) = store.list_conversations()
        assert [m.content for m in path_of(store, conv.id)][-2:] == [
            "still there?",
            "You said: still there?",
        ]


def test_nothing_is_saved_unless_asked(ponder_home: Any) -> None:
    with serve(save=False) as (client, _url, _fake):
        client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"}]
        )
    with open_store() as store:
        assert store.count_conversations() == 0


# -- answer now ----------------------------------------------------------------------------------

LONG = Script(answer=lambda req: (" ".join(f"step{i}" for i in range(200)), "the answer"))


def test_answer_now_ends_a_streaming_requests_reasoning(ponder_home: Any) -> None:
    fake = loaded_fake(script=LONG)
    fake.token_delay = 0.01
    with serve(fake, save=False) as (client, url, _fake):
        stream = client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "go"}], stream=True
        )
        reasoning: list[str] = []
        content: list[str] = []
        response: httpx.Response | None = None
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            reasoning.append(str((delta.model_extra or {}).get("reasoning_content") or ""))
            content.append(delta.content or "")
            if response is None and len("".join(reasoning)) > 20:
                response = httpx.post(
                    f"{url}/v1/chat/completions/{chunk.id}/answer_now",
                    headers={"Authorization": f"Bearer {KEY}"},
                )
        assert response is not None and response.status_code == 200
        assert response.json() == {
            "id": chunk.id,
            "object": "chat.completion.answer_now",
            "accepted": True,
        }
        gone = httpx.post(
            f"{url}/v1/chat/completions/{chunk.id}/answer_now",
            headers={"Authorization": f"Bearer {KEY}"},
        )
    trace = "".join(reasoning)
    assert trace.endswith(" [answer now]")
    assert "step199" not in trace
    assert "".join(content) == "the answer"
    assert fake.answer_nows == 1
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "request_not_found"


def test_answer_now_needs_the_key_and_a_known_request(ponder_home: Any) -> None:
    with serve(save=False) as (_client, url, _fake):
        unknown = httpx.post(
            f"{url}/v1/chat/completions/chatcmpl-nope/answer_now",
            headers={"Authorization": f"Bearer {KEY}"},
        )
        no_key = httpx.post(f"{url}/v1/chat/completions/chatcmpl-nope/answer_now")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"
    assert no_key.status_code == 401


def test_answer_now_before_a_waiting_request_starts_skips_its_thinking() -> None:
    fake = loaded_fake(script=LONG)
    fake.hold = threading.Event()
    service = EngineService(LoadParams("/models/fake-model.gguf"), client=fake)
    service.start()
    from app.request import ChatMessage, GenerationRequest

    events: list[Any] = []
    done = threading.Event()

    def sink(event: Any) -> None:
        events.append(event)
        if event.kind in (EventKind.DONE, EventKind.ERROR):
            done.set()

    try:
        job = service.submit(GenerationRequest((ChatMessage("user", "go"),)), sink)
        assert job.answer_now() is True
        fake.hold.set()
        assert done.wait(5)
    finally:
        service.close()
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.INJECTED and EventKind.REASONING not in kinds
    assert "".join(e.text for e in events if e.kind is EventKind.CONTENT) == "the answer"
    assert job.answer_now() is False  # finished: nothing to do


@pytest.mark.parametrize("turns", [[], [{"role": "assistant", "content": "orphan"}]])
def test_requests_that_cannot_be_saved_still_get_their_answer(
    ponder_home: Any, turns: list[dict[str, str]]
) -> None:
    messages = [*turns, {"role": "user", "content": "q"}]
    with serve() as (client, _url, _fake):
        answer = client.chat.completions.create(model="fake-model", messages=messages)
    assert answer.choices[0].message.content == "You said: q"
    with open_store() as store:
        (conv,) = store.list_conversations()
        assert [m.content for m in path_of(store, conv.id)] == ["q", "You said: q"]
