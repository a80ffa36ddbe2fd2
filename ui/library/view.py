"""The library screen: the curated catalog, Hugging Face search, the models on this machine,
the downloads and remote servers (:mod:`ui.library.remote`); a model card on the right.

Hub calls and disk scans run in the thread pool (:func:`ui.tasks.run_task`); a hub
that cannot be reached shows an inline message and the local views keep working.
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.errors import PonderError
from app.library.catalog import CatalogEntry, load_catalog
from app.library.downloads import DownloadInfo, DownloadManager
from app.library.fit import MachineMemory, detect_machine_memory, gib
from app.library.hub import HubModel, QuantVariant, RepoDetails, SearchSort, search_models
from app.library.local import (
    LocalModel,
    ModelSource,
    add_user_path,
    list_local_models,
    remove_model,
)
from ui.dialogs import ask_yes_no
from ui.library.card import ModelCard
from ui.library.downloads import DownloadsView, error_hint
from ui.library.models import (
    CatalogModel,
    HubResultsModel,
    ItemRole,
    LocalModelsModel,
    RowsModel,
    SortRole,
)
from ui.library.remote import RemoteSourcesPanel
from ui.tasks import run_task

SORTS = (
    ("Most downloaded", SearchSort.DOWNLOADS),
    ("Most liked", SearchSort.LIKES),
    ("Trending", SearchSort.TRENDING),
    ("Recently updated", SearchSort.UPDATED),
    ("Newest", SearchSort.CREATED),
)
CATALOG_TAB, SEARCH_TAB, LOCAL_TAB, DOWNLOADS_TAB, REMOTE_TAB = range(5)
_T = TypeVar("_T")


def _table(model: RowsModel[_T], parent: QWidget, name: str, stretch: int = 0) -> QTableView:
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SortRole)
    view = QTableView(parent)
    view.setObjectName(name)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    view.setWordWrap(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)  # elided, never scrolls
    header.setStretchLastSection(False)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return view


def _row_item(view: QTableView, index: QModelIndex) -> object:
    return index.siblingAtColumn(0).data(ItemRole) if index.isValid() else None


class LibraryView(QWidget):
    """Signals:
    load_requested(str): load the model at this path (or ``remote://SOURCE/MODEL``).
    models_changed(): the local models changed (a download finished, a model was added).
    """

    load_requested = Signal(str)
    models_changed = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        machine: MachineMemory | None = None,
        manager: DownloadManager | None = None,
    ) -> None:
        super().__init__(parent)
        self.machine = machine or detect_machine_memory()
        self._scan_request = 0
        self._search_request = 0
        self.local_loaded = False

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_catalog(), "Catalog")
        self.tabs.addTab(self._build_search(), "Search Hugging Face")
        self.tabs.addTab(self._build_local(), "On this machine")
        self.downloads = DownloadsView(self, manager)
        self.tabs.addTab(self.downloads, "Downloads")
        self.remote = RemoteSourcesPanel(self)
        self.tabs.addTab(self.remote, "Remote servers")
        self.card = ModelCard(self.machine, self)
        self.card.setObjectName("modelCard")
        self.card.hide()
        splitter = QSplitter(self)
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.card)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter)

        self.card.download_clicked.connect(self.download)
        self.card.load_clicked.connect(self.load_requested)
        self.downloads.load_requested.connect(self.load_requested)
        self.remote.load_requested.connect(self.load_requested)
        self.downloads.download_finished.connect(self._on_downloads_download_finished)
        self.refresh_local()

    # -- catalog ----------------------------------------------------------------------------

    def _build_catalog(self) -> QWidget:
        page = QWidget(self)
        col = QVBoxLayout(page)
        total = gib(self.machine.total_ram)
        gpu = f"; {self.machine.gpu_text}"
        intro = QLabel(
            "Reasoning models chosen for Ponder, with the quantization that suits this "
            f"machine ({total} RAM{gpu}). Works offline; pick one to see its card.",
            page,
        )
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        col.addWidget(intro)
        self.catalog_model = CatalogModel(self.machine, page)
        self.catalog_model.set_items(load_catalog().entries)
        self.catalog_view = _table(self.catalog_model, page, "catalog", stretch=3)
        self.catalog_view.clicked.connect(self._on_catalog_view_clicked)
        self.catalog_view.activated.connect(self._on_catalog_view_clicked)
        col.addWidget(self.catalog_view, 1)
        return page

    def _on_catalog_view_clicked(self, index: QModelIndex) -> None:
        entry = _row_item(self.catalog_view, index)
        if isinstance(entry, CatalogEntry):
            self.card.show()
            self.card.show_entry(entry)

    # -- hub search ---------------------------------------------------------------------------

    def _build_search(self) -> QWidget:
        page = QWidget(self)
        col = QVBoxLayout(page)
        row = QHBoxLayout()
        self.search_box = QLineEdit(page)
        self.search_box.setPlaceholderText("Search GGUF models on Hugging Face, e.g. “R1 distill”")
        self.search_box.setClearButtonEnabled(True)
        row.addWidget(self.search_box, 1)
        self.sort_combo = QComboBox(page)
        for label, sort in SORTS:
            self.sort_combo.addItem(label, sort)
        row.addWidget(self.sort_combo)
        self.search_button = QPushButton("Search", page)
        row.addWidget(self.search_button)
        col.addLayout(row)
        self.search_status = QLabel(page)
        self.search_status.setObjectName("searchStatus")
        self.search_status.setWordWrap(True)
        self.search_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.search_status)
        self.hub_model = HubResultsModel(page)
        self.hub_view = _table(self.hub_model, page, "hubResults")
        self.hub_view.clicked.connect(self._on_hub_view_clicked)
        self.hub_view.activated.connect(self._on_hub_view_clicked)
        col.addWidget(self.hub_view, 1)
        self.search_box.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.sort_combo.activated.connect(lambda _i: self.search())
        return page

    def search(self) -> None:
        """Search the hub for the text in the search box (in the background)."""
        query = self.search_box.text().strip()
        if not query:
            return
        sort: SearchSort = self.sort_combo.currentData()
        self._search_request += 1
        request = self._search_request
        self.search_status.setText(f"Searching Hugging Face for “{query}”…")
        run_task(
            lambda: search_models(query, sort=sort),
            lambda found: self._on_search_done(request, query, found),
            lambda err: self._on_search_failed(request, err),
            context=self,
        )

    def _on_search_done(self, request: int, query: str, found: list[HubModel]) -> None:
        if request != self._search_request:
            return
        self.hub_model.set_items(found)
        self.search_status.setText(
            f"{len(found)} repositories with GGUF files for “{query}”."
            if found
            else f"No GGUF repositories found for “{query}”."
        )

    def _on_search_failed(self, request: int, err: BaseException) -> None:
        if request != self._search_request:
            return
        self.search_status.setText(f"⚠ {err}\n{error_hint(str(err))}")

    def _on_hub_view_clicked(self, index: QModelIndex) -> None:
        model = _row_item(self.hub_view, index)
        if isinstance(model, HubModel):
            self.card.show()
            self.card.show_repo(model.repo_id)

    # -- local models ------------------------------------------------------------------------

    def _build_local(self) -> QWidget:
        page = QWidget(self)
        col = QVBoxLayout(page)
        row = QHBoxLayout()
        self.local_load_button = QPushButton("Load", page)
        self.add_folder_button = QPushButton("Add folder…", page)
        self.add_file_button = QPushButton("Add file…", page)
        self.remove_button = QPushButton("Remove", page)
        self.rescan_button = QPushButton("Rescan", page)
        for b in (
            self.local_load_button,
            self.add_folder_button,
            self.add_file_button,
            self.remove_button,
        ):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.rescan_button)
        col.addLayout(row)
        self.local_status = QLabel(page)
        self.local_status.setObjectName("hint")
        self.local_status.setWordWrap(True)
        col.addWidget(self.local_status)
        self.local_model = LocalModelsModel(page)
        self.local_view = _table(self.local_model, page, "localModels")
        self.local_view.activated.connect(lambda _i: self.load_selected())
        self.local_view.selectionModel().selectionChanged.connect(self._update_local_buttons)
        col.addWidget(self.local_view, 1)
        self.local_load_button.clicked.connect(self.load_selected)
        self.add_folder_button.clicked.connect(lambda: self.add_folder())
        self.add_file_button.clicked.connect(lambda: self.add_file())
        self.remove_button.clicked.connect(self.remove_selected)
        self.rescan_button.clicked.connect(self.refresh_local)
        self._update_local_buttons()
        return page

    def refresh_local(self) -> None:
        """Rescan the models on this machine (in the background)."""
        self._scan_request += 1
        request = self._scan_request
        self.local_status.setText("Looking for models…")
        run_task(
            list_local_models,
            lambda models: self._on_scan_done(request, models),
            lambda err: self._on_scan_failed(request, err),
            context=self,
        )

    def _on_scan_done(self, request: int, models: list[LocalModel]) -> None:
        if request != self._scan_request:
            return
        self.local_model.set_items(models)
        self.local_loaded = True
        bad = sum(1 for m in models if not m.usable)
        text = f"{len(models) - bad} model(s) ready"
        if bad:
            text += f", {bad} file(s) that cannot be used (hover for the reason)"
        self.local_status.setText(
            text + ". Ponder's folder, the Hugging Face cache, LM Studio and folders you added."
        )
        self._update_local_buttons()
        self.models_changed.emit()

    def _on_scan_failed(self, request: int, err: BaseException) -> None:
        if request == self._scan_request:
            self.local_status.setText(f"⚠ Could not list the models: {err}")

    def selected_local(self) -> LocalModel | None:
        rows = self.local_view.selectionModel().selectedRows()
        item = _row_item(self.local_view, rows[0]) if rows else None
        return item if isinstance(item, LocalModel) else None

    def select_local_path(self, path: str) -> bool:
        proxy = self.local_view.model()
        for r in range(proxy.rowCount()):
            item = proxy.index(r, 0).data(ItemRole)
            if isinstance(item, LocalModel) and str(item.path) == path:
                self.local_view.selectRow(r)
                return True
        return False

    def _update_local_buttons(self) -> None:
        m = self.selected_local()
        self.local_load_button.setEnabled(m is not None and m.usable)
        self.remove_button.setEnabled(m is not None)

    def load_selected(self) -> None:
        m = self.selected_local()
        if m is None:
            return
        if not m.usable:
            self.local_status.setText(f"⚠ {m.name} cannot be used: {m.error}")
            return
        self.load_requested.emit(str(m.path))

    def add_folder(self, path: str | None = None) -> None:
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Add a folder with models")
        if path:
            self._add(path)

    def add_file(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Add a model file", "", "GGUF models (*.gguf)"
            )
        if path:
            self._add(path)

    def _add(self, path: str) -> None:
        try:
            add_user_path(path)
        except PonderError as err:
            self.local_status.setText(f"⚠ {err}")
            return
        self.tabs.setCurrentIndex(LOCAL_TAB)
        self.refresh_local()

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        return ask_yes_no(self, title, text)

    def remove_selected(self) -> None:
        m = self.selected_local()
        if m is None:
            return
        if m.source is ModelSource.PONDER:
            text = (
                f"Delete {m.name} ({gib(m.size)})?\n\nIt is in Ponder's own models folder, so "
                f"its file(s) will be deleted from disk:\n{m.path}"
            )
        elif m.source is ModelSource.USER:
            text = f"Forget {m.name}?\n\nPonder stops listing it; the file stays on disk:\n{m.path}"
        else:
            owner = "the Hugging Face cache" if m.source is ModelSource.HF_CACHE else "LM Studio"
            self.local_status.setText(
                f"{m.name} belongs to {owner}; Ponder does not delete it. Remove it there."
            )
            return
        if not self.confirm("Remove model", text):
            return
        try:
            done = remove_model(str(m.path))
        except PonderError as err:
            self.local_status.setText(f"⚠ {err}")
            return
        self.refresh_local()
        self.local_status.setText(done[:1].upper() + done[1:] + ".")

    # -- downloads --------------------------------------------------------------------------

    def download(self, details: RepoDetails, variant: QuantVariant) -> DownloadInfo | None:
        try:
            info = self.downloads.manager.enqueue(details.repo_id, details.revision, variant)
        except PonderError as err:
            self.card.status.setText(f"⚠ {err}\n{error_hint(str(err))}")
            return None
        self.downloads.track(info)
        self.tabs.setCurrentIndex(DOWNLOADS_TAB)
        return info

    def _on_downloads_download_finished(self, info: DownloadInfo) -> None:
        self.card.refresh()
        self.refresh_local()

    def shutdown(self) -> None:
        self.downloads.shutdown()
