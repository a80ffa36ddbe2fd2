"""The frozen app (the PyInstaller bundle) does what the source install does.

Runs only when ``PONDER_BUNDLE`` names the bundle's command-line executable
(``dist/ponder/ponder``, ``dist/ponder/ponder-cli.exe``, ``dist/Ponder.app/Contents/MacOS/ponder``);
``scripts/build_bundle.sh`` builds the bundle and then runs this file against it::

    PONDER_BUNDLE=dist/ponder/ponder .venv/bin/python -m pytest tests/e2e/test_frozen_bundle.py

Each check drives the binary as a user would, from a folder outside the checkout, with its own
``PONDER_HOME``: the window offscreen, a real generation (the engine worker is a second process
started from the frozen executable), the history database (Alembic migrations read from the
bundle), the packaged model catalogue, and the OpenAI-compatible server (uvicorn).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app import __version__

if not os.environ.get("PONDER_BUNDLE"):
    pytest.skip(
        "no frozen bundle to test: scripts/build_bundle.sh builds one and sets PONDER_BUNDLE",
        allow_module_level=True,
    )
BUNDLE = str(Path(os.environ["PONDER_BUNDLE"]).resolve())

pytestmark = [pytest.mark.llama, pytest.mark.slow]

PROMPT = "Which city is the capital of France?"


def ponder(
    *args: str, cwd: Path, timeout: float = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the frozen ``ponder`` with ``args``; fail on a traceback anywhere in its output."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [BUNDLE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        input=stdin,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def test_version_comes_from_the_package(tmp_path: Path) -> None:
    done = ponder("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ponder {__version__}"


@pytest.mark.parametrize("command", ["chat", "history", "models", "serve"])
def test_subcommand_help(tmp_path: Path, command: str) -> None:
    done = ponder(command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: ponder {command}")


def test_api_keys_go_to_the_system_keyring_or_are_refused(tmp_path: Path) -> None:
    # keyring finds its backends through package metadata: the bundle must carry it. With a
    # system keyring (macOS, Windows, a desktop session) the key is stored and the dead port
    # is reported; without one (CI) the clear "no system keyring" message comes first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    done = ponder(
        "models",
        "add-remote",
        "box",
        f"http://127.0.0.1:{port}",
        "--api-key-stdin",
        cwd=tmp_path,
        stdin="sk-frozen-test\n",
    )
    assert done.returncode != 0
    said = done.stderr.lower()
    assert "no system keyring" in said or "refused" in said or "connect" in said, done.stderr
    assert "sk-frozen-test" not in done.stderr + done.stdout


def test_self_test_opens_the_window_offscreen(tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    done = ponder("--self-test", "--screenshot", str(shot), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "self-test ok" in done.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 5_000, "the window was drawn"
    print(f"\n  {done.stdout.strip()}, screenshot {shot.stat().st_size:,} bytes")


def test_chat_generates_in_the_worker_process_and_keeps_history(
    tmp_path: Path, smollm2: Path
) -> None:
    done = ponder(
        "chat",
        "--model",
        str(smollm2),
        "--prompt",
        PROMPT,
        "--json",
        "--max-tokens",
        "16",
        "--seed",
        "1",
        *_gpu_layers(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    text = "".join(e.get("text", "") for e in events if e["type"] == "content")
    stats = next(e for e in events if e["type"] == "stats")
    assert events[-1]["type"] == "done", events[-1]
    assert text.strip(), events
    assert stats["completion_tokens"] > 0
    print(
        f"\n  generated {stats['completion_tokens']} tokens at "
        f"{stats['decode_tokens_per_s']:.1f} tok/s: {text.strip()[:60]!r}"
    )

    listed = ponder("history", "list", "--json", cwd=tmp_path)  # migrations ran from the bundle
    assert listed.returncode == 0, listed.stderr
    conversations = json.loads(listed.stdout)
    assert len(conversations) == 1, conversations
    assert PROMPT in json.dumps(conversations)
    found = ponder("history", "search", "capital", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "capital" in found.stdout.lower()


def test_models_catalog_reads_the_packaged_catalogue(tmp_path: Path) -> None:
    done = ponder("models", "catalog", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "DeepSeek-R1-Distill" in done.stdout


def test_serve_answers_openai_requests(tmp_path: Path, smollm2: Path) -> None:
    with socket.socket() as probe:  # a free port (ponder serve takes 1-65535)
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    args = [BUNDLE, "serve", "--model", str(smollm2), "--port", port, "--save-history"]
    proc = subprocess.Popen(
        [*args, *_gpu_layers()],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    log: list[str] = []
    try:
        url = _wait_for_url(proc, log, timeout=180)
        models = _retry(lambda: _request(f"{url}/models"), timeout=60)  # until uvicorn listens
        assert [m["id"] for m in models["data"]] == [smollm2.stem], models
        body = {
            "model": smollm2.stem,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 8,
            "seed": 1,
        }
        reply = _request(f"{url}/chat/completions", body)
        assert reply["choices"][0]["message"]["content"].strip(), reply
        print(f"\n  served {url}: {reply['choices'][0]['message']['content'].strip()[:60]!r}")
    finally:
        if sys.platform == "win32":
            proc.terminate()  # a CTRL_C_EVENT would reach this test's console too
        else:
            proc.send_signal(signal.SIGINT)  # the way a user stops it: Ctrl+C
        try:
            rest = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[1]
        log.append(rest or "")
    assert "Traceback" not in "".join(log), "".join(log)
    # --save-history: the API's exchange is in the history the frozen CLI reads.
    listed = ponder("history", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    titles = [c["title"] for c in json.loads(listed.stdout)]
    assert titles == [f"{PROMPT} · API"], titles


def _gpu_layers() -> list[str]:
    """``--gpu-layers N`` from ``PONDER_SMOKE_GPU_LAYERS`` (CI machines without a usable GPU)."""
    layers = os.environ.get("PONDER_SMOKE_GPU_LAYERS")
    return ["--gpu-layers", layers] if layers else []


def _wait_for_url(proc: subprocess.Popen[str], log: list[str], timeout: float) -> str:
    """The server's base URL, from its "Serving … at URL/v1" line on stderr."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        log.append(line)
        match = re.search(r"Serving .* at (http://\S+/v1)", line)
        if match:
            return match.group(1)
    raise AssertionError("ponder serve did not start:\n" + "".join(log))


def _retry(call: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def _request(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read().decode("utf-8"))
