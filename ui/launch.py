"""The ``ponder`` command: the desktop app, or a terminal subcommand (``ponder chat …``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _run_gui(args: argparse.Namespace) -> int:
    from ui.main import run

    return run(
        self_test=args.self_test,
        screenshot=args.screenshot,
        crash_dialog=not args.no_crash_dialog,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from app.cli.main import main as cli_main

    return cli_main(argv, run_gui=_run_gui)


if __name__ == "__main__":
    sys.exit(main())
