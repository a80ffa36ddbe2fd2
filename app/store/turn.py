"""One chat turn in the history: the conversation, the user's message, the answer to come.

The window, ``ponder chat`` and the API's history all save a turn the same way: create the
conversation (or go on with one), add the user's message, and start the answer that the
engine's events then fill (:class:`app.store.recorder.AnswerRecorder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.store.domain import GenerationSettings, Message, ModelRef
    from app.store.recorder import AnswerRecorder
    from app.store.store import Store


@dataclass(frozen=True, slots=True)
class Turn:
    """A saved user message and the answer started after it.

    Attributes:
        conversation_id: the conversation it is in (new or continued).
        question: the user's message.
        recorder: feed the answer's events to it.
    """

    conversation_id: int
    question: Message
    recorder: AnswerRecorder


def start_turn(
    store: Store,
    text: str,
    *,
    conversation_id: int | None = None,
    parent_id: int | None = None,
    model: ModelRef | None = None,
    system_prompt: str | None = None,
    settings: GenerationSettings | None = None,
    title: str | None = None,
    flush_interval: float = 0.5,
) -> Turn:
    """Save the user's ``text`` and start its answer.

    Args:
        conversation_id: the conversation to go on with; ``None`` creates one (with
            ``model``, ``system_prompt``, ``settings`` and ``title``: without one it takes
            the first user message's).
        parent_id: the message the user answers (default: the conversation's active leaf).
        model: the model that answers.
        flush_interval: how often the answer is written while it streams (seconds).

    Raises:
        StorageError: the database could not be written.
        NotFoundError: ``conversation_id`` or ``parent_id`` does not exist.
    """
    if conversation_id is None:
        conversation_id = store.create_conversation(
            model=model, system_prompt=system_prompt, settings=settings, title=title
        ).id
    question = store.add_user_message(conversation_id, text, parent_id=parent_id)
    recorder = store.start_answer(conversation_id, model=model, flush_interval=flush_interval)
    return Turn(conversation_id, question, recorder)
