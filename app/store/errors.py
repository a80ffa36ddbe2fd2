"""Storage errors: each message is fit to show to the user as it is."""

from __future__ import annotations

from pathlib import Path

from app.errors import StorageError


class DatabaseUnusableError(StorageError):
    """The database file is corrupt or is not Ponder's; it was moved aside.

    Attributes:
        moved_to: where the file now is.
    """

    def __init__(self, message: str, moved_to: Path) -> None:
        super().__init__(message)
        self.moved_to = moved_to


class DatabaseTooNewError(StorageError):
    """The database was written by a newer Ponder (an unknown schema version)."""


class StorageWriteError(StorageError):
    """A write failed (disk full, read-only location, locked for too long).

    The database is unchanged by the failed write; what was being saved is still in memory.
    """


class NotFoundError(StorageError):
    """No conversation or message has the given id."""


class ImportFormatError(StorageError):
    """An import file is not a Ponder JSON export, or is damaged."""
