"""The sidebar: conversations (pinned first) and full-text search results."""

from __future__ import annotations

import html
from collections.abc import Iterable

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import QAbstractItemView

from app.store.domain import ConversationSummary, SearchHit

IdRole = Qt.ItemDataRole.UserRole + 1
PinnedRole = Qt.ItemDataRole.UserRole + 2
MessageIdRole = Qt.ItemDataRole.UserRole + 3

_Index = QModelIndex | QPersistentModelIndex


class ConversationListModel(QAbstractListModel):
    """Conversation summaries as a flat list."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[ConversationSummary] = []

    def set_items(self, items: list[ConversationSummary]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def item(self, row: int) -> ConversationSummary:
        return self._items[row]

    def row_of(self, conversation_id: int) -> int:
        for i, item in enumerate(self._items):
            if item.id == conversation_id:
                return i
        return -1

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            title = item.title or "New chat"
            return ("📌 " if item.pinned else "") + title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.title}\nupdated {item.updated_at:%Y-%m-%d %H:%M}"
        if role == IdRole:
            return item.id
        if role == PinnedRole:
            return item.pinned
        return None


class SearchResultModel(QAbstractListModel):
    """Search hits: the conversation title and a snippet with the match in bold."""

    MARK = ("\x02", "\x03")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._hits: list[SearchHit] = []

    def set_hits(self, hits: list[SearchHit]) -> None:
        self.beginResetModel()
        self._hits = list(hits)
        self.endResetModel()

    def hit(self, row: int) -> SearchHit:
        return self._hits[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._hits):
            return None
        hit = self._hits[index.row()]
        plain = hit.snippet.replace(self.MARK[0], "").replace(self.MARK[1], "")
        if role == Qt.ItemDataRole.DisplayRole:
            where = {"reasoning": " (reasoning)", "title": ""}.get(hit.field, "")
            return f"{hit.conversation_title}{where}\n{plain}"
        if role == Qt.ItemDataRole.ToolTipRole:
            snippet = html.escape(hit.snippet)
            return snippet.replace(self.MARK[0], "<b>").replace(self.MARK[1], "</b>")
        if role == IdRole:
            return hit.conversation_id
        if role == MessageIdRole:
            return hit.message_id
        return None


def selected_ids(view: QAbstractItemView) -> list[int]:
    """The conversations selected in the sidebar (list or search hits), top to bottom, once."""
    rows = sorted(view.selectionModel().selectedRows(), key=lambda index: index.row())
    return _unique(index.data(IdRole) for index in rows)


def listed_ids(model: QAbstractItemModel) -> list[int]:
    """Every conversation the model lists (a search's hits: each conversation once)."""
    return _unique(model.index(row, 0).data(IdRole) for row in range(model.rowCount()))


def _unique(ids: Iterable[int | None]) -> list[int]:
    return list(dict.fromkeys(int(i) for i in ids if i is not None))
