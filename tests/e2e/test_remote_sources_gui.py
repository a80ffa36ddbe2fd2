"""The library's "Remote servers" tab, offscreen, against another Ponder on 127.0.0.1.

"Another Ponder" is Ponder's own OpenAI-compatible server (``create_app`` under uvicorn on a
thread) with the scripted fake engine and an API key. The key is typed into the Add dialog
and kept in a real ``keyring`` backend held in memory; the model the server lists is loaded
through the window's own path, by the real worker process and remote engine.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.engine import LoadParams
from app.remote_keys import SERVICE
from app.remote_sources import load_sources, sources_path
from app.server.app import create_app
from app.server.runner import ServerThread
from app.server.security import LOOPBACK_HOSTS
from app.server.service import EngineService
from app.server.testing import Script, loaded_fake
from tests.support.memory_keyring import MemoryKeyring, memory_keyring, use_keyring
from tests.support.window import window_open
from ui.library.remote import STATUS_COL, RemoteSourcesPanel
from ui.library.view import REMOTE_TAB
from ui.window import MainWindow

KEY = "gui-remote-test-key"
MODEL = "Tiny-R1-Distill"
WAIT = 60_000  # ms: the test machine may be slow and busy


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    fake = loaded_fake(f"/models/{MODEL}.gguf")
    fake.script = Script(answer=lambda req: ("Thinking.", "Paris."))
    service = EngineService(LoadParams(f"/models/{MODEL}.gguf"), client=fake)
    app = create_app(
        service,
        api_key=KEY,
        cors_origins=None,
        queue_limit=8,
        max_body_bytes=256 * 1024,
        trusted_hosts=LOOPBACK_HOSTS,
    )
    try:
        with ServerThread(app) as server:
            yield server.url
    finally:
        service.close()


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    with memory_keyring() as backend:
        yield backend


@pytest.fixture
def window(qtbot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with window_open(qtbot) as w:
        yield w


def remote_tab(w: MainWindow) -> RemoteSourcesPanel:
    w.library.show_library()
    view = w.library.view
    assert view is not None
    view.tabs.setCurrentIndex(REMOTE_TAB)
    assert view.remote.isVisible()
    return view.remote


def add(qtbot, panel: RemoteSourcesPanel, name: str, url: str, key: str = "") -> None:  # type: ignore[no-untyped-def]
    dialog = panel.open_add_dialog()
    qtbot.keyClicks(dialog.name_edit, name)
    qtbot.keyClicks(dialog.url_edit, url)
    if key:
        qtbot.keyClicks(dialog.key_edit, key)
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)


def status_of(panel: RemoteSourcesPanel, name: str) -> str:
    item = panel.source_item(name)
    assert item is not None
    return item.text(STATUS_COL)


def test_add_test_load_and_remove_a_remote_server(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, memory: MemoryKeyring, server_url: str
) -> None:
    panel = remote_tab(window)
    assert panel.tree.topLevelItemCount() == 0 and "No remote servers yet" in panel.status.text()
    # A bad URL keeps the dialog open with the reason.
    dialog = panel.open_add_dialog()
    qtbot.keyClicks(dialog.name_edit, "box")
    qtbot.keyClicks(dialog.url_edit, "127.0.0.1:8080")
    dialog.accept()
    assert dialog.isVisible() and "not an http(s) URL" in dialog.error.text()
    assert dialog.key_edit.echoMode() is dialog.key_edit.EchoMode.Password
    dialog.reject()

    add(qtbot, panel, "box", server_url, KEY)
    # Added, its key in the keyring only, and its connection tested in the background.
    assert memory.passwords == {(SERVICE, "remote:box"): KEY}
    assert KEY not in sources_path().read_text(encoding="utf-8")
    item = panel.source_item("box")
    assert item is not None and item.text(1) == server_url and item.text(2) == "keyring"
    qtbot.waitUntil(lambda: panel.model_ids("box") == [MODEL], timeout=WAIT)
    assert status_of(panel, "box") == "✓ 1 model(s) · ponder"
    assert f"box answers (ponder): 1 model(s): {MODEL}" in panel.status.text()
    assert item.child(0).text(STATUS_COL) == "2048-token context"

    # "Test connection" again, from the button.
    panel.tree.setCurrentItem(item)
    assert panel.test_button.isEnabled() and not panel.load_button.isEnabled()
    qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
    assert status_of(panel, "box") == "testing…"
    qtbot.waitUntil(lambda: status_of(panel, "box").startswith("✓"), timeout=WAIT)

    # Load the model it lists: the same path as a local model, through the worker.
    panel.tree.setCurrentItem(item.child(0))
    assert panel.load_button.isEnabled()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT):
        qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    info = window.bridge.info
    assert info is not None and info.backend == "remote" and info.name == MODEL
    assert info.endpoint == server_url + "/v1"
    assert window.stack.currentWidget() is window.chat_page
    assert MODEL in window.model_bar.name.text()
    assert window.settings.last_model_path == f"remote://box/{MODEL}"
    # Settings → Reload loads the same remote model again (not a file named like it).
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT):
        window.reload_model()
    info = window.bridge.info
    assert info is not None and info.backend == "remote" and info.name == MODEL

    # Remove, after a confirmation that names the keyring.
    panel = remote_tab(window)
    asked: list[str] = []
    panel.confirm = lambda title, text: asked.append(text) is None  # type: ignore[method-assign]
    panel.tree.setCurrentItem(panel.source_item("box"))
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert asked and "Forget box and its API key in the system keyring?" in asked[0]
    assert panel.tree.topLevelItemCount() == 0 and load_sources() == []
    assert memory.passwords == {}
    assert panel.status.text() == "Removed box."


def test_errors_are_shown_clearly(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, memory: MemoryKeyring, server_url: str
) -> None:
    panel = remote_tab(window)
    port = _closed_port()
    add(qtbot, panel, "down", f"http://127.0.0.1:{port}")
    qtbot.waitUntil(lambda: status_of(panel, "down") == "⚠ connection refused", timeout=WAIT)
    text = panel.status.text()
    assert f"⚠ down: cannot reach http://127.0.0.1:{port}/v1: connection refused" in text
    down = panel.source_item("down")
    assert down is not None and "connection refused" in down.toolTip(STATUS_COL)
    assert panel.model_ids("down") == []

    add(qtbot, panel, "nokey", server_url)  # the server wants a key
    qtbot.waitUntil(lambda: status_of(panel, "nokey") == "⚠ 401 Unauthorized", timeout=WAIT)
    assert "refused the request (401 Unauthorized): it needs an API key" in panel.status.text()

    add(qtbot, panel, "wrongkey", server_url, "not-the-key")
    qtbot.waitUntil(lambda: status_of(panel, "wrongkey") == "⚠ 401 Unauthorized", timeout=WAIT)
    assert "(401 Unauthorized): check the API key" in panel.status.text()
    assert "not-the-key" not in json.dumps([s.to_json() for s in load_sources()])


def test_without_a_system_keyring_the_dialog_says_so(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = remote_tab(window)
    with use_keyring(fail.Keyring()):
        dialog = panel.open_add_dialog()
        qtbot.keyClicks(dialog.name_edit, "box")
        qtbot.keyClicks(dialog.url_edit, server_url)
        qtbot.keyClicks(dialog.key_edit, KEY)
        dialog.accept()
        assert dialog.isVisible()
        assert "no system keyring" in dialog.error.text()
        assert "set an environment variable instead" in dialog.error.text()
        assert load_sources() == [] and panel.tree.topLevelItemCount() == 0
        # The variable is the alternative: its name is kept, never its value.
        dialog.key_edit.clear()
        qtbot.keyClicks(dialog.env_edit, "GUI_TEST_KEY")
        monkeypatch.setenv("GUI_TEST_KEY", KEY)
        dialog.accept()
        assert not dialog.isVisible()
        item = panel.source_item("box")
        assert item is not None and item.text(2) == "$GUI_TEST_KEY"
        qtbot.waitUntil(lambda: panel.model_ids("box") == [MODEL], timeout=WAIT)
    assert KEY not in sources_path().read_text(encoding="utf-8")
