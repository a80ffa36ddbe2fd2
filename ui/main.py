"""Start the desktop app: ``ponder``, ``ponder gui``, ``ponder --self-test [--screenshot PATH]``.

SIGINT (Ctrl+C in the terminal that started it) and SIGTERM close the window as its close
button does (the answer being written is saved, the engine worker stopped) and the app exits
with 130 / 143.

Before Qt loads, a missing system library of its xcb plugin is reported with the install
line for this distribution (``ui.platform_check``) and the exit status is 1, not Qt's abort.

Test hook: with ``PONDER_TEST_PROMPT`` set, the window sends that text once the model it
opens at start (the settings' last model) has loaded — how the process-lifetime tests get a
real window generating without driving it from inside.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.window import MainWindow

#: When the renderer warm-up starts, after the window is shown.
WARM_UP_DELAY_MS = 800
TEST_PROMPT_ENV = "PONDER_TEST_PROMPT"
_QUIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(
    argv: Sequence[str] = (),
    *,
    self_test: bool = False,
    screenshot: str | None = None,
    crash_dialog: bool = True,
) -> int:
    temp_home = None
    failure = _platform_failure(self_test)
    if failure:
        print(failure, file=sys.stderr)
        return 1
    if self_test:
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
    running = QApplication.instance()
    app = running if isinstance(running, QApplication) else QApplication([sys.argv[0], *argv])
    app.setApplicationName("Ponder")
    app.setOrganizationName("Ponder")
    app.setDesktopFileName("ponder")  # Wayland: match packaging/linux/ponder.desktop
    icon = _icon_path()
    if icon is not None:
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)
    window = MainWindow()
    window.show()
    from ui.answers.warmup import warm_up

    # After the history list is in (it opens on a pool thread): both need the GIL.
    QTimer.singleShot(WARM_UP_DELAY_MS, warm_up)
    if not self_test:
        _send_test_prompt(window)
        window.reload_last_model()
        quit_on_signal = _QuitOnSignal(window)
        try:
            code = int(app.exec())
        finally:
            quit_on_signal.uninstall()
        _settle_pool()
        return quit_on_signal.exit_code or code

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


def _platform_failure(self_test: bool) -> str | None:
    """Why Qt could not open a window here (None when it can): checked before Qt aborts.

    The self-test uses the real platform plugin when a display is present (offscreen
    otherwise) and, outside a bundle, loads it in a child process first, so that a plugin
    that cannot load fails with its message instead of an abort.
    """
    from ui.platform_check import NO_DISPLAY, has_display, needs_display, uses_xcb, xcb_problem

    if self_test and not os.environ.get("QT_QPA_PLATFORM") and not has_display(os.environ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if needs_display(os.environ, sys.platform):
        return NO_DISPLAY
    if uses_xcb(os.environ):
        problem = xcb_problem()
        if problem is not None:
            return problem.message
    if self_test and not getattr(sys, "frozen", False):
        return _probe_platform()
    return None


_PROBE = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(sys.argv[:1])\n"
    "print(app.platformName())\n"
)


def _probe_platform(timeout: float = 120) -> str | None:
    """Start Qt's platform plugin in a child process; its error when it cannot load."""
    import subprocess

    platform = os.environ.get("QT_QPA_PLATFORM") or "the default"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as err:
        return f"ponder --self-test: could not start Qt's platform plugin ({platform}): {err}"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if line.strip()][-6:]
    detail = "\n  ".join(lines) or f"exit status {done.returncode}"
    return (
        f"ponder --self-test: Qt's platform plugin ({platform}) cannot load:\n  {detail}\n"
        "Without a display, unset DISPLAY/WAYLAND_DISPLAY or set QT_QPA_PLATFORM=offscreen."
    )


def _settle_pool(timeout_ms: int = 3000) -> None:
    """Let background jobs (a folder scan, the renderer warm-up) end before Qt is torn down."""
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(timeout_ms)


def _icon_path() -> Path | None:
    """The app icon: in a PyInstaller bundle under ``sys._MEIPASS``, else in the checkout."""
    root = getattr(sys, "_MEIPASS", None) or Path(__file__).resolve().parent.parent
    path = Path(root) / "assets" / "ponder-256.png"
    return path if path.is_file() else None


class _QuitOnSignal:
    """SIGINT and SIGTERM close the window cleanly; the exit code is 128 + the signal.

    Python runs a signal handler only when the main thread runs Python code, which Qt's event
    loop in C++ may not do for a long while; the handler's wake-up byte (``set_wakeup_fd``) on
    a socket that a :class:`QSocketNotifier` watches makes it run at once.
    """

    def __init__(self, window: MainWindow) -> None:
        from PySide6.QtCore import QSocketNotifier

        self.exit_code = 0
        self._window = window
        self._reader, self._writer = socket.socketpair()
        for sock in (self._reader, self._writer):
            sock.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._on_notifier_activated)
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in _QUIT_SIGNALS}

    def _on_notifier_activated(self) -> None:
        try:
            while self._reader.recv(512):
                pass
        except OSError:  # drained (BlockingIOError) or closed
            pass

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.exit_code:
            return  # already closing
        self.exit_code = 128 + signum
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        def close() -> None:
            self._window.close()  # saves the answer being written, stops the worker
            QApplication.exit(self.exit_code)

        QTimer.singleShot(0, close)  # not inside the handler: it may interrupt any slot

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._reader.close()
        self._writer.close()


def _send_test_prompt(window: MainWindow) -> None:
    """With ``PONDER_TEST_PROMPT`` set: send it once the first model has loaded (tests)."""
    prompt = os.environ.get(TEST_PROMPT_ENV)
    if not prompt:
        return

    def send(_info: object) -> None:
        window.bridge.model_loaded.disconnect(send)
        window.send(prompt)

    window.bridge.model_loaded.connect(send)
