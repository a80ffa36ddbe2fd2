"""Render Ponder's app icons from ``assets/ponder.svg``.

Writes, next to the SVG: ``ponder-256.png`` and ``ponder-512.png`` (window icon, Linux desktop
entry, AppImage), ``ponder.ico`` (Windows: 16–256 px) and ``ponder.icns`` (macOS: 16–1024 px).
Both containers hold PNG images, the format Windows Vista+ and macOS 10.7+ read, so nothing
beyond PySide6 (already a dependency) is needed. Run it after editing the SVG::

    .venv/bin/python packaging/make_icons.py
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SVG = ASSETS / "ponder.svg"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS types holding PNG data, by pixel size (the @2x types share the bigger sizes).
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"ic11", 32),
    (b"icp6", 64),
    (b"ic12", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic13", 256),
    (b"ic09", 512),
    (b"ic14", 512),
    (b"ic10", 1024),
)


def render_png(size: int) -> bytes:
    """The SVG drawn at ``size`` × ``size`` pixels, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def ico(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico holding one PNG per size (ICONDIR, ICONDIRENTRYs, then the images)."""
    sizes = [s for s in ICO_SIZES if s in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        data = pngs[size]
        edge = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", edge, edge, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    """A macOS .icns: ``icns`` + total length, then (type, length, PNG) records."""
    body = b"".join(
        kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    sizes = sorted({*ICO_SIZES, *(size for _, size in ICNS_TYPES), 512})
    pngs = {size: render_png(size) for size in sizes}
    (ASSETS / "ponder-256.png").write_bytes(pngs[256])
    (ASSETS / "ponder-512.png").write_bytes(pngs[512])
    (ASSETS / "ponder.ico").write_bytes(ico(pngs))
    (ASSETS / "ponder.icns").write_bytes(icns(pngs))
    del app
    for name in ("ponder-256.png", "ponder-512.png", "ponder.ico", "ponder.icns"):
        print(f"{ASSETS / name}: {(ASSETS / name).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
