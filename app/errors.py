"""Ponder's one small error hierarchy.

Anything a user can cause with bad input (a missing file, a broken template, a model that
does not fit) is a :class:`PonderError` with a message fit to show as it is. Anything else is a
bug and goes to the crash handler.
"""

from __future__ import annotations


class PonderError(Exception):
    """A problem the user can understand and act on; ``str(err)`` is the message."""


class ModelFileError(PonderError):
    """The model file is missing, not GGUF, truncated or otherwise unusable."""


class TemplateError(PonderError):
    """A chat template failed to parse or render."""


class EngineError(PonderError):
    """The engine failed to load a model or to generate."""


class EngineCrashedError(EngineError):
    """The engine worker process died (segfault, abort, out of memory)."""


class ContextOverflowError(PonderError):
    """Even after trimming history, the prompt cannot fit in the context window."""


class ContextSizeError(PonderError):
    """The context size asked for is more than the model can use or this machine can hold."""


class StorageError(PonderError):
    """The history database could not be read or written."""
