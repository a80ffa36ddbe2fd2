"""The input box with its thinking controls and the Send/Stop button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.request import Effort, ThinkingControl, ThinkMode
from app.settings import Settings

#: The thinking menu: a label, the mode and the budget (-1: the custom budget's value).
THINKING_CHOICES: list[tuple[str, tuple[ThinkMode, int | None]]] = [
    ("Thinking: auto", (ThinkMode.AUTO, None)),
    ("Thinking: off", (ThinkMode.OFF, None)),
    ("Budget 1k", (ThinkMode.AUTO, 1024)),
    ("Budget 4k", (ThinkMode.AUTO, 4096)),
    ("Budget 16k", (ThinkMode.AUTO, 16384)),
    ("Custom budget…", (ThinkMode.AUTO, -1)),
]


class MessageEdit(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line.

    Signals:
        submitted(): Enter was pressed.
    """

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers()
            & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier)
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """Signals:
    send_clicked(str): the message to send.
    stop_clicked(): stop the generation.
    """

    send_clicked = Signal(str)
    stop_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 4, 16, 12)
        self.edit = MessageEdit(self)
        self.edit.setPlaceholderText("Ask something…  (Enter sends, Shift+Enter for a new line)")
        self.edit.setFixedHeight(84)
        self.edit.submitted.connect(self._on_edit_submitted)
        layout.addWidget(self.edit)
        row = QHBoxLayout()
        self.thinking = QComboBox(self)
        for label, _ in THINKING_CHOICES:
            self.thinking.addItem(label)
        self.thinking.setToolTip("Per message: let it think, turn thinking off, or cap it")
        self.thinking.currentIndexChanged.connect(self._on_thinking_index_changed)
        row.addWidget(self.thinking)
        self.custom_budget = QSpinBox(self)
        self.custom_budget.setRange(16, 1_000_000)
        self.custom_budget.setValue(8192)
        self.custom_budget.setSuffix(" tokens")
        self.custom_budget.hide()
        row.addWidget(self.custom_budget)
        self.longer_label = QLabel("Think at least", self)
        row.addWidget(self.longer_label)
        self.think_longer = QSpinBox(self)
        self.think_longer.setRange(0, 1_000_000)
        self.think_longer.setSingleStep(512)
        self.think_longer.setSpecialValueText("—")
        self.think_longer.setSuffix(" tokens")
        self.think_longer.setToolTip(
            "Think longer: when it tries to stop thinking earlier, Ponder adds “Wait”"
        )
        row.addWidget(self.think_longer)
        self.effort = QComboBox(self)
        for effort in Effort:
            self.effort.addItem(f"Effort: {effort.value}", effort)
        self.effort.setCurrentIndex(1)
        self.effort.hide()
        row.addWidget(self.effort)
        row.addStretch(1)
        self.send = QPushButton("Send", self)
        self.send.setDefault(True)
        self.send.clicked.connect(self._on_edit_submitted)
        row.addWidget(self.send)
        self.stop = QPushButton("Stop", self)
        self.stop.setToolTip("Stop generating (Esc)")
        self.stop.clicked.connect(self.stop_clicked)
        self.stop.hide()
        row.addWidget(self.stop)
        layout.addLayout(row)

    def _on_edit_submitted(self) -> None:
        text = self.edit.toPlainText()
        if text.strip() and self.send.isVisible() and self.send.isEnabled():
            self.send_clicked.emit(text)

    def _on_thinking_index_changed(self, index: int) -> None:
        mode, budget = THINKING_CHOICES[index][1]
        self.custom_budget.setVisible(budget == -1)
        self.think_longer.setEnabled(mode is not ThinkMode.OFF)

    def set_generating(self, generating: bool) -> None:
        self.send.setVisible(not generating)
        self.stop.setVisible(generating)

    def set_family(self, supports_effort: bool, reasons: bool) -> None:
        self.effort.setVisible(supports_effort)
        self.thinking.setEnabled(reasons)
        self.think_longer.setEnabled(reasons)

    def thinking_control(self) -> ThinkingControl:
        mode, budget = THINKING_CHOICES[self.thinking.currentIndex()][1]
        if budget == -1:
            budget = self.custom_budget.value()
        longer = self.think_longer.value() or None
        effort = self.effort.currentData() if self.effort.isVisible() else None
        return ThinkingControl(
            mode=mode,
            budget=budget,
            min_tokens=longer if mode is not ThinkMode.OFF else None,
            effort=effort,
        )

    def store_into(self, settings: Settings) -> None:
        """Remember the thinking choice for the next run (``settings.thinking``, ``budget``)."""
        control = self.thinking_control()
        settings.thinking = (
            "off" if control.mode is ThinkMode.OFF else ("budget" if control.budget else "auto")
        )
        if control.budget:
            settings.budget = control.budget

    def set_thinking(self, choice: str, budget: int | None) -> None:
        """Select a saved choice: ``Settings.thinking`` ("auto", "off" or "budget")."""
        wanted = {
            "auto": (ThinkMode.AUTO, None),
            "off": (ThinkMode.OFF, None),
            "budget": (ThinkMode.AUTO, budget or 0),
        }.get(choice)
        for i, (_label, option) in enumerate(THINKING_CHOICES):
            if option == wanted:
                self.thinking.setCurrentIndex(i)
                return
        if choice == "budget" and budget:
            self.thinking.setCurrentIndex(len(THINKING_CHOICES) - 1)
            self.custom_budget.setValue(budget)
