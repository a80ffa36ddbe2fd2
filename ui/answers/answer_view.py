"""The answer's text widget: Markdown rendered incrementally, formulas typeset off the GUI
thread, links opened only on a click, nothing ever fetched.

Appending is O(piece): finished Markdown blocks are rendered once and added at the end; the
open tail is plain text that grows by each piece.
"""

from __future__ import annotations

import contextlib
import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QGuiApplication,
    QImage,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
)
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QWidget

from ui.answers.math_images import MathRenderer, cached
from ui.theme import is_dark

# ui.answers.markdown (markdown-it, Pygments) is imported by the first answer, not at start-up; the
# warm-up thread (ui.answers.warmup) loads it in the background soon after the window shows.
if TYPE_CHECKING:
    from ui.answers.markdown import RenderResult

_RENDERER: MathRenderer | None = None
_math_views: dict[str, list[AnswerView]] = {}


def _math_renderer() -> MathRenderer:
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = MathRenderer()
        _RENDERER.rendered.connect(_on_math_rendered)
    return _RENDERER


def warm_up_math() -> None:
    _math_renderer().warm_up()


def _on_math_rendered(key: str, image: object) -> None:
    for view in _math_views.pop(key, []):
        with contextlib.suppress(RuntimeError):  # the view may have been deleted meanwhile
            view.math_ready(key, image)


def _placeholder() -> QImage:
    image = QImage(1, 1, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    return image


class AutoHeightBrowser(QTextBrowser):
    """A QTextBrowser as tall as its document; links open in the system browser on click only."""

    copy_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._on_layout_size_changed)
        self.anchorClicked.connect(self._on_self_anchor_clicked)
        self.setMinimumHeight(8)

    def _on_layout_size_changed(self) -> None:
        height = int(self.document().size().height()) + 6
        if height != self.height():
            self.setFixedHeight(height)

    def _on_self_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == "copy":
            with contextlib.suppress(ValueError):
                self.copy_requested.emit(int(url.path()))
        elif url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)

    def loadResource(self, kind: int, url: QUrl | str) -> object:
        # Model output is untrusted: nothing is ever fetched (no remote images, no files).
        url = QUrl(url) if isinstance(url, str) else url
        if url.scheme() == "math":
            return super().loadResource(kind, url)
        return None

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())


class AnswerView(AutoHeightBrowser):
    """The answer, Markdown rendered incrementally (or a user's text, as typed).

    Finished blocks are rendered once and added at the end; the open tail is plain text that
    grows by each piece. However the text arrives (streamed in any pieces, or all at once when
    a conversation is reopened), the document ends up the same.
    """

    _MARK = "\u2063"  # an invisible separator the first block of each insert lands on
    TAIL_LINE = 2000  # characters of an unfinished line shown in one block while streaming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document().setUndoRedoEnabled(False)  # appended to for minutes: no undo history
        self._reset()
        self.copy_requested.connect(self._on_self_copy_requested)

    def _reset(self) -> None:
        from ui.answers.markdown import StreamingMarkdown

        self._stream = StreamingMarkdown()
        self._plain: str | None = None
        self._has_blocks = False  # finished blocks are in the document
        self._tail_start: int | None = None  # where the plain tail begins, if shown
        self._tail_column = 0  # length of the tail's last block
        self._code: list[str] = []
        self._math_keys: set[str] = set()
        self._relayout_pending = False

    @property
    def text(self) -> str:
        return self._plain if self._plain is not None else self._stream.text

    def _on_self_copy_requested(self, n: int) -> None:
        if 0 <= n < len(self._code):
            QGuiApplication.clipboard().setText(self._code[n])

    def _register(self, result: RenderResult) -> str:
        """Add math images (typeset in the background) to the document and the code blocks to
        the copy list; returns the HTML to insert."""
        doc = self.document()
        color = self.palette().text().color().name()
        ratio = self.devicePixelRatioF() or 1.0
        size = max(self.font().pointSize(), 9)
        out = result.html
        for key, (latex, display) in result.math.items():
            if key in self._math_keys:
                continue
            known, image = cached(latex, display, size, color, ratio)
            if known and image is None:  # could not typeset: show the source
                esc = html.escape(latex, quote=True)
                out = out.replace(
                    f'<img src="math:{key}" alt="{esc}" title="{esc}">',
                    f"<code>{html.escape(latex)}</code>",
                )
                continue
            self._math_keys.add(key)
            if image is None:
                image = _placeholder()
                _math_renderer().request(key, latex, display, size, color, ratio)
                _math_views.setdefault(key, []).append(self)
            doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"math:{key}"), image)
        self._code.extend(result.code)
        return out

    def math_ready(self, key: str, image: object) -> None:
        """A formula finished typesetting: swap the placeholder (or show the source)."""
        doc = self.document()
        if image is None:
            image = _placeholder()
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"math:{key}"), image)
        if not self._relayout_pending:  # one layout pass for the formulas of one moment
            self._relayout_pending = True
            QTimer.singleShot(0, self._relayout)

    def _relayout(self) -> None:
        with contextlib.suppress(RuntimeError):  # the view may have been deleted meanwhile
            self._relayout_pending = False
            doc = self.document()
            doc.markContentsDirty(0, doc.characterCount())

    def _remove_tail(self) -> None:
        if self._tail_start is None:
            return
        cursor = QTextCursor(self.document())
        # The tail's own blocks, and the block break before them.
        cursor.setPosition(max(self._tail_start - 1, 0) if self._has_blocks else 0)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._tail_start = None

    def _append_tail(self, text: str) -> None:
        """The open block: plain text until it is finished (cheap: only the new piece)."""
        if not text:
            return
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if self._tail_start is None:
            if self._has_blocks:
                cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            self._tail_start = cursor.position()
            self._tail_column = 0
        plain = QTextCharFormat()
        for i, line in enumerate(text.split("\n")):
            if i:
                cursor.insertBlock(QTextBlockFormat(), plain)
                self._tail_column = 0
            # Qt lays a block out whole on every change: a very long line streamed into one
            # block costs time growing with its length. Shown in pieces until it is finished.
            while self._tail_column + len(line) > self.TAIL_LINE:
                room = self.TAIL_LINE - self._tail_column
                cursor.insertText(line[:room], plain)
                cursor.insertBlock(QTextBlockFormat(), plain)
                line, self._tail_column = line[room:], 0
            cursor.insertText(line, plain)
            self._tail_column += len(line)

    def _insert_blocks(self, markdown: str) -> None:
        """Render finished Markdown and add it after the finished blocks already shown."""
        if not markdown.strip():
            return
        from ui.answers.markdown import render_markdown

        result = render_markdown(markdown, dark=is_dark(), code_base=len(self._code))
        html_text = self._register(result).strip()
        if not html_text:
            return
        doc = self.document()
        cursor = QTextCursor(doc)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self._has_blocks:
            doc.setHtml(html_text)  # keeps the resources (formulas) added above
        else:
            # Inserted text merges into the block at the cursor, which keeps its format: let
            # a marker paragraph merge there, so every rendered block keeps its own (a list
            # item's, a heading's), then remove the marker.
            start = cursor.position()
            marked = f"<p>{self._MARK}</p>{html_text}"
            cursor.insertFragment(QTextDocumentFragment.fromHtml(marked, doc))
            cursor.setPosition(start)
            cursor.setPosition(start + 1, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        self._has_blocks = True

    def append(self, piece: str) -> None:
        finished, added = self._stream.feed(piece)
        if finished:
            self._remove_tail()
            self._insert_blocks(finished)
            self._append_tail(self._stream.tail)
        else:
            self._append_tail(added)

    def finish(self) -> None:
        rest = self._stream.finish()
        self._remove_tail()
        self._insert_blocks(rest)

    def set_markdown(self, text: str) -> None:
        """Show a whole Markdown text (a saved answer): the same document streaming builds."""
        self.clear()
        self._reset()
        finished, _added = self._stream.feed(text)
        self._insert_blocks(finished)
        self._insert_blocks(self._stream.finish())

    def set_plain_text(self, text: str) -> None:
        """Show text exactly as typed: every line, every space (a user's message)."""
        self.clear()
        self._reset()
        self._plain = text
        self.setPlainText(text)
