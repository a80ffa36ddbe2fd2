"""Nothing outlives Ponder: kill the real parent, the engine worker and resource tracker go too.

Each test starts a real ``ponder`` process (the real SmolLM2 through llama.cpp, a long
generation), waits until its engine worker is generating, then ends the parent the way a
user or the system does — ``kill -9``, SIGTERM — and checks, by PID, that every process it
started is gone within 2 s.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.errors import EngineError
from app.store import MessageStatus, Role, open_store
from backends.client import EngineClient
from tests.support.processes import (
    ROOT,
    Launched,
    orphans_come_home,
    running,
    seconds_until_gone,
    wait_until,
)

pytestmark = pytest.mark.llama

R1 = ROOT / "tests" / "fixtures" / "chat_templates" / "deepseek-r1-distill.jinja"
#: The worker must be gone this long after its parent died (issue 15).
LIMIT_S = 2.0

Launch = Callable[..., Launched]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    started: list[Launched] = []

    def start(*args: str) -> Launched:
        folder = tmp_path / f"run{len(started)}"
        folder.mkdir()
        proc = Launched([sys.executable, "-m", "app", *args], folder, env={})
        started.append(proc)
        return proc

    with orphans_come_home():
        try:
            yield start
        finally:
            for proc in started:
                proc.cleanup()


def long_chat(launch: Launch, model: Path) -> Launched:
    """``ponder chat`` writing a long answer (SmolLM2 under the R1 template thinks on)."""
    return launch(
        "chat",
        "--model",
        str(model),
        "--chat-template",
        str(R1),
        "--prompt",
        "Tell me a very long story about the sea.",
        "--json",
        "--max-tokens",
        "100000",
        "--ctx",
        "4096",
        "--seed",
        "3",
    )


def streamed_types(chat: Launched) -> list[str]:
    types = []
    for line in chat.stdout().splitlines():
        try:
            types.append(json.loads(line)["type"])
        except (ValueError, KeyError, TypeError):
            continue  # a line still being written
    return types


def wait_generating(chat: Launched) -> list[int]:
    """Wait for the worker and its first tokens; the PIDs of everything the parent started."""
    chat.wait_for_worker()
    wait_until(
        lambda: {"reasoning", "content"} & set(streamed_types(chat)), 180, "the first tokens"
    )
    pids = chat.children_pids()
    kinds = sorted(chat.seen[pid] for pid in pids)
    assert "worker" in kinds and "resource tracker" in kinds, kinds
    return pids


def assert_gone(chat: Launched, pids: list[int], limit: float = LIMIT_S) -> float:
    elapsed = seconds_until_gone(pids, limit)
    left = {pid: chat.seen[pid] for pid in pids if running(pid)}
    assert elapsed is not None, f"still running {limit} s after the parent died: {left}"
    print(f"gone {elapsed:.2f} s after the parent: {sorted(chat.seen[p] for p in pids)}")
    return elapsed


def test_chat_killed_with_sigkill_takes_its_worker_along(launch: Launch, smollm2: Path) -> None:
    chat = long_chat(launch, smollm2)
    pids = wait_generating(chat)
    chat.signal(signal.SIGKILL)
    assert chat.wait(10) == -signal.SIGKILL
    assert_gone(chat, pids)


def test_chat_sigterm_stops_saves_and_exits_143(launch: Launch, smollm2: Path) -> None:
    chat = long_chat(launch, smollm2)
    pids = wait_generating(chat)
    chat.signal(signal.SIGTERM)
    assert chat.wait(30) == 143, chat.stderr()
    assert_gone(chat, pids)
    assert "Traceback" not in chat.stderr()
    assert streamed_types(chat)[-1] == "done"
    # What was streamed is saved, marked as stopped.
    store = open_store()
    try:
        (conv,) = store.list_conversations()
        answer = store.active_path(conv.id)[-1]
    finally:
        store.close()
    assert answer.role is Role.ASSISTANT
    assert answer.status is MessageStatus.CANCELLED
    assert (answer.reasoning + answer.content).strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_killed_mid_request_takes_its_worker_along(launch: Launch, smollm2: Path) -> None:
    port = _free_port()
    serve = launch(
        "serve", "--model", str(smollm2), "--chat-template", str(R1), "--port", str(port)
    )
    serve.wait_for_worker()
    wait_until(lambda: "Serving" in serve.stderr(), 180, "the server")
    chunks: list[str] = []

    def client() -> None:
        body = {
            "model": smollm2.name,  # an alias of the served model (others are 404)
            "messages": [{"role": "user", "content": "Tell me a very long story about the sea."}],
            "max_tokens": 100000,
            "stream": True,
        }
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, timeout=300) as response:
                for line in response.iter_lines():
                    chunks.append(line)
        except httpx.HTTPError:
            pass  # the server was killed under it: expected

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    wait_until(lambda: any("delta" in c for c in chunks), 180, "the first streamed tokens")
    pids = serve.children_pids()
    assert "worker" in [serve.seen[p] for p in pids]
    serve.signal(signal.SIGKILL)
    assert serve.wait(10) == -signal.SIGKILL
    assert_gone(serve, pids)
    thread.join(10)


_ORPHAN_SCRIPT = """
import multiprocessing as mp, sys, time
import backends.lifetime as lifetime

def child():
    lifetime._kill_me_with_parent = lambda: None  # only the sentinel watch is left
    lifetime.watch_parent()
    print("watching", flush=True)
    while True:  # busy, as a generating worker is
        sum(range(10_000))

if __name__ == "__main__":
    proc = mp.get_context("spawn").Process(target=child, daemon=True)
    proc.start()
    print(proc.pid, flush=True)
    time.sleep(600)
"""


def test_parent_sentinel_alone_ends_the_worker(tmp_path: Path) -> None:
    """The check that works on every OS (macOS, Windows have no parent-death signal)."""
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    with orphans_come_home():
        parent = Launched([sys.executable, str(script)], tmp_path, env={})
        try:
            wait_until(lambda: "watching" in parent.stdout(), 60, "the child to watch")
            child = int(parent.stdout().split()[0])
            parent.seen[child] = "worker"
            assert running(child)
            parent.signal(signal.SIGKILL)
            parent.wait(10)
            assert_gone(parent, [child])
        finally:
            parent.cleanup()


def test_worker_started_from_a_short_lived_thread_stays_up() -> None:
    """The Linux parent-death signal fires when the *thread* that started the worker ends;
    the window starts it from a load thread that ends at once — it must not take it along."""
    client = EngineClient()
    try:
        starter = threading.Thread(target=client.start)
        starter.start()
        starter.join()
        worker = client.pid
        assert worker is not None
        seconds_until_gone([worker], 1.0)  # time for a SIGKILL to land
        assert client.alive
        with pytest.raises(EngineError, match="no model is loaded"):
            client.count_tokens("still there?")  # it answers
    finally:
        client.close()
