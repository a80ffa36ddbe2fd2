"""The model bar: which model is loaded, load/unload, progress, memory, engine status."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from app.display_names import path_display_name
from app.engine import Backend, ModelInfo
from app.families import get_family


def _address(url: str) -> str:
    """``http://127.0.0.1:8642/v1`` → ``127.0.0.1:8642``."""
    return url.removeprefix("http://").removesuffix("/v1")


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


class ModelBar(QWidget):
    """Signals:
    open_clicked(): choose a model file (Ctrl+L).
    unload_clicked(): unload the model.
    library_clicked(): open the model library (Ctrl+Shift+L).
    serve_toggled(bool): serve the loaded model over the OpenAI-compatible API, or stop.
    """

    open_clicked = Signal()
    unload_clicked = Signal()
    library_clicked = Signal()
    serve_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 8, 16, 4)
        self.name = QLabel("No model loaded", self)
        self.name.setObjectName("modelName")
        # Long names and figures are cut rather than widening the window (and squeezing the
        # sidebar when Settings opens); the tooltip has all of it.
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.name.setMinimumWidth(80)
        row.addWidget(self.name, 1)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        row.addWidget(self.progress)
        self.status = QLabel("", self)
        self.status.setObjectName("hint")
        row.addWidget(self.status)
        self.memory = QLabel("", self)
        self.memory.setObjectName("hint")
        row.addWidget(self.memory)
        self.open_button = QPushButton("Open model…", self)
        self.open_button.setToolTip("Choose a GGUF model file (Ctrl+L)")
        self.open_button.clicked.connect(self.open_clicked)
        row.addWidget(self.open_button)
        self.library_button = QPushButton("Library", self)
        self.library_button.setToolTip("Find, download and manage models (Ctrl+Shift+L)")
        self.library_button.clicked.connect(self.library_clicked)
        row.addWidget(self.library_button)
        self.serve_button = QPushButton("Serve API", self)
        self.serve_button.setCheckable(True)
        self.serve_button.setToolTip(
            "Answer OpenAI-compatible requests on this computer (127.0.0.1) with the loaded "
            "model; they wait in line with your own messages"
        )
        self.serve_button.toggled.connect(self.serve_toggled)
        self.serve_button.hide()
        row.addWidget(self.serve_button)
        self.unload_button = QPushButton("Unload", self)
        self.unload_button.clicked.connect(self.unload_clicked)
        self.unload_button.hide()
        row.addWidget(self.unload_button)
        self._idle_status = ""  # what the status says while nothing is being generated
        self._generating = False

    def set_loading(self, path: str) -> None:
        self.name.setText(f"Loading {path.rsplit('/', 1)[-1]}…")
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("")

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(int(fraction * 100))

    def set_loaded(self, info: ModelInfo) -> None:
        family = get_family(info.family_id)
        self.progress.hide()
        where = info.placement
        name = html.escape(path_display_name(info.path))
        self.name.setText(f"<b>{name}</b> · {family.display_name} · {info.n_ctx:,} ctx · {where}")
        self.name.setToolTip(
            f"{info.path}\narchitecture {info.architecture}, trained context {info.trained_context:,}\n"
            f"template: {info.template_source}, threads {info.n_threads}"
        )
        self.unload_button.show()
        self.serve_button.setVisible(info.backend is not Backend.REMOTE)
        self._set_idle_status("ready")

    def set_failed(self, message: str) -> None:
        self.serve_button.hide()
        self.progress.hide()
        self.name.setText("No model loaded")
        self._idle_status = message[:120]
        self.status.setText(message[:120])
        self.status.setToolTip(message)
        self.unload_button.hide()

    def set_serving(self, url: str) -> None:
        """Show the API's address ("" when it is off); does not signal ``serve_toggled``."""
        self.serve_button.blockSignals(True)
        self.serve_button.setChecked(bool(url))
        self.serve_button.blockSignals(False)
        self.serve_button.setText("Serving" if url else "Serve API")
        self.serve_button.setToolTip(
            f"OpenAI-compatible API at {url} (click to stop)"
            if url
            else "Answer OpenAI-compatible requests on this computer (127.0.0.1) with the "
            "loaded model; they wait in line with your own messages"
        )
        self._set_idle_status(f"API {_address(url)}" if url else "ready")
        self.status.setToolTip(url)

    def set_server_state(self, url: str, busy: bool, queued: int) -> None:
        waiting = f" · {queued} waiting" if queued else ""
        self.status.setText(f"API {_address(url)} · {'answering' if busy else 'idle'}{waiting}")

    def set_unloaded(self) -> None:
        self.serve_button.hide()
        self.progress.hide()
        self.name.setText("No model loaded")
        self._idle_status = ""
        self.status.setText("")
        self.memory.setText("")
        self.unload_button.hide()

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_generating(self, generating: bool) -> None:
        """An answer is being written (or no longer): the status says so, not "ready"."""
        self._generating = generating
        self._set_idle_status(self._idle_status)

    def _set_idle_status(self, text: str) -> None:
        self._idle_status = text
        if not self._generating:
            self.status.setText(text)
        elif text in ("", "ready"):
            self.status.setText("generating…")
        else:
            self.status.setText(f"{text} · generating…")

    def set_memory(self, rss_bytes: int | None) -> None:
        self.memory.setText(f"engine {_gib(rss_bytes)}" if rss_bytes else "")
