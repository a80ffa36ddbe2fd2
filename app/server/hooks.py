"""What the server hands to whoever saves API conversations (off by default).

The server does not import the history store: whoever creates the app passes an
``on_completion`` callback (for instance one that writes to ``app.store``) and sets
``save_history=True``. The callback runs in a worker thread after each answer that ended
normally; its failures are logged and never reach the API client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.answer import Answer
from app.events import FinishReason, Stats
from app.request import GenerationRequest


@dataclass(frozen=True, slots=True)
class CompletedExchange:
    """One API request and the answer it got.

    Attributes:
        completion_id: the ``id`` the client saw (``chatcmpl-…``).
        created: Unix time of the request.
        model: the model id served.
        request: the conversation and settings, as the engine received them.
        answer: the answer as the client got it, folded from the engine's events (the
            reasoning with what Ponder injected and where, the text cut at a stop sequence
            where one matched, the figures).
        finish_reason: why the engine stopped.
        streamed: whether the client asked for a stream.
    """

    completion_id: str
    created: int
    model: str
    request: GenerationRequest
    answer: Answer
    finish_reason: FinishReason
    streamed: bool

    @property
    def reasoning(self) -> str:
        """The reasoning trace sent (including what Ponder injected)."""
        return self.answer.reasoning

    @property
    def content(self) -> str:
        """The answer sent (cut at a stop sequence where one matched)."""
        return self.answer.content

    @property
    def stats(self) -> Stats | None:
        """The engine's figures, when it reported them."""
        return self.answer.stats


OnCompletion = Callable[[CompletedExchange], None]
