"""Every option and argument of every ``ponder`` subcommand says what it does in ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from app.cli.main import build_parser


def _walk(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, f"{name} {sub_name}")
        else:
            yield name, action


def _subcommands(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, str | None]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for sub_name, sub in action.choices.items():
                yield f"{name} {sub_name}", helps.get(sub_name)
                yield from _subcommands(sub, f"{name} {sub_name}")


def test_every_option_has_a_help_text() -> None:
    missing = [
        f"{command} {'/'.join(action.option_strings) or action.dest}"
        for command, action in _walk(build_parser(), "ponder")
        if not (action.help or "").strip()
    ]
    assert missing == []


def test_every_subcommand_has_a_help_text() -> None:
    missing = [name for name, help_ in _subcommands(build_parser(), "ponder") if not help_]
    assert missing == []


def test_the_walk_sees_the_options_of_nested_subcommands() -> None:
    seen = {(command, action.dest) for command, action in _walk(build_parser(), "ponder")}
    assert ("ponder chat", "top_k") in seen
    assert ("ponder models files", "revision") in seen
    assert ("ponder history export", "ids") in seen


def test_chat_help_describes_each_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["chat", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--top-k TOP_K sample from the K likeliest tokens" in text
    assert "--threads THREADS CPU threads" in text
