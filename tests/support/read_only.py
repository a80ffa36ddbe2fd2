"""Make a database file and its folder unwritable, also when the tests run as root."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _chattr(flag: str, *paths: Path) -> bool:
    tool = shutil.which("chattr")
    if tool is None:
        return False
    done = subprocess.run([tool, flag, *map(str, paths)], capture_output=True, check=False)
    return done.returncode == 0


@contextlib.contextmanager
def read_only(db: Path) -> Iterator[None]:
    """``db`` and its folder read-only: by mode bits, or (root ignores those) immutable."""
    folder = db.parent
    if os.geteuid() != 0:
        db.chmod(0o444)
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
            db.chmod(0o644)
        return
    if not _chattr("+i", db, folder):
        pytest.skip("running as root, and files cannot be made immutable here")
    try:
        yield
    finally:
        _chattr("-i", folder, db)
