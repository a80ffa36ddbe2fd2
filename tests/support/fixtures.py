"""Fixtures every test folder shares; tests/conftest.py registers this module as a plugin.

``window``: the main window (tests/support/window.py); ``hub``: a Hugging Face hub on
127.0.0.1 (tests/support/hub_server.py); ``served``: Ponder's API over the fake engine
(tests/support/served_api.py). A test file that needs more defines a fixture of the same name:
one that asks for ``hub`` and adds its repositories, or a window made with ``window_open()``
and set up (a model loaded, a size) before it is handed to the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.hub_server import HubServer, isolate_hf_client, serving_hub

if TYPE_CHECKING:
    from tests.support.served_api import Served
    from ui.window import MainWindow


@pytest.fixture
def window(qtbot: Any) -> Iterator[MainWindow]:
    """The main window, shown, without the first-run welcome; closed after the test."""
    from tests.support.window import window_open  # Qt only for the tests that ask for it

    with window_open(qtbot) as w:
        yield w


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubServer]:
    """A hub with no repository yet; the client points at it and sees nothing of this machine."""
    isolate_hf_client(monkeypatch, tmp_path)
    with serving_hub(monkeypatch) as server:
        yield server


@pytest.fixture
def served() -> Iterator[Served]:
    """Ponder's API over a fresh fake engine, with the key ``served_api.KEY``."""
    from tests.support.served_api import serve_fake  # the server's imports only where needed

    with serve_fake() as s:
        yield s
