"""Where Ponder keeps its data.

``PONDER_HOME`` moves everything (database, models, settings, caches) under one folder;
otherwise the platform's conventional folders are used (platformdirs).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Ponder"


def home() -> Path | None:
    """The folder named by ``PONDER_HOME``, if set."""
    value = os.environ.get("PONDER_HOME")
    return Path(value).expanduser().resolve() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Folder for the database and other durable data."""
    root = home()
    return _ensure(root / "data" if root else Path(platformdirs.user_data_dir(APP_NAME)))


def models_dir() -> Path:
    """Folder for models Ponder downloads itself."""
    root = home()
    return _ensure(
        root / "models" if root else Path(platformdirs.user_data_dir(APP_NAME)) / "models"
    )


def config_dir() -> Path:
    """Folder for settings."""
    root = home()
    return _ensure(root / "config" if root else Path(platformdirs.user_config_dir(APP_NAME)))


def cache_dir() -> Path:
    """Folder for caches that may be deleted at any time."""
    root = home()
    return _ensure(root / "cache" if root else Path(platformdirs.user_cache_dir(APP_NAME)))


def database_path() -> Path:
    """The SQLite file holding conversation history."""
    return data_dir() / "ponder.sqlite3"
