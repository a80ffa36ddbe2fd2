"""The reasoning trace of an answer: live, collapsible, with its header and budget meter.

Appending is O(piece): the body is a QPlainTextEdit fed through a cursor at its end.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QResizeEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.events import InjectReason, ReasoningState, inject_label
from ui.answers.loop_banner import LOOP_TEXT, LoopBanner

_STATE_NOTES = {
    ReasoningState.CAPPED: "stopped at the thinking budget",
    ReasoningState.ANSWER_NOW: "stopped early: answer now",
    ReasoningState.INCOMPLETE: "incomplete",
}


def fmt_tokens(n: int) -> str:
    """ "1 token", "1,234 tokens"."""
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
    LOOP_TEXT = LOOP_TEXT

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
        self.loop_banner = LoopBanner(self)
        self.loop_banner.answer_now_clicked.connect(self._on_loop_banner_closed)
        self.loop_banner.answer_now_clicked.connect(self.answer_now_clicked)
        self.loop_banner.dismissed.connect(self._on_loop_banner_closed)
        # The banner's parts, by the names the trace has always given them.
        self.loop_label = self.loop_banner.label
        self.loop_passage = self.loop_banner.passage
        self.loop_answer_now = self.loop_banner.answer_now
        self.loop_keep = self.loop_banner.keep
        layout.addWidget(self.loop_banner)
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

    def show_loop(self, passage: str, repeats: int = 0) -> None:
        """The engine says the reasoning repeats ``passage``: offer to end it (while live)."""
        if not self.live:
            return
        self.loop_banner.show_loop(passage, repeats)
        self.answer_now.hide()  # the banner has its own: one "Answer now" on screen

    def _on_loop_banner_closed(self) -> None:
        self.answer_now.setVisible(self.live)

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
            out = f"Thinking… {self.elapsed_s:.1f} s · {fmt_tokens(self.tokens)}"
        elif not self.elapsed_s and not self.tokens:
            out = "Reasoning"  # saved without figures (an import, an API client's history)
        else:
            out = f"Thought for {self.elapsed_s:.0f} s · {fmt_tokens(self.tokens)}"
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
