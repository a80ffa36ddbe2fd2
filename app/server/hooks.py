"""What the server hands to whoever saves API conversations (off by default).

The server does not import the history store: whoever creates the app passes an
``on_completion`` callback (for instance one that writes to ``app.store``) and sets
``save_history=True``. The callback runs in a worker thread after each answer that ended
normally; its failures are logged and never reach the API client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.events import Event, FinishReason, Stats
from app.request import GenerationRequest


@dataclass(frozen=True, slots=True)
class CompletedExchange:
    """One API request and the answer it got.

    Attributes:
        completion_id: the ``id`` the client saw (``chatcmpl-…``).
        created: Unix time of the request.
        model: the model id served.
        request: the conversation and settings, as the engine received them.
        reasoning: the reasoning trace sent (including what Ponder injected).
        content: the answer sent (cut at a stop sequence where one matched).
        stats: the engine's figures, when it reported them.
        finish_reason: why the engine stopped.
        streamed: whether the client asked for a stream.
        events: every event the engine sent for it, in order (reasoning, injected text,
            stats…), for a saver that wants the full record.
    """

    completion_id: str
    created: int
    model: str
    request: GenerationRequest
    reasoning: str
    content: str
    stats: Stats | None
    finish_reason: FinishReason
    streamed: bool
    events: tuple[Event, ...] = ()


OnCompletion = Callable[[CompletedExchange], None]
