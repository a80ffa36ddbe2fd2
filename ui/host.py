"""What the pages beside the chat (library, welcome, Compare) may ask of the window.

They talk to this small protocol, not to the main window's widgets, so that the window
imports them and they never import the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from app.engine import LoadParams
    from app.request import ChatMessage, GenerationRequest
    from app.settings import Settings
    from app.store.store import Store

T = TypeVar("T")


class HistoryJobRunner(Protocol):
    """Runs history work on the database thread."""

    def db_job(
        self,
        work: Callable[[Store], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``work(store)`` on the database thread; ``on_done`` gets its result on the
        GUI thread (``on_error`` its exception)."""


class Host(HistoryJobRunner, Protocol):
    """The window, as the library, welcome and Compare pages see it."""

    @property
    def settings(self) -> Settings:
        """The app's settings (as the window holds them now)."""

    def request_for(
        self, history: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> GenerationRequest:
        """A request for ``history`` with the sampling and thinking the window shows now
        (without a system prompt); ``max_tokens`` replaces the settings' limit."""

    def load_params(self, path: str) -> LoadParams:
        """How the window would load the model at ``path`` (settings, template override)."""

    def load_model(self, path: str) -> None:
        """Load a model for the chat (progress shows in the model bar)."""

    def has_model(self) -> bool:
        """A model is loaded, or the last one used is still on this machine."""

    def refresh_conversations(self) -> None:
        """The history changed: read the sidebar's list again."""

    def add_page(self, page: QWidget) -> None:
        """Add a page to the window (shown with :meth:`show_page`)."""

    def show_page(self, page: QWidget) -> None:
        """Show a page added with :meth:`add_page`."""

    def current_page(self) -> QWidget | None:
        """The page shown now."""

    def show_chat(self) -> None:
        """Show the chat page, ready to type."""

    def chat_is_empty(self) -> bool:
        """The chat page is shown and has no message in it."""
