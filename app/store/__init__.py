"""Chat history: conversations, message trees, crash-safe streaming, search, export.

Open with :func:`open_store` (the only place migrations run); everything it hands out is a
frozen dataclass from :mod:`app.store.domain`. See ``Store`` for the operations and
``AnswerRecorder`` for saving an answer while it streams; :func:`start_turn` saves a user
message and starts its answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.lazy import lazy_getattr

if TYPE_CHECKING:
    from app.store.domain import (
        Conversation,
        ConversationSummary,
        GenerationSettings,
        InjectedSpan,
        Message,
        MessageStatus,
        ModelRef,
        Role,
        SearchHit,
    )
    from app.store.errors import (
        DatabaseTooNewError,
        DatabaseUnusableError,
        ImportFormatError,
        NotFoundError,
        StorageWriteError,
    )
    from app.store.factory import open_store
    from app.store.recorder import AnswerRecorder
    from app.store.store import Store
    from app.store.turn import Turn, start_turn

# Names are imported on first use: ``app.store.domain`` (plain dataclasses) must not pull in
# SQLAlchemy, which costs about half a second at start-up (the window opens the store on a
# background thread).
_HOMES = {
    **dict.fromkeys(
        (
            "Conversation",
            "ConversationSummary",
            "GenerationSettings",
            "InjectedSpan",
            "Message",
            "MessageStatus",
            "ModelRef",
            "Role",
            "SearchHit",
        ),
        "app.store.domain",
    ),
    **dict.fromkeys(
        (
            "DatabaseTooNewError",
            "DatabaseUnusableError",
            "ImportFormatError",
            "NotFoundError",
            "StorageWriteError",
        ),
        "app.store.errors",
    ),
    "open_store": "app.store.factory",
    "AnswerRecorder": "app.store.recorder",
    "Store": "app.store.store",
    "Turn": "app.store.turn",
    "start_turn": "app.store.turn",
}


__getattr__ = lazy_getattr(__name__, _HOMES)


__all__ = [
    "AnswerRecorder",
    "Conversation",
    "ConversationSummary",
    "DatabaseTooNewError",
    "DatabaseUnusableError",
    "GenerationSettings",
    "ImportFormatError",
    "InjectedSpan",
    "Message",
    "MessageStatus",
    "ModelRef",
    "NotFoundError",
    "Role",
    "SearchHit",
    "StorageWriteError",
    "Store",
    "Turn",
    "open_store",
    "start_turn",
]
