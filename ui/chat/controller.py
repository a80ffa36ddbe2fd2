"""The chat flow: send, stop, regenerate, edit, versions and deletion of messages.

:class:`ChatController` writes each turn's rows as a history job, then starts the answer on
the window's engine; :class:`~ui.answers.stream.AnswerStream` shows it as it streams.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QInputDialog, QMessageBox, QStatusBar, QWidget

from app.display_names import ref_display_name
from app.errors import PonderError
from app.families import get_family
from app.request import GenerationRequest, Role
from app.store.domain import GenerationSettings, Message, ModelRef
from app.store.turn import start_turn
from ui.answers.message import MessageWidget
from ui.answers.stream import AnswerStream
from ui.chat.context_note import context_note

if TYPE_CHECKING:
    from app.engine import ModelInfo
    from app.request import ChatMessage
    from app.settings import Settings
    from app.store.recorder import AnswerRecorder
    from app.store.store import Store
    from ui.chat.composer import Composer
    from ui.chat.conversation_view import ConversationView
    from ui.chat.sidebar import Sidebar
    from ui.engine.bridge import EngineBridge
    from ui.engine.model_bar import ModelBar
    from ui.history_jobs import HistoryJobs
    from ui.settings_panel import SettingsPanel

T = TypeVar("T")
#: What a regenerated or edited branch gives: the history to send, its recorder, the
#: messages to show before the new answer, the system prompt.
Branch = tuple[list["ChatMessage"], "AnswerRecorder", list[Message], str | None]

EMPTY_NO_MODEL = "Open a GGUF model to start (Ctrl+L), or find one in the Library (Ctrl+Shift+L)."
EMPTY_READY = "Ask something. The model's reasoning streams above its answer."
EMPTY_READY_PLAIN = "Ask something."  # a model that does not reason


class ChatController(QObject):
    """One window's conversation: what is shown, and the answer being written."""

    def __init__(
        self,
        bridge: EngineBridge,
        jobs: HistoryJobs,
        *,
        settings: Settings,
        view: ConversationView,
        composer: Composer,
        panel: SettingsPanel,
        model_bar: ModelBar,
        sidebar: Sidebar,
        status: QStatusBar,
        confirm: Callable[[str, str], bool],
        parent: QWidget,
    ) -> None:
        """``confirm(title, text)`` asks yes/no; ``parent`` is the window (dialogs)."""
        super().__init__(parent)
        self.window = parent
        self.bridge = bridge
        self.jobs = jobs
        self.settings = settings
        self.view = view
        self.composer = composer
        self.panel = panel
        self.model_bar = model_bar
        self.sidebar = sidebar
        self.status = status
        self.confirm = confirm
        self.conversation_id: int | None = None
        self.stream = AnswerStream(bridge, collapse=panel.collapse.isChecked, parent=self)
        self._recorder: AnswerRecorder | None = None
        self._preparing = False  # an answer's rows are being written before it starts
        self._open_request = 0
        self.stream.finished.connect(self._on_stream_finished)
        self.stream.noted.connect(self._on_stream_noted)
        self.stream.crashed.connect(self._on_stream_crashed)
        bridge.model_loaded.connect(self._on_bridge_model_loaded)
        composer.send_clicked.connect(self.send)
        composer.stop_clicked.connect(self.stop)
        view.regenerate_clicked.connect(self.regenerate)
        view.edit_clicked.connect(self.edit_message)
        view.delete_clicked.connect(self._on_view_delete_clicked)
        view.sibling_clicked.connect(self.show_sibling)
        view.answer_now_clicked.connect(self.answer_now)

    @property
    def busy(self) -> bool:
        """An answer is streaming, or being set up."""
        return self.stream.active or self._preparing

    # -- showing conversations ----------------------------------------------------------------

    def new_chat(self) -> None:
        if self.busy:
            return
        self._open_request += 1  # a conversation still being read is not shown
        self.conversation_id = None
        self.view.clear()
        self.view.set_empty_text(self.empty_text())
        self.sidebar.list_view.clearSelection()
        self.composer.edit.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        """Show a conversation (read on the database thread; the newest request wins)."""
        if self.busy:
            return
        self._open_request += 1
        request = self._open_request
        self.jobs.db_job(
            lambda store: store.active_path(conversation_id),
            lambda path: self._on_conversation_read(request, conversation_id, path),
            lambda err: self._on_conversation_read_failed(request, err),
        )

    def _on_conversation_read(self, request: int, cid: int, path: list[Message]) -> None:
        if request != self._open_request or self.busy:
            return  # the user clicked elsewhere meanwhile, or started an answer
        self.conversation_id = cid
        self.view.set_messages(path)
        self._update_context_note(path)

    def _on_conversation_read_failed(self, request: int, err: BaseException) -> None:
        if request == self._open_request:
            self.status.showMessage(f"Could not open the conversation: {err}", 8000)

    def _update_context_note(self, path: list[Message]) -> None:
        info = self.bridge.info
        family = get_family(info.family_id if info else "generic")
        self.view.set_context_note(context_note(path, family) if family.reasons else "")

    def empty_text(self) -> str:
        """What an empty chat says: how to start, and only mentions reasoning if it reasons."""
        info = self.bridge.info
        if info is None:
            return EMPTY_NO_MODEL
        return EMPTY_READY if get_family(info.family_id).reasons else EMPTY_READY_PLAIN

    def _on_bridge_model_loaded(self, info: ModelInfo) -> None:
        family = get_family(info.family_id)
        self.panel.show_family(family)
        self.composer.set_family(family.supports_effort, family.reasons)
        if not self.view.widgets:
            self.view.set_empty_text(self.empty_text())

    # -- sending ------------------------------------------------------------------------------

    def model_ref(self) -> ModelRef | None:
        info = self.bridge.info
        if info is None:
            return None
        return ModelRef(Path(info.path).stem, None, info.size_bytes, info.path)

    def request_for(
        self,
        history: Sequence[ChatMessage],
        *,
        system: str | None = None,
        max_tokens: int | None = None,
    ) -> GenerationRequest:
        """A request with the sampling, thinking and limits the window shows now."""
        thinking = dataclasses.replace(
            self.composer.thinking_control(), on_loop=self.panel.loop_policy()
        )
        return GenerationRequest(
            messages=tuple(history),
            system_prompt=system,
            sampling=self.panel.sampling(),
            thinking=thinking,
            max_tokens=max_tokens or self.panel.max_tokens.value() or None,
            seed=self.panel.seed_value(),
        )

    def send(self, text: str) -> None:
        if self.busy:
            return
        if self.bridge.info is None:
            self.status.showMessage("Open a model first (Ctrl+L).", 5000)
            return
        self.panel.store_into(self.settings)
        system = self.panel.system_prompt.toPlainText().strip() or None
        thinking = dataclasses.replace(
            self.composer.thinking_control(), on_loop=self.panel.loop_policy()
        )
        settings = GenerationSettings(sampling=self.panel.sampling(), thinking=thinking)
        cid, model = self.conversation_id, self.model_ref()

        def prepare(store: Store) -> tuple[int, Message, list[ChatMessage], AnswerRecorder]:
            turn = start_turn(
                store,
                text,
                conversation_id=cid,
                model=model,
                system_prompt=system,
                settings=settings,
            )
            history = store.chat_history(turn.conversation_id)[:-1]  # not the answer to come
            return turn.conversation_id, turn.question, history, turn.recorder

        def ready(result: tuple[int, Message, list[ChatMessage], AnswerRecorder]) -> None:
            self._preparing = False
            conv_id, user, history, recorder = result
            self.conversation_id = conv_id
            self.composer.edit.clear()
            user_widget = MessageWidget(Role.USER, user.id)
            user_widget.set_content(text)
            self.view.append_widget(user_widget)
            self._start(history, recorder, system)
            self.sidebar.refresh()

        self._prepare(prepare, ready, "Could not save the message")

    def _prepare(
        self, work: Callable[[Store], T], ready: Callable[[T], None], failure: str
    ) -> None:
        """Write an answer's rows on the database thread, then start it (``ready``)."""
        self._preparing = True
        self._set_generating(True)

        def failed(err: BaseException) -> None:
            self._preparing = False
            self._set_generating(False)
            if isinstance(err, PonderError):
                QMessageBox.warning(self.window, failure, str(err))
            else:
                self.status.showMessage(f"{failure}: {err}", 8000)

        self.jobs.db_job(work, ready, failed)

    def _start(
        self, history: list[ChatMessage], recorder: AnswerRecorder, system: str | None
    ) -> None:
        request = self.request_for(history, system=system)
        widget = MessageWidget(Role.ASSISTANT, recorder.message_id)
        model = ref_display_name(self.model_ref())
        widget.set_model_name(model)
        widget.set_streaming(True)
        self.view.append_widget(widget)
        rid = self.bridge.generate(request, sink=recorder.apply)
        self.follow(rid, recorder, widget, request.thinking.budget)
        self._set_generating(True)

    def follow(
        self,
        request_id: int,
        recorder: AnswerRecorder | None,
        widget: MessageWidget,
        budget: int | None,
    ) -> None:
        """Stream request ``request_id`` into ``widget`` (its rows written by ``recorder``)."""
        self._recorder = recorder
        self.stream.begin(
            widget,
            request_id=request_id,
            budget=budget,
            model_name=ref_display_name(self.model_ref()),
        )

    def stop(self) -> None:
        self.bridge.cancel()

    def answer_now(self) -> None:
        if self.stream.active:
            self.bridge.answer_now()

    def _set_generating(self, generating: bool) -> None:
        self.composer.set_generating(generating)
        self.model_bar.set_generating(generating)

    def _on_stream_noted(self, text: str) -> None:
        self.status.showMessage(text, 8000)

    def _on_stream_crashed(self) -> None:
        self.model_bar.set_status("engine crashed — restarting…")
        self.bridge.restart()

    def _on_stream_finished(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None and recorder.write_error is not None:
            self.status.showMessage(f"Not saved: {recorder.write_error}", 10000)
        self._set_generating(False)
        self.sidebar.refresh()
        widget, cid = self.stream.widget, self.conversation_id
        if cid is None or widget is None:
            return

        def siblings(path: list[Message]) -> None:  # navigation for the finished answer
            if path and self.conversation_id == cid and not self.busy:
                last = path[-1]
                count = max(1, len(last.sibling_ids))
                widget.set_siblings(last.sibling_index, count, last.sibling_ids)
                self._update_context_note(path)

        self.jobs.db_job(lambda store: store.active_path(cid, with_reasoning=False), siblings)

    # -- branches -----------------------------------------------------------------------------

    def regenerate_last(self) -> None:
        for w in reversed(self.view.widgets):
            if w.role is Role.ASSISTANT:
                self.regenerate(w.message_id)
                return

    def regenerate(self, message_id: int) -> None:
        cid = self.conversation_id
        if self.busy or self.bridge.info is None or cid is None:
            return
        model = self.model_ref()

        def prepare(store: Store) -> Branch:
            recorder = store.regenerate(message_id, model=model)
            history = store.chat_history(cid)[:-1]
            path = store.active_path(cid)
            return history, recorder, path[:-1], store.get_conversation(cid).system_prompt

        self._prepare(prepare, self._restart_branch, "Could not regenerate")

    def edit_message(self, message_id: int) -> None:
        cid = self.conversation_id
        if self.busy or self.bridge.info is None or cid is None:
            return
        widget = next((w for w in self.view.widgets if w.message_id == message_id), None)
        old = widget.answer.text if widget is not None else ""
        text, ok = QInputDialog.getMultiLineText(self.window, "Edit and resend", "Message:", old)
        if not ok or not text.strip():
            return
        model = self.model_ref()

        def prepare(store: Store) -> Branch:
            store.edit_user_message(message_id, text)
            history = store.chat_history(cid)
            recorder = store.start_answer(cid, model=model)
            shown = store.active_path(cid)[:-1]
            return history, recorder, shown, store.get_conversation(cid).system_prompt

        self._prepare(prepare, self._restart_branch, "Could not save the message")

    def _restart_branch(self, prepared: Branch) -> None:
        """A regenerated or edited branch is written: show it and start its new answer."""
        self._preparing = False
        history, recorder, shown, system = prepared
        self.view.set_messages(shown)
        self._start(history, recorder, system)

    def show_sibling(self, message_id: int, delta: int) -> None:
        cid = self.conversation_id
        if self.busy or cid is None:
            return
        widget = next((w for w in self.view.widgets if w.message_id == message_id), None)
        siblings = widget.sibling_ids if widget is not None else ()
        if message_id not in siblings:
            return
        index = siblings.index(message_id) + delta
        if not 0 <= index < len(siblings):
            return
        target = siblings[index]
        self._open_request += 1
        request = self._open_request

        def switch(store: Store) -> list[Message]:
            store.activate(target)
            return store.active_path(cid)

        self.jobs.db_job(switch, lambda path: self._on_conversation_read(request, cid, path))

    def _on_view_delete_clicked(self, message_id: int) -> None:
        self.delete_message(message_id)

    def delete_message(self, message_id: int) -> bool:
        """Delete a message and what follows it in its branch (asks first if anything does)."""
        cid = self.conversation_id
        if self.busy or cid is None:
            self.status.showMessage("Stop the answer before deleting messages.", 5000)
            return False
        ids = [w.message_id for w in self.view.widgets]
        after = len(ids) - ids.index(message_id) - 1 if message_id in ids else 0
        if after and not self.confirm(
            "Delete messages",
            f"Delete this message and the {after} after it? This cannot be undone.",
        ):
            return False

        def deleted(_leaf: int | None) -> None:
            self.open_conversation(cid)
            self.sidebar.refresh()
            self.status.showMessage("Message deleted.", 4000)

        def failed(err: BaseException) -> None:
            self.status.showMessage(f"Could not delete the message: {err}", 8000)

        self.jobs.db_job(lambda store: store.delete_message(message_id), deleted, failed)
        return True
