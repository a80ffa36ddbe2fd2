"""The main window: builds the sidebar, model bar, conversation, composer and settings, and
wires the objects that do the work.

- :class:`~ui.history_jobs.HistoryJobs`: the history database, and the thread its jobs run on;
- :class:`~ui.chat.sidebar.Sidebar`: New chat, search, the conversation list and its menu;
- :class:`~ui.chat.controller.ChatController`: sending, the answer being streamed
  (:class:`~ui.answers.stream.AnswerStream`), regenerating, editing, versions;
- :class:`~ui.engine.model_loader.ModelLoader`: opening and loading the chat's model;
- :class:`~ui.engine.serve_controller.ServeController`: the local API server switch;
- :class:`~ui.library_shell.LibraryShell`: the library, Compare and welcome pages, which
  reach the window only through :class:`ui.host.Host` (:class:`~ui.window_host.WindowHost`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QByteArray, QPoint, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.settings import Settings, load_settings, save_settings
from ui.chat.composer import Composer
from ui.chat.controller import EMPTY_NO_MODEL, EMPTY_READY, EMPTY_READY_PLAIN, ChatController
from ui.chat.conversation_view import ConversationView
from ui.chat.export_dialog import Exporter
from ui.chat.sidebar import SIDEBAR_MIN_WIDTH, Sidebar
from ui.dialogs import ask_yes_no
from ui.engine.bridge import EngineBridge
from ui.engine.model_bar import ModelBar
from ui.engine.model_loader import ModelLoader
from ui.engine.serve_controller import ServeController
from ui.engine.serving import LocalServer
from ui.history_jobs import HistoryJobs
from ui.library_shell import LibraryShell
from ui.settings_panel import SettingsPanel
from ui.window_host import WindowHost

if TYPE_CHECKING:
    from app.engine import ModelInfo
    from app.store.store import Store

__all__ = ["EMPTY_NO_MODEL", "EMPTY_READY", "EMPTY_READY_PLAIN", "SIDEBAR_MIN_WIDTH", "MainWindow"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class MainWindow(QMainWindow):
    """The window a person lives in."""

    def __init__(
        self,
        *,
        bridge: EngineBridge | None = None,
        store: Store | None = None,
        first_run: bool = True,
    ) -> None:
        """Without ``store``, the history database opens on a thread while the window paints
        (see :mod:`ui.store_opener`)."""
        super().__init__()
        self.setWindowTitle("Ponder")
        self.resize(1200, 800)
        self.settings: Settings = load_settings()
        self.bridge = bridge or EngineBridge(parent=self)
        self.server = LocalServer(self.bridge, self)
        self.history = HistoryJobs(store, self)
        self.exporter = Exporter(self.history.store_for_thread, self)
        status = self.statusBar()
        self.sidebar = Sidebar(
            self.history, self.exporter, status, lambda: self.chat.conversation_id, self
        )
        self.list_model, self.search_model = self.sidebar.list_model, self.sidebar.search_model
        self.list_view, self.search_box = self.sidebar.list_view, self.sidebar.search_box
        self.model_bar = ModelBar(self)
        self.view = ConversationView(self)
        self.composer = Composer(self)
        self.chat_page = self._build_chat_page()
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.chat_page)
        self.setCentralWidget(self.stack)
        self.settings_panel = SettingsPanel(self)
        self.settings_dock = QDockWidget("Settings", self)
        self.settings_dock.setObjectName("settingsDock")
        self.settings_dock.setWidget(self.settings_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.settings_dock)
        self.settings_dock.hide()
        self.settings_panel.load_from(self.settings)
        self.composer.set_thinking(self.settings.thinking, self.settings.budget)

        confirm = self._ask
        self.chat = ChatController(
            self.bridge,
            self.history,
            settings=self.settings,
            view=self.view,
            composer=self.composer,
            panel=self.settings_panel,
            model_bar=self.model_bar,
            sidebar=self.sidebar,
            status=status,
            confirm=confirm,
            parent=self,
        )
        self.models = ModelLoader(
            self.bridge,
            settings=self.settings,
            model_bar=self.model_bar,
            panel=self.settings_panel,
            status=status,
            before_change=lambda: self.set_serving(False),
            parent=self,
        )
        self.serve = ServeController(
            self.server,
            self.bridge,
            settings=self.settings,
            model_bar=self.model_bar,
            panel=self.settings_panel,
            status=status,
            busy=lambda: self.busy,
            confirm=confirm,
            parent=self,
        )
        host = WindowHost(
            settings=self.settings,
            bridge=self.bridge,
            history=self.history,
            sidebar=self.sidebar,
            chat=self.chat,
            models=self.models,
            stack=self.stack,
            chat_page=self.chat_page,
        )
        self.library = LibraryShell(host, self)
        self.addToolBar(self.library.toolbar)
        self._connect()
        self._shortcuts()
        if store is not None:
            self.refresh_conversations()
        self.new_chat()
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if first_run:
            self.library.check_first_run()

    # -- construction ---------------------------------------------------------------------------

    def _build_chat_page(self) -> QSplitter:
        center = QWidget(self)
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.model_bar)
        column.addWidget(self.view, 1)
        column.addWidget(self.composer)
        splitter = QSplitter(self)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(center)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)  # opening Settings must not squeeze the sidebar away
        splitter.setSizes([260, 940])
        return splitter

    def _connect(self) -> None:
        status = self.statusBar()
        self.bridge.model_loaded.connect(self._on_bridge_model_loaded)
        self.history.listed.connect(self.sidebar.show_conversations)
        self.history.opened.connect(self.refresh_conversations)
        self.history.history_off.connect(self._show_history_off)
        self.history.recovered.connect(self._on_history_recovered)
        self.history.unavailable.connect(self._on_history_unavailable)
        self.history.failed.connect(lambda note: status.showMessage(note, 8000))
        self.sidebar.new_button.clicked.connect(self.new_chat)
        self.sidebar.conversation_clicked.connect(self.open_conversation)
        self.sidebar.deleting.connect(self._on_sidebar_deleting)
        self.model_bar.library_clicked.connect(self.library.show_library)
        self.view.side_by_side_clicked.connect(self.show_side_by_side)
        self.server.conversation_saved.connect(self._on_server_conversation_saved)

    def _shortcuts(self) -> None:
        def add(seq: QKeySequence | str, slot: Callable[[], object], name: str) -> None:
            action = QAction(name, self)
            action.setShortcut(QKeySequence(seq))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)

        add(QKeySequence(QKeySequence.StandardKey.New), self.new_chat, "New chat")
        add("Ctrl+K", self.sidebar.focus_search, "Search")
        add("Ctrl+L", self.models.choose_model, "Open model")
        add("Ctrl+Shift+L", lambda: self.library.show_library(), "Library…")
        add("Ctrl+R", self.regenerate_last, "Regenerate")
        add("Ctrl+Return", self.chat.answer_now, "Answer now")
        add("Ctrl+Shift+E", lambda: self.export_conversation(), "Export conversation…")
        add("Ctrl+Shift+D", self.sidebar.export_dataset, "Export dataset…")
        add(
            "Ctrl+,",
            lambda: self.settings_dock.setVisible(not self.settings_dock.isVisible()),
            "Settings",
        )
        stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        stop.activated.connect(self._on_escape)

    # -- history --------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The history database (waits for it while it is still opening).

        Raises:
            StorageError: there is no history this run.
        """
        return self.history.store

    def refresh_conversations(self) -> None:
        """Read the sidebar's list again (on the database thread; the newest read wins)."""
        self.sidebar.refresh()

    def _show_history_off(self, reason: str) -> None:
        """A lasting note in the status bar: this run's chats are not kept, and why."""
        note = QLabel(f"History is off for this run: {reason}", self)
        note.setObjectName("history_off")
        note.setWordWrap(True)
        self.statusBar().addPermanentWidget(note, 1)
        note.show()

    def _on_history_recovered(self, text: str) -> None:
        QMessageBox.warning(self, "History database", text)

    def _on_history_unavailable(self, reason: str) -> None:
        self._show_history_off(reason)
        QMessageBox.warning(
            self,
            "No history",
            f"{reason}\n\nPonder cannot keep conversations in this run, so messages cannot be "
            "sent until it can; the Library works as usual.",
        )

    def _on_sidebar_deleting(self, cid: int) -> None:
        if self.chat.conversation_id == cid:
            self.new_chat()

    def _on_server_conversation_saved(self, conversation_id: int) -> None:
        self.refresh_conversations()
        if conversation_id == self.conversation_id and not self.busy:
            self.open_conversation(conversation_id)  # on screen: show the API's new turn

    # -- the chat -------------------------------------------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The conversation on screen (``None``: a new chat)."""
        return self.chat.conversation_id

    @property
    def busy(self) -> bool:
        """An answer is streaming, or being set up."""
        return self.chat.busy

    def new_chat(self) -> None:
        self.chat.new_chat()

    def open_conversation(self, conversation_id: int) -> None:
        self.chat.open_conversation(conversation_id)

    def send(self, text: str) -> None:
        self.chat.send(text)

    def regenerate_last(self) -> None:
        self.chat.regenerate_last()

    def show_sibling(self, message_id: int, delta: int) -> None:
        self.chat.show_sibling(message_id, delta)

    def delete_message(self, message_id: int) -> bool:
        return self.chat.delete_message(message_id)

    def show_side_by_side(self, message_id: int) -> None:
        """Open answer ``message_id`` and another version of it in the Compare view."""
        self.library.show_compare().show_saved(message_id)

    def export_conversation(self, cid: int | None = None) -> None:
        """Export a conversation (the open one by default) to Markdown or JSON."""
        cid = self.conversation_id if cid is None else cid
        if cid is None:
            self.statusBar().showMessage("Open a conversation to export it.", 5000)
            return
        self.exporter.export_conversation(cid, self.sidebar.title_of(cid))

    def context_menu(self, pos: QPoint) -> QMenu | None:
        """The sidebar's menu for the row at ``pos`` (``None``: no row there)."""
        return self.sidebar.context_menu(pos)

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        return ask_yes_no(self, title, text)

    def _ask(self, title: str, text: str) -> bool:
        return self.confirm(title, text)  # looked up at each call: tests replace confirm

    def _on_escape(self) -> None:
        if self.chat.stream.active:
            self.chat.stop()
        elif self.search_box.hasFocus():
            self.search_box.clear()
            self.composer.edit.setFocus()

    # -- models and the API ---------------------------------------------------------------------

    def load_model(self, path: str, *, chat_template: str | None = None) -> None:
        """Load a model file or a ``remote://SOURCE/MODEL``; progress shows in the model bar."""
        self.models.load_model(path, chat_template=chat_template)

    def reload_last_model(self) -> None:
        self.models.reload_last_model()

    def reload_model(self) -> None:
        self.models.reload_model()

    def set_serving(self, on: bool) -> None:
        """Serve the loaded model over the OpenAI-compatible API (127.0.0.1), or stop."""
        self.serve.set_serving(on)

    def _on_bridge_model_loaded(self, info: ModelInfo) -> None:
        self.library.note_model_loaded()

    # -- lifecycle ------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings_panel.store_into(self.settings)
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        self.composer.store_into(self.settings)
        try:
            save_settings(self.settings)
        except OSError as err:
            log.warning("could not save settings: %s", err)
        self.library.shutdown()
        self.server.stop()
        self.bridge.shutdown()  # the answer being written is saved before this returns
        # Quitting: the GUI may wait now (deletions the user did not undo are done).
        self.history.close(delete=list(self.sidebar.pending_delete))
        self.sidebar.pending_delete.clear()
        super().closeEvent(event)
