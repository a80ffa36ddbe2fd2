"""The messages of the conversation on screen, newest at the bottom.

Long conversations: only the last page of messages is built; "Show earlier messages" adds the
previous page, so opening a 2,000-message conversation builds ~40 widgets, not 2,000.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from app.store.domain import Message
from ui.answers.message import MessageWidget
from ui.answers.message import message_widget as message_widget  # built there; imported here too

PAGE = 40


class ConversationView(QScrollArea):
    """Scrollable list of :class:`MessageWidget`.

    Signals:
        regenerate_clicked(int), edit_clicked(int), delete_clicked(int), sibling_clicked(int, int),
        answer_now_clicked(): forwarded from the message widgets.
    """

    regenerate_clicked = Signal(int)
    edit_clicked = Signal(int)
    delete_clicked = Signal(int)
    sibling_clicked = Signal(int, int)
    side_by_side_clicked = Signal(int)
    answer_now_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget(self)
        self._layout = QVBoxLayout(inner)
        self._layout.setContentsMargins(16, 12, 16, 12)
        self._layout.setSpacing(10)
        self.context_note = QLabel("", inner)
        self.context_note.setObjectName("hint")
        self.context_note.setWordWrap(True)
        self.context_note.hide()
        self._layout.addWidget(self.context_note)
        self.earlier = QPushButton("Show earlier messages", inner)
        self.earlier.clicked.connect(self._on_earlier_clicked)
        self.earlier.hide()
        self._layout.addWidget(self.earlier, 0, Qt.AlignmentFlag.AlignHCenter)
        self.empty = QLabel("", inner)
        self.empty.setObjectName("hint")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self._layout.addWidget(self.empty)
        self._layout.addStretch(1)
        self.setWidget(inner)
        self.widgets: list[MessageWidget] = []
        self._pending: list[Message] = []  # older messages not built yet
        self._stick_to_bottom = True
        self.verticalScrollBar().rangeChanged.connect(self._on_scrollbar_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrollbar_value_changed)

    # -- building ------------------------------------------------------------------------

    def clear(self) -> None:
        for w in self.widgets:
            w.setParent(None)
            w.deleteLater()
        self.widgets = []
        self._pending = []
        self.earlier.hide()

    def set_messages(self, messages: list[Message]) -> None:
        self.clear()
        self._pending = messages[:-PAGE] if len(messages) > PAGE else []
        for message in messages[-PAGE:]:
            self._insert(self.build(message), len(self.widgets))
        self.earlier.setVisible(bool(self._pending))
        self.set_empty_text("" if messages else self.empty.text())
        self._stick_to_bottom = True
        QTimer.singleShot(0, self.scroll_to_bottom)

    def set_context_note(self, text: str) -> None:
        """How much of the earlier reasoning the model sees (per the family's policy)."""
        self.context_note.setText(text)
        self.context_note.setVisible(bool(text))

    def set_empty_text(self, text: str) -> None:
        self.empty.setText(text)
        self.empty.setVisible(bool(text) and not self.widgets)

    def build(self, message: Message) -> MessageWidget:
        return message_widget(message)

    def _connect(self, w: MessageWidget) -> None:
        w.regenerate_clicked.connect(self.regenerate_clicked)
        w.edit_clicked.connect(self.edit_clicked)
        w.delete_clicked.connect(self.delete_clicked)
        w.sibling_clicked.connect(self.sibling_clicked)
        w.side_by_side_clicked.connect(self.side_by_side_clicked)
        w.answer_now_clicked.connect(self.answer_now_clicked)

    def _insert(self, w: MessageWidget, position: int) -> None:
        self._connect(w)
        # layout: [context note, earlier button, empty label, *widgets, stretch]
        self._layout.insertWidget(3 + position, w)
        self.widgets.insert(position, w)
        self.empty.hide()

    def append_widget(self, w: MessageWidget) -> MessageWidget:
        self._insert(w, len(self.widgets))
        self._stick_to_bottom = True
        return w

    def _on_earlier_clicked(self) -> None:
        page, self._pending = self._pending[-PAGE:], self._pending[:-PAGE]
        for i, message in enumerate(page):
            self._insert(self.build(message), i)
        self.earlier.setVisible(bool(self._pending))
        self._stick_to_bottom = False

    # -- scrolling -----------------------------------------------------------------------------

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrollbar_range_changed(self, _min: int, _max: int) -> None:
        if self._stick_to_bottom:
            self.scroll_to_bottom()

    def _on_scrollbar_value_changed(self, value: int) -> None:
        self._stick_to_bottom = value >= self.verticalScrollBar().maximum() - 24
