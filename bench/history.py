"""History store at scale: search, opening a long conversation, the list, start-up.

Builds (once; reused when ``--db`` exists) a database of 10,000 conversations and 100,000
messages with realistic lengths (questions of tens of words, answers of hundreds, reasoning
traces of thousands of tokens), one of them a 2,000-message conversation, then times (median
of ``--runs``):

* full-text search (goal ≤ 50 ms),
* opening the 2,000-message conversation: its active path with text and reasoning (≤ 100 ms),
* listing the 1,000 most recent conversations (≤ 20 ms),
* opening the database at start-up: ``open_store`` on an up-to-date file (≤ 50 ms).

Prints a Markdown table and writes it to ``bench/results/history.md``.

    python bench/history.py [--db PATH] [--conversations 10000] [--messages 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.store import Store, fts, open_store  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "history.md"
BIG = 2000  # messages in the long conversation
SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "an", "el", "or", "un", "is", "pe",
    "qu", "dra", "sto", "len", "mar", "tin", "ex", "po", "za", "bel", "cor", "fi", "gu",
]  # fmt: skip
COMMON = [
    "the", "of", "and", "to", "a", "in", "is", "that", "it", "for", "as", "with", "be", "on",
    "this", "we", "by", "are", "or", "not", "so", "if", "then", "but", "let", "me", "check",
    "wait", "think", "number", "answer", "because", "which", "would", "each", "step", "first",
    "next", "value", "equation", "sum", "case", "maybe", "also", "again", "need", "right",
    "so", "okay", "now",
]  # fmt: skip


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    words = set(COMMON)
    while len(words) < size:
        words.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    return sorted(words)


def corpus(rng: random.Random, words: list[str], n_words: int = 1_500_000) -> str:
    """A long text with Zipf-like word frequencies; documents are slices of it."""
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    rng.shuffle(words)
    return " ".join(rng.choices(words, weights=weights, k=n_words))


class TextSource:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.text = corpus(rng, vocabulary(rng))

    def words(self, low: int, high: int) -> str:
        """About ``low``..``high`` words (6.5 characters each on average)."""
        length = int(self.rng.randint(low, high) * 6.5)
        start = self.text.find(" ", self.rng.randrange(len(self.text) - length - 100)) + 1
        end = self.text.rfind(" ", start, start + length)
        return self.text[start:end]


def conversation_sizes(n_conversations: int, n_messages: int, rng: random.Random) -> list[int]:
    """Messages per conversation: one of ``BIG``, the rest 2..20, summing to ``n_messages``."""
    rest = n_conversations - 1
    sizes = [2 * rng.randint(1, 10) for _ in range(rest)]
    target = n_messages - BIG
    while sum(sizes) != target:
        i = rng.randrange(rest)
        if sum(sizes) < target and sizes[i] < 20:
            sizes[i] += 1
        elif sum(sizes) > target and sizes[i] > 2:
            sizes[i] -= 1
    sizes.insert(rest // 2, BIG)
    return sizes


def build(path: Path, n_conversations: int, n_messages: int, seed: int = 7) -> int:
    """Create the database; returns the id of the 2,000-message conversation."""
    rng = random.Random(seed)
    texts = TextSource(rng)
    with open_store(path, use_fts=False):
        pass  # schema only; the search index is built in one go when reopened with FTS
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    message_id = 0
    big_id = 0
    for cid, size in enumerate(conversation_sizes(n_conversations, n_messages, rng), start=1):
        created = start + timedelta(minutes=cid * 90)
        rows = list(_messages(cid, size, message_id, created, texts, rng))
        message_id += len(rows)
        db.executemany(
            "INSERT INTO messages (id, conversation_id, parent_id, role, status, "
            "reasoning_state, finish_reason, model_id, created_at, updated_at, content, "
            "reasoning) VALUES (?, ?, ?, ?, 'complete', ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        stamp = created.isoformat(timespec="microseconds")
        last = (created + timedelta(minutes=size)).isoformat(timespec="microseconds")
        db.execute(
            "INSERT INTO conversations (id, title, title_is_auto, created_at, updated_at, "
            "pinned, archived, model_id, active_leaf_id, settings) "
            "VALUES (?, ?, 1, ?, ?, ?, 0, 'r1-distill-qwen-7b', ?, '{}')",
            (cid, texts.words(3, 9)[:60], stamp, last, int(rng.random() < 0.01), message_id),
        )
        if size == BIG:
            big_id = cid
        if cid % 1000 == 0:
            db.execute("COMMIT")
            db.execute("BEGIN")
            print(f"  {cid} conversations, {message_id} messages", file=sys.stderr)
    db.execute("COMMIT")
    db.close()
    return big_id


def _messages(
    cid: int, size: int, first_id: int, created: datetime, texts: TextSource, rng: random.Random
) -> Iterator[tuple[object, ...]]:
    parent: int | None = None
    for i in range(size):
        mid = first_id + i + 1
        stamp = (created + timedelta(seconds=30 * i)).isoformat(timespec="microseconds")
        if i % 2 == 0:
            yield (mid, cid, parent, "user", None, None, None, stamp, stamp,
                   texts.words(10, 120), "")  # fmt: skip
        else:
            reasoning = texts.words(600, 3000)  # ~800-4,000 tokens
            yield (mid, cid, parent, "assistant", "complete", "stop", "r1-distill-qwen-7b",
                   stamp, stamp, texts.words(60, 500), reasoning)  # fmt: skip
        parent = mid


Timing = tuple[float, float]  # median, best (ms)


def median_ms(fn: Callable[[], object], runs: int) -> Timing:
    fn()  # warm the page cache and statement caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def cold_start_ms(path: Path, runs: int) -> Timing:
    """A new Python process importing the store and opening the file (imports included)."""
    code = (
        "import sys, time; t = time.perf_counter(); from app.store import open_store; "
        "s = open_store(__import__('pathlib').Path(sys.argv[1])); s.close(); "
        "print((time.perf_counter() - t) * 1000)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code, str(path)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
        )
        for _ in range(max(3, runs // 2))
    ]
    return statistics.median(times), min(times)


def measure(store: Store, path: Path, big_id: int, runs: int) -> list[tuple[str, Timing, str]]:
    rare, medium, medium2, common = _terms(path)
    rows: list[tuple[str, Timing, str]] = []
    for query, what in [
        (rare, "a rare word"),
        (medium, "a word in ~2% of messages"),
        (f"{medium} {medium2}", "two such words"),
        (common, "a word in most messages"),
    ]:
        ms = median_ms(lambda q=query: store.search(q, limit=20), runs)  # type: ignore[misc]
        rows.append((f"search `{query}` ({what}), top 20", ms, "≤ 50"))
    path_len = len(store.active_path(big_id))
    rows.append(
        (
            f"open a {path_len}-message conversation (active path, all text)",
            median_ms(lambda: store.active_path(big_id), runs),
            "≤ 100",
        )
    )
    rows.append(
        (
            "… the same, first open after start-up (cold SQLite cache)",
            _timing([_first_open(path, big_id) for _ in range(max(3, runs // 2))]),
            "—",
        )
    )
    rows.append(
        (
            "… the same, reasoning folded (`with_reasoning=False`)",
            median_ms(lambda: store.active_path(big_id, with_reasoning=False), runs),
            "≤ 100",
        )
    )
    rows.append(
        (
            "… folded, first open after start-up",
            _timing([_first_open(path, big_id, False) for _ in range(max(3, runs // 2))]),
            "—",
        )
    )
    rows.append(
        (
            "list the 1,000 most recent conversations",
            median_ms(lambda: store.list_conversations(limit=1000), runs),
            "≤ 20",
        )
    )
    rows.append(
        (
            "open the database (`open_store`, up to date)",
            median_ms(lambda: open_store(path).close(), runs),
            "≤ 50",
        )
    )
    rows.append(
        ("start-up in a new process (imports + `open_store`)", cold_start_ms(path, runs), "—")
    )

    def like() -> object:
        with store.read_session() as session:
            return fts.like_search(session.connection(), medium, 20, ("[", "]"))

    rows.append((f"search `{medium}` with the LIKE fallback (no FTS5)", median_ms(like, 1), "—"))
    return rows


def _timing(times: list[float]) -> Timing:
    return statistics.median(times), min(times)


def _first_open(path: Path, conversation_id: int, with_reasoning: bool = True) -> float:
    """Open the store and the conversation once; returns the second part's time."""
    with open_store(path) as fresh:
        t0 = time.perf_counter()
        fresh.active_path(conversation_id, with_reasoning=with_reasoning)
        return (time.perf_counter() - t0) * 1000


def _terms(path: Path) -> tuple[str, str, str, str]:
    """Indexed words by how many messages hold them: rare, ~2% (two), most."""
    db = sqlite3.connect(path)
    try:
        db.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, 'messages_fts', 'row')")
        total = db.execute("SELECT count(*) FROM messages").fetchone()[0]

        def pick(low: float, high: float, n: int = 1) -> list[str]:
            rows = db.execute(
                "SELECT term FROM temp.vocab WHERE doc BETWEEN ? AND ? AND length(term) > 4 "
                "ORDER BY term LIMIT ?",
                (int(low), int(high), n),
            ).fetchall()
            return [str(r[0]) for r in rows]

        rare = pick(20, 60)
        medium = pick(total * 0.015, total * 0.03, 2)
        common = pick(total * 0.5, total)
    finally:
        db.close()
    return rare[0], medium[0], medium[1], common[0]


def _biggest_conversation(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT conversation_id FROM messages GROUP BY conversation_id "
            "ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="reuse (or create) this database file")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="ponder-bench-")
        args.db = Path(tmp.name) / "ponder.sqlite3"
    notes = []
    if args.db.exists():
        notes.append("Database reused from an earlier run.")
    else:
        print(f"building {args.db} ...", file=sys.stderr)
        t0 = time.perf_counter()
        build(args.db, args.conversations, args.messages)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        open_store(args.db).close()  # installs and fills the FTS5 index
        indexed = time.perf_counter() - t0
        notes.append(f"Built in {built:.0f} s; FTS5 index built in {indexed:.0f} s.")
    with open_store(args.db) as store:
        big_id = _biggest_conversation(args.db)
        n_conv = store.count_conversations()
        rows = measure(store, args.db, big_id, args.runs)
    size = sum(p.stat().st_size for p in args.db.parent.glob(args.db.name + "*"))
    table = render(rows, n_conv, size, notes)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table, encoding="utf-8")
    if tmp is not None:
        tmp.cleanup()


def render(rows: list[tuple[str, Timing, str]], n_conv: int, size: int, notes: list[str]) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    notes = [
        *notes,
        f"Load average at the end of the run: {load:.1f} (other work shares the CPUs).",
    ]
    lines = [
        "## History store (`bench/history.py`)",
        "",
        f"{n_conv:,} conversations, database {size / 2**30:.2f} GiB; median of several runs. "
        f"{platform.python_implementation()} {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.machine()}, {datetime.now(UTC):%Y-%m-%d}.",
        *(line for note in notes for line in ("", note)),
        "",
        "| Operation | Median (ms) | Best (ms) | Goal (ms) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {med:.1f} | {best:.1f} | {goal} |" for name, (med, best), goal in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
