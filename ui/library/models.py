"""Table models of the library screen: catalog entries, hub results, local models, variants.

Each model holds plain domain dataclasses from :mod:`app.library` and is replaced wholesale
(``set_items``) on the GUI thread; ``ItemRole`` gives the dataclass of a row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from app.display_names import distinct_names
from app.families import get_family
from app.library.catalog import CatalogEntry
from app.library.fit import FitEstimate, FitVerdict, MachineMemory, gib
from app.library.hub import HubModel, QuantVariant
from app.library.local import LocalModel, ModelSource

ItemRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2

T = TypeVar("T")
_Index = QModelIndex | QPersistentModelIndex

SOURCE_LABELS = {
    ModelSource.PONDER: "Ponder",
    ModelSource.HF_CACHE: "HF cache",
    ModelSource.LMSTUDIO: "LM Studio",
    ModelSource.USER: "added",
}

FIT_COLORS = {
    FitVerdict.FITS_GPU: "#2e7d32",
    FitVerdict.PARTIAL_OFFLOAD: "#1565c0",
    FitVerdict.CPU_ONLY: "#b26a00",
    FitVerdict.WONT_FIT: "#c62828",
}


def size_text(n: int | None) -> str:
    return gib(n) if n else "?"


def fit_badge(fit: FitEstimate) -> str:
    """Short badge text: "fits on GPU", "partial offload", "CPU only", "won't fit"."""
    if fit.verdict is FitVerdict.PARTIAL_OFFLOAD:
        return "partial offload"
    return fit.label


def fit_tooltip(fit: FitEstimate) -> str:
    text = fit.summary
    if fit.verdict is FitVerdict.PARTIAL_OFFLOAD and fit.n_layer:
        text += f"\n{fit.gpu_layers} of {fit.n_layer} layers on the GPU"
    return text


class _Column(Generic[T]):
    def __init__(
        self,
        title: str,
        text: Callable[[T], str],
        sort: Callable[[T], object] | None = None,
        tooltip: Callable[[T], str | None] | None = None,
        color: Callable[[T], str | None] | None = None,
    ) -> None:
        self.title = title
        self.text = text
        self.sort = sort
        self.tooltip = tooltip
        self.color = color


class RowsModel(QAbstractTableModel, Generic[T]):
    """A read-only table over a list of dataclasses, one row each."""

    def __init__(self, columns: Sequence[_Column[T]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._items: list[T] = []

    def set_items(self, items: Sequence[T]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def items(self) -> list[T]:
        return list(self._items)

    def item(self, row: int) -> T:
        return self._items[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self._columns)
        ):
            return self._columns[section].title
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not (0 <= index.row() < len(self._items)):
            return None
        if not (0 <= index.column() < len(self._columns)):
            return None
        item = self._items[index.row()]
        column = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(item)
        if role == ItemRole:
            return item
        if role == SortRole:
            return column.sort(item) if column.sort else column.text(item)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(item)
        if role == Qt.ItemDataRole.ForegroundRole and column.color is not None:
            color = column.color(item)
            return QColor(color) if color else None
        return None


# --- the curated catalog ----------------------------------------------------------------------


class CatalogModel(RowsModel[CatalogEntry]):
    """The curated catalog, with the quantization recommended for ``machine``."""

    def __init__(self, machine: MachineMemory, parent: QObject | None = None) -> None:
        self.machine = machine

        def recommended(e: CatalogEntry) -> str:
            return e.recommended_for(self.machine) or "too big for this machine"

        super().__init__(
            [
                _Column("Model", lambda e: e.name, tooltip=lambda e: e.lineage),
                _Column("Size", lambda e: e.params),
                _Column("Family", lambda e: get_family(e.family).display_name),
                _Column("License", lambda e: e.license_name, tooltip=lambda e: e.obligations),
                _Column(
                    "For this machine",
                    recommended,
                    color=lambda e: None if e.recommended_for(self.machine) else "#9aa0a6",
                ),
            ],
            parent,
        )


# --- hub search -------------------------------------------------------------------------------


def _date(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%d") if d else ""


class HubResultsModel(RowsModel[HubModel]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(
            [
                _Column(
                    "Repository",
                    lambda m: m.repo_id + ("  🔒" if m.gated else ""),
                    tooltip=lambda m: "gated: needs a Hugging Face token" if m.gated else None,
                ),
                _Column("Kind", lambda m: m.kind.upper()),
                _Column("Downloads", lambda m: f"{m.downloads:,}", sort=lambda m: m.downloads),
                _Column("Likes", lambda m: f"{m.likes:,}", sort=lambda m: m.likes),
                _Column("Updated", lambda m: _date(m.last_modified)),
            ],
            parent,
        )


# --- models on this machine -------------------------------------------------------------------


def _context(m: LocalModel) -> str:
    ctx = m.metadata.context_length if m.metadata else None
    return f"{ctx:,}" if ctx else ""


def _local_tooltip(m: LocalModel) -> str:
    lines = [str(m.path)]
    if m.error:
        lines.append(f"Cannot be used: {m.error}")
    elif m.metadata:
        lines.append(f"architecture {m.metadata.architecture}")
    return "\n".join(lines)


class LocalModelsModel(RowsModel[LocalModel]):
    """Models on this machine; two that would look the same show their file names."""

    def __init__(self, parent: QObject | None = None) -> None:
        self._names: dict[Path, str] = {}
        super().__init__(
            [
                _Column("Model", lambda m: self._names.get(m.path, m.name), tooltip=_local_tooltip),
                _Column("Where", lambda m: SOURCE_LABELS[m.source], tooltip=lambda m: m.id),
                _Column("Quant", lambda m: m.quant or ""),
                _Column("Size", lambda m: size_text(m.size), sort=lambda m: m.size),
                _Column("Context", _context),
                _Column(
                    "Family",
                    lambda m: (
                        f"{m.metadata.family_name} ({m.metadata.architecture})"
                        if m.metadata
                        else ""
                    ),
                ),
                _Column(
                    "Status",
                    lambda m: "ready" if m.usable else f"unusable: {m.error}",
                    tooltip=lambda m: m.error,
                    color=lambda m: None if m.usable else "#c62828",
                ),
            ],
            parent,
        )

    def set_items(self, items: Sequence[LocalModel]) -> None:
        shown = distinct_names([(m.name, str(m.path)) for m in items])
        self._names = {m.path: name for m, name in zip(items, shown, strict=True)}
        super().set_items(items)

    def row_of_path(self, path: str) -> int:
        for i, m in enumerate(self._items):
            if str(m.path) == path:
                return i
        return -1


# --- a repository's variants ------------------------------------------------------------------


class VariantsModel(RowsModel[tuple[QuantVariant, FitEstimate]]):
    """A repository's quantization variants with their fit for this machine."""

    def __init__(self, parent: QObject | None = None) -> None:
        self.recommended: str | None = None
        super().__init__(
            [
                _Column(
                    "Variant",
                    lambda vf: (
                        vf[0].name + ("  ★ recommended" if vf[0].name == self.recommended else "")
                    ),
                    tooltip=lambda vf: "\n".join(f.path for f in vf[0].files),
                ),
                _Column("Quant", lambda vf: vf[0].quant or ""),
                _Column(
                    "Size",
                    lambda vf: (
                        size_text(vf[0].size)
                        + (f" ({len(vf[0].files)} parts)" if vf[0].split else "")
                    ),
                    sort=lambda vf: vf[0].size,
                ),
                _Column(
                    "Fit",
                    lambda vf: vf[0].error or fit_badge(vf[1]),
                    tooltip=lambda vf: vf[0].error or fit_tooltip(vf[1]),
                    color=lambda vf: "#c62828" if vf[0].error else FIT_COLORS[vf[1].verdict],
                ),
            ],
            parent,
        )
