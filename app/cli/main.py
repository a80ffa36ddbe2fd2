"""The ``ponder`` command: the GUI when run bare, subcommands for the terminal.

Exit codes: 0 success, 2 usage error, 1 any other failure (one clear line on stderr), 141 when
the program reading the output stopped reading (``ponder models catalog | head -3``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Callable, Sequence

from app import __version__
from app.template_sandbox import RENDERER_ARG
from app.terminal import run_cli

#: The subcommands: name, the module that defines it, its function that adds the parser.
#: Each is part of Ponder (no optional extra): one that cannot be imported is a broken
#: installation, said at once, never a command that silently goes missing.
COMMANDS = (
    ("chat", "app.cli.chat", "add_chat_parser"),
    ("history", "app.cli.history", "add_history_parser"),
    ("models", "app.cli.models", "add_models_parser"),
    ("serve", "app.cli.serve", "add_serve_parser"),
)


class BrokenCommandError(Exception):
    """A subcommand's module failed to import; ``str(err)`` names it and the import error."""


def build_parser() -> argparse.ArgumentParser:
    """The ``ponder`` argument parser with every subcommand.

    Raises:
        BrokenCommandError: a subcommand's module cannot be imported.
    """
    parser = argparse.ArgumentParser(
        prog="ponder",
        description="Run distilled reasoning models on your own computer.",
    )
    parser.add_argument("--version", action="version", version=f"ponder {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the window (offscreen without a display) and exit",
    )
    parser.add_argument("--screenshot", metavar="PNG", help="with --self-test: save the window")
    parser.add_argument(
        "--no-crash-dialog", action="store_true", help="report crashes on stderr only"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, fn in COMMANDS:
        _add_command(sub, name, module, fn)
    sub.add_parser("gui", help="open the desktop app (the default)")
    return parser


def _add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, module: str, fn: str
) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise BrokenCommandError(
            f"the `{name}` command cannot start: importing {module} failed: "
            f"{type(err).__name__}: {err}. This installation of Ponder is broken; "
            "reinstall it, or report the bug."
        ) from err
    getattr(mod, fn)(sub)


GuiRunner = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None, *, run_gui: GuiRunner | None = None) -> int:
    """Run a subcommand; with none (or ``gui``) run the desktop app through ``run_gui``.

    The GUI lives in ``ui`` (the only package that imports Qt), so the domain's CLI does not
    import it: the ``ponder`` command's entry point (:func:`ui.launch.main`) passes it in.
    """
    multiprocessing.freeze_support()  # the engine worker in a PyInstaller bundle
    if argv is None and sys.argv[1:2] == [RENDERER_ARG]:  # ditto, the template renderer
        from app.template_renderer import main as renderer_main

        return renderer_main(sys.argv[2:])
    try:
        parser = build_parser()
    except BrokenCommandError as err:
        print(f"ponder: {err}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    command = getattr(args, "command", None)
    try:
        if command is None or command == "gui":
            if run_gui is None:
                print("ponder: the desktop app starts with the `ponder` command", file=sys.stderr)
                return 2
            return int(run_gui(args))
        handler = args.handler
        return run_cli(lambda: int(handler(args)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
