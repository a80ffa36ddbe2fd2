"""Chat history: conversations, message trees, crash-safe streaming, search, export.

Open with :func:`open_store` (the only place migrations run); everything it hands out is a
frozen dataclass from :mod:`app.store.domain`. See ``Store`` for the operations and
``AnswerRecorder`` for saving an answer while it streams.
"""

from __future__ import annotations

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
    "open_store",
]
