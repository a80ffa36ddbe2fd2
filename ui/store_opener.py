"""Open the history database off the GUI thread, so the window paints first.

Importing SQLAlchemy and checking the migrations take about half a second on a slow machine.
:class:`StoreOpener` does it on a thread of its own while the window is shown. Before that,
the same thread reads the conversation list straight from the file with sqlite3
(:func:`app.store.listing.peek_conversations`), so the sidebar fills at once. Both results
reach the window on the GUI thread. Anything that needs the store sooner calls
:meth:`StoreOpener.result`, which waits (never long).

A history that cannot be opened (read-only, an unwritable ``PONDER_HOME``, written by a newer
Ponder) never keeps the window from answering: history is off for the run, the store is a
temporary one (:func:`app.store.factory.open_scratch_store`), and ``Opened.history_off`` says
why. A damaged database is the window's to handle (it is set aside, with a warning).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot
from shiboken6 import isValid

from ui.qt_threads import emit_from_thread

if TYPE_CHECKING:
    from app.store.domain import ConversationSummary
    from app.store.store import Store

log = logging.getLogger(__name__)

#: The conversations the sidebar lists.
LIST_LIMIT = 1000


@dataclass
class Opened:
    """What opening gave: the store, or the error it raised.

    ``history_off`` is why history is off for this run (``store`` is then a temporary one).
    """

    store: Store | None = None
    error: Exception | None = None
    history_off: str | None = None


class _Relay(QObject):
    """Lives on the GUI thread; the opening thread emits, so delivery is queued.

    Signals:
        listed(object): the conversation list read before the store opened.
        opened(): the store is open (or failed: see :meth:`StoreOpener.result`).
    """

    listed = Signal(object)
    opened = Signal()


def open_or_history_off() -> tuple[Store, str | None]:
    """The history store; or, when it cannot be used, a temporary one and the reason.

    Raises:
        DatabaseUnusableError: the file was damaged or foreign, and was set aside.
        StorageError: the database cannot be used and no temporary one can be made either
            (the message says both).
    """
    from app.errors import StorageError
    from app.store.errors import DatabaseUnusableError
    from app.store.factory import open_scratch_store, open_store

    try:
        store = open_store(read_only_ok=True)
    except DatabaseUnusableError:
        raise
    except StorageError as err:
        reason = str(err)
    else:
        if not store.read_only:
            return store, None
        reason = f"The history database {store.path} is read-only; nothing is saved."
        store.close()
    log.warning("history is off for this run: %s", reason)
    try:
        return open_scratch_store(), reason
    except StorageError as err:  # no history at all: say why, both parts
        raise StorageError(f"{reason} {err}") from err


class StoreOpener:
    """Reads the list, then opens the store, on a thread; results arrive on the GUI thread.

    ``on_listed(conversations)`` comes first when the file could be read directly; it is
    skipped when only the store can tell (a first run, a migration, a damaged file).
    ``on_opened()`` always follows.
    """

    def __init__(
        self,
        on_listed: Callable[[list[ConversationSummary]], None],
        on_opened: Callable[[], None],
        context: QObject,
    ) -> None:
        self._done = threading.Event()
        self._opened = Opened()
        self._context = context
        self._relay = _Relay()
        self._on_listed = on_listed
        self._on_opened = on_opened
        self._relay.listed.connect(self._deliver_list, Qt.ConnectionType.QueuedConnection)
        self._relay.opened.connect(self._deliver_opened, Qt.ConnectionType.QueuedConnection)
        threading.Thread(target=self._run, name="ponder-store-open", daemon=True).start()

    def _run(self) -> None:
        try:
            from app.paths import database_path
            from app.store.listing import peek_conversations

            conversations = peek_conversations(database_path(), limit=LIST_LIMIT)
            if conversations is not None:
                emit_from_thread(self._relay, self._relay.listed, conversations)
            self._opened.store, self._opened.history_off = open_or_history_off()
        except Exception as err:  # handed to the GUI thread, which decides what to tell
            self._opened.error = err
        finally:
            # Post the news before waking anyone who waits in result(): once they run, the
            # app may quit, and a Qt object must not be touched from here after that.
            try:
                emit_from_thread(self._relay, self._relay.opened)
            finally:
                self._done.set()

    @Slot(object)
    def _deliver_list(self, conversations: list[ConversationSummary]) -> None:
        self._call(self._on_listed, conversations)

    def _call(self, func: Callable[..., None], *args: object) -> None:
        if isValid(self._context):
            func(*args)

    @Slot()
    def _deliver_opened(self) -> None:
        self._call(self._on_opened)

    def result(self) -> Opened:
        """Wait for the store (it is usually ready before anyone asks)."""
        self._done.wait()
        return self._opened
