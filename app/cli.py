"""The ``ponder`` command: the GUI when run bare, subcommands for the terminal.

Exit codes: 0 success, 2 usage error, 1 any other failure (one clear line on stderr).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Sequence

from app import __version__


def build_parser() -> argparse.ArgumentParser:
    from app import chat_cli

    parser = argparse.ArgumentParser(
        prog="ponder",
        description="Run distilled reasoning models on your own computer.",
    )
    parser.add_argument("--version", action="version", version=f"ponder {__version__}")
    parser.add_argument(
        "--self-test", action="store_true", help="open the window offscreen and exit"
    )
    parser.add_argument("--screenshot", metavar="PNG", help="with --self-test: save the window")
    parser.add_argument(
        "--no-crash-dialog", action="store_true", help="report crashes on stderr only"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chat_cli.add_chat_parser(sub)
    _add_optional(sub, "app.history_cli", "add_history_parser")
    _add_optional(sub, "app.models_cli", "add_models_parser")
    _add_optional(sub, "app.serve_cli", "add_serve_parser")
    sub.add_parser("gui", help="open the desktop app (the default)")
    return parser


def _add_optional(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], module: str, fn: str
) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError:
        return
    getattr(mod, fn)(sub)


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # the engine worker in a PyInstaller bundle
    args = build_parser().parse_args(argv)
    command = getattr(args, "command", None)
    try:
        if command is None or command == "gui":
            return _run_gui(args)
        handler = args.handler
        return int(handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run_gui(args: argparse.Namespace) -> int:
    try:
        from ui.main import run  # type: ignore[import-not-found,unused-ignore]
    except ImportError as err:
        print(f"ponder: the desktop app is not available ({err})", file=sys.stderr)
        return 1
    return int(
        run(
            self_test=args.self_test,
            screenshot=args.screenshot,
            crash_dialog=not args.no_crash_dialog,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
