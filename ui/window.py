"""The main window: sidebar, model bar, conversation, composer, settings; and the chat flow."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QByteArray, QModelIndex, QPoint, Qt, QThreadPool, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.display_names import path_display_name, ref_display_name
from app.engine import LoadParams, ModelInfo
from app.errors import PonderError, StorageError
from app.events import Event, EventKind, FinishReason
from app.families import get_family
from app.request import GenerationRequest, LoopPolicy, Role, ThinkMode
from app.settings import Settings, load_settings, save_settings
from app.store.domain import GenerationSettings, Message, ModelRef, SearchHit
from app.store.errors import DatabaseUnusableError
from app.store.turn import start_turn
from ui.bridge import EngineBridge
from ui.composer import Composer
from ui.context_note import context_note
from ui.conversation_list import (
    ConversationListModel,
    IdRole,
    SearchResultModel,
    listed_ids,
    selected_ids,
)
from ui.conversation_view import ConversationView
from ui.dialogs import ask_yes_no
from ui.export_dialog import Exporter, add_export_actions
from ui.library_shell import LibraryShell
from ui.library_tasks import run_task
from ui.message_view import MessageWidget
from ui.model_bar import ModelBar
from ui.serving import DEFAULT_PORT, LocalServer
from ui.settings_panel import SettingsPanel
from ui.store_opener import LIST_LIMIT, StoreOpener

if TYPE_CHECKING:
    from app.request import ChatMessage
    from app.server.service import ServiceState
    from app.store.domain import ConversationSummary
    from app.store.recorder import AnswerRecorder
    from app.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

EMPTY_NO_MODEL = "Open a GGUF model to start (Ctrl+L), or find one in the Library (Ctrl+Shift+L)."
EMPTY_READY = "Ask something. The model's reasoning streams above its answer."
EMPTY_READY_PLAIN = "Ask something."  # a model that does not reason
SIDEBAR_MIN_WIDTH = 200  # conversation titles stay readable


class _Active:
    """The answer being streamed."""

    def __init__(
        self, request_id: int, recorder: AnswerRecorder, widget: MessageWidget, budget: int | None
    ) -> None:
        self.request_id = request_id
        self.recorder = recorder
        self.widget = widget
        self.budget = budget
        self.finished = False


class MainWindow(QMainWindow):
    """The window a person lives in."""

    def __init__(
        self,
        *,
        bridge: EngineBridge | None = None,
        store: Store | None = None,
        first_run: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Ponder")
        self.resize(1200, 800)
        self.settings: Settings = load_settings()
        # Without a store given, it opens on a pool thread while the window paints (see
        # ui.store_opener); ``self.store`` waits for it if something needs it sooner.
        self._store: Store | None = store
        self._opener: StoreOpener | None = None
        self._listed_early = False
        self._open_request = 0
        self._search_request = 0
        self._list_request = 0
        self._load_request = 0
        # Every history read and write runs here, one at a time and in order, so the GUI
        # thread never waits on the database or the disk.
        self._db_pool = QThreadPool(self)
        self._db_pool.setMaxThreadCount(1)
        self._preparing = False  # an answer's rows are being written before it starts
        self._loading_ref: str | None = None  # what load_model was last given
        self._loaded_ref: str | None = None  # ... for the model now loaded
        self.bridge = bridge or EngineBridge(parent=self)
        self.server = LocalServer(self.bridge, self)
        self.conversation_id: int | None = None
        self._active: _Active | None = None
        self._pending_delete: list[int] = []

        self.sidebar = self._build_sidebar()
        self.model_bar = ModelBar(self)
        self.view = ConversationView(self)
        self.composer = Composer(self)
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
        self.stack = QStackedWidget(self)
        self.stack.addWidget(splitter)
        self.chat_page = splitter
        self.setCentralWidget(self.stack)
        self.library = LibraryShell(self)

        self.settings_panel = SettingsPanel(self)
        self.settings_dock = QDockWidget("Settings", self)
        self.settings_dock.setObjectName("settingsDock")
        self.settings_dock.setWidget(self.settings_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.settings_dock)
        self.settings_dock.hide()
        self.settings_panel.load_from(self.settings)
        self.server.save_history = self.settings.save_api_history
        self.composer.set_thinking(self.settings.thinking, self.settings.budget)
        self.exporter = Exporter(self._store_for_thread, self)

        self._connect()
        self._shortcuts()
        self._ticker = QTimer(self)
        self._ticker.setInterval(100)
        self._ticker.timeout.connect(self._on_ticker_timeout)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(2000)
        self._memory_timer.timeout.connect(self._on_memory_timer_timeout)
        self._memory_timer.start()
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(self._run_search)
        if store is None:
            self._opener = StoreOpener(self._on_store_listed, self._on_store_opened, self)
        else:
            self.refresh_conversations()
        self.new_chat()
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if first_run:
            self.library.check_first_run()

    # -- construction ---------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The history database (waits for it while it is still opening)."""
        if self._store is None:
            self._on_store_opened()
        assert self._store is not None
        return self._store

    def _on_store_listed(self, conversations: list[ConversationSummary]) -> None:
        if self._store is None:  # read from the file before the store opened
            self._listed_early = True
            self._show_conversations(conversations)

    def _on_store_opened(self) -> None:
        opener, self._opener = self._opener, None
        if opener is None or self._store is not None:
            return  # already adopted (something needed the store before this arrived)
        opened = opener.result()
        if opened.error is not None:
            if not isinstance(opened.error, DatabaseUnusableError):
                raise opened.error  # the crash handler reports it
            from app.store.factory import open_store

            # Open the new history before the dialog: its event loop may run history jobs.
            self._store = open_store(recover=True)
            self.refresh_conversations()
            QMessageBox.warning(
                self, "History database", f"{opened.error}\nA new, empty history was started."
            )
            return
        self._store = opened.store
        if opened.history_off is not None:
            self._show_history_off(opened.history_off)
        if not self._listed_early or opened.history_off is not None:
            self.refresh_conversations()

    def _show_history_off(self, reason: str) -> None:
        """A lasting note in the status bar: this run's chats are not kept, and why."""
        note = QLabel(f"History is off for this run: {reason}", self)
        note.setObjectName("history_off")
        note.setWordWrap(True)
        self.statusBar().addPermanentWidget(note, 1)
        note.show()

    def _build_sidebar(self) -> QWidget:
        side = QWidget(self)
        side.setMinimumWidth(SIDEBAR_MIN_WIDTH)
        layout = QVBoxLayout(side)
        layout.setContentsMargins(8, 8, 0, 8)
        self.new_button = QPushButton("New chat", side)
        self.new_button.setToolTip("Ctrl+N")
        layout.addWidget(self.new_button)
        self.search_box = QLineEdit(side)
        self.search_box.setPlaceholderText("Search all chats (Ctrl+K)")
        self.search_box.setClearButtonEnabled(True)
        layout.addWidget(self.search_box)
        self.list_model = ConversationListModel(self)
        self.search_model = SearchResultModel(self)
        self.list_view = QListView(side)
        self.list_view.setObjectName("conversations")
        self.list_view.setModel(self.list_model)
        self.list_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list_view.setWordWrap(True)
        self.list_view.setUniformItemSizes(False)
        layout.addWidget(self.list_view, 1)
        return side

    def _connect(self) -> None:
        self.new_button.clicked.connect(self.new_chat)
        self.search_box.textChanged.connect(self._on_search_box_text_changed)
        self.list_view.clicked.connect(self._on_list_view_clicked)
        self.list_view.activated.connect(self._on_list_view_clicked)
        self.list_view.customContextMenuRequested.connect(self._on_list_view_context_menu)
        self.composer.send_clicked.connect(self.send)
        self.composer.stop_clicked.connect(self.stop)
        self.model_bar.open_clicked.connect(self.choose_model)
        self.model_bar.library_clicked.connect(self.library.show_library)
        self.model_bar.unload_clicked.connect(self._on_model_bar_unload_clicked)
        self.model_bar.serve_toggled.connect(self.set_serving)
        self.server.state_changed.connect(self._on_server_state_changed)
        self.server.conversation_saved.connect(self._on_api_conversation_saved)
        self.server.save_failed.connect(self._on_api_save_failed)
        self.settings_panel.save_api.toggled.connect(self._on_save_api_toggled)
        self.settings_panel.serve_network.toggled.connect(self._on_serve_network_toggled)
        self.settings_panel.copy_key.clicked.connect(self._on_copy_key_clicked)
        self.settings_panel.new_key.clicked.connect(self._on_new_key_clicked)
        self.bridge.load_progressed.connect(self.model_bar.set_progress)
        self.bridge.model_loaded.connect(self._on_bridge_model_loaded)
        self.bridge.load_failed.connect(self._on_bridge_load_failed)
        self.bridge.events_arrived.connect(self._on_bridge_events_arrived)
        self.bridge.request_finished.connect(self._on_bridge_request_finished)
        self.view.regenerate_clicked.connect(self.regenerate)
        self.view.edit_clicked.connect(self.edit_message)
        self.view.delete_clicked.connect(self._on_view_delete_clicked)
        self.view.sibling_clicked.connect(self.show_sibling)
        self.view.side_by_side_clicked.connect(self.show_side_by_side)
        self.view.answer_now_clicked.connect(self.answer_now)
        self.settings_panel.reload_clicked.connect(self.reload_model)
        self.exporter.progressed.connect(lambda note: self.statusBar().showMessage(note))
        self.exporter.finished.connect(lambda note: self.statusBar().showMessage(note, 20000))
        self.exporter.failed.connect(lambda note: self.statusBar().showMessage(note, 20000))

    def _shortcuts(self) -> None:
        def add(seq: QKeySequence | str, slot: object, name: str) -> None:
            action = QAction(name, self)
            action.setShortcut(QKeySequence(seq))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)

        add(QKeySequence(QKeySequence.StandardKey.New), self.new_chat, "New chat")
        add("Ctrl+K", self.focus_search, "Search")
        add("Ctrl+L", self.choose_model, "Open model")
        add("Ctrl+Shift+L", lambda: self.library.show_library(), "Library…")
        add("Ctrl+R", self.regenerate_last, "Regenerate")
        add("Ctrl+Return", self.answer_now, "Answer now")
        add("Ctrl+Shift+E", lambda: self.export_conversation(), "Export conversation…")
        add("Ctrl+Shift+D", self.export_dataset, "Export dataset…")
        add(
            "Ctrl+,",
            lambda: self.settings_dock.setVisible(not self.settings_dock.isVisible()),
            "Settings",
        )
        stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        stop.activated.connect(self._on_escape)

    # -- conversations --------------------------------------------------------------------------

    def db_job(
        self,
        work: Callable[[Store], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``work(store)`` on the database thread; ``on_done`` gets its result here."""
        store = self._store_for_thread()

        def failed(err: BaseException) -> None:
            if on_error is not None:
                on_error(err)
            else:
                self.statusBar().showMessage(f"History: {err}", 8000)

        run_task(
            lambda: work(store()),
            on_done or (lambda _r: None),
            failed,
            context=self,
            pool=self._db_pool,
        )

    def _store_for_thread(self) -> Callable[[], Store]:
        """The store, for a job on another thread: while it is still opening, the job waits
        for it there, not the GUI thread here."""
        ready, opener = self._store, self._opener
        if ready is None and opener is None:
            ready = self.store  # opening failed outright: this reports it
        if ready is not None:
            return lambda: ready

        def wait() -> Store:
            assert opener is not None
            opened = opener.result()
            if opened.store is None:
                raise opened.error or StorageError("the history database did not open")
            return opened.store

        return wait

    @property
    def busy(self) -> bool:
        """An answer is streaming, or being set up."""
        return self._active is not None or self._preparing

    def refresh_conversations(self) -> None:
        """Read the sidebar's list again (on the database thread; the newest read wins)."""
        self._list_request += 1
        request = self._list_request

        def done(conversations: list[ConversationSummary]) -> None:
            if request == self._list_request:
                self._show_conversations(conversations)

        self.db_job(lambda store: store.list_conversations(limit=LIST_LIMIT), done)

    def _show_conversations(self, conversations: list[ConversationSummary]) -> None:
        items = [c for c in conversations if c.id not in self._pending_delete]
        self.list_model.set_items(items)
        if self.conversation_id is not None:
            row = self.list_model.row_of(self.conversation_id)
            if row >= 0 and self.list_view.model() is self.list_model:
                self.list_view.setCurrentIndex(self.list_model.index(row))

    def new_chat(self) -> None:
        if self.busy:
            return
        self._open_request += 1  # a conversation still being read is not shown
        self.conversation_id = None
        self.view.clear()
        self.view.set_empty_text(self._empty_text())
        self.list_view.clearSelection()
        self.composer.edit.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        """Show a conversation (read on the database thread; the newest request wins)."""
        if self.busy:
            return
        self._open_request += 1
        request = self._open_request
        self.db_job(
            lambda store: store.active_path(conversation_id),
            lambda path: self._on_conversation_read(request, conversation_id, path),
            lambda err: self._on_conversation_read_failed(request, err),
        )

    def _update_context_note(self, path: list[Message]) -> None:
        info = self.bridge.info
        family = get_family(info.family_id if info else "generic")
        self.view.set_context_note(context_note(path, family) if family.reasons else "")

    def focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def _on_search_box_text_changed(self, text: str) -> None:
        self._search_timer.start()

    def _run_search(self) -> None:
        """Search on a pool thread; only the newest query's hits are shown."""
        query = self.search_box.text().strip()
        self._search_request += 1
        request = self._search_request
        if not query:
            self.list_view.setModel(self.list_model)
            return
        store = self._store_for_thread()

        def work() -> list[SearchHit]:
            return store().search(query, limit=50, mark=SearchResultModel.MARK, prefix=True)

        run_task(  # the pool, not the database thread: a search must not queue behind writes
            work,
            lambda hits: self._on_search_done(request, hits),
            lambda err: self._on_search_failed(request, err),
            context=self,
        )

    def _on_search_done(self, request: int, hits: list[SearchHit]) -> None:
        if request != self._search_request or not self.search_box.text().strip():
            return
        self.search_model.set_hits(hits)
        self.list_view.setModel(self.search_model)

    def _on_search_failed(self, request: int, err: BaseException) -> None:
        if request == self._search_request:
            self.statusBar().showMessage(str(err), 5000)

    def _on_list_view_clicked(self, index: QModelIndex) -> None:
        cid = index.data(IdRole)
        if cid is not None:
            self.open_conversation(int(cid))

    def _on_conversation_read(self, request: int, cid: int, path: list[Message]) -> None:
        if request != self._open_request or self.busy:
            return  # the user clicked elsewhere meanwhile, or started an answer
        self.conversation_id = cid
        self.view.set_messages(path)
        self._update_context_note(path)

    def _on_conversation_read_failed(self, request: int, err: BaseException) -> None:
        if request == self._open_request:
            self.statusBar().showMessage(f"Could not open the conversation: {err}", 8000)

    def _on_list_view_context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(pos)
        if menu is not None:
            menu.exec(self.list_view.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def context_menu(self, pos: QPoint) -> QMenu | None:
        """The sidebar's menu for the row at ``pos`` (``None``: no row there)."""
        index = self.list_view.indexAt(pos)
        if not index.isValid():
            return None
        cid = int(index.data(IdRole))
        menu = QMenu(self)
        if self.list_view.model() is self.list_model:
            item = self.list_model.item(index.row())
            menu.addAction("Rename…", lambda: self.rename_conversation(item.id))
            menu.addAction(
                "Unpin" if item.pinned else "Pin", lambda: self._toggle_pin(item.id, item.pinned)
            )
            menu.addAction("Delete", lambda: self.delete_conversation(item.id))
            results = None
        else:
            results = listed_ids(self.search_model)
        add_export_actions(
            menu,
            self.exporter,
            conversation=(cid, self._title_of(cid)),
            selected=selected_ids(self.list_view),
            results=results,
        )
        return menu

    def export_conversation(self, cid: int | None = None) -> None:
        """Export a conversation (the open one by default) to Markdown or JSON."""
        cid = self.conversation_id if cid is None else cid
        if cid is None:
            self.statusBar().showMessage("Open a conversation to export it.", 5000)
            return
        self.exporter.export_conversation(cid, self._title_of(cid))

    def export_dataset(self) -> None:
        """Export the selected conversations (or every search result) as a dataset."""
        ids = selected_ids(self.list_view)
        if not ids and self.list_view.model() is self.search_model:
            ids = listed_ids(self.search_model)
        if not ids:
            self.statusBar().showMessage(
                "Select conversations (Ctrl+click, Shift+click) or search to export a dataset.",
                8000,
            )
            return
        self.exporter.export_dataset(ids)

    def _title_of(self, cid: int) -> str:
        row = self.list_model.row_of(cid)
        return self.list_model.item(row).title if row >= 0 else ""

    def rename_conversation(self, cid: int) -> None:
        row = self.list_model.row_of(cid)
        current = self.list_model.item(row).title if row >= 0 else ""
        title, ok = QInputDialog.getText(self, "Rename", "Title:", text=current)
        if ok and title.strip():
            self.db_job(
                lambda store: store.rename_conversation(cid, title),
                lambda _r: self.refresh_conversations(),
            )

    def _toggle_pin(self, cid: int, pinned: bool) -> None:
        self.db_job(
            lambda store: store.set_pinned(cid, not pinned), lambda _r: self.refresh_conversations()
        )

    def delete_conversation(self, cid: int) -> None:
        """Hide at once; really delete after a few seconds unless the user clicks Undo."""
        self._pending_delete.append(cid)
        if self.conversation_id == cid:
            self.new_chat()
        self.refresh_conversations()
        undo = QPushButton("Undo", self)
        undo.clicked.connect(lambda: self._undo_delete(cid, undo))
        self.statusBar().showMessage("Conversation deleted.", 8000)
        self.statusBar().addPermanentWidget(undo)
        QTimer.singleShot(8000, lambda: self._finish_delete(cid, undo))

    def _undo_delete(self, cid: int, button: QPushButton) -> None:
        if cid in self._pending_delete:
            self._pending_delete.remove(cid)
        self.statusBar().removeWidget(button)
        self.statusBar().clearMessage()
        self.refresh_conversations()

    def _finish_delete(self, cid: int, button: QPushButton) -> None:
        self.statusBar().removeWidget(button)
        if cid in self._pending_delete:
            self._pending_delete.remove(cid)
            self.db_job(lambda store: store.delete_conversation(cid))

    # -- models -----------------------------------------------------------------------------------

    def choose_model(self) -> None:
        start = (
            str(Path(self.settings.last_model_path).parent) if self.settings.last_model_path else ""
        )
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model", start, "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.load_model(path)

    def load_params(self, path: str) -> LoadParams:
        from app.remote_sources import remote_load_params

        remote = remote_load_params(path)  # remote://SOURCE/MODEL from the library
        if remote is not None:
            return remote
        template = None
        if self.settings.chat_template_path:
            try:
                template = Path(self.settings.chat_template_path).read_text(encoding="utf-8")
            except OSError:
                template = None
        s = self.settings
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
        self.set_serving(False)  # the API serves the loaded model: not across a change
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
            self.statusBar().showMessage(f"The last model is gone: {path}", 15000)
            return
        self.load_model(path)

    def reload_model(self) -> None:
        self.settings_panel.store_into(self.settings)
        if self.bridge.info is not None:
            # What was asked for: a file, or a remote://SOURCE/MODEL (info.path is its name).
            self.load_model(self._loaded_ref or self.bridge.info.path)

    def _on_bridge_model_loaded(self, info: ModelInfo) -> None:
        self._loaded_ref = self._loading_ref
        self.model_bar.set_loaded(info)
        family = get_family(info.family_id)
        self.settings_panel.show_family(family)
        self.composer.set_family(family.supports_effort, family.reasons)
        if not self.view.widgets:
            self.view.set_empty_text(self._empty_text())

    def _empty_text(self) -> str:
        """What an empty chat says: how to start, and only mentions reasoning if it reasons."""
        info = self.bridge.info
        if info is None:
            return EMPTY_NO_MODEL
        return EMPTY_READY if get_family(info.family_id).reasons else EMPTY_READY_PLAIN

    def _set_generating(self, generating: bool) -> None:
        self.composer.set_generating(generating)
        self.model_bar.set_generating(generating)

    def _on_bridge_load_failed(self, message: str) -> None:
        self.model_bar.set_failed(message)
        self.statusBar().showMessage(message, 10000)

    def _on_model_bar_unload_clicked(self) -> None:
        self.set_serving(False)
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

    # -- the API server -----------------------------------------------------------------------

    def set_serving(self, on: bool) -> None:
        """Serve the loaded model over the OpenAI-compatible API (127.0.0.1), or stop."""
        if on == self.server.running:
            self.model_bar.set_serving(self.server.url)
            return
        if self.busy:  # the answer being written would be cut by the switch
            self.model_bar.set_serving(self.server.url)
            self.statusBar().showMessage("Wait for the answer before switching the API.", 5000)
            return
        if not on:
            self.server.stop()
            self.model_bar.set_serving("")
            self.statusBar().showMessage("The API server is off.", 5000)
            return
        port = int(self.settings.extra.get("server_port", DEFAULT_PORT))
        network = self.settings_panel.serve_network.isChecked()
        try:
            try:
                url = self.server.start(port, network=network)
            except PonderError:
                url = self.server.start(0, network=network)  # the usual port is taken
        except PonderError as err:
            self.model_bar.set_serving("")
            self.statusBar().showMessage(f"Could not serve the model: {err}", 10000)
            return
        self.model_bar.set_serving(url)
        name = path_display_name(self.bridge.info.path) if self.bridge.info else "the model"
        where = (
            "other devices send the API key: Settings → Copy API key"
            if network
            else "this computer only"
        )
        self.statusBar().showMessage(
            f"Serving {name} at {url} (OpenAI-compatible; {where}).", 10000
        )

    def _on_save_api_toggled(self, on: bool) -> None:
        self.server.save_history = on

    def _restart_server(self, why: str) -> None:
        """Switch a running API off and on again (a new address or key applies)."""
        if not self.server.running:
            return
        if self.busy or (self.server.service is not None and self.server.service.busy):
            self.statusBar().showMessage(f"{why} when you switch Serve API on again.", 8000)
            return
        self.set_serving(False)
        self.set_serving(True)

    def _on_serve_network_toggled(self, on: bool) -> None:
        self._restart_server("Applies")

    def _on_copy_key_clicked(self) -> None:
        QApplication.clipboard().setText(self.server.network_key())
        kept = "" if self.server.key_kept else " (no system keyring: it changes on restart)"
        self.statusBar().showMessage(f"API key copied{kept}.", 8000)

    def _on_new_key_clicked(self) -> None:
        if not self.confirm(
            "New API key", "Replace the API key? Devices that use the old one will be refused."
        ):
            return
        self.server.new_network_key()
        QApplication.clipboard().setText(self.server.network_key())
        self.statusBar().showMessage("New API key made and copied.", 8000)
        if self.server.network:
            self._restart_server("The new key applies")

    def _on_api_conversation_saved(self, conversation_id: int) -> None:
        self.refresh_conversations()
        if conversation_id == self.conversation_id and not self.busy:
            self.open_conversation(conversation_id)  # on screen: show the API's new turn

    def _on_api_save_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"An API conversation was not saved: {message}", 10000)

    def _on_server_state_changed(self, state: ServiceState) -> None:
        if self.server.running:
            self.model_bar.set_server_state(self.server.url, state.busy, state.queued)

    # -- sending ------------------------------------------------------------------------------------

    def _model_ref(self) -> ModelRef | None:
        info = self.bridge.info
        if info is None:
            return None
        return ModelRef(Path(info.path).stem, None, info.size_bytes, info.path)

    def _generation_settings(self) -> GenerationSettings:
        sampling = self.settings_panel.sampling()
        thinking = dataclasses.replace(
            self.composer.thinking_control(), on_loop=self.settings_panel.loop_policy()
        )
        return GenerationSettings(sampling=sampling, thinking=thinking)

    def send(self, text: str) -> None:
        if self.busy:
            return
        if self.bridge.info is None:
            self.statusBar().showMessage("Open a model first (Ctrl+L).", 5000)
            return
        self.settings_panel.store_into(self.settings)
        system = self.settings_panel.system_prompt.toPlainText().strip() or None
        cid, model, settings = self.conversation_id, self._model_ref(), self._generation_settings()

        def prepare(store: Store) -> tuple[int, Message, list[ChatMessage], AnswerRecorder]:
            turn = start_turn(
                store,
                text,
                conversation_id=cid,
                model=model,
                system_prompt=system,
                settings=settings,
            )
            history = store.chat_history(turn.conversation_id)[:-1]  # not the answer to come
            return turn.conversation_id, turn.question, history, turn.recorder

        def ready(result: tuple[int, Message, list[ChatMessage], AnswerRecorder]) -> None:
            self._preparing = False
            conv_id, user, history, recorder = result
            self.conversation_id = conv_id
            self.composer.edit.clear()
            user_widget = MessageWidget("user", user.id)
            user_widget.set_content(text)
            self.view.append_widget(user_widget)
            self._start(history, recorder, system)
            self.refresh_conversations()

        self._prepare(prepare, ready, "Could not save the message")

    def _prepare(
        self, work: Callable[[Store], T], ready: Callable[[T], None], failure: str
    ) -> None:
        """Write an answer's rows on the database thread, then start it (``ready``)."""
        self._preparing = True
        self._set_generating(True)

        def failed(err: BaseException) -> None:
            self._preparing = False
            self._set_generating(False)
            if isinstance(err, PonderError):
                QMessageBox.warning(self, failure, str(err))
            else:
                self.statusBar().showMessage(f"{failure}: {err}", 8000)

        self.db_job(work, ready, failed)

    def _start(self, history: list, recorder: AnswerRecorder, system: str | None) -> None:  # type: ignore[type-arg]
        thinking = dataclasses.replace(
            self.composer.thinking_control(), on_loop=self.settings_panel.loop_policy()
        )
        request = GenerationRequest(
            messages=tuple(history),
            system_prompt=system,
            sampling=self.settings_panel.sampling(),
            thinking=thinking,
            max_tokens=self.settings_panel.max_tokens.value() or None,
            seed=self.settings_panel.seed_value(),
        )
        widget = MessageWidget("assistant", recorder.message_id)
        model = self._model_ref()
        widget.set_model_name(ref_display_name(model))
        widget.set_streaming(True)
        self.view.append_widget(widget)
        rid = self.bridge.generate(request, sink=recorder.apply)
        self._active = _Active(rid, recorder, widget, thinking.budget)
        self._set_generating(True)
        self._ticker.start()

    def stop(self) -> None:
        self.bridge.cancel()

    def answer_now(self) -> None:
        if self._active is not None:
            self.bridge.answer_now()

    def _on_escape(self) -> None:
        if self._active is not None:
            self.stop()
        elif self.search_box.hasFocus():
            self.search_box.clear()
            self.composer.edit.setFocus()

    def _on_ticker_timeout(self) -> None:
        if self._active is not None and self._active.widget.trace is not None:
            self._active.widget.trace.tick()

    def _on_bridge_events_arrived(self, request_id: int, events: list[Event]) -> None:
        active = self._active
        if active is None or request_id != active.request_id:
            return  # a stale request's events
        w = active.widget
        reasoning: list[Event] = []
        content: list[Event] = []

        def flush() -> None:
            text = "".join(e.text for e in reasoning)
            if text or (reasoning and w.trace is not None):  # a count alone makes no trace
                trace = w.ensure_trace()
                if trace.live and trace.budget is None:
                    trace.set_budget(active.budget)
                trace.append(text, tokens=sum(e.tokens for e in reasoning))
            reasoning.clear()
            if content:
                if w.trace is not None and w.trace.live:
                    w.trace.finish(
                        None, None, None, collapse=self.settings_panel.collapse.isChecked()
                    )
                w.answer.append("".join(e.text for e in content))
                content.clear()

        for event in events:
            kind = event.kind
            if kind is EventKind.REASONING:
                if content:
                    flush()
                reasoning.append(event)
            elif kind is EventKind.CONTENT:
                if reasoning:
                    flush()
                content.append(event)
            else:
                flush()
                self._apply_other(active, event)
        flush()

    def _apply_other(self, active: _Active, event: Event) -> None:
        w = active.widget
        kind = event.kind
        if kind is EventKind.INJECTED:
            reason = event.inject_reason
            w.ensure_trace().append_injected(event.text, reason.value if reason else "")
        elif kind is EventKind.CONTEXT_TRUNCATED and event.truncation is not None:
            n = event.truncation.dropped_messages
            self.statusBar().showMessage(
                f"{n} earlier message(s) left out to fit the context window.", 8000
            )
        elif kind is EventKind.REASONING_LOOP and event.loop is not None:
            if event.loop.policy is LoopPolicy.ANSWER:  # the engine ends the reasoning itself
                self.statusBar().showMessage(
                    "The model was going in circles; it was asked to answer now.", 8000
                )
            else:  # warn: the banner's Answer now → answer_now(), Keep thinking dismisses
                w.ensure_trace().show_loop(event.text, event.loop.repeats)
        elif kind is EventKind.WARNING:
            self.statusBar().showMessage(event.text, 8000)
        elif kind is EventKind.STATS and event.stats is not None:
            stats = event.stats
            if w.trace is not None:
                w.trace.finish(
                    stats.reasoning_state,
                    stats.thinking_ms / 1000.0,
                    stats.reasoning_tokens,
                    collapse=self.settings_panel.collapse.isChecked() and bool(w.answer.text),
                )
            w.set_stats(stats, ref_display_name(self._model_ref()))
        elif kind is EventKind.DONE:
            if event.finish_reason is FinishReason.CANCELLED:
                w.set_error("Stopped.")
            self._finish(active)
        elif kind is EventKind.ERROR:
            w.set_error(event.text)
            self._finish(active)
            if event.failure is not None and event.failure.crashed:
                self.model_bar.set_status("engine crashed — restarting…")
                self.bridge.restart()

    def _on_bridge_request_finished(self, request_id: int) -> None:
        active = self._active
        if active is not None and active.request_id == request_id:
            self._finish(active)

    def _finish(self, active: _Active) -> None:
        if active.finished:
            return
        active.finished = True
        active.widget.answer.finish()
        active.widget.set_streaming(False)
        if active.widget.trace is not None and active.widget.trace.live:
            active.widget.trace.finish(None, None, None, collapse=False)
        if active.recorder.write_error is not None:
            self.statusBar().showMessage(f"Not saved: {active.recorder.write_error}", 10000)
        self._active = None
        self._ticker.stop()
        self._set_generating(False)
        self.refresh_conversations()
        cid = self.conversation_id
        if cid is None:
            return

        def siblings(path: list[Message]) -> None:  # navigation for the finished answer
            if path and self.conversation_id == cid and not self.busy:
                last = path[-1]
                count = max(1, len(last.sibling_ids))
                active.widget.set_siblings(last.sibling_index, count, last.sibling_ids)
                self._update_context_note(path)

        self.db_job(lambda store: store.active_path(cid, with_reasoning=False), siblings)

    # -- branches ---------------------------------------------------------------------------------

    def regenerate_last(self) -> None:
        for w in reversed(self.view.widgets):
            if w.role == Role.ASSISTANT:
                self.regenerate(w.message_id)
                return

    def regenerate(self, message_id: int) -> None:
        if self.busy or self.bridge.info is None or self.conversation_id is None:
            return
        cid, model = self.conversation_id, self._model_ref()

        def prepare(
            store: Store,
        ) -> tuple[list[ChatMessage], AnswerRecorder, list[Message], str | None]:
            recorder = store.regenerate(message_id, model=model)
            history = store.chat_history(cid)[:-1]
            path = store.active_path(cid)
            return history, recorder, path[:-1], store.get_conversation(cid).system_prompt

        self._prepare(prepare, self._restart_branch, "Could not regenerate")

    def edit_message(self, message_id: int) -> None:
        if self.busy or self.bridge.info is None or self.conversation_id is None:
            return
        widget = next((w for w in self.view.widgets if w.message_id == message_id), None)
        old = widget.answer.text if widget is not None else ""
        text, ok = QInputDialog.getMultiLineText(self, "Edit and resend", "Message:", old)
        if not ok or not text.strip():
            return
        cid, model = self.conversation_id, self._model_ref()

        def prepare(
            store: Store,
        ) -> tuple[list[ChatMessage], AnswerRecorder, list[Message], str | None]:
            store.edit_user_message(message_id, text)
            history = store.chat_history(cid)
            recorder = store.start_answer(cid, model=model)
            shown = store.active_path(cid)[:-1]
            return history, recorder, shown, store.get_conversation(cid).system_prompt

        self._prepare(prepare, self._restart_branch, "Could not save the message")

    def _restart_branch(
        self, prepared: tuple[list[ChatMessage], AnswerRecorder, list[Message], str | None]
    ) -> None:
        """A regenerated or edited branch is written: show it and start its new answer."""
        self._preparing = False
        history, recorder, shown, system = prepared
        self.view.set_messages(shown)
        self._start(history, recorder, system)

    def show_side_by_side(self, message_id: int) -> None:
        """Open answer ``message_id`` and another version of it in the Compare view."""
        self.library.show_compare().show_saved(message_id)

    def show_sibling(self, message_id: int, delta: int) -> None:
        if self.busy or self.conversation_id is None:
            return
        widget = next((w for w in self.view.widgets if w.message_id == message_id), None)
        siblings = widget.sibling_ids if widget is not None else ()
        if message_id not in siblings:
            return
        index = siblings.index(message_id) + delta
        if not 0 <= index < len(siblings):
            return
        cid, target = self.conversation_id, siblings[index]
        self._open_request += 1
        request = self._open_request

        def switch(store: Store) -> list[Message]:
            store.activate(target)
            return store.active_path(cid)

        self.db_job(switch, lambda path: self._on_conversation_read(request, cid, path))

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        return ask_yes_no(self, title, text)

    def _on_view_delete_clicked(self, message_id: int) -> None:
        self.delete_message(message_id)

    def delete_message(self, message_id: int) -> bool:
        """Delete a message and what follows it in its branch (asks first if anything does)."""
        if self.busy or self.conversation_id is None:
            self.statusBar().showMessage("Stop the answer before deleting messages.", 5000)
            return False
        ids = [w.message_id for w in self.view.widgets]
        after = len(ids) - ids.index(message_id) - 1 if message_id in ids else 0
        if after and not self.confirm(
            "Delete messages",
            f"Delete this message and the {after} after it? This cannot be undone.",
        ):
            return False
        cid = self.conversation_id

        def deleted(_leaf: int | None) -> None:
            self.open_conversation(cid)
            self.refresh_conversations()
            self.statusBar().showMessage("Message deleted.", 4000)

        def failed(err: BaseException) -> None:
            self.statusBar().showMessage(f"Could not delete the message: {err}", 8000)

        self.db_job(lambda store: store.delete_message(message_id), deleted, failed)
        return True

    # -- lifecycle ------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings_panel.store_into(self.settings)
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        control = self.composer.thinking_control()
        self.settings.thinking = (
            "off" if control.mode is ThinkMode.OFF else ("budget" if control.budget else "auto")
        )
        if control.budget:
            self.settings.budget = control.budget
        try:
            save_settings(self.settings)
        except OSError as err:
            log.warning("could not save settings: %s", err)
        self.library.shutdown()
        self.server.stop()
        self.bridge.shutdown()  # the answer being written is saved before this returns
        self._db_pool.waitForDone(10_000)  # what was queued for the database is written
        # Quitting: the GUI may wait now (deletions the user did not undo are done).
        for cid in list(self._pending_delete):
            self.store.delete_conversation(cid)
        self._pending_delete.clear()
        self.store.close()
        super().closeEvent(event)
