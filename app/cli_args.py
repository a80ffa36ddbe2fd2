"""Argument types shared by the ``ponder`` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, not {text}")
    return value


def resolve_model_arg(value: str) -> str:
    """A library model id (``ponder models list``) becomes its file; paths stay as they are.

    Raises:
        UnknownModelError, ModelFileError: an id the library does not know or cannot use.
    """
    path = Path(value).expanduser()
    if path.exists():
        return value
    explicit = path.is_absolute() or value.startswith(("./", "../", ".\\", "~"))
    if explicit or value.lower().endswith(".gguf"):
        return value  # a path to a file that is not there: the loader says so
    from app.library import resolve_model

    return str(resolve_model(value))


def check_ctx_arg(model: str, ctx: int | None) -> None:
    """``--ctx`` against what the GGUF file ``model`` and this machine allow.

    Raises:
        ContextSizeError: too small, beyond the model's trained context (with its rope
            scaling), or beyond what fits in memory (the CLIs exit with 2, a usage error).
        ModelFileError: the file is not a usable GGUF.
    """
    if ctx is None:
        return
    from app.gguf import model_bytes, read_header
    from app.library.fit import bound_context

    bound_context(ctx, read_header(model), model_bytes(model))
