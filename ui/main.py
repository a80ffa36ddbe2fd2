"""Start the desktop app: ``ponder``, ``ponder gui``, ``ponder --self-test [--screenshot PATH]``."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

#: When the renderer warm-up starts, after the window is shown.
WARM_UP_DELAY_MS = 800


def run(
    argv: Sequence[str] = (),
    *,
    self_test: bool = False,
    screenshot: str | None = None,
    crash_dialog: bool = True,
) -> int:
    temp_home = None
    if self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        temp_home = tempfile.TemporaryDirectory(prefix="ponder-self-test-")
        os.environ["PONDER_HOME"] = temp_home.name
        crash_dialog = False

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.crash import install_crash_handler, setup_logging
    from ui.theme import apply_theme
    from ui.window import MainWindow

    setup_logging()
    install_crash_handler(crash_dialog)
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("Ponder")
    app.setOrganizationName("Ponder")
    app.setDesktopFileName("ponder")  # Wayland: match packaging/linux/ponder.desktop
    icon = _icon_path()
    if icon is not None:
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)  # type: ignore[arg-type]
    window = MainWindow()
    window.show()
    from ui.warmup import warm_up

    # After the history list is in (it opens on a pool thread): both need the GIL.
    QTimer.singleShot(WARM_UP_DELAY_MS, warm_up)
    if not self_test:
        if window.settings.last_model_path and os.path.exists(window.settings.last_model_path):
            window.load_model(window.settings.last_model_path)
        code = int(app.exec())
        _settle_pool()
        return code

    result = {"code": 1}

    def finish() -> None:
        try:
            if screenshot:
                window.grab().save(screenshot)
            print(f"self-test ok: window {window.width()}x{window.height()}")
            result["code"] = 0
        finally:
            window.close()
            app.quit()

    QTimer.singleShot(300, finish)
    app.exec()
    _settle_pool()
    if temp_home is not None:
        temp_home.cleanup()
    return result["code"]


def _settle_pool(timeout_ms: int = 3000) -> None:
    """Let background jobs (a folder scan, the renderer warm-up) end before Qt is torn down."""
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(timeout_ms)


def _icon_path() -> Path | None:
    """The app icon: in a PyInstaller bundle under ``sys._MEIPASS``, else in the checkout."""
    root = getattr(sys, "_MEIPASS", None) or Path(__file__).resolve().parent.parent
    path = Path(root) / "assets" / "ponder-256.png"
    return path if path.is_file() else None
