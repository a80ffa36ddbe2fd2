"""``ponder chat --continue ID`` without ``--model``: the model that conversation used."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.errors import ModelFileError, PonderError
from app.store.domain import Conversation, ModelRef, Role
from app.terminal import safe_text

_URL_PREFIXES = ("http://", "https://")


def conversation_model(store: Any, conv: Conversation) -> ModelRef | None:
    """The model of the conversation's latest answer on its current branch, else the one it
    was started with; ``None`` when neither says where the model was."""
    for message in reversed(store.active_path(conv.id, with_reasoning=False)):
        if message.role is Role.ASSISTANT and message.model is not None and message.model.path:
            return message.model  # type: ignore[no-any-return]
    if conv.model is not None and conv.model.path:
        return conv.model
    return None


def use_conversation_model(args: argparse.Namespace, ref: ModelRef | None) -> None:
    """Set ``args.model`` (or ``args.endpoint`` for a server) to the saved model ``ref``.

    Raises:
        PonderError: the conversation does not say which model it used.
        ModelFileError: its model file is no longer there.
    """
    cid = args.continue_id
    if ref is None or not ref.path:
        raise PonderError(
            f"conversation {safe_text(cid)} does not say which model it used; "
            "choose one with --model FILE"
        )
    if ref.path.startswith(_URL_PREFIXES):  # a server's model: its URL and the model's name
        args.endpoint = _source_name(ref.path) or ref.path
        args.model = ref.model_id
        return
    if not Path(ref.path).exists():
        from app.display_names import ref_display_name

        raise ModelFileError(
            f"conversation {safe_text(cid)} used {ref_display_name(ref)}, whose file "
            f"{safe_text(ref.path)} is not there any more; choose a model with --model FILE"
        )
    args.model = ref.path


def _source_name(url: str) -> str | None:
    """The name of a source added with ``ponder models add-remote`` at ``url`` (its API key)."""
    from app.remote_sources import load_sources

    return next((s.name for s in load_sources() if s.url.rstrip("/") == url.rstrip("/")), None)
