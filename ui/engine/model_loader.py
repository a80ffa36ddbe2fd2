"""Opening, loading and unloading the chat's model; the model bar shows how it goes.

:class:`ModelLoader` turns a model file or a ``remote://SOURCE/MODEL`` into load parameters
(the settings, a chat template override, a remote source's key) and hands them to the
window's :class:`~ui.engine.bridge.EngineBridge`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QStatusBar, QWidget

from app.engine import LoadParams
from ui.tasks import run_task

if TYPE_CHECKING:
    from app.engine import ModelInfo
    from app.settings import Settings
    from ui.engine.bridge import EngineBridge
    from ui.engine.model_bar import ModelBar
    from ui.settings_panel import SettingsPanel

#: How often the model bar's memory figure is read.
MEMORY_POLL_MS = 2000


class ModelLoader(QObject):
    """Loads the chat's model (the newest request wins) and keeps the model bar current."""

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        settings: Settings,
        model_bar: ModelBar,
        panel: SettingsPanel,
        status: QStatusBar,
        before_change: Callable[[], None],
        parent: QWidget,
    ) -> None:
        """``before_change()`` runs before another model is loaded or this one unloaded (the
        API stops serving it); ``parent`` is the window (file dialogs open over it)."""
        super().__init__(parent)
        self.window = parent
        self.bridge = bridge
        self.settings = settings
        self.model_bar = model_bar
        self.panel = panel
        self.status = status
        self.before_change = before_change
        self._loading_ref: str | None = None  # what load_model was last given
        self._loaded_ref: str | None = None  # ... for the model now loaded
        self._load_request = 0
        bridge.load_progressed.connect(model_bar.set_progress)
        bridge.model_loaded.connect(self._on_bridge_model_loaded)
        bridge.load_failed.connect(self._on_bridge_load_failed)
        model_bar.open_clicked.connect(self.choose_model)
        model_bar.unload_clicked.connect(self._on_model_bar_unload_clicked)
        panel.reload_clicked.connect(self.reload_model)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(MEMORY_POLL_MS)
        self._memory_timer.timeout.connect(self._on_memory_timer_timeout)
        self._memory_timer.start()

    def choose_model(self) -> None:
        """Ask for a model file and load it."""
        last = self.settings.last_model_path
        start = str(Path(last).parent) if last else ""
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open a model", start, "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.load_model(path)

    def load_params(self, path: str) -> LoadParams:
        """How to load ``path``: the settings and template override, or a remote source's."""
        from app.remote_sources import remote_load_params

        remote = remote_load_params(path)  # remote://SOURCE/MODEL from the library
        if remote is not None:
            return remote
        s = self.settings
        template = None
        if s.chat_template_path:
            try:
                template = Path(s.chat_template_path).read_text(encoding="utf-8")
            except OSError:
                template = None
        return LoadParams(
            path,
            n_ctx=s.n_ctx,
            n_gpu_layers=s.n_gpu_layers,
            n_threads=s.n_threads,
            chat_template=template,
            chat_template_name=s.chat_template_path if template is not None else None,
        )

    def load_model(self, path: str, *, chat_template: str | None = None) -> None:
        """Load a model file or a ``remote://SOURCE/MODEL``; progress shows in the model bar.

        Its parameters are put together on a pool thread: that reads the template override
        file and, for a remote model, the API key from the system keyring (which may ask the
        user to unlock it).
        """
        self.before_change()  # the API serves the loaded model: not across a change
        self.model_bar.set_loading(path)
        self.settings.last_model_path = path
        self._loading_ref = path
        self._load_request += 1
        request = self._load_request

        def params() -> LoadParams:
            resolved = self.load_params(path)
            if chat_template is not None:
                resolved = dataclasses.replace(
                    resolved, chat_template=chat_template, chat_template_name=None
                )
            return resolved

        def ready(resolved: LoadParams) -> None:
            if request == self._load_request:
                self.bridge.load(resolved)

        def failed(err: BaseException) -> None:
            if request == self._load_request:
                self._on_bridge_load_failed(str(err))

        run_task(params, ready, failed, context=self)

    def reload_last_model(self) -> None:
        """At start: open the last model, if the setting says so; a missing file is a note."""
        path = self.settings.last_model_path
        if not path or not self.settings.reload_last_model:
            return
        if not path.startswith("remote://") and not Path(path).is_file():
            self.status.showMessage(f"The last model is gone: {path}", 15000)
            return
        self.load_model(path)

    def reload_model(self) -> None:
        """Load the model again with the Settings panel's values."""
        self.panel.store_into(self.settings)
        if self.bridge.info is not None:
            # What was asked for: a file, or a remote://SOURCE/MODEL (info.path is its name).
            self.load_model(self._loaded_ref or self.bridge.info.path)

    def _on_bridge_model_loaded(self, info: ModelInfo) -> None:
        self._loaded_ref = self._loading_ref
        self.model_bar.set_loaded(info)

    def _on_bridge_load_failed(self, message: str) -> None:
        self.model_bar.set_failed(message)
        self.status.showMessage(message, 10000)

    def _on_model_bar_unload_clicked(self) -> None:
        self.before_change()
        self.bridge.unload()
        self.model_bar.set_unloaded()

    def _on_memory_timer_timeout(self) -> None:
        pid = self.bridge.client.pid
        if pid is None or self.bridge.info is None:
            return
        try:
            import psutil

            self.model_bar.set_memory(psutil.Process(pid).memory_info().rss)
        except Exception:
            self.model_bar.set_memory(None)
