"""A subcommand whose module cannot be imported stops ``ponder`` with a line that names the
module and the import error (it used to vanish from the command list without a word)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]

# Run ``ponder ARGS`` with ``app.cli.models`` failing to import, as when a file it needs is
# missing from an installation.
SHIM = """
import sys
from importlib.abc import MetaPathFinder

class Broken(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "app.cli.models":
            raise ImportError("cannot import name 'gone' from 'app.library' (test shim)")
        return None

sys.meta_path.insert(0, Broken())
from app.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def ponder(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", SHIM, *args], capture_output=True, env=env, timeout=120
    )


@pytest.mark.parametrize("args", [("--help",), ("history", "list"), ("models", "list")])
def test_a_command_that_cannot_be_imported_fails_loudly(args: tuple[str, ...]) -> None:
    result = ponder(*args)
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr == (
        b"ponder: the `models` command cannot start: importing app.cli.models failed: "
        b"ImportError: cannot import name 'gone' from 'app.library' (test shim). "
        b"This installation of Ponder is broken; reinstall it, or report the bug.\n"
    )
