"""One message of a conversation: the user's text, or the model's trace + answer + stats.

The answer (:mod:`ui.answers.answer_view`) renders finished Markdown blocks once and shows the open
tail as plain text; the trace is :class:`ui.answers.trace.TraceWidget`.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.display_names import ref_display_name
from app.events import Stats
from app.store.domain import Message, MessageStatus, Role
from ui.answers.answer_view import AnswerView
from ui.answers.answer_view import warm_up_math as warm_up_math  # the warm-up imports it from here
from ui.answers.trace import TraceWidget as TraceWidget  # where the trace was defined before


class MessageWidget(QFrame):
    """A user turn or an assistant turn.

    Signals:
        regenerate_clicked(int): message id.
        edit_clicked(int): message id.
        delete_clicked(int): message id.
        sibling_clicked(int, int): message id, -1 or +1.
        answer_now_clicked(): from the live trace.
    """

    regenerate_clicked = Signal(int)
    edit_clicked = Signal(int)
    delete_clicked = Signal(int)
    sibling_clicked = Signal(int, int)
    side_by_side_clicked = Signal(int)
    answer_now_clicked = Signal()

    def __init__(
        self, role: Role | str, message_id: int = 0, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.role = role = Role(role)
        self.message_id = message_id
        self.sibling_ids: tuple[int, ...] = (message_id,)
        self.setObjectName("userMessage" if role is Role.USER else "assistantMessage")
        self.trace: TraceWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self._layout = layout
        self.title = QLabel("You" if role is Role.USER else "Model", self)
        title_font = QFont(self.title.font())
        title_font.setBold(True)
        self.title.setFont(title_font)
        layout.addWidget(self.title)
        self.answer = AnswerView(self)
        layout.addWidget(self.answer)
        self.error = QLabel(self)
        self.error.setObjectName("messageError")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        self.footer = QLabel(self)
        self.footer.setObjectName("messageStats")
        self.footer.setWordWrap(True)
        self.footer.hide()
        layout.addWidget(self.footer)
        actions = QHBoxLayout()
        actions.setSpacing(2)
        self.prev_button = self._action(
            "‹", "Previous version", lambda: self.sibling_clicked.emit(self.message_id, -1)
        )
        self.sibling_label = QLabel("", self)
        self.next_button = self._action(
            "›", "Next version", lambda: self.sibling_clicked.emit(self.message_id, 1)
        )
        for w in (self.prev_button, self.sibling_label, self.next_button):
            actions.addWidget(w)
        self.copy_button = self._action("Copy", "Copy the answer", self._copy_answer)
        actions.addWidget(self.copy_button)
        if role is Role.ASSISTANT:
            self.copy_reasoning_button = self._action(
                "Copy reasoning", "Copy the reasoning", self._copy_reasoning
            )
            self.regenerate_button = self._action(
                "Regenerate",
                "Answer again (Ctrl+R)",
                lambda: self.regenerate_clicked.emit(self.message_id),
            )
            self.side_by_side_button = self._action(
                "Side by side",
                "Show this answer beside another version of it (or the other model's answer)",
                lambda: self.side_by_side_clicked.emit(self.message_id),
            )
            self.copy_reasoning_button.setEnabled(False)  # until there is reasoning
            actions.addWidget(self.copy_reasoning_button)
            actions.addWidget(self.regenerate_button)
            actions.addWidget(self.side_by_side_button)
        else:
            self.edit_button = self._action(
                "Edit", "Edit and resend", lambda: self.edit_clicked.emit(self.message_id)
            )
            actions.addWidget(self.edit_button)
        self.delete_button = self._action(
            "Delete", "Delete this message", lambda: self.delete_clicked.emit(self.message_id)
        )
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        layout.addLayout(actions)
        self.set_siblings(0, 1)

    def _action(self, text: str, tip: str, slot: object) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    # -- content ------------------------------------------------------------------------------

    def ensure_trace(self) -> TraceWidget:
        if self.trace is None:
            self.trace = TraceWidget(self)
            self.trace.answer_now_clicked.connect(self.answer_now_clicked)
            self._layout.insertWidget(1, self.trace)
            self.copy_reasoning_button.setEnabled(True)
        return self.trace

    def set_siblings(self, index: int, count: int, ids: tuple[int, ...] = ()) -> None:
        """Show "index+1/count"; ``ids``: the versions, oldest first (for ‹ and ›)."""
        self.sibling_ids = ids or (self.message_id,)
        show = count > 1
        for w in (self.prev_button, self.sibling_label, self.next_button):
            w.setVisible(show)
        side_by_side = getattr(self, "side_by_side_button", None)
        if side_by_side is not None:
            side_by_side.setVisible(show)
        self.sibling_label.setText(f"{index + 1}/{count}")
        self.prev_button.setEnabled(index > 0)
        self.next_button.setEnabled(index < count - 1)

    def set_content(self, text: str) -> None:
        """Show a whole message: the user's text as typed, the model's answer as Markdown."""
        if self.role is Role.USER:
            self.answer.set_plain_text(text)
        else:
            self.answer.set_markdown(text)

    def set_model_name(self, name: str) -> None:
        """Title an answer with the model that wrote it (side by side, several models)."""
        if self.role is Role.ASSISTANT and name:
            self.title.setText(name)
            self.title.setToolTip("The model that wrote this answer")

    def set_stats(self, stats: Stats | None, model: str = "") -> None:
        if stats is None:
            self.footer.hide()
            return
        parts = [model] if model and model != self.title.text() else []  # not said twice
        parts.append(f"{stats.decode_tokens_per_s:.1f} tok/s")
        parts.append(f"first token {stats.time_to_first_token_ms / 1000:.2f} s")
        if stats.reasoning_tokens:
            parts.append(f"{stats.reasoning_tokens:,} reasoning")
        parts.append(f"{stats.content_tokens:,} answer tokens")
        parts.append(stats.finish_reason.value)
        self.footer.setText(" · ".join(parts))
        self.footer.show()

    def set_error(self, text: str | None) -> None:
        self.error.setVisible(bool(text))
        self.error.setText(text or "")

    def set_streaming(self, streaming: bool) -> None:
        for name in ("regenerate_button", "delete_button", "copy_button"):
            button = getattr(self, name, None)
            if button is not None:
                button.setEnabled(not streaming)

    def _copy_answer(self) -> None:
        QGuiApplication.clipboard().setText(self.answer.text)

    def _copy_reasoning(self) -> None:
        if self.trace is not None:
            QGuiApplication.clipboard().setText(self.trace.text)


def message_widget(message: Message, parent: QWidget | None = None) -> MessageWidget:
    """A saved message as the chat shows it (trace collapsed, stats, how it ended)."""
    w = MessageWidget(message.role, message.id, parent)
    if message.role is Role.ASSISTANT:
        if message.reasoning.strip():
            trace = w.ensure_trace()
            trace.set_text(message.reasoning)
            for span in message.injected:  # why Ponder ended it, as the live header said
                trace.note_injected(span.reason)
            stats = message.stats
            trace.finish(
                message.reasoning_state,
                (stats.thinking_ms / 1000.0) if stats else 0.0,
                stats.reasoning_tokens if stats else None,
                collapse=True,
            )
        w.set_content(message.content)
        name = ref_display_name(message.model)
        w.set_model_name(name)
        w.set_stats(message.stats, name)
        if message.status is MessageStatus.INTERRUPTED:
            w.set_error("Interrupted — the app stopped before this answer was finished.")
        elif message.status is MessageStatus.ERROR:
            w.set_error(message.error or "The engine failed.")
        elif message.status is MessageStatus.CANCELLED:
            w.set_error("Stopped.")
    else:
        w.set_content(message.content)
    w.set_siblings(message.sibling_index, max(1, len(message.sibling_ids)), message.sibling_ids)
    return w
