"""One message of a conversation: the user's text, or the model's trace + answer + stats.

Appending is O(piece): the trace is a QPlainTextEdit fed through a cursor at its end; the
answer (:mod:`ui.answer_view`) renders finished Markdown blocks once and shows the open tail
as plain text.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QResizeEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.events import InjectReason, ReasoningState, Stats, inject_label
from app.request import Role
from ui.answer_view import AnswerView
from ui.answer_view import warm_up_math as warm_up_math  # the warm-up imports it from here

_STATE_NOTES = {
    ReasoningState.CAPPED: "stopped at the thinking budget",
    ReasoningState.ANSWER_NOW: "stopped early: answer now",
    ReasoningState.INCOMPLETE: "incomplete",
}


def _fmt_tokens(n: int) -> str:
    return f"{n:,} token" + ("" if n == 1 else "s")


class _TraceBody(QPlainTextEdit):
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        parent = self.parent()
        if isinstance(parent, TraceWidget) and event.oldSize().width() != event.size().width():
            QTimer.singleShot(0, parent._fit_height)


class TraceWidget(QFrame):
    """The live, collapsible reasoning trace.

    Signals:
        answer_now_clicked(): the user wants the answer now (the header's button, or the
            "going in circles" banner's).
    """

    answer_now_clicked = Signal()
    MAX_BODY_HEIGHT = 260
    LOOP_TEXT = "The model seems to be going in circles."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trace")
        self.tokens = 0
        self.budget: int | None = None
        self.started = time.monotonic()
        self.elapsed_s = 0.0
        self.live = True
        self.state: ReasoningState | None = None
        self.end_reason: InjectReason | None = None  # why Ponder ended the reasoning, if it did
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(2)
        row = QHBoxLayout()
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("traceToggle")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.clicked.connect(self._on_toggle_clicked)
        row.addWidget(self.toggle)
        self.meter = QProgressBar(self)
        self.meter.setMaximumWidth(120)
        self.meter.setMaximumHeight(10)
        self.meter.setTextVisible(False)
        self.meter.hide()
        row.addWidget(self.meter)
        row.addStretch(1)
        self.answer_now = QToolButton(self)
        self.answer_now.setText("Answer now")
        self.answer_now.setToolTip("Stop thinking and answer from what it has so far (Ctrl+Enter)")
        self.answer_now.clicked.connect(self.answer_now_clicked)
        row.addWidget(self.answer_now)
        layout.addLayout(row)
        layout.addWidget(self._build_loop_banner())
        self.body = _TraceBody(self)
        self.body.setReadOnly(True)
        self.body.setObjectName("traceBody")
        self.body.setFixedHeight(self.body.fontMetrics().lineSpacing() + 12)
        self.body.setFrameShape(QFrame.Shape.NoFrame)
        self.body.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout.addWidget(self.body)
        self._normal = QTextCharFormat()
        self._injected = QTextCharFormat()
        self._injected.setFontItalic(True)
        self._injected.setForeground(QColor("#b35c00"))
        self._injected.setBackground(QColor(255, 170, 0, 40))
        self._update_header()

    def _build_loop_banner(self) -> QFrame:
        """The inline "going in circles" banner (hidden until the engine reports a loop)."""
        self.loop_banner = QFrame(self)
        self.loop_banner.setObjectName("loopBanner")
        self.loop_banner.setStyleSheet(
            "#loopBanner { background: rgba(255, 170, 0, 40); border-radius: 4px; }"
        )
        self.loop_banner.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        row = QHBoxLayout(self.loop_banner)
        row.setContentsMargins(8, 2, 4, 2)
        texts = QVBoxLayout()
        texts.setSpacing(0)
        self.loop_label = QLabel(self.LOOP_TEXT, self.loop_banner)
        texts.addWidget(self.loop_label)
        self.loop_passage = QLabel(self.loop_banner)  # what it repeats, on one line
        self.loop_passage.setObjectName("loopPassage")
        self.loop_passage.setStyleSheet("#loopPassage { font-style: italic; }")
        self.loop_passage.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        texts.addWidget(self.loop_passage)
        row.addLayout(texts, 1)
        self.loop_answer_now = QToolButton(self.loop_banner)
        self.loop_answer_now.setText("Answer now")
        self.loop_answer_now.setToolTip("Stop thinking and answer from what it has so far")
        self.loop_answer_now.clicked.connect(self._on_loop_answer_now_clicked)
        row.addWidget(self.loop_answer_now)
        self.loop_keep = QToolButton(self.loop_banner)
        self.loop_keep.setText("Keep thinking")
        self.loop_keep.setToolTip("Dismiss; the model goes on thinking")
        self.loop_keep.clicked.connect(self._on_loop_keep_clicked)
        row.addWidget(self.loop_keep)
        self.loop_banner.hide()
        return self.loop_banner

    def show_loop(self, passage: str, repeats: int = 0) -> None:
        """The engine says the reasoning repeats ``passage``: offer to end it (while live)."""
        if not self.live:
            return
        shown = " ".join(passage.split())
        if len(shown) > 300:
            shown = shown[:299] + "…"
        times = f" ({repeats} times)" if repeats else ""
        self.loop_label.setToolTip(f"Repeated{times}: {shown}" if shown else "")
        self.loop_passage.setToolTip(self.loop_label.toolTip())
        self.loop_passage.setText(f"\u201c{shown[:160]}\u201d" if shown else "")
        self.loop_passage.setVisible(bool(shown))
        self.loop_banner.show()
        self.answer_now.hide()  # the banner has its own: one "Answer now" on screen

    def _hide_loop(self) -> None:
        self.loop_banner.hide()
        self.answer_now.setVisible(self.live)

    def _on_loop_answer_now_clicked(self) -> None:
        self._hide_loop()
        self.answer_now_clicked.emit()

    def _on_loop_keep_clicked(self) -> None:
        self._hide_loop()

    # -- streaming ------------------------------------------------------------------------

    def set_budget(self, budget: int | None) -> None:
        self.budget = budget
        self.meter.setVisible(budget is not None)
        if budget:
            self.meter.setRange(0, budget)

    def append(self, text: str, tokens: int = 0) -> None:
        """More reasoning: ``text`` and the ``tokens`` it took (the header and meter follow)."""
        if text:
            cursor = QTextCursor(self.body.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(text, self._normal)
            self._follow()
        self.tokens += tokens
        self._update_header()

    def note_injected(self, reason: object) -> None:
        """Ponder inserted text for ``reason``; the header says why when it ended the reasoning."""
        known = InjectReason.of(reason)
        if known is not None and known.ends_reasoning:
            self.end_reason = known
            self.loop_banner.hide()
            self.answer_now.hide()  # the reasoning is over

    def append_injected(self, text: str, reason: str) -> None:
        self.note_injected(reason)
        cursor = QTextCursor(self.body.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(f" [Ponder · {inject_label(reason)}]{text.rstrip()} ", self._injected)
        self._follow()

    def _fit_height(self) -> None:
        lines = self.body.document().size().height()  # in lines for a plain-text layout
        spacing = self.body.fontMetrics().lineSpacing()
        height = int(min(self.MAX_BODY_HEIGHT, lines * spacing + 12))
        if height != self.body.height():
            self.body.setFixedHeight(max(height, spacing + 12))

    def _follow(self) -> None:
        self._fit_height()
        bar = self.body.verticalScrollBar()
        if self.live and bar.value() >= bar.maximum() - 40:
            bar.setValue(bar.maximum())

    def tick(self) -> None:
        if self.live:
            self.elapsed_s = time.monotonic() - self.started
            self._update_header()

    def finish(
        self,
        state: ReasoningState | None,
        elapsed_s: float | None,
        tokens: int | None,
        collapse: bool,
    ) -> None:
        self.live = False
        self.state = state
        if elapsed_s is not None:
            self.elapsed_s = elapsed_s
        if tokens is not None:
            self.tokens = tokens
        self.answer_now.hide()
        self.loop_banner.hide()
        self._update_header()
        if collapse:
            self.set_collapsed(True)

    def set_text(self, text: str) -> None:
        self.body.setPlainText(text)
        self._fit_height()

    @property
    def text(self) -> str:
        return self.body.toPlainText()

    # -- header ---------------------------------------------------------------------------

    def header_text(self) -> str:
        if self.live:
            out = f"Thinking… {self.elapsed_s:.1f} s · {_fmt_tokens(self.tokens)}"
        elif not self.elapsed_s and not self.tokens:
            out = "Reasoning"  # saved without figures (an import, an API client's history)
        else:
            out = f"Thought for {self.elapsed_s:.0f} s · {_fmt_tokens(self.tokens)}"
            note = _STATE_NOTES.get(self.state) if self.state else None
            if self.state is ReasoningState.ANSWER_NOW and self.end_reason is InjectReason.LOOP:
                note = "stopped early: it was going in circles"
            elif self.state is ReasoningState.CAPPED and self.end_reason is InjectReason.MAX_TOKENS:
                note = "stopped to leave the answer room under the token limit"
            if note:
                out += f" — {note}"
        if self.budget:
            out += f" (budget {self.budget:,})"
        return out

    def _update_header(self) -> None:
        self.toggle.setText(self.header_text())
        if self.budget:
            self.meter.setValue(min(self.tokens, self.budget))

    def set_collapsed(self, collapsed: bool) -> None:
        self.body.setVisible(not collapsed)
        if not collapsed:  # the wrapped line count is only known once laid out at its width
            QTimer.singleShot(0, self._fit_height)
        self.meter.setVisible(bool(self.budget) and not collapsed and self.live)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow if collapsed else Qt.ArrowType.DownArrow)

    @property
    def collapsed(self) -> bool:
        return not self.body.isVisible() if self.isVisible() else self.body.isHidden()

    def _on_toggle_clicked(self) -> None:
        self.set_collapsed(not self.body.isHidden())


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

    def __init__(self, role: str, message_id: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self.sibling_ids: tuple[int, ...] = (message_id,)
        self.setObjectName("userMessage" if role == Role.USER else "assistantMessage")
        self.trace: TraceWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self._layout = layout
        self.title = QLabel("You" if role == Role.USER else "Model", self)
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
        if role == Role.ASSISTANT:
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
        if self.role == Role.USER:
            self.answer.set_plain_text(text)
        else:
            self.answer.set_markdown(text)

    def set_model_name(self, name: str) -> None:
        """Title an answer with the model that wrote it (side by side, several models)."""
        if self.role == Role.ASSISTANT and name:
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
