"""``ponder chat`` without ``--model``: which model to chat with, or how to get a first one.

(``--continue ID`` without ``--model`` uses the conversation's model: :mod:`app.cli.chat_continue`.)
- A library with one usable model: that one; with several: the one of the latest conversation.
- An empty library on a terminal: the model recommended for this machine (the welcome page's,
  :func:`app.library.first_run.first_model`), its download size and licence, "Download it
  now? [Y/n]", the download with a progress line (as ``ponder models pull``), then the chat.
- Otherwise (not a terminal, the hub unreachable, the offer declined): one message with the
  exact next commands, and exit code 2 (:data:`NO_MODEL_EXIT`, a usage error as argparse's).

Names from the catalogue, the hub or the history are untrusted: printed through
:func:`app.terminal.safe_text`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from app.errors import PonderError
from app.terminal import safe_text

if TYPE_CHECKING:
    from app.library.catalog import CatalogEntry
    from app.library.local import LocalModel

PROG = "ponder chat"
NO_MODEL_EXIT = 2


class NoModelError(PonderError):
    """No model to chat with; the message says what to run next."""


def model_for_chat() -> str | int:
    """The model path for ``ponder chat`` given no ``--model``, or the exit code to end with.

    Every failure prints its message on stderr first (exit :data:`NO_MODEL_EXIT`; 1 or 130
    for a failed or interrupted download).
    """
    try:
        from app.library.local import list_local_models

        models = [m for m in list_local_models() if m.usable]
        if models:
            return _usual_model(models)
        return _first_model()
    except PonderError as err:
        print(f"{PROG}: {safe_text(str(err))}", file=sys.stderr)
        return NO_MODEL_EXIT


def _usual_model(models: list[LocalModel]) -> str:
    """The only model, or the one of the most recent conversation that is still here."""
    chosen = models[0] if len(models) == 1 else _last_used(models)
    if chosen is None:
        shown = ", ".join(m.id for m in models[:5])
        raise NoModelError(
            f"{len(models)} models in the library ({shown}); choose one: {PROG} --model ID "
            "(`ponder models list` shows the ids)"
        )
    print(f"model: {safe_text(chosen.name)} (--model ID chooses another)", file=sys.stderr)
    return str(chosen.path)


def _last_used(models: list[LocalModel]) -> LocalModel | None:
    from app.store import open_store

    by_path = {str(m.path): m for m in models}
    try:
        store = open_store(read_only_ok=True)
    except PonderError:
        return None  # no usable history: the user chooses
    try:
        for summary in store.list_conversations(limit=50, include_archived=True):
            model = store.get_conversation(summary.id).model
            if model is not None and model.path in by_path:
                return by_path[model.path]
    finally:
        store.close()
    return None


def _next_commands(entry: CatalogEntry) -> str:
    return (
        f"  ponder models pull {entry.id}\n"
        f"  ponder chat --model {entry.id}\n"
        "or, with a GGUF model file you already have:\n"
        "  ponder chat --model FILE"
    )


def _first_model() -> str | int:
    from app.library.errors import LibraryError
    from app.library.first_run import first_model, lookup_variant
    from app.library.fit import detect_machine_memory, gib

    machine = detect_machine_memory()
    entry, quant = first_model(machine)
    name = safe_text(entry.name)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise NoModelError(
            f"no model on this computer yet. Download the one recommended for this machine, "
            f"{name} ({quant}), then chat with it:\n{_next_commands(entry)}"
        )
    print(f"No model on this computer yet. Looking up {name} on Hugging Face…", file=sys.stderr)
    try:
        details, variant = lookup_variant(entry, quant)
    except LibraryError as err:  # the hub unreachable, offline, or the file moved
        raise NoModelError(
            f"cannot download a model now: {err}\nWhen Hugging Face can be reached:\n"
            f"{_next_commands(entry)}"
        ) from None
    from app.cli.models import download, size_text

    print(
        f"\nFor this machine ({gib(machine.total_ram)} of memory) Ponder suggests:\n"
        f"  {name} ({safe_text(variant.quant or variant.name)}), "
        f"a {size_text(variant.size)} download from {safe_text(details.repo_id)}\n"
        f"  {safe_text(entry.lineage)}\n"
        f"  Licence: {safe_text(entry.license_name)}. {safe_text(entry.obligations)}\n",
        file=sys.stderr,
    )
    if not _yes("Download it now? [Y/n] "):
        raise NoModelError(f"nothing downloaded. When you want it:\n{_next_commands(entry)}")
    code, info = download(details, variant, prog=PROG)
    if info is None:
        return code
    print(f"Downloaded {name} to {info.dest}\n", file=sys.stderr)
    return str(info.dest)


def _yes(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    if not answer:  # Ctrl+D or Ctrl+C: no
        sys.stderr.write("\n")
        return False
    return answer.strip().lower() in ("", "y", "yes")
