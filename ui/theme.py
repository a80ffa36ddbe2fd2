"""Follow the OS light/dark theme; one small style sheet on top of the platform style."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def is_dark() -> bool:
    env = os.environ.get("PONDER_THEME")
    if env in ("dark", "light"):
        return env == "dark"
    app = QGuiApplication.instance()
    if app is None:
        return False
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = "#1e1f22", "#2b2d31", "#e6e6e6"
    from PySide6.QtGui import QColor

    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.Highlight: "#3d6fd9",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: base,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: "#8a8d93",
        QPalette.ColorRole.Link: "#7aa7ff",
    }
    for role, color in roles.items():
        p.setColor(role, QColor(color))
    return p


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    dark = is_dark()
    if dark:
        app.setPalette(dark_palette())
    accent = "#3d6fd9"
    user_bg = "#2f3540" if dark else "#eef3fb"
    bot_bg = "#25272b" if dark else "#ffffff"
    trace_bg = "#1b1c1f" if dark else "#f6f6f4"
    muted = "#9aa0a6" if dark else "#6b6f76"
    border = "#3a3d42" if dark else "#dedfe2"
    app.setStyleSheet(
        f"""
        QFrame#userMessage {{ background: {user_bg}; border-radius: 10px; }}
        QFrame#assistantMessage {{ background: {bot_bg}; border: 1px solid {border}; border-radius: 10px; }}
        QFrame#trace {{ background: {trace_bg}; border-left: 3px solid {accent}; border-radius: 6px; }}
        QPlainTextEdit#traceBody {{ background: transparent; color: {muted}; }}
        QFrame#userMessage QTextBrowser, QFrame#assistantMessage QTextBrowser {{ background: transparent; }}
        QLabel#messageStats {{ color: {muted}; font-size: 11px; }}
        QLabel#messageError {{ color: #d9534f; }}
        QLabel#hint {{ color: {muted}; }}
        QToolButton#traceToggle {{ color: {muted}; font-style: italic; }}
        QListView#conversations {{ border: none; }}
        QLabel#emptyTitle {{ font-size: 22px; font-weight: 600; }}
        """
    )
