"""``ponder chat`` on a terminal: a loop of messages, and ``/commands`` that Ponder answers.

A line that starts with ``/`` is a command and never reaches the model; ``//`` sends a
message that starts with a literal ``/``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.cli.chat import History, chat_turn, record_model
from app.cli.chat_load import load_model, load_params
from app.cli.chat_notes import no_effect_note
from app.engine import Backend
from app.errors import PonderError
from app.events import Event, EventKind
from app.request import ThinkMode
from app.terminal import safe_text

COMMANDS: tuple[tuple[str, str], ...] = (
    ("/help", "this list"),
    ("/model [FILE|ID]", "the loaded model; with a file or library id: switch to it"),
    ("/budget N|off", "cap the reasoning at N tokens, or no cap"),
    ("/think on|off|auto", "reasoning on, off, or as the model does by default"),
    ("/new", "start a new conversation"),
    ("/exit", "quit (Ctrl+D too)"),
)
HELP = "\n".join(f"  {usage:<20} {what}" for usage, what in COMMANDS) + (
    "\n  //text               send a message that starts with /"
)
GREETING = (
    "Type a message; Ctrl+C while it thinks = answer now, twice = stop; "
    "/help lists the commands; Ctrl+D or /exit quits."
)


@dataclass(frozen=True, slots=True)
class Command:
    """A ``/word`` line: the word (lower case, with its ``/``) and the rest of the line."""

    name: str
    arg: str


def parse_line(line: str) -> str | Command | None:
    """A message for the model, a command for Ponder, or ``None`` for an empty line."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("//"):
        return text[1:]
    if text.startswith("/"):
        word, _, rest = text.partition(" ")
        return Command(word.lower(), rest.strip())
    return line


def parse_budget(arg: str) -> int | None:
    """``/budget``'s argument: a positive number of tokens, or ``off`` (``None``).

    Raises:
        ValueError: anything else (the message says what is expected).
    """
    if arg.lower() in ("off", "none"):
        return None
    if arg.isdigit() and arg.isascii() and int(arg) > 0:
        return int(arg)
    raise ValueError("/budget takes a number of tokens (e.g. /budget 512) or off")


class Repl:
    """Reads lines until Ctrl+D or ``/exit``; messages go to the model, commands to Ponder."""

    def __init__(
        self,
        client: Any,
        args: argparse.Namespace,
        emit: Callable[[Event], None],
        history: History,
    ) -> None:
        self.client = client
        self.args = args
        self.emit = emit
        self.history = history
        self._handlers: dict[str, Callable[[str], bool]] = {
            "/help": self._help,
            "/model": self._model,
            "/budget": self._budget,
            "/think": self._think,
            "/new": self._new,
            "/exit": self._exit,
            "/quit": self._exit,
        }

    def run(self) -> int:
        print(GREETING)
        while True:
            try:
                line = input("\n> ")
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            parsed = parse_line(line)
            if parsed is None:
                continue
            if isinstance(parsed, Command):
                handler = self._handlers.get(parsed.name)
                if handler is None:
                    shown = safe_text(parsed.name)
                    print(f"unknown command {shown}; /help lists them", file=sys.stderr)
                elif handler(parsed.arg):
                    return 0
                continue
            self._send(parsed)

    def _send(self, text: str) -> None:
        result = chat_turn(self.client, self.args, self.emit, self.history, text)
        if result.error:
            print(f"ponder: {safe_text(result.error)}", file=sys.stderr)
            if not self.client.alive:
                for event in self.client.restart():
                    if event.kind is EventKind.ERROR:
                        raise PonderError(event.text)

    # -- commands: each returns True to quit ---------------------------------------------------

    def _help(self, arg: str) -> bool:
        print(HELP)
        return False

    def _exit(self, arg: str) -> bool:
        return True

    def _new(self, arg: str) -> bool:
        self.history.new_conversation()
        print("a new conversation: the model no longer sees the earlier messages")
        return False

    def _budget(self, arg: str) -> bool:
        try:
            self.args.budget = parse_budget(arg)
        except ValueError as err:
            print(str(err), file=sys.stderr)
            return False
        budget = self.args.budget
        print(f"reasoning budget: {budget} tokens" if budget else "reasoning budget: off")
        if budget:
            self._note("/budget")
        return False

    def _think(self, arg: str) -> bool:
        try:
            mode = ThinkMode(arg.lower())
        except ValueError:
            print(f"/think takes {', '.join(m.value for m in ThinkMode)}", file=sys.stderr)
            return False
        self.args.think = mode
        print(f"thinking: {mode.value}")
        if mode is not ThinkMode.AUTO:
            self._note(f"/think {mode.value}")
        return False

    def _model(self, arg: str) -> bool:
        if arg:
            self._switch(arg)
        print(model_summary(self.client.info))
        return False

    def _switch(self, target: str) -> None:
        """Load ``target`` in place of the current model; on failure the current one stays."""
        args = self.args
        old = (args.model, args.chat_template)
        args.model, args.chat_template = target, None  # a template override was for the old one
        try:
            params = load_params(args)
        except PonderError as err:
            args.model, args.chat_template = old
            print(f"ponder: {safe_text(str(err))}", file=sys.stderr)
            return
        previous = self.client.info
        try:
            load_model(self.client, params, json_mode=False)
        except PonderError as err:
            print(f"ponder: {safe_text(str(err))}", file=sys.stderr)
            args.model, args.chat_template = old
            if previous is not None:  # the worker let go of the old model: load it again
                load_model(self.client, load_params(args), json_mode=False)
            return
        record_model(self.client, self.history)
        from app.cli.chat_notes import set_controls

        note = no_effect_note(self.client.info, set_controls(args))
        if note:
            print(note, file=sys.stderr)

    def _note(self, control: str) -> None:
        note = no_effect_note(self.client.info, [control])
        if note:
            print(note, file=sys.stderr)


def model_summary(info: Any) -> str:
    """The loaded model as ``/model`` shows it: name, file (or server), context, reasoning."""
    if info is None:
        return "no model is loaded"
    from app.display_names import path_display_name
    from app.families import get_family

    if info.backend is Backend.REMOTE:
        return f"{safe_text(info.name)} on {safe_text(info.endpoint)}"
    family = get_family(info.family_id)
    reasons = f"reasons ({family.display_name})" if family.reasons else "does not reason"
    return "\n".join(
        (
            safe_text(path_display_name(info.path)),
            f"  file     {safe_text(info.path)}",
            f"  context  {info.n_ctx} tokens",
            f"  {reasons}",
        )
    )
