"""Unexpected exceptions: logged to the platform log folder, shown in a dialog with a report."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

import platformdirs

from app import __version__, paths

log = logging.getLogger("ponder")


def log_dir() -> Path:
    root = paths.home()
    path = root / "logs" if root else Path(platformdirs.user_log_dir("Ponder"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup_logging() -> Path:
    path = log_dir() / "ponder.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


def install_crash_handler(show_dialog: bool) -> None:
    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        report = f"Ponder {__version__}\n" + "".join(traceback.format_exception(kind, value, tb))
        log.error("unexpected error\n%s", report)
        sys.stderr.write(report)
        if not show_dialog:
            return
        from PySide6.QtWidgets import QApplication, QMessageBox

        if QApplication.instance() is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Critical, "Ponder hit a bug", "Something went wrong inside Ponder."
        )
        box.setInformativeText(
            f"Your conversations are saved. The log is at {log_dir() / 'ponder.log'}."
        )
        box.setDetailedText(report)
        box.exec()

    sys.excepthook = hook
