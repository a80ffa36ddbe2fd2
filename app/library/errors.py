"""Errors of the model library: each one's message is fit to show to the user as it is."""

from __future__ import annotations

from app.errors import PonderError


class LibraryError(PonderError):
    """A problem with the model library (local models, the hub, downloads)."""


class UnknownModelError(LibraryError):
    """No local model has this id, and it is not the path of a model file."""


class UnsafeFileNameError(LibraryError):
    """A file name from the hub tries to escape its folder (``..``, absolute, backslashes)."""


class HubError(LibraryError):
    """The Hugging Face hub refused a request or answered something unusable."""


class HubUnreachableError(HubError):
    """The hub could not be reached (no network, DNS, timeout)."""


class HubOfflineError(HubError):
    """``HF_HUB_OFFLINE`` is set: nothing is fetched from the hub."""


class HubAuthError(HubError):
    """401/403: the repository is private or gated, or the token lacks access."""


class HubNotFoundError(HubError):
    """404: no such repository, revision or file."""


class DownloadError(LibraryError):
    """A download failed; its partial file is kept unless said otherwise."""


class ChecksumError(DownloadError):
    """A downloaded file does not match the hub's sha256; the file was deleted."""


class DiskSpaceError(DownloadError):
    """Not enough free disk space for a download."""
