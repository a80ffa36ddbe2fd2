"""The first-run page: no model on this machine and none loaded.

It recommends one distilled reasoning model for this machine's memory, downloads it with one
click (through the library's download manager) and asks the window to load it. Offline, it
says so and offers to add a model file the user already has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.library.errors import HubOfflineError, HubUnreachableError
from app.library.first_run import first_model, lookup_variant
from app.library.fit import MachineMemory, gib
from ui.tasks import run_task

# The hub client and the download manager (huggingface_hub: half a second to import) are
# imported when the user asks for a download, not when the page is shown at start-up.
if TYPE_CHECKING:
    from app.library.hub import QuantVariant, RepoDetails
    from ui.library.view import LibraryView


def _memory_text(machine: MachineMemory) -> str:
    """ "16.0 GiB of memory, GPU 8.0 GiB" or "16.0 GiB of memory, GPU not detected"."""
    gpu = f"GPU {gib(machine.gpu_budget)}" if machine.gpu_budget else "GPU not detected"
    return f"{gib(machine.total_ram)} of memory, {gpu}"


class WelcomePage(QWidget):
    """Signals:
    load_requested(str): the recommended model is downloaded: load it and open a chat.
    add_file_clicked(): the user wants to add a model file they have.
    library_clicked(): the user wants to browse the library.
    """

    load_requested = Signal(str)
    add_file_clicked = Signal()
    library_clicked = Signal()

    def __init__(
        self,
        machine: MachineMemory,
        library: Callable[[], LibraryView],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.machine = machine
        self._library = library
        self.entry, self.quant = first_model(machine)
        self.job_id: str | None = None
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        box = QWidget(self)
        box.setMaximumWidth(640)
        col = QVBoxLayout(box)
        title = QLabel("Welcome to Ponder", box)
        title.setObjectName("emptyTitle")
        col.addWidget(title)
        intro = QLabel(
            "Ponder runs reasoning models on this computer: you watch the model think, then "
            "read its answer. Nothing leaves your machine.",
            box,
        )
        intro.setWordWrap(True)
        col.addWidget(intro)
        e = self.entry
        self.recommendation = QLabel(box)
        self.recommendation.setObjectName("welcomeRecommendation")
        self.recommendation.setWordWrap(True)
        self.recommendation.setTextFormat(Qt.TextFormat.RichText)
        self.recommendation.setText(
            f"<p>For this machine ({_memory_text(machine)}) we suggest "
            f"<b>{e.name}</b> ({self.quant}): {e.lineage}.</p>"
            f"<p style='color:gray'>{e.license_name}: {e.obligations}</p>"
        )
        col.addWidget(self.recommendation)
        buttons = QHBoxLayout()
        self.download_button = QPushButton(f"Download {e.name} and start", box)
        self.download_button.setDefault(True)
        buttons.addWidget(self.download_button)
        self.add_file_button = QPushButton("Add a model file…", box)
        buttons.addWidget(self.add_file_button)
        self.library_button = QPushButton("Browse the library", box)
        buttons.addWidget(self.library_button)
        buttons.addStretch(1)
        col.addLayout(buttons)
        self.progress = QProgressBar(box)
        self.progress.setRange(0, 1000)
        self.progress.hide()
        col.addWidget(self.progress)
        self.status = QLabel(box)
        self.status.setObjectName("welcomeStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box, 4)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self._poll = QTimer(self)
        self._poll.setInterval(250)
        self._poll.timeout.connect(self._on_poll_timeout)
        self.download_button.clicked.connect(self.start_download)
        self.add_file_button.clicked.connect(self.add_file_clicked)
        self.library_button.clicked.connect(self.library_clicked)

    def start_download(self) -> None:
        """Find the recommended file on the hub (in the background), then download it."""
        self.download_button.setEnabled(False)
        self.status.setText(f"Looking up {self.entry.name} on Hugging Face…")
        entry, quant = self.entry, self.quant

        def work() -> tuple[RepoDetails, QuantVariant]:
            return lookup_variant(entry, quant)

        run_task(work, self._on_lookup_done, self._on_lookup_failed, context=self)

    def _on_lookup_done(self, result: tuple[RepoDetails, QuantVariant]) -> None:
        details, variant = result
        info = self._library().download(details, variant)
        if info is None:
            self.download_button.setEnabled(True)
            self.status.setText("The download could not start; see the library's Downloads.")
            return
        self.job_id = info.id
        self.progress.show()
        self._on_poll_timeout()
        self._poll.start()

    def _on_lookup_failed(self, err: BaseException) -> None:
        self.download_button.setEnabled(True)
        if isinstance(err, HubUnreachableError | HubOfflineError):
            self.status.setText(
                f"⚠ Ponder cannot reach Hugging Face right now, so it cannot download a model "
                f"({err}).\nIf you already have a GGUF model file, press “Add a model file…”."
            )
        else:
            from ui.library.downloads import error_hint

            self.status.setText(f"⚠ {err}\n{error_hint(str(err))}")

    def _on_poll_timeout(self) -> None:
        if self.job_id is None:
            return
        try:
            info = self._library().downloads.manager.get(self.job_id)
        except Exception:
            self._poll.stop()
            return
        self.progress.setValue(int(info.fraction * 1000))
        from app.library.downloads import DownloadStatus
        from ui.library.downloads import error_hint, progress_text

        self.status.setText(f"{info.variant}: {progress_text(info)}")
        if info.status is DownloadStatus.COMPLETED:
            self._poll.stop()
            self.status.setText(f"Downloaded and verified. Loading {self.entry.name}…")
            self.load_requested.emit(str(info.dest))
        elif info.status is DownloadStatus.FAILED:
            self._poll.stop()
            self.download_button.setEnabled(True)
            self.download_button.setText("Try again")
            self.status.setText(f"⚠ {info.error}\n{error_hint(info.error or '')}")
        elif info.status in (DownloadStatus.PAUSED, DownloadStatus.CANCELLED):
            self._poll.stop()
            self.download_button.setEnabled(True)
