"""The window's "Serve API" switch: the loaded model answers the real ``openai`` client while
the window keeps chatting, both waiting in one line for the one engine."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import openai
from PySide6.QtCore import Qt

from app.store.domain import MessageStatus
from tests.support.window import load_model, window_open
from ui.window import MainWindow

pytestmark = pytest.mark.llama

WAIT = 240_000


@pytest.fixture
def window(qtbot, smollm2: Path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot) as w:
        w.settings.n_ctx = 1024
        w.settings.extra["server_port"] = 0  # any free port: tests may run side by side
        w.settings_panel.max_tokens.setValue(24)
        w.composer.thinking.setCurrentIndex(1)  # thinking off: short answers
        load_model(qtbot, w, smollm2, timeout=WAIT)
        yield w


def test_serve_the_loaded_model_while_chatting(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    bar = window.model_bar
    assert bar.serve_button.isVisible() and not bar.serve_button.isChecked()
    states: list[Any] = []
    window.server.state_changed.connect(states.append)
    qtbot.mouseClick(bar.serve_button, Qt.MouseButton.LeftButton)
    assert window.server.running and bar.serve_button.isChecked()
    url = window.server.url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    address = url.removeprefix("http://").removesuffix("/v1")
    assert bar.status.text().startswith(f"API {address}") and bar.status.toolTip() == url

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=240)
    model = client.models.list().data[0].id
    answers: list[str] = []

    def ask() -> None:
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Name a color."}],
            max_tokens=24,
            temperature=0,
        )
        answers.append(reply.choices[0].message.content or "")

    api = threading.Thread(target=ask)
    api.start()
    # The window sends its own message meanwhile: it waits in the same line.
    window.composer.edit.setPlainText("Say hello.")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not api.is_alive() and not window.busy, timeout=WAIT)
    api.join()
    assert answers and answers[0].strip()
    saved = window.store.active_path(window.conversation_id or 0)
    assert saved[-1].status is MessageStatus.COMPLETE and saved[-1].content.strip()
    assert window.view.widgets[-1].answer.text.strip()
    assert any(s.busy for s in states), "the bar heard that the engine was answering"

    # Off: the API is gone, the window still chats with the same engine.
    qtbot.mouseClick(bar.serve_button, Qt.MouseButton.LeftButton)
    assert not window.server.running and window.bridge.service is None
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    window.composer.edit.setPlainText("Say goodbye.")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert window.view.widgets[-1].answer.text.strip()


def test_changing_the_model_stops_the_server(qtbot, window: MainWindow, smollm2: Path) -> None:  # type: ignore[no-untyped-def]
    window.set_serving(True)
    assert window.server.running
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT):
        window.load_model(str(smollm2))
    assert not window.server.running and not window.model_bar.serve_button.isChecked()


def test_api_conversations_appear_in_the_sidebar_when_asked(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    panel = window.settings_panel
    assert not panel.save_api.isChecked()  # off by default
    window.set_serving(True)
    client = openai.OpenAI(base_url=window.server.url, api_key="unused", max_retries=0, timeout=240)
    question = [{"role": "user", "content": "Name a fruit."}]
    client.chat.completions.create(
        model=window.server.service.model_id, messages=question, max_tokens=8
    )
    assert window.list_model.rowCount() == 0  # not saved: the box was not ticked

    panel.save_api.setChecked(True)  # applies at once, no restart of the server
    with qtbot.waitSignal(window.server.conversation_saved, timeout=WAIT) as saved:
        reply = client.chat.completions.create(
            model=window.server.service.model_id, messages=question, max_tokens=8
        )
    qtbot.waitUntil(lambda: window.list_model.rowCount() == 1, timeout=10_000)
    conversation_id = saved.args[0]
    path = window.store.active_path(conversation_id)
    assert [m.content for m in path] == ["Name a fruit.", reply.choices[0].message.content]
    assert window.store.get_conversation(conversation_id).title == "Name a fruit. · API"

    # Open on screen, the conversation shows the API's next turn when it is saved.
    window.open_conversation(conversation_id)
    qtbot.waitUntil(lambda: len(window.view.widgets) == 2, timeout=10_000)
    follow_up = [
        *question,
        {"role": "assistant", "content": reply.choices[0].message.content},
        {"role": "user", "content": "Another one?"},
    ]
    client.chat.completions.create(
        model=window.server.service.model_id, messages=follow_up, max_tokens=8
    )
    qtbot.waitUntil(lambda: len(window.view.widgets) == 4, timeout=WAIT)
    assert window.conversation_id == conversation_id and window.list_model.rowCount() == 1
    window.set_serving(False)
    window.settings_panel.store_into(window.settings)
    assert window.settings.save_api_history


def test_other_devices_need_the_key(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    from app.remote_keys import SERVE_USER, SERVICE
    from tests.support.memory_keyring import memory_keyring

    with memory_keyring() as keyring:
        panel = window.settings_panel
        assert not panel.copy_key.isEnabled()  # off by default: this computer only
        panel.serve_network.setChecked(True)
        window.set_serving(True)
        server = window.server.server
        assert server is not None and server.host == "0.0.0.0" and window.server.network
        assert window.server.url.endswith(f":{server.port}/v1")
        key = keyring.passwords[(SERVICE, SERVE_USER)]
        local = f"http://127.0.0.1:{server.port}/v1"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=local, api_key="wrong", max_retries=0).models.list()
        client = openai.OpenAI(base_url=local, api_key=key, max_retries=0, timeout=240)
        reply = client.chat.completions.create(
            model=window.server.service.model_id,
            messages=[{"role": "user", "content": "Hi"}],
            max_tokens=4,
        )
        assert reply.choices[0].message.content is not None

        panel.copy_key.click()  # the settings dock is hidden here: no mouse on it
        from PySide6.QtWidgets import QApplication

        assert QApplication.clipboard().text() == key

        # A new key: the server restarts with it, the old one is refused.
        window.confirm = lambda _title, _text: True  # type: ignore[method-assign]
        panel.new_key.click()
        fresh = keyring.passwords[(SERVICE, SERVE_USER)]
        assert fresh != key and QApplication.clipboard().text() == fresh
        assert window.server.running and window.server.network
        port = window.server.server.port  # type: ignore[union-attr]
        again = f"http://127.0.0.1:{port}/v1"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=again, api_key=key, max_retries=0).models.list()
        assert openai.OpenAI(base_url=again, api_key=fresh, max_retries=0).models.list().data

        # Back to this computer only: no key needed, other addresses not served.
        panel.serve_network.setChecked(False)
        assert window.server.running and not window.server.network
        assert window.server.server.host == "127.0.0.1"  # type: ignore[union-attr]
        window.set_serving(False)
