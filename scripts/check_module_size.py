"""Fail when a Python module of the project grows past 600 lines (CI's lint step runs this).

    python scripts/check_module_size.py [ROOT]

Small modules are a house rule: a module over the limit is split, not waved through. The few
that are over it today are listed in ``ALLOWED`` with their size as a ceiling: they may shrink,
never grow, and leave the list once they are under the limit. Exit status 0 when every module
fits, 1 with one line per offender (path and line count) otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

LIMIT = 600
PACKAGES = ("app", "backends", "ui", "bench", "scripts")

# Modules allowed over the limit, each with a ceiling. Empty, and to stay so: a module that
# grows past the limit is split instead.
ALLOWED: Mapping[str, int] = {}


def line_count(path: Path) -> int:
    """The number of lines in a text file, the last one counted with or without its newline."""
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def modules(root: Path) -> Iterator[Path]:
    """Every Python module under the project's packages and scripts, sorted."""
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def offenders(root: Path, allowed: Mapping[str, int] | None = None) -> list[str]:
    """One line per module over its ceiling: the limit, or its entry in ``allowed`` (``ALLOWED``)."""
    allowed = ALLOWED if allowed is None else allowed
    found = []
    for path in modules(root):
        name = path.relative_to(root).as_posix()
        ceiling = allowed.get(name, LIMIT)
        lines = line_count(path)
        if lines > ceiling:
            why = f"the ceiling kept for it ({ceiling})" if name in allowed else f"{LIMIT}"
            found.append(f"{name}: {lines} lines, over {why}; split it")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    found = offenders(root)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
