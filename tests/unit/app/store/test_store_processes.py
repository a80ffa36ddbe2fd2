"""Real processes: a writer killed with SIGKILL mid-stream; two writers at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.events import ReasoningState
from app.store import MessageStatus, open_store

ROOT = Path(__file__).resolve().parents[4]

STREAMER = """
import sys, time
from pathlib import Path
from app.events import Event, EventKind
from app.store import open_store

store = open_store(Path(sys.argv[1]))
conv = store.create_conversation()
store.add_user_message(conv.id, "Tell me a long story")
recorder = store.start_answer(conv.id)  # the default 0.5 s flush interval
print("ids", conv.id, recorder.message_id, flush=True)
i = 0
while True:
    kind = EventKind.REASONING if i < 400 else EventKind.CONTENT
    recorder.apply(Event(kind, text=f"w{i} "))
    if i % 10 == 0:
        print(i, flush=True)
    i += 1
    time.sleep(0.002)
"""

WRITER = """
import sys, time
from pathlib import Path
from app.events import Event, EventKind, FinishReason, done_event
from app.store import open_store

path, name, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = open_store(path)
while not go.exists():
    time.sleep(0.005)
for i in range(count):
    conv = store.create_conversation(title=f"{name}-{i}")
    store.add_user_message(conv.id, f"question {name} {i}")
    recorder = store.start_answer(conv.id, flush_interval=0)
    for j in range(3):
        recorder.apply(Event(EventKind.CONTENT, text=f"{name}{i}.{j} "))
    recorder.apply(done_event(0, FinishReason.STOP))
store.close()
print("done", flush=True)
"""


def _python(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_stream_loses_at_most_the_last_second(tmp_path: Path) -> None:
    path = tmp_path / "ponder.sqlite3"
    with open_store(path):
        pass  # create and migrate first, so the child only streams
    child = _python(STREAMER, str(path))
    try:
        killed_at, progress, conv_id, message_id = _stream_then_kill(child)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reasoning, content, status = db.execute(
        "SELECT reasoning, content, status FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    db.close()
    assert status == "streaming"
    assert reasoning == "".join(f"w{i} " for i in range(400))
    emitted = "".join(f"w{i} " for i in range(400, progress[-1][1] + 20))
    assert content and emitted.startswith(content)  # a clean prefix, nothing garbled
    # Everything emitted more than a second before the kill was on disk.
    sure = max(i for t, i in progress if t <= killed_at - 1.0)
    assert sure >= 450 and f"w{sure} " in content

    with open_store(path) as store:
        message = store.get_message(message_id)
        assert message.status is MessageStatus.INTERRUPTED
        assert (message.reasoning, message.content) == (reasoning, content)
        assert message.reasoning_state is ReasoningState.COMPLETE
        assert store.active_path(conv_id)[-1].id == message_id
        assert store.search("w399")[0].message_id == message_id


def _stream_then_kill(
    child: subprocess.Popen[str],
) -> tuple[float, list[tuple[float, int]], int, int]:
    """Let the child stream into its answer, SIGKILL it; return when and what it said."""
    assert child.stdout is not None
    first = child.stdout.readline().split()
    assert first[0] == "ids", child.stderr.read() if child.stderr else ""
    conv_id, message_id = int(first[1]), int(first[2])
    progress: list[tuple[float, int]] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            progress.append((time.monotonic(), int(line)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while not progress or progress[-1][1] < 450:  # into the answer
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.02)
    time.sleep(1.5)
    killed_at = time.monotonic()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    reader.join(timeout=5)
    return killed_at, progress, conv_id, message_id


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ponder.sqlite3"
    with open_store(path):
        pass
    go = tmp_path / "go"
    count = 20
    children = [_python(WRITER, str(path), name, str(count), str(go)) for name in ("a", "b")]
    time.sleep(0.5)
    go.touch()
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == "done"
    with open_store(path) as store:
        titles = {c.title for c in store.list_conversations(limit=None)}
        assert titles == {f"{n}-{i}" for n in "ab" for i in range(count)}
        for summary in store.list_conversations(limit=None):
            name, i = summary.title.split("-")
            path_messages = store.active_path(summary.id)
            assert [m.content for m in path_messages] == [
                f"question {name} {i}",
                "".join(f"{name}{i}.{j} " for j in range(3)),
            ]
            assert path_messages[-1].status is MessageStatus.COMPLETE
        assert store.integrity_check() == ["ok"]
