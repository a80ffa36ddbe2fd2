"""The library's "Remote servers" tab: OpenAI-compatible servers added by name.

Each source is listed with its address and where its API key comes from (the system
keyring, an environment variable, or none), and the models it serves below it once its
connection is tested. Testing runs in the thread pool (:func:`ui.tasks.run_task`);
"Load" on a model asks for ``remote://SOURCE/MODEL``, which the window loads through the
same path as a local file (:func:`app.remote_sources.remote_load_params`).
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import PonderError
from app.remote_sources import (
    RemoteSource,
    add_source,
    find_source,
    load_sources,
    model_ref,
    remove_source,
)
from backends.remote_api import RemoteModel, ServerKind, check_connection
from ui.dialogs import ask_yes_no
from ui.tasks import run_task

NAME_COL, URL_COL, KEY_COL, STATUS_COL = range(4)
_ROLE = Qt.ItemDataRole.UserRole


class AddRemoteDialog(QDialog):
    """Name, URL and API key (kept in the system keyring) or an environment variable.

    Accepting saves the source; a bad entry or a missing keyring is shown in the dialog,
    which stays open.

    Signals:
        source_added(object): the :class:`RemoteSource` that was saved.
    """

    source_added = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a remote server")
        self.setMinimumWidth(460)
        form = QFormLayout()
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("e.g. workstation")
        self.url_edit = QLineEdit(self)
        self.url_edit.setPlaceholderText("http://192.168.1.20:8080 or https://host/v1")
        self.key_edit = QLineEdit(self)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("optional; kept in the system keyring")
        self.env_edit = QLineEdit(self)
        self.env_edit.setPlaceholderText("or: an environment variable, e.g. OPENAI_API_KEY")
        form.addRow("Name", self.name_edit)
        form.addRow("URL", self.url_edit)
        form.addRow("API key", self.key_edit)
        form.addRow("Key variable", self.env_edit)
        self.error = QLabel(self)
        self.error.setObjectName("dialogError")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addWidget(self.error)
        col.addWidget(buttons)

    def accept(self) -> None:
        key = self.key_edit.text()
        env = self.env_edit.text().strip()
        try:
            source = add_source(
                self.name_edit.text().strip(),
                self.url_edit.text().strip(),
                env or None,
                api_key=key if key.strip() else None,
            )
        except PonderError as err:
            self.error.setText(f"⚠ {err}")
            self.error.show()
            return
        self.key_edit.clear()
        super().accept()
        self.source_added.emit(source)


class RemoteSourcesPanel(QWidget):
    """The configured remote sources and the models they serve.

    Signals:
        load_requested(str): load this model (a ``remote://SOURCE/MODEL`` reference).
    """

    load_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tests: dict[str, int] = {}  # source name -> latest test request
        self._results: dict[str, tuple[ServerKind, list[RemoteModel]] | str] = {}
        self._tested_on_show = False
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        self.load_button = QPushButton("Load", self)
        self.add_button = QPushButton("Add…", self)
        self.test_button = QPushButton("Test connection", self)
        self.remove_button = QPushButton("Remove", self)
        for b in (self.load_button, self.add_button, self.test_button, self.remove_button):
            row.addWidget(b)
        row.addStretch(1)
        col.addLayout(row)
        self.status = QLabel(self)
        self.status.setObjectName("remoteStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.status)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("remoteSources")
        self.tree.setHeaderLabels(["Name", "URL", "API key", "Status"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(URL_COL, QHeaderView.ResizeMode.Stretch)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        col.addWidget(self.tree, 1)
        self.load_button.clicked.connect(self.load_selected)
        self.add_button.clicked.connect(lambda: self.open_add_dialog())
        self.test_button.clicked.connect(self.test_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.tree.itemSelectionChanged.connect(self._on_tree_item_selection_changed)
        self.tree.itemActivated.connect(lambda _item, _col: self.load_selected())
        self.refresh()

    # -- listing -----------------------------------------------------------------------------

    def sources(self) -> list[RemoteSource]:
        return [
            s
            for item in self._source_items()
            if isinstance(s := item.data(NAME_COL, _ROLE), RemoteSource)
        ]

    def source_item(self, name: str) -> QTreeWidgetItem | None:
        for item in self._source_items():
            source = item.data(NAME_COL, _ROLE)
            if isinstance(source, RemoteSource) and source.name == name:
                return item
        return None

    def model_ids(self, name: str) -> list[str]:
        item = self.source_item(name)
        if item is None:
            return []
        return [child.text(NAME_COL) for child in _children(item)]

    def _source_items(self) -> list[QTreeWidgetItem]:
        """The top-level rows, one a source."""
        root = self.tree.invisibleRootItem()
        return _children(root)

    def refresh(self) -> None:
        """List the sources from disk again (the results of earlier tests are kept)."""
        selected = self._selected()
        self.tree.clear()
        sources = load_sources()
        for source in sources:
            item = QTreeWidgetItem([source.name, source.url, source.key_label(), ""])
            item.setData(NAME_COL, _ROLE, source)
            self.tree.addTopLevelItem(item)
            self._show_result(item)
        if not sources:
            self.status.setText(
                "No remote servers yet. “Add…” one that speaks the OpenAI API "
                "(llama.cpp, vLLM, Ollama, LM Studio, another Ponder); its models are then "
                "listed here to load."
            )
        if selected is not None:
            again = self.source_item(selected[0].name)
            if again is not None and selected[1] is not None:
                again = next(
                    (c for c in _children(again) if c.text(NAME_COL) == selected[1]), again
                )
            if again is not None:
                again.setSelected(True)
        self._update_buttons()

    def _show_result(self, item: QTreeWidgetItem) -> None:
        source: RemoteSource = item.data(NAME_COL, _ROLE)
        item.takeChildren()
        result = self._results.get(source.name)
        if source.name in self._tests:
            text, tip = "testing…", ""
        elif result is None:
            text, tip = "not tested", ""
        elif isinstance(result, str):
            text, tip = f"⚠ {_short(result)}", result
        else:
            kind, models = result
            text, tip = f"✓ {len(models)} model(s) · {kind.value}", ""
            for m in models:
                ctx = f"{m.context_length}-token context" if m.context_length else ""
                child = QTreeWidgetItem([m.id, "", "", ctx])
                child.setData(NAME_COL, _ROLE, m)
                child.setToolTip(NAME_COL, "Load: double-click, or select and press Load")
                item.addChild(child)
            item.setExpanded(True)
        item.setText(STATUS_COL, text)
        item.setToolTip(STATUS_COL, tip)

    def _selected(self) -> tuple[RemoteSource, str | None] | None:
        """The selected source, and the model id when a model row is selected."""
        items = self.tree.selectedItems()
        if not items:
            return None
        item = items[0]
        parent = item.parent()
        if parent is not None:
            return parent.data(NAME_COL, _ROLE), item.text(NAME_COL)
        return item.data(NAME_COL, _ROLE), None

    def _on_tree_item_selection_changed(self) -> None:
        self._update_buttons()
        selected = self._selected()
        if selected is not None and selected[0].name in self._results:
            self.status.setText(self._result_text(selected[0].name))

    def _result_text(self, name: str) -> str:
        result = self._results.get(name)
        if result is None:
            return ""
        if isinstance(result, str):
            return f"⚠ {name}: {result}"
        kind, models = result
        listed = ", ".join(m.id for m in models[:8]) + (" …" if len(models) > 8 else "")
        return f"{name} answers ({kind.value}): {len(models)} model(s)" + (
            f": {listed}. Select one and press Load." if models else "."
        )

    def _update_buttons(self) -> None:
        selected = self._selected()
        self.load_button.setEnabled(selected is not None and selected[1] is not None)
        self.test_button.setEnabled(selected is not None)
        self.remove_button.setEnabled(selected is not None)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._tested_on_show:  # list every source's models when first shown
            self._tested_on_show = True
            for source in self.sources():
                if source.name not in self._results:
                    self.test(source.name)

    # -- actions -----------------------------------------------------------------------------

    def open_add_dialog(self) -> AddRemoteDialog:
        """Show the "Add a remote server" dialog (window-modal; returns at once)."""
        dialog = AddRemoteDialog(self)
        dialog.source_added.connect(self._on_dialog_source_added)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _on_dialog_source_added(self, source: RemoteSource) -> None:
        self._results.pop(source.name, None)
        self.refresh()
        item = self.source_item(source.name)
        if item is not None:
            self.tree.setCurrentItem(item)
        self.test(source.name)

    def test_selected(self) -> None:
        selected = self._selected()
        if selected is not None:
            self.test(selected[0].name)

    def test(self, name: str) -> None:
        """Connect to the source and list its models (in the background)."""
        source = find_source(name)
        if source is None:
            self.refresh()
            return
        request = self._tests.get(name, 0) + 1
        self._tests[name] = request
        item = self.source_item(name)
        if item is not None:
            self._show_result(item)
        self.status.setText(f"Connecting to {source.name} ({source.url})…")
        run_task(
            lambda: check_connection(source),
            lambda found: self._on_test_done(name, request, found),
            lambda err: self._on_test_done(name, request, _message(err)),
            context=self,
        )

    def _on_test_done(
        self, name: str, request: int, result: tuple[ServerKind, list[RemoteModel]] | str
    ) -> None:
        if self._tests.get(name) != request:
            return
        del self._tests[name]
        self._results[name] = result
        item = self.source_item(name)
        if item is not None:
            self._show_result(item)
        self.status.setText(self._result_text(name))
        self._update_buttons()

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        return ask_yes_no(self, title, text)

    def remove_selected(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        source = selected[0]
        key = " and its API key in the system keyring" if source.keyring else ""
        if not self.confirm("Remove remote server", f"Forget {source.name}{key}?\n{source.url}"):
            return
        try:
            remove_source(source.name)
        except PonderError as err:
            self.status.setText(f"⚠ {err}")
            return
        self._results.pop(source.name, None)
        self._tests.pop(source.name, None)
        self.refresh()
        self.status.setText(f"Removed {source.name}.")

    def load_selected(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        source, model = selected
        if model is None:
            return
        try:
            source.api_key()  # a keyring that cannot be read is said here, not as a 401
        except PonderError as err:
            self.status.setText(f"⚠ {err}")
            return
        self.status.setText(f"Loading {model} from {source.name}…")
        self.load_requested.emit(model_ref(source.name, model))


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    """The rows under ``item``, in order."""
    return [c for i in range(item.childCount()) if (c := item.child(i)) is not None]


def _short(message: str) -> str:
    """A few words for the status column (the whole message is its tooltip)."""
    low = message.lower()
    if code := re.search(r"\((\d{3}\b[^)]*)\)", message):
        return code.group(1)
    for words, short in (
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("no answer", "timed out"),
        ("is not set", "key variable not set"),
        ("keyring", "keyring unavailable"),
        ("cannot reach", "unreachable"),
    ):
        if words in low:
            return short
    return "failed"


def _message(err: BaseException) -> str:
    """What a failed test says to the user (a bug still shows its type)."""
    return str(err) if isinstance(err, PonderError) else f"{type(err).__name__}: {err}"
