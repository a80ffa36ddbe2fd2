"""Load what the first answer needs (Markdown, Pygments lexers, the math font) in the background,
right after the window is shown, so the first rendered answer does not stall the GUI."""

from __future__ import annotations

import threading

SAMPLE = "# T\n\n**b** $x$\n\n```python\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] t\n"


def _warm_markdown() -> None:
    from ui.answers.markdown import render_markdown
    from ui.theme import is_dark

    render_markdown(SAMPLE, dark=is_dark())


def warm_up() -> None:
    from ui.answers.message import warm_up_math

    warm_up_math()
    threading.Thread(target=_warm_markdown, name="ponder-warm-up", daemon=True).start()
