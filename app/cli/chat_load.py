"""``ponder chat``: what to load (``--model`` or ``--endpoint``), and loading it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.args import local_load_params
from app.errors import PonderError
from app.events import EventKind


def _remote_params(args: argparse.Namespace) -> Any:
    from app.engine import LoadParams
    from app.remote_sources import find_source

    if args.chat_template:
        raise PonderError("--chat-template applies to local models; the server uses its own")
    source = find_source(args.endpoint)  # a name added with `ponder models add-remote`
    return LoadParams(
        model_path=args.model or "",
        endpoint=source.url if source else args.endpoint,
        api_key=args.api_key or (source.api_key() if source else None),
    )


def load_params(args: argparse.Namespace) -> Any:
    """What to load for ``args`` (``--model`` or ``--endpoint``), checked before any worker.

    Raises:
        PonderError: no model, a missing or unusable file, a ``--ctx`` it cannot take.
    """
    if args.endpoint:
        return _remote_params(args)
    if not args.model:
        raise PonderError("choose a model: --model FILE (or --endpoint URL for a server)")
    return local_load_params(args)


def load_model(client: Any, params: Any, json_mode: bool) -> None:
    """Load ``params`` in the worker, with a progress line on a terminal.

    Raises:
        PonderError: the worker could not load it.
    """
    label = params.model_path or params.endpoint
    show_progress = not json_mode and sys.stderr.isatty()
    for event in client.load(params):
        if event.kind is EventKind.LOAD_PROGRESS and show_progress:
            frac = event.fraction
            sys.stderr.write(f"\rloading {label} {frac * 100:3.0f}%")
            sys.stderr.flush()
        elif event.kind is EventKind.ERROR:
            if show_progress:
                sys.stderr.write("\n")
            raise PonderError(event.text)
    if show_progress:
        sys.stderr.write("\r\x1b[K")
