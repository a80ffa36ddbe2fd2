"""The downloads panel: one row per download with progress, speed, ETA and its controls.

The :class:`DownloadManager` reports from its worker threads; :class:`DownloadsView` hands
each report to the GUI thread through a queued signal and updates the row of that job.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.errors import PonderError
from app.library.downloads import DownloadInfo, DownloadManager, DownloadStatus
from app.library.fit import gib

TOKEN_HINT = (
    "To download gated or private models, add a Hugging Face token: accept the model's terms "
    "on its page, then set HF_TOKEN=hf_… in the environment before starting Ponder, or run "
    "`huggingface-cli login` (or `hf auth login`) once."
)
DISK_HINT = "Free some disk space, then press Resume: the part already downloaded is kept."
NETWORK_HINT = "The connection was lost; the part already downloaded is kept. Resume continues it."
RETRY_HINT = "Resume retries; the part already downloaded is kept."
NOT_FOUND_HINT = (
    "Hugging Face has no such repository or file: check its name; it may have been renamed, "
    "removed or made private."
)
# Where there is no download to resume (a model card, a search, a download not started).
DISK_HINT_AGAIN = "Free some disk space, then try again."
NETWORK_HINT_AGAIN = "Check the internet connection, then try again."
RETRY_HINT_AGAIN = "Try again in a moment."


def error_hint(message: str, *, download: bool = False) -> str:
    """What the user can do about a failed hub request, or (``download``) a failed download
    that the Resume button can continue."""
    low = message.lower()
    if "401" in low or "403" in low or "gated" in low or "token" in low:
        return TOKEN_HINT
    if "404" in low or "not found" in low:
        return NOT_FOUND_HINT
    if "disk space" in low or "no space" in low:
        return DISK_HINT if download else DISK_HINT_AGAIN
    if any(w in low for w in ("reach", "connect", "network", "timeout", "timed out", "offline")):
        return NETWORK_HINT if download else NETWORK_HINT_AGAIN
    return RETRY_HINT if download else RETRY_HINT_AGAIN


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def progress_text(info: DownloadInfo) -> str:
    done = f"{gib(info.bytes_done)} of {gib(info.bytes_total)}"
    if info.status is DownloadStatus.RUNNING:
        speed = f"{gib(info.speed)}/s" if info.speed else "starting…"
        return f"{done} · {speed} · {duration_text(info.eta)} left"
    if info.status is DownloadStatus.COMPLETED:
        return f"{gib(info.bytes_total)} · checksum verified ✓ · in the library"
    if info.status is DownloadStatus.FAILED:
        return f"{done} · failed: {info.error or 'unknown error'}"
    if info.status is DownloadStatus.CANCELLED:
        return "cancelled"
    verified = f" · {len(info.verified)} file(s) verified" if info.verified else ""
    return f"{done} · {info.status.value}{verified}"


class _Relay(QObject):
    """Signals:
    progressed(object): a DownloadInfo, emitted from a download thread.
    """

    progressed = Signal(object)


class DownloadRow(QFrame):
    """One download.

    Signals:
        load_clicked(str): load the finished model at this path.
    """

    load_clicked = Signal(str)

    def __init__(self, info: DownloadInfo, manager: DownloadManager, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("downloadRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.manager = manager
        self.info = info
        col = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel(f"<b>{info.repo_id}</b> · {info.variant}", self)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        top.addWidget(self.title, 1)
        self.pause_button = QPushButton("Pause", self)
        self.resume_button = QPushButton("Resume", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.load_button = QPushButton("Load", self)
        self.clear_button = QPushButton("Clear", self)
        for b in (
            self.pause_button,
            self.resume_button,
            self.cancel_button,
            self.load_button,
            self.clear_button,
        ):
            top.addWidget(b)
        col.addLayout(top)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        col.addWidget(self.bar)
        self.status = QLabel(self)
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        col.addWidget(self.status)
        self.hint = QLabel(self)
        self.hint.setObjectName("downloadHint")
        self.hint.setWordWrap(True)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.hint)
        self.pause_button.clicked.connect(lambda: self._act(self.manager.pause))
        self.resume_button.clicked.connect(lambda: self._act(self.manager.resume))
        self.cancel_button.clicked.connect(lambda: self._act(self.manager.cancel))
        self.clear_button.clicked.connect(lambda: self._act(self.manager.forget))
        self.load_button.clicked.connect(lambda: self.load_clicked.emit(str(self.info.dest)))
        self.update_info(info)

    def _act(self, action: Callable[[str], None]) -> None:
        try:
            action(self.info.id)
        except PonderError as err:
            self.hint.setText(str(err))
            self.hint.show()

    def update_info(self, info: DownloadInfo) -> None:
        self.info = info
        s = info.status
        self.bar.setValue(int(info.fraction * 1000))
        self.status.setText(progress_text(info))
        self.pause_button.setVisible(s in (DownloadStatus.RUNNING, DownloadStatus.QUEUED))
        self.resume_button.setVisible(s in (DownloadStatus.PAUSED, DownloadStatus.FAILED))
        self.cancel_button.setVisible(not s.finished)
        self.load_button.setVisible(s is DownloadStatus.COMPLETED)
        self.clear_button.setVisible(s.finished)
        if s is DownloadStatus.FAILED:
            self.hint.setText(error_hint(info.error or "", download=True))
            self.hint.show()
        else:
            self.hint.clear()
            self.hint.hide()


class DownloadsView(QWidget):
    """Every download of the manager, newest last.

    Signals:
        download_finished(object): a DownloadInfo that just completed (its model is installed).
        load_requested(str): the user asked to load a finished download.
    """

    download_finished = Signal(object)
    load_requested = Signal(str)

    def __init__(
        self, parent: QWidget | None = None, manager: DownloadManager | None = None
    ) -> None:
        super().__init__(parent)
        self._relay = _Relay(self)
        self._relay.progressed.connect(self._on_manager_progressed)
        self.manager = manager or DownloadManager(max_concurrent=2)
        self.manager.on_progress = self._relay.progressed.emit
        self.rows: dict[str, DownloadRow] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel("No downloads yet. Open a model card and press Download.", self)
        self.empty.setObjectName("hint")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget(scroll)
        self._list = QVBoxLayout(inner)
        self._list.addStretch(1)
        scroll.setWidget(inner)
        outer.addWidget(scroll, 1)
        for info in self.manager.jobs():
            if info.status is not DownloadStatus.CANCELLED:
                self._row_for(info)
        self._update_empty()

    def _update_empty(self) -> None:
        self.empty.setVisible(not self.rows)

    def _row_for(self, info: DownloadInfo) -> DownloadRow:
        row = self.rows.get(info.id)
        if row is None:
            row = DownloadRow(info, self.manager, self)
            row.load_clicked.connect(self.load_requested)
            row.clear_button.clicked.connect(lambda: self._remove_row(info.id))
            self._list.insertWidget(self._list.count() - 1, row)
            self.rows[info.id] = row
            self._update_empty()
        return row

    def _remove_row(self, job_id: str) -> None:
        row = self.rows.pop(job_id, None)
        if row is not None:
            row.deleteLater()
        self._update_empty()

    def track(self, info: DownloadInfo) -> DownloadRow:
        """Show a job just enqueued (its progress follows through the manager's reports)."""
        row = self._row_for(info)
        row.update_info(self.manager.get(info.id))
        return row

    def _on_manager_progressed(self, info: DownloadInfo) -> None:
        if info.id not in self.rows and info.status is DownloadStatus.CANCELLED:
            return
        try:
            current = self.manager.get(info.id)  # reports may arrive out of order: the latest
        except PonderError:
            return  # cleared meanwhile
        row = self._row_for(info)
        was = row.info.status
        row.update_info(current)
        if current.status is DownloadStatus.COMPLETED and was is not DownloadStatus.COMPLETED:
            self.download_finished.emit(current)

    def shutdown(self) -> None:
        """Pause running downloads (they resume from their partial files next time)."""
        self.manager.on_progress = None
        self.manager.shutdown(timeout=5.0)
