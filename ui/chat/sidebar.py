"""The window's sidebar: New chat, search over all chats, the conversation list and its menu.

Its reads and writes run as history jobs (:class:`~ui.history_jobs.HistoryJobs`); a search
runs on the pool instead, so that it never queues behind writes. Only the newest list read
and the newest query's hits are shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from ui.chat.conversation_list import (
    ConversationListModel,
    IdRole,
    SearchResultModel,
    listed_ids,
    selected_ids,
)
from ui.chat.export_dialog import Exporter, add_export_actions
from ui.store_opener import LIST_LIMIT
from ui.tasks import run_task

if TYPE_CHECKING:
    from app.store.domain import ConversationSummary, SearchHit
    from ui.history_jobs import HistoryJobs

#: Conversation titles stay readable.
SIDEBAR_MIN_WIDTH = 200
#: A deleted conversation can be brought back for this long.
UNDO_MS = 8000
SEARCH_DELAY_MS = 150


class Sidebar(QWidget):
    """New chat, search and the conversation list.

    Signals:
        conversation_clicked(int): the user chose a conversation (its id).
        deleting(int): a conversation was hidden and will be deleted unless undone.
    """

    conversation_clicked = Signal(int)
    deleting = Signal(int)

    def __init__(
        self,
        jobs: HistoryJobs,
        exporter: Exporter,
        status: QStatusBar,
        current: Callable[[], int | None],
        parent: QWidget | None = None,
    ) -> None:
        """``current()``: the conversation the chat shows (its row is selected)."""
        super().__init__(parent)
        self.jobs = jobs
        self.exporter = exporter
        self.status = status
        self.current = current
        self.pending_delete: list[int] = []
        self._list_request = 0
        self._search_request = 0
        self.setMinimumWidth(SIDEBAR_MIN_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 0, 8)
        self.new_button = QPushButton("New chat", self)
        self.new_button.setToolTip("Ctrl+N")
        layout.addWidget(self.new_button)
        self.search_box = QLineEdit(self)
        self.search_box.setPlaceholderText("Search all chats (Ctrl+K)")
        self.search_box.setClearButtonEnabled(True)
        layout.addWidget(self.search_box)
        self.list_model = ConversationListModel(self)
        self.search_model = SearchResultModel(self)
        self.list_view = QListView(self)
        self.list_view.setObjectName("conversations")
        self.list_view.setModel(self.list_model)
        self.list_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list_view.setWordWrap(True)
        self.list_view.setUniformItemSizes(False)
        layout.addWidget(self.list_view, 1)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._run_search)
        self.search_box.textChanged.connect(self._on_search_box_text_changed)
        self.list_view.clicked.connect(self._on_list_view_clicked)
        self.list_view.activated.connect(self._on_list_view_clicked)
        self.list_view.customContextMenuRequested.connect(self._on_list_view_context_menu)
        exporter.progressed.connect(self._on_exporter_progressed)
        exporter.finished.connect(self._on_exporter_finished)
        exporter.failed.connect(self._on_exporter_finished)

    # -- the list ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the list again (on the database thread; the newest read wins)."""
        self._list_request += 1
        request = self._list_request

        def done(conversations: list[ConversationSummary]) -> None:
            if request == self._list_request:
                self.show_conversations(conversations)

        self.jobs.db_job(lambda store: store.list_conversations(limit=LIST_LIMIT), done)

    def show_conversations(self, conversations: list[ConversationSummary]) -> None:
        """List these (less the ones being deleted); the open one is selected."""
        items = [c for c in conversations if c.id not in self.pending_delete]
        self.list_model.set_items(items)
        self.select_current()

    def select_current(self) -> None:
        cid = self.current()
        if cid is not None:
            row = self.list_model.row_of(cid)
            if row >= 0 and self.list_view.model() is self.list_model:
                self.list_view.setCurrentIndex(self.list_model.index(row))

    def title_of(self, cid: int) -> str:
        row = self.list_model.row_of(cid)
        return self.list_model.item(row).title if row >= 0 else ""

    def _on_list_view_clicked(self, index: QModelIndex) -> None:
        cid = index.data(IdRole)
        if cid is not None:
            self.conversation_clicked.emit(int(cid))

    # -- search -------------------------------------------------------------------------------

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
        store = self.jobs.store_for_thread()

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
            self.status.showMessage(str(err), 5000)

    # -- the menu ---------------------------------------------------------------------------

    def _on_list_view_context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(pos)
        if menu is not None:
            menu.exec(self.list_view.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def context_menu(self, pos: QPoint) -> QMenu | None:
        """The menu for the row at ``pos`` (``None``: no row there)."""
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
            conversation=(cid, self.title_of(cid)),
            selected=selected_ids(self.list_view),
            results=results,
        )
        return menu

    def _on_exporter_progressed(self, note: str) -> None:
        self.status.showMessage(note)

    def _on_exporter_finished(self, note: str) -> None:  # done, or failed
        self.status.showMessage(note, 20000)

    def export_dataset(self) -> None:
        """Export the selected conversations (or every search result) as a dataset."""
        ids = selected_ids(self.list_view)
        if not ids and self.list_view.model() is self.search_model:
            ids = listed_ids(self.search_model)
        if not ids:
            self.status.showMessage(
                "Select conversations (Ctrl+click, Shift+click) or search to export a dataset.",
                8000,
            )
            return
        self.exporter.export_dataset(ids)

    def rename_conversation(self, cid: int) -> None:
        title, ok = QInputDialog.getText(self, "Rename", "Title:", text=self.title_of(cid))
        if ok and title.strip():
            self.jobs.db_job(
                lambda store: store.rename_conversation(cid, title), lambda _r: self.refresh()
            )

    def _toggle_pin(self, cid: int, pinned: bool) -> None:
        self.jobs.db_job(lambda store: store.set_pinned(cid, not pinned), lambda _r: self.refresh())

    # -- deleting ---------------------------------------------------------------------------

    def delete_conversation(self, cid: int) -> None:
        """Hide at once; really delete after a few seconds unless the user clicks Undo."""
        self.pending_delete.append(cid)
        self.deleting.emit(cid)
        self.refresh()
        undo = QPushButton("Undo", self)
        undo.clicked.connect(lambda: self._undo_delete(cid, undo))
        self.status.showMessage("Conversation deleted.", UNDO_MS)
        self.status.addPermanentWidget(undo)
        QTimer.singleShot(UNDO_MS, lambda: self._finish_delete(cid, undo))

    def _undo_delete(self, cid: int, button: QPushButton) -> None:
        if cid in self.pending_delete:
            self.pending_delete.remove(cid)
        self.status.removeWidget(button)
        self.status.clearMessage()
        self.refresh()

    def _finish_delete(self, cid: int, button: QPushButton) -> None:
        self.status.removeWidget(button)
        if cid in self.pending_delete:
            self.pending_delete.remove(cid)
            self.jobs.db_job(lambda store: store.delete_conversation(cid))
