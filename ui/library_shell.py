"""The window's pages besides the chat: the library screen, Compare and the first-run welcome.

:class:`LibraryShell` makes the Chat / Library / Compare switch (a toolbar the window adds),
builds the library screen on first use (so the GUI starts without importing
huggingface_hub), and shows the welcome page when no model is on this machine and none is
loaded. It asks the window for what it needs through :class:`ui.host.Host`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QToolBar, QWidget

from ui.host import Host
from ui.tasks import run_task

if TYPE_CHECKING:
    from app.library.fit import MachineMemory
    from app.library.local import LocalModel
    from ui.compare.view import CompareView
    from ui.library.view import LibraryView
    from ui.library.welcome import WelcomePage


class LibraryShell(QObject):
    """The library, Compare and welcome pages of one main window."""

    def __init__(self, host: Host, parent: QWidget) -> None:
        """``parent``: the window (dialogs open over it)."""
        super().__init__(parent)
        self.host = host
        self.parent_widget = parent
        self.view: LibraryView | None = None
        self.welcome: WelcomePage | None = None
        self.compare: CompareView | None = None
        self._machine: MachineMemory | None = None
        bar = QToolBar("Views", parent)
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
        self.toolbar = bar

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
            from ui.library.view import LibraryView

            self.view = LibraryView(self.parent_widget, machine=self.machine)
            self.view.load_requested.connect(self._on_view_load_requested)
            self.host.add_page(self.view)
        return self.view

    def current(self) -> QWidget | None:
        return self.host.current_page()

    def show_library(self) -> None:
        view = self.library_view()
        self.host.show_page(view)
        self.library_action.setChecked(True)

    def show_chat(self) -> None:
        self.host.show_chat()
        self.chat_action.setChecked(True)

    def show_compare(self) -> CompareView:
        if self.compare is None:
            from ui.compare.view import CompareView

            self.compare = CompareView(self.host, self.machine, self.parent_widget)
            self.host.add_page(self.compare)
        view = self.compare
        self.host.show_page(view)
        self.compare_action.setChecked(True)
        from app.library.local import list_local_models

        run_task(list_local_models, view.set_models, lambda _err: None, context=view)
        return view

    def show_welcome(self) -> WelcomePage:
        if self.welcome is None:
            from ui.library.welcome import WelcomePage

            self.welcome = WelcomePage(self.machine, self.library_view, self.parent_widget)
            self.welcome.load_requested.connect(self._on_view_load_requested)
            self.welcome.add_file_clicked.connect(self._on_welcome_add_file_clicked)
            self.welcome.library_clicked.connect(self.show_library)
            self.host.add_page(self.welcome)
        self.host.show_page(self.welcome)
        for action in (self.chat_action, self.library_action, self.compare_action):
            action.setChecked(False)
        return self.welcome

    # -- first run ---------------------------------------------------------------------------

    def check_first_run(self) -> None:
        """Show the welcome page if no model is on this machine (scanned in the background)."""
        if self.host.has_model():
            return
        from app.library.local import list_local_models

        run_task(list_local_models, self._on_first_scan_done, lambda _err: None, context=self)

    def _on_first_scan_done(self, models: list[LocalModel]) -> None:
        if self.host.has_model() or any(m.usable for m in models):
            return
        if self.host.chat_is_empty():
            self.show_welcome()

    # -- slots -------------------------------------------------------------------------------

    def _on_view_load_requested(self, path: str) -> None:
        self.host.load_model(path)
        self.show_chat()

    def _on_welcome_add_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.parent_widget, "Add a model file", "", "GGUF models (*.gguf)"
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

    def note_model_loaded(self) -> None:
        """A model was loaded: the welcome page, if shown, gives way to the chat."""
        if self.welcome is not None and self.current() is self.welcome:
            self.show_chat()

    def shutdown(self) -> None:
        if self.view is not None:
            self.view.shutdown()
        if self.compare is not None:
            self.compare.shutdown()
