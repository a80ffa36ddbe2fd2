"""The window's history database: opened off the GUI thread, used one job at a time.

:class:`HistoryJobs` adopts the store that :class:`~ui.store_opener.StoreOpener` opens, and
runs the window's own history jobs (the sidebar's list, opening a conversation, an answer's
first rows, renames, deletions) on a thread of its own, one at a time and in order, so the
GUI thread does not wait on the database. An answer's streamed text is written by its
recorder on the bridge's reader thread; searches and exports run on Qt's global pool.

When no history can be had at all (the database cannot be used and no temporary one can be
made either), the window goes on without one: :attr:`HistoryJobs.unavailable` says why,
and each history job fails with that message instead of the app reporting a bug.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, QThreadPool, Signal

from app.errors import StorageError
from app.store.errors import DatabaseUnusableError
from ui.store_opener import StoreOpener
from ui.tasks import run_task

if TYPE_CHECKING:
    from app.store.domain import ConversationSummary
    from app.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long closing waits for the queued history jobs.
CLOSE_WAIT_MS = 10_000


class HistoryJobs(QObject):
    """The history store of one window, and the thread its jobs run on.

    Signals:
        listed(object): the conversations read straight from the file before the store
            opened (a list of :class:`~app.store.domain.ConversationSummary`).
        opened(): the store is open and the list should be read from it.
        history_off(str): this run's chats are kept in a temporary history; why.
        recovered(str): the database was damaged, set aside, and a new one started; what
            happened (a dialog's text).
        unavailable(str): there is no history at all this run; why.
        failed(str): a job without its own error handler failed; what to show.
    """

    listed = Signal(object)
    opened = Signal()
    history_off = Signal(str)
    recovered = Signal(str)
    unavailable = Signal(str)
    failed = Signal(str)

    def __init__(self, store: Store | None = None, parent: QObject | None = None) -> None:
        """Without ``store``, the history database is opened on a thread of its own."""
        super().__init__(parent)
        self._store = store
        self._error: StorageError | None = None  # why there is no store at all
        self._listed_early = False
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._opener: StoreOpener | None = None
        if store is None:
            self._opener = StoreOpener(self._on_opener_listed, self._on_opener_opened, self)

    @property
    def ready(self) -> bool:
        """The store is open (no job will wait for it)."""
        return self._store is not None

    @property
    def store(self) -> Store:
        """The history database (waits for it while it is still opening).

        Raises:
            StorageError: there is no history this run (:attr:`unavailable` says why).
        """
        if self._store is None:
            self._on_opener_opened()
        if self._store is None:
            raise self._error or StorageError("The history database is not open.")
        return self._store

    def store_for_thread(self) -> Callable[[], Store]:
        """The store, for a job on another thread: while it is still opening, the job waits
        for it there, not the GUI thread here."""
        ready, opener, error = self._store, self._opener, self._error
        if ready is not None:
            return lambda: ready
        if opener is None:

            def unavailable() -> Store:
                raise error or StorageError("The history database is not open.")

            return unavailable

        def wait() -> Store:
            opened = opener.result()
            if opened.store is None:
                raise opened.error or StorageError("the history database did not open")
            return opened.store

        return wait

    def db_job(
        self,
        work: Callable[[Store], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``work(store)`` on the database thread; ``on_done`` gets its result here."""
        store = self.store_for_thread()

        def failed(err: BaseException) -> None:
            if on_error is not None:
                on_error(err)
            else:
                self.failed.emit(f"History: {err}")

        run_task(
            lambda: work(store()),
            on_done or (lambda _r: None),
            failed,
            context=self,
            pool=self._pool,
        )

    def close(self, delete: Iterable[int] = ()) -> None:
        """At quit: finish the queued jobs, delete conversations ``delete``, close the store.

        The GUI thread may wait now. Without a history this run, there is nothing to do.
        """
        self._pool.waitForDone(CLOSE_WAIT_MS)  # what was queued for the database is written
        try:
            store = self.store
        except StorageError:
            return
        for cid in delete:
            store.delete_conversation(cid)
        store.close()

    # -- opening ----------------------------------------------------------------------------

    def _on_opener_listed(self, conversations: list[ConversationSummary]) -> None:
        if self._store is None:  # read from the file before the store opened
            self._listed_early = True
            self.listed.emit(conversations)

    def _on_opener_opened(self) -> None:
        opener, self._opener = self._opener, None
        if opener is None or self._store is not None:
            return  # already adopted (something needed the store before this arrived)
        opened = opener.result()
        if isinstance(opened.error, DatabaseUnusableError):
            self._recover(opened.error)
        elif opened.error is not None:
            self._go_without(opened.error)
        elif opened.store is not None:
            self._store = opened.store
            if opened.history_off is not None:
                self.history_off.emit(opened.history_off)
            if not self._listed_early or opened.history_off is not None:
                self.opened.emit()

    def _recover(self, error: DatabaseUnusableError) -> None:
        """The database was damaged and set aside: start a new one, and say so."""
        from app.store.factory import open_store

        try:
            self._store = open_store(recover=True)
        except StorageError as err:
            self._go_without(err)
            return
        # Opened before the dialog: its event loop may run history jobs.
        self.opened.emit()
        self.recovered.emit(f"{error}\nA new, empty history was started.")

    def _go_without(self, error: Exception) -> None:
        """No history at all this run: each job fails with ``error``'s message."""
        if not isinstance(error, StorageError):
            self._error = StorageError("The history database could not be opened (see the log).")
            raise error  # a bug: the crash handler reports it
        log.warning("no history this run: %s", error)
        self._error = error
        self.unavailable.emit(str(error))
