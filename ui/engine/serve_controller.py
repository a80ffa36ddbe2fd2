"""The model bar's "Serve API" switch: the loaded model on the OpenAI-compatible API.

:class:`ServeController` starts and stops the window's :class:`~ui.engine.serving.LocalServer`,
shows where it serves, and handles the Settings panel's API options (other devices, the API
key, keeping the API's conversations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QStatusBar

from app.display_names import path_display_name
from app.errors import PonderError
from ui.engine.serving import DEFAULT_PORT, LocalServer

if TYPE_CHECKING:
    from app.server.service import ServiceState
    from app.settings import Settings
    from ui.engine.bridge import EngineBridge
    from ui.engine.model_bar import ModelBar
    from ui.settings_panel import SettingsPanel


class ServeController(QObject):
    """Serve the loaded model over the API, or stop; the switch and notes follow."""

    def __init__(
        self,
        server: LocalServer,
        bridge: EngineBridge,
        *,
        settings: Settings,
        model_bar: ModelBar,
        panel: SettingsPanel,
        status: QStatusBar,
        busy: Callable[[], bool],
        confirm: Callable[[str, str], bool],
        parent: QObject | None = None,
    ) -> None:
        """``busy()``: the chat is answering; ``confirm(title, text)``: ask yes/no."""
        super().__init__(parent)
        self.server = server
        self.bridge = bridge
        self.settings = settings
        self.model_bar = model_bar
        self.panel = panel
        self.status = status
        self.busy = busy
        self.confirm = confirm
        server.save_history = settings.save_api_history
        model_bar.serve_toggled.connect(self.set_serving)
        server.state_changed.connect(self._on_server_state_changed)
        server.save_failed.connect(self._on_server_save_failed)
        panel.save_api.toggled.connect(self._on_save_api_toggled)
        panel.serve_network.toggled.connect(self._on_serve_network_toggled)
        panel.copy_key.clicked.connect(self._on_copy_key_clicked)
        panel.new_key.clicked.connect(self._on_new_key_clicked)

    def set_serving(self, on: bool) -> None:
        """Serve the loaded model over the OpenAI-compatible API (127.0.0.1), or stop."""
        if on == self.server.running:
            self.model_bar.set_serving(self.server.url)
            return
        if self.busy():  # the answer being written would be cut by the switch
            self.model_bar.set_serving(self.server.url)
            self.status.showMessage("Wait for the answer before switching the API.", 5000)
            return
        if not on:
            self.server.stop()
            self.model_bar.set_serving("")
            self.status.showMessage("The API server is off.", 5000)
            return
        port = int(self.settings.extra.get("server_port", DEFAULT_PORT))
        network = self.panel.serve_network.isChecked()
        try:
            try:
                url = self.server.start(port, network=network)
            except PonderError:
                url = self.server.start(0, network=network)  # the usual port is taken
        except PonderError as err:
            self.model_bar.set_serving("")
            self.status.showMessage(f"Could not serve the model: {err}", 10000)
            return
        self.model_bar.set_serving(url)
        info = self.bridge.info
        name = path_display_name(info.path) if info else "the model"
        where = (
            "other devices send the API key: Settings → Copy API key"
            if network
            else "this computer only"
        )
        self.status.showMessage(f"Serving {name} at {url} (OpenAI-compatible; {where}).", 10000)

    def _restart(self, why: str) -> None:
        """Switch a running API off and on again (a new address or key applies)."""
        if not self.server.running:
            return
        if self.busy() or (self.server.service is not None and self.server.service.busy):
            self.status.showMessage(f"{why} when you switch Serve API on again.", 8000)
            return
        self.set_serving(False)
        self.set_serving(True)

    def _on_save_api_toggled(self, on: bool) -> None:
        self.server.save_history = on

    def _on_serve_network_toggled(self, on: bool) -> None:
        self._restart("Applies")

    def _on_copy_key_clicked(self) -> None:
        QApplication.clipboard().setText(self.server.network_key())
        kept = "" if self.server.key_kept else " (no system keyring: it changes on restart)"
        self.status.showMessage(f"API key copied{kept}.", 8000)

    def _on_new_key_clicked(self) -> None:
        if not self.confirm(
            "New API key", "Replace the API key? Devices that use the old one will be refused."
        ):
            return
        self.server.new_network_key()
        QApplication.clipboard().setText(self.server.network_key())
        self.status.showMessage("New API key made and copied.", 8000)
        if self.server.network:
            self._restart("The new key applies")

    def _on_server_save_failed(self, message: str) -> None:
        self.status.showMessage(f"An API conversation was not saved: {message}", 10000)

    def _on_server_state_changed(self, state: ServiceState) -> None:
        if self.server.running:
            self.model_bar.set_server_state(self.server.url, state.busy, state.queued)
