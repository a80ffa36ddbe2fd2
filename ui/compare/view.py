"""Compare: one prompt to two local models side by side, each in its own engine worker.

Each column owns an :class:`EngineBridge` (its own worker process), shows its live trace,
answer and stats (time to first token, thinking time, tokens/s). Both answers are saved as
siblings of the same question in one conversation: a linked pair the chat's sibling
navigation flips between. Two models that would not fit in memory together are refused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.display_names import distinct_names, path_display_name
from app.engine import LoadParams, ModelInfo
from app.events import Stats
from app.library.fit import MachineMemory, gib
from app.library.local import LocalModel
from app.request import ChatMessage, GenerationRequest
from app.store.domain import Message, ModelRef, Role
from app.store.recorder import AnswerRecorder
from ui.answers.message import MessageWidget, message_widget
from ui.answers.stream import AnswerStream
from ui.engine.bridge import EngineBridge

if TYPE_CHECKING:
    from app.store.store import Store
    from ui.host import Host


def both_fit(a: LocalModel, b: LocalModel, n_ctx: int | None, machine: MachineMemory) -> str | None:
    """None when both models fit in memory at once, else why not."""
    need = a.fit(n_ctx, machine).total + b.fit(n_ctx, machine).total
    have = machine.ram_budget + (0 if machine.unified else machine.gpu_budget)
    if need > have:
        return (
            f"These two models need about {gib(need)} together at {n_ctx or 8192:,} tokens of "
            "context; "
            f"this machine has about {gib(have)} for models. Pick smaller models or quantizations."
        )
    return None


def compare_message(message_id: int, parent: QWidget) -> MessageWidget:
    """An answer widget without the chat's actions that do not apply here."""
    return _plain(MessageWidget(Role.ASSISTANT, message_id, parent))


def stats_line(stats: Stats) -> str:
    """What a column shows of an answer's figures."""
    ttft = stats.time_to_first_token_ms
    speed = f"{stats.decode_tokens_per_s:.1f} tok/s"
    return f"first token {ttft / 1000:.2f} s · thinking {stats.thinking_ms / 1000:.1f} s · {speed}"


def _plain(widget: MessageWidget) -> MessageWidget:
    widget.set_siblings(0, 1)
    for button in (widget.regenerate_button, widget.delete_button, widget.side_by_side_button):
        button.hide()
    return widget


def pick_pair(messages: list[Message], message_id: int) -> tuple[Message, Message, Message]:
    """The question, the answer ``message_id`` and the version beside it (the next one, or
    the one before for the newest): what "Side by side" shows.

    Raises:
        ValueError: the message is not an answer with another version.
    """
    by_id = {m.id: m for m in messages}
    answer = by_id.get(message_id)
    if answer is None or answer.role is not Role.ASSISTANT or answer.parent_id is None:
        raise ValueError("This message is not an answer.")
    versions = [by_id[i] for i in answer.sibling_ids if i in by_id]
    if len(versions) < 2:
        raise ValueError("This answer has no other version to show beside it.")
    at = versions.index(answer)
    other = versions[at + 1] if at + 1 < len(versions) else versions[at - 1]
    return by_id[answer.parent_id], answer, other


class CompareColumn(QWidget):
    """One model's side.

    Signals:
        finished(): its answer is complete (or failed).
    """

    finished = Signal()

    def __init__(self, parent: QWidget | None = None, bridge: EngineBridge | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge or EngineBridge(parent=self)
        self.models = QComboBox(self)
        self.status = QLabel(self)
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.holder = QWidget(self.scroll_area)
        self._holder_layout = QVBoxLayout(self.holder)
        self._holder_layout.addStretch(1)
        self.scroll_area.setWidget(self.holder)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.models)
        col.addWidget(self.status)
        col.addWidget(self.scroll_area, 1)
        self.widget: MessageWidget | None = None
        self.recorder: AnswerRecorder | None = None
        self.stream = AnswerStream(self.bridge, parent=self)
        self._pending: GenerationRequest | None = None
        self._prefer: str | None = None  # the model to select once the list arrives
        self.stream.finished.connect(self.finished)
        self.stream.figures_arrived.connect(self._on_stream_figures_arrived)
        self.bridge.model_loaded.connect(self._on_bridge_model_loaded)
        self.bridge.load_failed.connect(self._on_bridge_load_failed)

    @property
    def running(self) -> bool:
        """An answer is being loaded for or written."""
        return self.stream.active

    def set_models(self, models: list[LocalModel]) -> None:
        current = self.models.currentData()
        self.models.clear()
        usable = [m for m in models if m.usable]
        names = distinct_names([(m.name, str(m.path)) for m in usable])
        for m, name in zip(usable, names, strict=True):
            self.models.addItem(f"{name} · {gib(m.size)}", m)
            self.models.setItemData(
                self.models.count() - 1, str(m.path), Qt.ItemDataRole.ToolTipRole
            )
        for i in range(self.models.count()):
            if current is not None and self.models.itemData(i).path == current.path:
                self.models.setCurrentIndex(i)
        if self._prefer is not None:
            self._select(self._prefer)

    def _select(self, path: str) -> None:
        for i in range(self.models.count()):
            if str(self.models.itemData(i).path) == path:
                self.models.setCurrentIndex(i)

    def show_saved(self, message: Message) -> None:
        """Show a saved answer (read only) and select the model that wrote it."""
        if self.widget is not None:
            self.widget.deleteLater()
        self.widget = _plain(message_widget(message, self.holder))
        self._holder_layout.insertWidget(0, self.widget)
        self.recorder = None
        model = message.model
        figures = stats_line(message.stats) if message.stats else ""
        self.status.setText(f"Saved answer · {figures}" if figures else "Saved answer")
        self._prefer = model.path if model and model.path else None
        if self._prefer is not None:
            self._select(self._prefer)

    def model(self) -> LocalModel | None:
        data = self.models.currentData()
        return data if isinstance(data, LocalModel) else None

    def start(
        self, params: LoadParams, request: GenerationRequest, recorder: AnswerRecorder
    ) -> None:
        """Load the model if another one is loaded, then generate."""
        self._prefer = None
        if self.widget is not None:
            self.widget.deleteLater()
        self.widget = compare_message(recorder.message_id, self.holder)
        name = path_display_name(params.model_path)
        self.widget.set_model_name(name)
        self.widget.answer_now_clicked.connect(self.bridge.answer_now)
        self._holder_layout.insertWidget(0, self.widget)
        self.recorder = recorder
        self.stream.begin(self.widget, budget=request.thinking.budget, model_name=name)
        info = self.bridge.info
        if info is not None and info.path == params.model_path and params.chat_template is None:
            self._generate(request)
            return
        self._pending = request
        self.status.setText(f"Loading {Path(params.model_path).name}…")
        self.bridge.load(params)

    def _generate(self, request: GenerationRequest) -> None:
        assert self.recorder is not None
        self.status.setText("Thinking…")
        self.stream.request_id = self.bridge.generate(request, sink=self.recorder.apply)

    def _on_bridge_model_loaded(self, info: ModelInfo) -> None:
        if self._pending is not None:
            request, self._pending = self._pending, None
            self._generate(request)

    def _on_bridge_load_failed(self, message: str) -> None:
        self._pending = None
        if self.widget is not None:
            self.widget.set_error(message)
        self.stream.finish()

    def _on_stream_figures_arrived(self, stats: Stats) -> None:
        self.status.setText(stats_line(stats))

    def stop(self) -> None:
        self._pending = None
        self.bridge.cancel()

    def shutdown(self) -> None:
        self.bridge.shutdown()


class CompareView(QWidget):
    """Signals:
    compared(int): both answers are done; the conversation id of the pair.
    """

    compared = Signal(int)

    def __init__(self, host: Host, machine: MachineMemory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.machine = machine
        self.conversation_id: int | None = None
        self._preparing = False  # the question's rows are being written
        col = QVBoxLayout(self)
        intro = QLabel(
            "Ask two models the same question. Each runs in its own engine; both answers are "
            "saved in the history, side by side as two answers to one question.",
            self,
        )
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        col.addWidget(intro)
        columns = QHBoxLayout()
        self.left = CompareColumn(self)
        self.right = CompareColumn(self)
        columns.addWidget(self.left, 1)
        columns.addWidget(self.right, 1)
        col.addLayout(columns, 1)
        self.error = QLabel(self)
        self.error.setObjectName("messageError")
        self.error.setWordWrap(True)
        col.addWidget(self.error)
        row = QHBoxLayout()
        self.prompt = QPlainTextEdit(self)
        self.prompt.setPlaceholderText("One question for both models…")
        self.prompt.setMaximumHeight(90)
        row.addWidget(self.prompt, 1)
        buttons = QVBoxLayout()
        self.compare_button = QPushButton("Compare", self)
        self.compare_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.stop_button)
        row.addLayout(buttons)
        col.addLayout(row)
        self.compare_button.clicked.connect(self.compare)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.left.finished.connect(self._on_column_finished)
        self.right.finished.connect(self._on_column_finished)

    def set_models(self, models: list[LocalModel]) -> None:
        self.left.set_models(models)
        self.right.set_models(models)
        right = self.right
        if right._prefer is None and right.models.count() > 1 and right.models.currentIndex() == 0:
            right.models.setCurrentIndex(1)  # two different models to begin with

    @property
    def running(self) -> bool:
        return self._preparing or self.left.running or self.right.running

    def compare(
        self,
        *,
        templates: tuple[str | None, str | None] = (None, None),
        max_tokens: int | None = None,
    ) -> bool:
        """Send the prompt to both models; False (and a message) when it cannot start."""
        text = self.prompt.toPlainText().strip()
        a, b = self.left.model(), self.right.model()
        self.error.clear()
        if self.running:
            return False
        if not text:
            self.error.setText("Write a question first.")
            return False
        if a is None or b is None:
            self.error.setText("Choose two models (the library lists the ones on this machine).")
            return False
        n_ctx = self.host.settings.n_ctx
        refused = both_fit(a, b, n_ctx, self.machine)
        if refused:
            self.error.setText(refused)
            return False
        model_a, model_b = _ref(a), _ref(b)

        def prepare(store: Store) -> tuple[int, list[ChatMessage], AnswerRecorder, AnswerRecorder]:
            conv = store.create_conversation(model=model_a)
            user = store.add_user_message(conv.id, text)
            history = store.chat_history(conv.id)
            rec_a = store.start_answer(conv.id, parent_id=user.id, model=model_a)
            rec_b = store.start_answer(conv.id, parent_id=user.id, model=model_b)
            return conv.id, history, rec_a, rec_b

        def ready(result: tuple[int, list[ChatMessage], AnswerRecorder, AnswerRecorder]) -> None:
            self._preparing = False
            cid, history, rec_a, rec_b = result
            self.conversation_id = cid
            request = self.host.request_for(history, max_tokens=max_tokens)
            for column, model, rec, template in (
                (self.left, a, rec_a, templates[0]),
                (self.right, b, rec_b, templates[1]),
            ):
                params = self.host.load_params(str(model.path))
                if template is not None:
                    params = replace(params, chat_template=template)
                column.start(params, request, rec)
            self.host.refresh_conversations()

        def failed(err: BaseException) -> None:
            self._preparing = False
            self.compare_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            self.error.setText(f"Could not save the question: {err}")

        # The question and the two empty answers are written on the window's database thread.
        self._preparing = True
        self.compare_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.host.db_job(prepare, ready, failed)
        return True

    def show_saved(self, message_id: int) -> bool:
        """Show answer ``message_id`` beside another version of it (a saved comparison, or a
        regenerated answer), with their question in the prompt box; False when busy."""
        self.error.clear()
        if self.running:
            self.error.setText("A comparison is running: stop it before opening another.")
            return False

        def read(store: Store) -> tuple[int, tuple[Message, Message, Message]]:
            cid = store.get_message(message_id).conversation_id
            return cid, pick_pair(store.messages(cid), message_id)

        def ready(result: tuple[int, tuple[Message, Message, Message]]) -> None:
            cid, (question, left, right) = result
            if self.running:
                return
            self.conversation_id = cid
            self.prompt.setPlainText(question.content)
            self.left.show_saved(left)
            self.right.show_saved(right)

        def failed(err: BaseException) -> None:
            self.error.setText(f"Could not open these answers: {err}")

        self.host.db_job(read, ready, failed)
        return True

    def _on_stop_button_clicked(self) -> None:
        self.left.stop()
        self.right.stop()

    def _on_column_finished(self) -> None:
        if self.running:
            return
        self.compare_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.host.refresh_conversations()
        if self.conversation_id is not None:
            self.compared.emit(self.conversation_id)

    def shutdown(self) -> None:
        self.left.shutdown()
        self.right.shutdown()


def _ref(m: LocalModel) -> ModelRef:
    return ModelRef(m.path.stem, None, m.size, str(m.path))
