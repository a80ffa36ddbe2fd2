"""LaTeX → images for the answer view: ziamath typesets SVG, Qt draws it — off the GUI thread.

The first formula costs about a second (ziamath loads its math font), later ones tens of
milliseconds: both are too slow for the GUI thread, so formulas are typeset in a thread pool
and the view is told when an image is ready.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QByteArray, QObject, QRectF, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from ui.qt_threads import emit_from_thread

_Key = tuple[str, bool, int, str, float]
_CACHE: dict[_Key, QImage | None] = {}
_LOCK = threading.Lock()


def render_math(
    latex: str, display: bool, point_size: int, color: str, ratio: float
) -> QImage | None:
    """The formula as an image (blocking), or None if it cannot be typeset."""
    key = (latex, display, point_size, color, ratio)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    try:
        from ziamath.config import config
        from ziamath.zmath import Latex

        config.svg2 = False  # plain paths: QtSvg (SVG Tiny) draws no <symbol>/<use>
        size = point_size * (1.6 if display else 1.4)  # ziamath sizes are points at 72 dpi
        svg = Latex(latex, size=size, color=color, inline=not display).svg()
    except Exception:
        image = None
    else:
        image = _draw(svg, ratio)
    with _LOCK:
        _CACHE[key] = image
    return image


def cached(
    latex: str, display: bool, point_size: int, color: str, ratio: float
) -> tuple[bool, QImage | None]:
    key = (latex, display, point_size, color, ratio)
    with _LOCK:
        if key in _CACHE:
            return True, _CACHE[key]
    return False, None


def _draw(svg: str, ratio: float) -> QImage | None:
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        return None
    logical = renderer.defaultSize()
    width = max(1, int(logical.width() * ratio + 0.5))
    height = max(1, int(logical.height() * ratio + 0.5))
    if width * height > 4096 * 4096:
        return None
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, width, height))
    painter.end()
    image.setDevicePixelRatio(ratio)
    return image


class _Job(QRunnable):
    def __init__(
        self, owner: MathRenderer, key: str, args: tuple[str, bool, int, str, float]
    ) -> None:
        super().__init__()
        self.owner = owner
        self.key = key
        self.args = args

    def run(self) -> None:
        image = render_math(*self.args)
        emit_from_thread(self.owner, self.owner.rendered, self.key, image)  # may be quitting


class MathRenderer(QObject):
    """Typesets formulas in a thread pool.

    Signals:
        rendered(str, object): the view's key and the QImage (None: could not typeset).
    """

    rendered = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def request(
        self, key: str, latex: str, display: bool, point_size: int, color: str, ratio: float
    ) -> None:
        self._pool.start(_Job(self, key, (latex, display, point_size, color, ratio)))

    def warm_up(self) -> None:
        """Load ziamath and its font ahead of the first formula."""
        self._pool.start(_Job(self, "", ("x", False, 10, "#000000", 1.0)))
