"""The main window for a test: made, shown, closed at the end; a model loaded into it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.store import Store
from ui.window import MainWindow

LOAD_WAIT_MS = 240_000  # loading the real model on a busy two-core machine


def open_window(
    qtbot: Any,
    *,
    first_run: bool = False,
    store: Store | None = None,
    size: tuple[int, int] | None = None,
    show: bool = True,
) -> MainWindow:
    """A :class:`MainWindow` that ``qtbot`` closes after the test.

    Args:
        first_run: let it offer the first-run welcome (``MainWindow``'s own default is True).
        store: the history store it uses (none: it opens one itself, off the GUI thread).
        size: its size before it is shown (none: the window's own).
        show: show it (False: the test looks at it before any event is processed).
    """
    window = MainWindow(store=store, first_run=first_run)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    if show:
        window.show()
    return window


@contextlib.contextmanager
def window_open(qtbot: Any, **options: Any) -> Iterator[MainWindow]:
    """:func:`open_window`, closed when the block ends (the engine worker goes with it)."""
    window = open_window(qtbot, **options)
    try:
        yield window
    finally:
        window.close()


def load_model(
    qtbot: Any,
    window: MainWindow,
    model: Path,
    *,
    chat_template: str | None = None,
    timeout: int = LOAD_WAIT_MS,
) -> None:
    """Load ``model`` in the window, as its model bar would, and wait until it is loaded."""
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=timeout):
        window.load_model(str(model), chat_template=chat_template)
