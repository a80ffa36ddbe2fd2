"""The main window as the library, welcome and Compare pages see it (:class:`ui.host.Host`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtWidgets import QStackedWidget, QWidget

if TYPE_CHECKING:
    from app.engine import LoadParams
    from app.request import ChatMessage, GenerationRequest
    from app.settings import Settings
    from app.store.store import Store
    from ui.chat.controller import ChatController
    from ui.chat.sidebar import Sidebar
    from ui.engine.bridge import EngineBridge
    from ui.engine.model_loader import ModelLoader
    from ui.history_jobs import HistoryJobs

T = TypeVar("T")


class WindowHost:
    """What the pages beside the chat may ask of the window, and nothing else."""

    def __init__(
        self,
        *,
        settings: Settings,
        bridge: EngineBridge,
        history: HistoryJobs,
        sidebar: Sidebar,
        chat: ChatController,
        models: ModelLoader,
        stack: QStackedWidget,
        chat_page: QWidget,
    ) -> None:
        self._settings = settings
        self._bridge = bridge
        self._history = history
        self._sidebar = sidebar
        self._chat = chat
        self._models = models
        self._stack = stack
        self._chat_page = chat_page

    @property
    def settings(self) -> Settings:
        return self._settings

    def db_job(
        self,
        work: Callable[[Store], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._history.db_job(work, on_done, on_error)

    def request_for(
        self, history: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> GenerationRequest:
        return self._chat.request_for(history, max_tokens=max_tokens)

    def load_params(self, path: str) -> LoadParams:
        return self._models.load_params(path)

    def load_model(self, path: str) -> None:
        self._models.load_model(path)

    def has_model(self) -> bool:
        last = self._settings.last_model_path
        return self._bridge.info is not None or bool(last and Path(last).exists())

    def refresh_conversations(self) -> None:
        self._sidebar.refresh()

    def add_page(self, page: QWidget) -> None:
        self._stack.addWidget(page)

    def show_page(self, page: QWidget) -> None:
        self._stack.setCurrentWidget(page)

    def current_page(self) -> QWidget | None:
        return self._stack.currentWidget()

    def show_chat(self) -> None:
        self._stack.setCurrentWidget(self._chat_page)
        self._chat.composer.edit.setFocus()

    def chat_is_empty(self) -> bool:
        return self.current_page() is self._chat_page and not self._chat.view.widgets
