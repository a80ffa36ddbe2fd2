"""Saving the API server's conversations in the history (``ponder serve --save-history``).

An OpenAI client sends the whole conversation with every request. :class:`ApiHistory` keeps
one conversation per API chat: when a request's earlier turns are exactly a conversation it
saved (the same system prompt, the same user turns and the answers it gave), the new turn
and its answer are added there; otherwise a new conversation is created with the earlier
turns the client sent, then the new one. Answers are replayed from the engine's events, so
the trace keeps where Ponder injected text and how the reasoning ended (the server folds
them into an :class:`app.answer.Answer`, saved as it is).

Runs in the server's worker threads (one lock); its failures are the server's to log.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.events import Event, EventKind, FinishReason
from app.request import ChatMessage, Role
from app.server.hooks import CompletedExchange

if TYPE_CHECKING:
    from app.store import ModelRef, Store

#: Conversations remembered for continuation (the newest ones; older chats start anew).
REMEMBERED = 256
#: Title suffix that tells API conversations apart in the sidebar.
API_MARK = " · API"


def _key(model: str, system: str | None, turns: Sequence[ChatMessage]) -> str:
    digest = hashlib.sha256()
    for part in (model, system or "", *(f"{m.role.value}\x00{m.content.strip()}" for m in turns)):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x01")
    return digest.hexdigest()


def split_request(messages: Sequence[ChatMessage]) -> tuple[str | None, list[ChatMessage]]:
    """The system prompt (leading system turns, joined) and the user/assistant turns."""
    system: list[str] = []
    turns: list[ChatMessage] = []
    for m in messages:
        if m.role is Role.SYSTEM:
            if not turns:
                system.append(m.content)
            continue  # a system turn mid-conversation is not part of the saved tree
        turns.append(m)
    return ("\n\n".join(system) if system else None), turns


class ApiHistory:
    """The ``on_completion`` hook that writes API exchanges to the history store.

    Args:
        open_store: opens the store on first use (so a server that never answers never
            touches the database).
        on_saved: called with the conversation id after each save (e.g. to refresh a list).
    """

    def __init__(
        self,
        open_store: Callable[[], Store],
        *,
        model: ModelRef | None = None,
        on_saved: Callable[[int], None] | None = None,
    ) -> None:
        self._open_store = open_store
        self._store: Store | None = None
        self._model = model
        self._on_saved = on_saved
        self._lock = threading.Lock()
        #: conversation key → (conversation id, id of the answer its active path ends with)
        self._known: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def open(self) -> None:
        """Open the store now (reports a damaged or unusable database before serving)."""
        with self._lock:
            self._opened()

    def _opened(self) -> Store:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def __call__(self, exchange: CompletedExchange) -> None:
        with self._lock:
            conversation_id = self._save(self._opened(), exchange)
        if self._on_saved is not None:
            self._on_saved(conversation_id)

    def _save(self, store: Store, ex: CompletedExchange) -> int:
        from app.store import MessageStatus, ModelRef, start_turn

        system, turns = split_request(ex.request.messages)
        if not turns or turns[-1].role is not Role.USER:
            raise ValueError("an API request must end with a user turn to be saved")
        model = self._model or ModelRef(ex.model, None, None, None)
        earlier, question = turns[:-1], turns[-1]
        found = self._known.get(_key(ex.model, system, earlier)) if earlier else None
        parent: int | None = None
        if found is not None and self._still_there(store, *found):
            conversation_id, parent = found
        else:
            conversation_id = self._new_conversation(store, ex, system, earlier, model)
        turn = start_turn(
            store,
            question.content,
            conversation_id=conversation_id,
            parent_id=parent,
            model=model,
            flush_interval=3600.0,
        )
        # The answer as the client saw it (a stop sequence may have cut the text), with the
        # injected spans and the figures: written once.
        turn.recorder.finish(
            MessageStatus.COMPLETE, answer=ex.answer, finish_reason=ex.finish_reason
        )
        answered = [*earlier, question, ChatMessage(Role.ASSISTANT, ex.content)]
        self._remember(_key(ex.model, system, answered), conversation_id, turn.recorder.message_id)
        return conversation_id

    def _new_conversation(
        self,
        store: Store,
        ex: CompletedExchange,
        system: str | None,
        earlier: Sequence[ChatMessage],
        model: ModelRef,
    ) -> int:
        from app.store import GenerationSettings, MessageStatus

        req = ex.request
        first_user = next((m.content for m in earlier if m.role is Role.USER), None)
        title = _title(first_user if first_user is not None else req.messages[-1].content)
        conv = store.create_conversation(
            model=model,
            system_prompt=system,
            settings=GenerationSettings(req.sampling, req.thinking, req.max_tokens, req.seed),
            title=title,
        )
        last_role: Role | None = None
        for turn in earlier:  # the client's copy of the chat so far (answers given elsewhere)
            if turn.role is Role.USER:
                store.add_user_message(conv.id, turn.content)
            elif (
                turn.role is Role.ASSISTANT and last_role is Role.USER
            ):  # the tree needs a question
                recorder = store.start_answer(conv.id, model=model, flush_interval=3600.0)
                if turn.reasoning:
                    recorder.apply(Event(EventKind.REASONING, text=turn.reasoning))
                recorder.apply(Event(EventKind.CONTENT, text=turn.content))
                recorder.finish(MessageStatus.COMPLETE, finish_reason=FinishReason.STOP)
            last_role = turn.role
        return conv.id

    def _still_there(self, store: Store, conversation_id: int, answer_id: int) -> bool:
        from app.store import NotFoundError

        try:
            return store.get_message(answer_id).conversation_id == conversation_id
        except NotFoundError:  # deleted in the window meanwhile: start a new conversation
            return False

    def _remember(self, key: str, conversation_id: int, answer_id: int) -> None:
        self._known[key] = (conversation_id, answer_id)
        self._known.move_to_end(key)
        while len(self._known) > REMEMBERED:
            self._known.popitem(last=False)


def _title(first_user_message: str) -> str:
    from app.store.store import make_title

    return make_title(first_user_message) + API_MARK
