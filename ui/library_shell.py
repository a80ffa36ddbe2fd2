"""The window's pages besides the chat: the library screen and the first-run welcome.

:class:`LibraryShell` adds a Chat / Library switch to the main window's toolbar, builds the
library screen on first use (so the GUI starts without importing huggingface_hub), and shows
the welcome page when no model is on this machine and none is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QToolBar, QWidget

from ui.library_tasks import run_task

if TYPE_CHECKING:
    from app.engine import ModelInfo
    from app.library.fit import MachineMemory
    from app.library.local import LocalModel
    from ui.library_compare import CompareView
    from ui.library_view import LibraryView
    from ui.welcome import WelcomePage
    from ui.window import MainWindow


class LibraryShell(QObject):
    """The library and welcome pages of one main window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.view: LibraryView | None = None
        self.welcome: WelcomePage | None = None
        self.compare: CompareView | None = None
        self._machine: MachineMemory | None = None
        bar = QToolBar("Views", window)
        bar.setObjectName("viewsToolbar")
        bar.setMovable(False)
        group = QActionGroup(bar)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)  # welcome: none
        self.chat_action = QAction("Chat", bar)
        self.library_action = QAction("Library", bar)
        self.compare_action = QAction("Compare", bar)
        for action in (self.chat_action, self.library_action, self.compare_action):
            action.setCheckable(True)
            group.addAction(action)
            bar.addAction(action)
        self.chat_action.setChecked(True)
        self.library_action.setToolTip("Models: catalog, Hugging Face, this machine (Ctrl+Shift+L)")
        self.chat_action.triggered.connect(self.show_chat)
        self.library_action.triggered.connect(self.show_library)
        self.compare_action.setToolTip("Ask two models the same question side by side")
        self.compare_action.triggered.connect(self.show_compare)
        window.addToolBar(bar)
        self.toolbar = bar
        window.bridge.model_loaded.connect(self._on_bridge_model_loaded)

    @property
    def machine(self) -> MachineMemory:
        if self._machine is None:
            from app.library.fit import detect_machine_memory

            self._machine = detect_machine_memory()
        return self._machine

    # -- pages -------------------------------------------------------------------------------

    def library_view(self) -> LibraryView:
        """The library screen (built on first use)."""
        if self.view is None:
            from ui.library_view import LibraryView

            self.view = LibraryView(self.window.stack, machine=self.machine)
            self.view.load_requested.connect(self._on_view_load_requested)
            self.window.stack.addWidget(self.view)
        return self.view

    def current(self) -> QWidget | None:
        return self.window.stack.currentWidget()

    def show_library(self) -> None:
        view = self.library_view()
        self.window.stack.setCurrentWidget(view)
        self.library_action.setChecked(True)

    def show_chat(self) -> None:
        self.window.stack.setCurrentWidget(self.window.chat_page)
        self.chat_action.setChecked(True)
        self.window.composer.edit.setFocus()

    def show_compare(self) -> CompareView:
        if self.compare is None:
            from ui.library_compare import CompareView

            self.compare = CompareView(self.window, self.machine)
            self.window.stack.addWidget(self.compare)
        view = self.compare
        self.window.stack.setCurrentWidget(view)
        self.compare_action.setChecked(True)
        from app.library.local import list_local_models

        run_task(list_local_models, view.set_models, lambda _err: None, context=view)
        return view

    def show_welcome(self) -> WelcomePage:
        if self.welcome is None:
            from ui.welcome import WelcomePage

            self.welcome = WelcomePage(self.machine, self.library_view, self.window.stack)
            self.welcome.load_requested.connect(self._on_view_load_requested)
            self.welcome.add_file_clicked.connect(self._on_welcome_add_file_clicked)
            self.welcome.library_clicked.connect(self.show_library)
            self.window.stack.addWidget(self.welcome)
        self.window.stack.setCurrentWidget(self.welcome)
        for action in (self.chat_action, self.library_action, self.compare_action):
            action.setChecked(False)
        return self.welcome

    # -- first run ---------------------------------------------------------------------------

    def _has_model(self) -> bool:
        last = self.window.settings.last_model_path
        return self.window.bridge.info is not None or bool(last and Path(last).exists())

    def check_first_run(self) -> None:
        """Show the welcome page if no model is on this machine (scanned in the background)."""
        if self._has_model():
            return
        from app.library.local import list_local_models

        run_task(list_local_models, self._on_first_scan_done, lambda _err: None, context=self)

    def _on_first_scan_done(self, models: list[LocalModel]) -> None:
        if self._has_model() or any(m.usable for m in models):
            return
        if self.current() is self.window.chat_page and not self.window.view.widgets:
            self.show_welcome()

    # -- slots -------------------------------------------------------------------------------

    def _on_view_load_requested(self, path: str) -> None:
        self.window.load_model(path)
        self.show_chat()

    def _on_welcome_add_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Add a model file", "", "GGUF models (*.gguf)"
        )
        if not path:
            return
        from app.errors import PonderError
        from app.library.local import add_user_path

        try:
            add_user_path(path)
        except PonderError as err:
            if self.welcome is not None:
                self.welcome.status.setText(f"⚠ {err}")
            return
        if self.view is not None:
            self.view.refresh_local()
        self._on_view_load_requested(path)

    def _on_bridge_model_loaded(self, info: ModelInfo) -> None:
        if self.welcome is not None and self.current() is self.welcome:
            self.show_chat()

    def shutdown(self) -> None:
        if self.view is not None:
            self.view.shutdown()
        if self.compare is not None:
            self.compare.shutdown()
