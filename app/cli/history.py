"""``ponder history``: list, show, search, rename, delete, export and import conversations.

``app.cli`` registers the sub-command with :func:`add_history_parser` and runs it with
:func:`run_history`. Conversation ids are the integers shown by ``list`` (``#12`` works too).
Exit status: 0 on success, 1 on failure with one line on stderr (no traceback for bad input).

Text from the database (titles, messages) is printed with its control characters shown as
escapes (:func:`app.terminal.safe_text`): an imported title cannot command the terminal. Only
``export --out -`` writes the conversations' bytes as they are. ``list``, ``show``, ``search``
and ``export`` also work on a history database that cannot be written (opened read-only).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from app.errors import PonderError
from app.store import Store, open_store
from app.store.domain import ConversationSummary, SearchHit
from app.store.errors import NotFoundError
from app.store.export import (
    DAMAGE_ERRORS,
    ExportCounts,
    Markers,
    all_ids,
    conversation_json,
    conversation_markdown,
    left_out_note,
    write_json,
    write_markdown,
    write_sharegpt,
)
from app.store.importer import import_file
from app.terminal import run_cli, safe_json, safe_text
from app.user_files import open_output


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
    p.add_argument("id", metavar="ID", help="the conversation (see ponder history list)")
    p.add_argument("--json", action="store_true", help="every message of every branch")

    p = sub.add_parser("search", help="full-text search of titles, answers and reasoning")
    p.add_argument("query", nargs="+", metavar="QUERY", help="every word must match")
    p.add_argument("--json", action="store_true", help="one JSON array of hits")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")

    p = sub.add_parser("rename", help="give a conversation a title")
    p.add_argument("id", metavar="ID", help="the conversation (see ponder history list)")
    p.add_argument("title", nargs="+", metavar="TITLE", help="its new title")

    p = sub.add_parser("rm", help="delete conversations")
    p.add_argument("ids", nargs="+", metavar="ID", help="the conversations to delete")

    p = sub.add_parser("export", help="write conversations to a file")
    p.add_argument("ids", nargs="*", metavar="ID", help="the conversations to export (or --all)")
    p.add_argument("--all", action="store_true", help="every conversation")
    p.add_argument(
        "--format",
        required=True,
        choices=["md", "json", "sharegpt"],
        help="md: to read; json: every branch, for ponder history import; sharegpt: training data",
    )
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
    p.add_argument(
        "--force", action="store_true", help="replace the --out file if it exists, without asking"
    )

    p = sub.add_parser("import", help="import a JSON export (as new conversations)")
    p.add_argument(
        "file", metavar="FILE", help="a file written by ponder history export --format json"
    )


def run_history(args: argparse.Namespace) -> int:
    """Run a parsed ``history`` command; returns the exit status."""
    command: Callable[[Store, argparse.Namespace], None] = _COMMANDS[args.history_command]
    reading = args.history_command in _READING
    try:
        with open_store(read_only_ok=reading) as store:
            command(store, args)
    except PonderError as err:
        print(f"ponder history: {safe_text(str(err))}", file=sys.stderr)
        return 1
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
        title = safe_text(c.title or "(untitled)")
        print(f"{c.id:>{width}} {flags} {_local(c.updated_at)}  {title}")


def _show(store: Store, args: argparse.Namespace) -> None:
    cid = parse_id(args.id)
    conversation = store.get_conversation(cid)
    if args.json:
        _print_json(conversation_json(conversation, store.messages(cid)))
        return
    path = store.active_path(cid)
    print(safe_text(conversation_markdown(conversation, path)), end="")
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
        title = safe_text(h.conversation_title or "(untitled)")
        print(f"{h.conversation_id}  {title}  [{where}]")
        print(f"    {safe_text(h.snippet)}")


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
    for cid in ids:  # an unknown ID fails before anything is written
        try:
            store.get_conversation(cid)
        except NotFoundError:
            raise
        except DAMAGE_ERRORS:
            pass  # damaged: the export leaves it out and says so
    with _output(args.out, args.force) as out:
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
    for cid, reason in counts.damaged:
        print(
            f"ponder history: skipped conversation {cid}: it is damaged ({safe_text(reason)}).",
            file=sys.stderr,
        )


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
_READING = frozenset({"list", "show", "search", "export"})


_ID = re.compile(r"[0-9]{1,18}")


def parse_id(text: str) -> int:
    """A conversation ID as typed: ``12`` or ``#12`` (ASCII digits; not ``²`` or ``١``)."""
    value = text.strip().removeprefix("#")
    if not _ID.fullmatch(value):
        shown = safe_text(text)
        raise _BadInputError(f"'{shown}' is not a conversation ID (IDs are numbers; see 'list').")
    return int(value)


@contextlib.contextmanager
def _output(target: str, force: bool) -> Iterator[TextIO]:
    """The export's destination (see :func:`app.user_files.open_output`)."""
    if target == "-":
        yield sys.stdout
        return
    with open_output(target, force=force, confirm=_confirm_replace) as handle:
        yield handle


def _confirm_replace(path: Path) -> bool:
    """On a terminal, ask before replacing a file; elsewhere refuse (--force says yes)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    try:
        answer = input(f"{safe_text(str(path))} exists. Replace it? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


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
    sys.stdout.write(safe_json(data, indent=2) + "\n")


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app.cli.history history ...`` (the same as ``ponder history ...``)."""
    parser = argparse.ArgumentParser(prog="ponder")
    add_history_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_cli(lambda: run_history(args))


if __name__ == "__main__":
    sys.exit(main())
