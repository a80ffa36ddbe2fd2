"""The model card: what a model is, where it comes from, its license, and its variants.

A card opens for a catalog entry (shown at once, offline; the variants come from the hub) or
for any hub repository. The variants table shows each quantization's size and a fit badge for
this machine at the chosen context; the recommended variant is preselected.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.families import Family, get_family
from app.library.catalog import CatalogEntry, load_catalog
from app.library.fit import FitEstimate, FitVerdict, MachineMemory
from app.library.hub import QuantVariant, RepoDetails, repo_details
from app.library.metadata import ModelShape
from app.library.names import check_repo_id
from app.library.remote import repo_shape
from app.paths import models_dir
from ui.library.downloads import error_hint
from ui.library.models import VariantsModel
from ui.tasks import run_task

CONTEXTS = (4096, 8192, 16384, 32768, 65536, 131072)
_RANK = {
    FitVerdict.FITS_GPU: 0,
    FitVerdict.PARTIAL_OFFLOAD: 1,
    FitVerdict.CPU_ONLY: 2,
    FitVerdict.WONT_FIT: 3,
}


def recommend(
    fits: list[tuple[QuantVariant, FitEstimate]], wanted_quant: str | None
) -> QuantVariant | None:
    """The catalog's quant for this machine if the repo has it; else Q4_K_M if it runs; else
    the largest variant with the best fit."""
    usable = [(v, f) for v, f in fits if v.error is None]
    for quant in (wanted_quant, "Q4_K_M"):
        if not quant:
            continue
        hits = [
            (v, f)
            for v, f in usable
            if (v.quant or "").upper().removeprefix("UD-") == quant.upper()
            and f.verdict is not FitVerdict.WONT_FIT
        ]
        if hits:
            return min(hits, key=lambda vf: len(vf[0].name))[0]
    runnable = [(v, f) for v, f in usable if f.verdict is not FitVerdict.WONT_FIT]
    if not runnable:
        return None
    best = min(_RANK[f.verdict] for _, f in runnable)
    return max((v for v, f in runnable if _RANK[f.verdict] == best), key=lambda v: v.size)


def local_path_of(repo_id: str, variant: QuantVariant) -> Path | None:
    """Where Ponder keeps this variant once downloaded, if it is there."""
    publisher, name = check_repo_id(repo_id)
    folder = models_dir() / publisher / name
    path = folder if variant.kind == "mlx" else folder / variant.first_file.path
    return path if path.exists() else None


class ModelCard(QWidget):
    """Signals:
    download_clicked(object, object): (RepoDetails, QuantVariant) to download.
    load_clicked(str): load the local copy at this path.
    """

    download_clicked = Signal(object, object)
    load_clicked = Signal(str)

    def __init__(self, machine: MachineMemory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.machine = machine
        self.entry: CatalogEntry | None = None
        self.details: RepoDetails | None = None
        self.shape: ModelShape | None = None
        self._request = 0
        col = QVBoxLayout(self)
        self.title = QLabel("Choose a model", self)
        self.title.setObjectName("cardTitle")
        self.title.setStyleSheet("font-size: 18px; font-weight: 600;")
        self.title.setWordWrap(True)
        col.addWidget(self.title)
        self.about = QLabel(self)
        self.about.setWordWrap(True)
        self.about.setTextFormat(Qt.TextFormat.RichText)
        self.about.setOpenExternalLinks(False)
        self.about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.about)
        repo_row = QHBoxLayout()
        repo_row.addWidget(QLabel("Repository:", self))
        self.repo_combo = QComboBox(self)
        self.repo_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        repo_row.addWidget(self.repo_combo, 1)
        repo_row.addWidget(QLabel("Context:", self))
        self.context_combo = QComboBox(self)
        for n in CONTEXTS:
            self.context_combo.addItem(f"{n:,} tokens", n)
        self.context_combo.setCurrentIndex(1)
        repo_row.addWidget(self.context_combo)
        col.addLayout(repo_row)
        self.status = QLabel(self)
        self.status.setObjectName("cardStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.status)
        self.variants = VariantsModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("variants")
        self.table.setModel(self.variants)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        col.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.load_button = QPushButton("Load", self)
        self.download_button = QPushButton("Download", self)
        self.download_button.setDefault(True)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.download_button)
        col.addLayout(buttons)
        self.repo_combo.activated.connect(self._on_repo_combo_activated)
        self.context_combo.currentIndexChanged.connect(self._on_context_combo_changed)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.load_button.clicked.connect(self._on_load_button_clicked)
        self._update_buttons()

    # -- what is shown ---------------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return int(self.context_combo.currentData())

    def show_entry(self, entry: CatalogEntry) -> None:
        """A catalog entry: its facts at once, its variants from its first GGUF repository."""
        self.entry = entry
        self.title.setText(f"{entry.name} · {entry.params}")
        self.about.setText(self._about_entry(entry))
        self.repo_combo.clear()
        self.repo_combo.addItems(list(entry.gguf_repos))
        self.repo_combo.setEnabled(True)
        self._fetch(entry.gguf_repos[0])

    def show_repo(self, repo_id: str) -> None:
        """A hub repository (a catalog entry's facts are added when the catalog knows it)."""
        self.entry = load_catalog().for_repo(repo_id)
        self.title.setText(repo_id)
        self.about.setText(self._about_entry(self.entry) if self.entry else "")
        self.repo_combo.clear()
        self.repo_combo.addItem(repo_id)
        self.repo_combo.setEnabled(False)
        self._fetch(repo_id)

    def _about_entry(self, e: CatalogEntry) -> str:
        family = get_family(e.family)
        esc = html.escape
        lineage = []
        if e.teacher:
            lineage.append(f"teacher {esc(e.teacher)} → student {esc(e.name)}")
        if e.base_model:
            lineage.append(f"base model {esc(e.base_model)}")
        rec = e.recommended_for(self.machine)
        rec_text = f"{rec} for this machine" if rec else "too big for this machine's memory"
        ctx = f" · trained context {e.context_length:,}" if e.context_length else ""
        return (
            f"<p>{esc(e.lineage)}.</p>"
            f"<p><b>Family:</b> {esc(family.display_name)} "
            f"(reasoning format: {esc(_format_of(family))}){ctx}<br>"
            f"<b>Lineage:</b> {'; '.join(lineage) or 'trained from scratch'}<br>"
            f"<b>License:</b> {esc(e.license_name)} — {esc(e.obligations)}<br>"
            f"<b>Recommended:</b> {esc(rec_text)}</p>"
        )

    def _about_details(self, d: RepoDetails) -> str:
        esc = html.escape
        parts = []
        if d.base_models:
            rel = f" ({esc(d.base_model_relation)})" if d.base_model_relation else ""
            parts.append(f"<b>Base model:</b> {esc(', '.join(d.base_models))}{rel}")
        parts.append(f"<b>License:</b> {esc(d.license or 'not stated in the model card')}")
        parts.append(f"{d.downloads:,} downloads · {d.likes:,} likes")
        if d.gated:
            parts.append("<b>Gated:</b> needs a Hugging Face token with access")
        if d.refused:
            parts.append(f"{len(d.refused)} file(s) refused (unsafe names)")
        return "<p>" + "<br>".join(parts) + "</p>"

    # -- hub ------------------------------------------------------------------------------

    def _fetch(self, repo_id: str) -> None:
        self._request += 1
        request = self._request
        self.details = None
        self.variants.set_items([])
        self.status.setText(f"Reading {repo_id} on Hugging Face…")
        self.status.setProperty("error", False)
        self._update_buttons()

        def work() -> tuple[RepoDetails, ModelShape | None]:
            details = repo_details(repo_id)
            return details, repo_shape(details)

        run_task(
            work,
            lambda result: self._on_fetch_done(request, result),
            lambda err: self._on_fetch_failed(request, err),
            context=self,
        )

    def _on_fetch_done(self, request: int, result: tuple[RepoDetails, ModelShape | None]) -> None:
        if request != self._request:
            return
        self.details, self.shape = result
        if self.entry is None:
            self.about.setText(self._about_details(self.details))
        else:
            self.about.setText(self._about_entry(self.entry) + self._about_details(self.details))
        self._refit(select_recommended=True)

    def _on_fetch_failed(self, request: int, err: BaseException) -> None:
        if request != self._request:
            return
        message = str(err) if str(err) else type(err).__name__
        hint = error_hint(message)
        offline = " The catalog and your local models still work." if self.entry else ""
        self.status.setText(f"⚠ {message}\n{hint}{offline}")
        self.status.setProperty("error", True)
        self._update_buttons()

    def _refit(self, *, select_recommended: bool = False) -> None:
        """Fit badges (and the line that says at which context) for the chosen context."""
        if self.details is None:
            return
        n = len(self.details.variants)
        self.status.setText(
            f"{n} variant(s). Fit at {self.n_ctx:,} tokens of context; hover a badge for numbers."
            if n
            else "This repository has no GGUF or MLX model files."
        )
        selected = self.selected_variant()
        fits = [(v, v.fit(self.shape, self.n_ctx, self.machine)) for v in self.details.variants]
        wanted = self.entry.recommended_for(self.machine) if self.entry else None
        rec = recommend(fits, wanted)
        self.variants.recommended = rec.name if rec else None
        self.variants.set_items(fits)
        target = rec if select_recommended or selected is None else selected
        if target is not None:
            for row, (v, _) in enumerate(fits):
                if v.name == target.name:
                    self.table.selectionModel().select(
                        self.variants.index(row, 0),
                        QItemSelectionModel.SelectionFlag.ClearAndSelect
                        | QItemSelectionModel.SelectionFlag.Rows,
                    )
                    self.table.scrollTo(self.variants.index(row, 0))
        self._update_buttons()

    def selected_variant(self) -> QuantVariant | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.variants.item(rows[0].row())[0]

    # -- slots ------------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        v = self.selected_variant()
        local = local_path_of(self.details.repo_id, v) if self.details and v else None
        self.download_button.setEnabled(v is not None and v.error is None and local is None)
        self.download_button.setText("Downloaded" if local else "Download")
        self.load_button.setVisible(local is not None)

    def _on_repo_combo_activated(self, index: int) -> None:
        self._fetch(self.repo_combo.itemText(index))

    def _on_context_combo_changed(self, index: int) -> None:
        self._refit()

    def _on_download_button_clicked(self) -> None:
        v = self.selected_variant()
        if self.details is not None and v is not None:
            self.download_clicked.emit(self.details, v)

    def _on_load_button_clicked(self) -> None:
        v = self.selected_variant()
        if self.details is not None and v is not None:
            local = local_path_of(self.details.repo_id, v)
            if local is not None:
                self.load_clicked.emit(str(local))

    def refresh(self) -> None:
        """Re-check which variants are on disk (after a download finished)."""
        self._update_buttons()


def _format_of(family: Family) -> str:
    """A family's reasoning format in words: its name and tags (``<think>…</think>``)."""
    fmt = family.reasoning
    if fmt.open_tag and fmt.close_tag:
        return f"{fmt.name}, {fmt.open_tag}…{fmt.close_tag}"
    return fmt.name
