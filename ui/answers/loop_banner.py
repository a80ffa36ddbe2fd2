"""The "going in circles" banner shown inside a live reasoning trace."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

#: The banner's first line.
LOOP_TEXT = "The model seems to be going in circles."


class LoopBanner(QFrame):
    """Offers to end reasoning that repeats itself; hidden until :meth:`show_loop`.

    Signals:
        answer_now_clicked(): the user wants the answer now (the banner hides itself).
        dismissed(): "Keep thinking" (the banner hides itself).
    """

    answer_now_clicked = Signal()
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loopBanner")
        self.setStyleSheet("#loopBanner { background: rgba(255, 170, 0, 40); border-radius: 4px; }")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 2, 4, 2)
        texts = QVBoxLayout()
        texts.setSpacing(0)
        self.label = QLabel(LOOP_TEXT, self)
        texts.addWidget(self.label)
        self.passage = QLabel(self)  # what it repeats, on one line
        self.passage.setObjectName("loopPassage")
        self.passage.setStyleSheet("#loopPassage { font-style: italic; }")
        self.passage.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        texts.addWidget(self.passage)
        row.addLayout(texts, 1)
        self.answer_now = self._button(
            "Answer now", "Stop thinking and answer from what it has so far"
        )
        self.answer_now.clicked.connect(self._on_answer_now_clicked)
        row.addWidget(self.answer_now)
        self.keep = self._button("Keep thinking", "Dismiss; the model goes on thinking")
        self.keep.clicked.connect(self._on_keep_clicked)
        row.addWidget(self.keep)
        self.hide()

    def _button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        return button

    def show_loop(self, passage: str, repeats: int = 0) -> None:
        """Show the banner for reasoning that repeats ``passage`` (``repeats`` times)."""
        shown = " ".join(passage.split())
        if len(shown) > 300:
            shown = shown[:299] + "…"
        times = f" ({repeats} times)" if repeats else ""
        self.label.setToolTip(f"Repeated{times}: {shown}" if shown else "")
        self.passage.setToolTip(self.label.toolTip())
        self.passage.setText(f"\u201c{shown[:160]}\u201d" if shown else "")
        self.passage.setVisible(bool(shown))
        self.show()

    def _on_answer_now_clicked(self) -> None:
        self.hide()
        self.answer_now_clicked.emit()

    def _on_keep_clicked(self) -> None:
        self.hide()
        self.dismissed.emit()
