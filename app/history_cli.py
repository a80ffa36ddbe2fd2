"""``ponder history``: list, show, search, rename, delete, export and import conversations.

``app.cli`` registers the sub-command with :func:`add_history_parser` and runs it with
:func:`run_history`. Conversation ids are the integers shown by ``list`` (``#12`` works too).
Exit status: 0 on success, 1 on failure with one line on stderr (no traceback for bad input).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from app.errors import PonderError
from app.store import Store, open_store
from app.store.domain import ConversationSummary, SearchHit
from app.store.export import (
    ExportCounts,
    Markers,
    all_ids,
    conversation_json,
    conversation_markdown,
    export_file,
    left_out_note,
    write_json,
    write_markdown,
    write_sharegpt,
)
from app.store.importer import import_file


class _BadInputError(PonderError):
    """A bad argument: an ID that is not a number, an empty title, an unwritable path."""


def add_history_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``history`` and its sub-commands on ``ponder``'s sub-parsers."""
    history = subparsers.add_parser(
        "history",
        help="list, search, export and import saved conversations",
        description="Saved conversations. IDs are the numbers shown by 'ponder history list'.",
    )
    history.set_defaults(handler=run_history)  # app.cli calls args.handler(args)
    sub = history.add_subparsers(dest="history_command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="most recent conversations first (pinned on top)")
    p.add_argument("--json", action="store_true", help="one JSON array")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    p.add_argument("--archived", action="store_true", help="include archived conversations")

    p = sub.add_parser("show", help="a conversation's current branch")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true", help="every message of every branch")

    p = sub.add_parser("search", help="full-text search of titles, answers and reasoning")
    p.add_argument("query", nargs="+", metavar="QUERY", help="every word must match")
    p.add_argument("--json", action="store_true", help="one JSON array of hits")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")

    p = sub.add_parser("rename", help="give a conversation a title")
    p.add_argument("id", metavar="ID")
    p.add_argument("title", nargs="+", metavar="TITLE")

    p = sub.add_parser("rm", help="delete conversations")
    p.add_argument("ids", nargs="+", metavar="ID")

    p = sub.add_parser("export", help="write conversations to a file")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--all", action="store_true", help="every conversation")
    p.add_argument("--format", required=True, choices=["md", "json", "sharegpt"])
    p.add_argument(
        "--markers",
        choices=[m.value for m in Markers],
        default=Markers.THINK.value,
        help="sharegpt: <think> tags or the Stratos markers (default think)",
    )
    p.add_argument(
        "--complete-only",
        action="store_true",
        help="sharegpt: keep only complete traces (not capped, cancelled or interrupted)",
    )
    p.add_argument(
        "--keep-injected",
        action="store_true",
        help="sharegpt: keep answers with text Ponder injected (budget cap, Answer now); "
        "by default they are left out with the turns after them",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="the file to write ('-': stdout)")

    p = sub.add_parser("import", help="import a JSON export (as new conversations)")
    p.add_argument("file", metavar="FILE")


def run_history(args: argparse.Namespace) -> int:
    """Run a parsed ``history`` command; returns the exit status."""
    command: Callable[[Store, argparse.Namespace], None] = _COMMANDS[args.history_command]
    try:
        with open_store() as store:
            command(store, args)
    except PonderError as err:
        print(f"ponder history: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    return 0


def _list(store: Store, args: argparse.Namespace) -> None:
    items = store.list_conversations(limit=max(args.limit, 0), include_archived=args.archived)
    if args.json:
        _print_json([_summary_json(c) for c in items])
        return
    if not items:
        print("No saved conversations.")
        return
    width = max(len(str(c.id)) for c in items)
    for c in items:
        flags = ("*" if c.pinned else " ") + ("a" if c.archived else " ")
        print(f"{c.id:>{width}} {flags} {_local(c.updated_at)}  {c.title or '(untitled)'}")


def _show(store: Store, args: argparse.Namespace) -> None:
    cid = parse_id(args.id)
    conversation = store.get_conversation(cid)
    if args.json:
        _print_json(conversation_json(conversation, store.messages(cid)))
        return
    path = store.active_path(cid)
    print(conversation_markdown(conversation, path), end="")
    branches = [m for m in path if len(m.sibling_ids) > 1]
    for m in branches:
        print(
            f"(message {m.id} is {m.sibling_index + 1} of {len(m.sibling_ids)}: "
            f"{', '.join(str(i) for i in m.sibling_ids)})"
        )


def _search(store: Store, args: argparse.Namespace) -> None:
    hits = store.search(" ".join(args.query), limit=max(args.limit, 0))
    if args.json:
        _print_json([_hit_json(h) for h in hits])
        return
    if not hits:
        print("No matches.")
        return
    for h in hits:
        where = "title" if h.message_id is None else f"{h.field} of message {h.message_id}"
        print(f"{h.conversation_id}  {h.conversation_title or '(untitled)'}  [{where}]")
        print(f"    {h.snippet}")


def _rename(store: Store, args: argparse.Namespace) -> None:
    title = " ".join(args.title).strip()
    if not title:
        raise _BadInputError("The title is empty.")
    store.rename_conversation(parse_id(args.id), title)


def _rm(store: Store, args: argparse.Namespace) -> None:
    ids = [parse_id(i) for i in args.ids]
    for cid in ids:
        store.get_conversation(cid)  # all exist, or nothing is deleted
    for cid in ids:
        store.delete_conversation(cid)
        print(f"Deleted conversation {cid}.")


def _export(store: Store, args: argparse.Namespace) -> None:
    if args.all == bool(args.ids):
        raise _BadInputError("Give conversation IDs or --all (not both).")
    ids = all_ids(store) if args.all else [parse_id(i) for i in args.ids]
    for cid in ids:
        store.get_conversation(cid)
    with _output(args.out) as out:
        counts: ExportCounts
        if args.format == "md":
            counts = write_markdown(store, ids, out)
        elif args.format == "json":
            counts = write_json(store, ids, out)
        else:
            counts = write_sharegpt(
                store,
                ids,
                out,
                markers=Markers(args.markers),
                complete_only=args.complete_only,
                keep_injected=args.keep_injected,
            )
    where = "standard output" if args.out == "-" else args.out
    note = left_out_note(counts)
    print(f"Exported {counts.written} conversation(s) to {where}. {note}".rstrip(), file=sys.stderr)


def _import(store: Store, args: argparse.Namespace) -> None:
    ids = import_file(store, Path(args.file))
    shown = ", ".join(str(i) for i in ids) or "none"
    print(f"Imported {len(ids)} conversation(s): {shown}.")


_COMMANDS: dict[str, Callable[[Store, argparse.Namespace], None]] = {
    "list": _list,
    "show": _show,
    "search": _search,
    "rename": _rename,
    "rm": _rm,
    "export": _export,
    "import": _import,
}


def parse_id(text: str) -> int:
    value = text.strip().removeprefix("#")
    if not value.isdigit():
        raise _BadInputError(f"'{text}' is not a conversation ID (IDs are numbers; see 'list').")
    return int(value)


@contextlib.contextmanager
def _output(target: str) -> Iterator[TextIO]:
    """The export's destination; a file appears only complete (written aside, then moved)."""
    if target == "-":
        yield sys.stdout
        return
    with export_file(Path(target)) as handle:
        yield handle


def _summary_json(c: ConversationSummary) -> dict[str, Any]:
    out = asdict(c)
    out["created_at"] = c.created_at.isoformat()
    out["updated_at"] = c.updated_at.isoformat()
    return out


def _hit_json(h: SearchHit) -> dict[str, Any]:
    out = asdict(h)
    out["role"] = h.role.value if h.role else None
    return out


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app.history_cli history ...`` (the same as ``ponder history ...``)."""
    parser = argparse.ArgumentParser(prog="ponder")
    add_history_parser(parser.add_subparsers(dest="command", required=True))
    return run_history(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
