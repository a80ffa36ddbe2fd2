"""The Qt binding must not drop references to ``None``.

PySide6 6.12.0 on Python 3.11 gives up one reference to ``None`` on every call of a method
that returns nothing (``setText``, ``show``, ``processEvents``…). ``None`` is not immortal
before Python 3.12, so after some tens of thousands of such calls — minutes of streaming —
the app dies with "Fatal Python error: none_dealloc". ``pyproject.toml`` keeps such a
binding out; this test fails if one comes back.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QLabel

#: Few enough that a bad binding fails this test rather than crashing the test run.
ROUNDS = 2_000


def test_qt_calls_keep_the_reference_count_of_none(qtbot) -> None:  # type: ignore[no-untyped-def]
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for i in range(ROUNDS):
        label.setText(str(i))
        label.show()
        QApplication.processEvents()
    lost = before - sys.getrefcount(None)
    assert lost < 100, (
        f"{lost} references to None were lost in {3 * ROUNDS} Qt calls: this Qt binding "
        "(PySide6 6.12.0 on Python 3.11?) would crash the app after a while"
    )
