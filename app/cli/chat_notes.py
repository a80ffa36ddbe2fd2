"""One stderr note when a thinking control does nothing for the loaded model.

``--budget 64`` on a model that does not reason is not an error: the chat goes on, and the
user learns why the control changed nothing. Remote models are left alone (the server's own
warnings say what it cannot apply).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from app.engine import Backend
from app.families import get_family
from app.request import ThinkMode
from app.terminal import safe_text


def set_controls(args: argparse.Namespace) -> list[str]:
    """The thinking controls ``args`` sets, as the user typed them (``--think off``)."""
    controls = []
    if args.budget is not None:
        controls.append("--budget")
    if ThinkMode(args.think) is not ThinkMode.AUTO:
        controls.append(f"--think {ThinkMode(args.think).value}")
    if args.think_longer:
        controls.append("--think-longer")
    if args.effort:
        controls.append("--effort")
    return controls


def no_effect_note(info: Any, controls: Sequence[str]) -> str | None:
    """``note: NAME does not reason; --budget has no effect`` when the model ``info``
    (a :class:`app.engine.ModelInfo`) is of no reasoning family; else ``None``."""
    if not controls or info is None or info.backend is Backend.REMOTE:
        return None
    if get_family(info.family_id).reasons:
        return None
    from app.display_names import path_display_name

    listed = " and ".join(controls) if len(controls) < 3 else ", ".join(controls)
    verb = "has" if len(controls) == 1 else "have"
    name = safe_text(path_display_name(info.path))
    return f"note: {name} does not reason; {listed} {verb} no effect"


def note_ignored_controls(info: Any, args: argparse.Namespace) -> None:
    """Print the note for the controls of ``args``. An effort the model cannot take is then
    dropped from the request: the note said it, the engine need not warn on every turn."""
    note = no_effect_note(info, set_controls(args))
    if note is None:
        return
    print(note, file=sys.stderr)
    args.effort = None
