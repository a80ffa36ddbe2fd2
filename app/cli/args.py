"""Argument types shared by the ``ponder`` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.engine import LoadParams


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
    """A library model id (``ponder models list``) or a catalog id or name (``ponder models
    catalog``, once downloaded) becomes its file; paths stay as they are.

    Raises:
        UnknownModelError, ModelFileError: an id the library does not know or cannot use.
    """
    path = Path(value).expanduser()
    if path.exists():
        return value
    explicit = path.is_absolute() or value.startswith(("./", "../", ".\\", "~"))
    if explicit or value.lower().endswith(".gguf"):
        return value  # a path to a file that is not there: the loader says so
    from app.library import UnknownModelError, resolve_model

    try:
        return str(resolve_model(value))
    except UnknownModelError:
        path_of_catalog = _catalog_model(value)
        if path_of_catalog is None:
            raise
        return path_of_catalog


def _catalog_model(value: str) -> str | None:
    """The downloaded file of the catalog model with this id or name (None: not a catalog
    model).

    Raises:
        UnknownModelError: a catalog model that is not downloaded yet (with the command that
            downloads it).
    """
    from app.library import UnknownModelError, detect_machine_memory, list_local_models
    from app.library.first_run import catalog_entry_named, downloaded_model

    entry = catalog_entry_named(value)
    if entry is None:
        return None
    quant = entry.recommended_for(detect_machine_memory())
    model = downloaded_model(entry, list_local_models(), quant)
    if model is None:
        raise UnknownModelError(
            f"{entry.name} is not downloaded yet: `ponder models pull {entry.id}` downloads it"
        )
    return str(model.path)


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


def local_load_params(args: argparse.Namespace) -> LoadParams:
    """What to load for ``--model`` (a file, a folder or an id) with ``--ctx``,
    ``--gpu-layers``, ``--threads`` and ``--chat-template``, checked before any worker starts.

    Raises:
        PonderError: a missing or unusable file, a ``--ctx`` it cannot take (2**32 tokens
            would exhaust the memory), a template file that cannot be read.
    """
    from app.engine import LoadParams
    from app.gguf import read_header
    from app.templates import load_template_file
    from backends.mlx import is_mlx_folder

    args.model = resolve_model_arg(args.model)
    if not is_mlx_folder(args.model):
        read_header(args.model)  # a clear error for a missing or non-GGUF file
        check_ctx_arg(args.model, args.ctx)
    template = load_template_file(args.chat_template) if args.chat_template else None
    return LoadParams(
        model_path=args.model,
        n_ctx=args.ctx,
        n_gpu_layers=args.gpu_layers,
        n_threads=args.threads,
        chat_template=template,
        chat_template_name=args.chat_template,
    )
