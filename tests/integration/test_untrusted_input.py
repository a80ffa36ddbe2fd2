"""Untrusted input through the real paths: hostile chat templates, absurd ``--ctx`` values and
broken model files reach the user as one clear message, quickly, within a memory ceiling.

Everything runs as a user runs it — ``ponder chat`` / ``ponder serve`` subprocesses, or the
engine client the window uses — on the real SmolLM2 GGUF through llama.cpp. Peak memory is
the kernel's figure: ``ru_maxrss`` of every reaped descendant of a fresh wrapper process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from app.engine import LoadParams
from app.events import EventKind
from backends.client import EngineClient
from tests.unit.app.test_template_limits import HOSTILE, SORT_LOOP

pytestmark = pytest.mark.llama

ROOT = Path(__file__).resolve().parents[2]
GB = 1024**3

#: No process (the CLI, the engine worker with SmolLM2, the template renderer) may pass this.
#: Before the fix these templates drove the worker to 1–6.5 GB, a 2**32 context to 23 GB.
CEILING = 1 * GB
#: The whole command: start, load SmolLM2, hit the template's limit (5 s for time), report;
#: generous for a busy machine (before the fix the sort loop ran for minutes).
COMMAND_LIMIT_S = 90.0

_WRAPPER = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    start = time.monotonic()
    proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
    print(json.dumps({
        "code": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "elapsed": time.monotonic() - start,
        "peak_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }))
    """
)


def ponder_measured(*args: str) -> dict[str, object]:
    """Run ``ponder ARGS``; its exit code, output, wall time and the peak RSS of its tree."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    wrapper = subprocess.run(
        [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=ROOT,
        check=True,
    )
    result: dict[str, object] = json.loads(wrapper.stdout)
    return result


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss of descendants: Linux")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_file_in_ponder_chat(name: str, smollm2: Path, tmp_path: Path) -> None:
    template = tmp_path / f"{name}.jinja"
    template.write_text(HOSTILE[name], encoding="utf-8")
    result = ponder_measured(
        "chat", "--model", str(smollm2), "--chat-template", str(template),
        "--prompt", "Hi", "--max-tokens", "4", "--ctx", "512", "--no-save",
    )  # fmt: skip
    stderr = str(result["stderr"])
    assert result["code"] == 1, result
    assert f"chat template from {template}" in stderr, stderr
    assert "memory it may use" in stderr or "ran too long" in stderr, stderr
    assert "Traceback" not in stderr
    assert float(result["elapsed"]) < COMMAND_LIMIT_S, result  # type: ignore[arg-type]
    assert int(result["peak_rss"]) < CEILING, result  # type: ignore[call-overload]


def test_stop_during_a_runaway_render_stops_at_once(smollm2: Path) -> None:
    # The window's Stop goes through EngineClient.cancel, as here.
    with EngineClient() as client:
        client.load_blocking(
            LoadParams(str(smollm2), n_ctx=512, chat_template=SORT_LOOP, chat_template_name="x")
        )
        from app.request import ChatMessage, GenerationRequest

        stream = client.generate(GenerationRequest(messages=(ChatMessage("user", "Hi"),)))
        threading.Timer(0.5, stream.cancel).start()
        start = time.monotonic()
        events = list(stream)
        elapsed = time.monotonic() - start
        assert events[-1].kind is EventKind.DONE, events
        assert events[-1].data["finish_reason"] == "cancelled"
        assert elapsed < 3.0  # the render alone would run 5 s before its limit
        # The engine is still there, and a normal template works after the renderer died.
        client.load_blocking(LoadParams(str(smollm2), n_ctx=512))
        again = list(
            client.generate(GenerationRequest(messages=(ChatMessage("user", "Hi"),), max_tokens=3))
        )
        assert again[-1].kind is EventKind.DONE


# --- the context size --------------------------------------------------------------------------


@pytest.mark.parametrize("ctx", [str(2**32), "99999999999999999999", str(2**40), "8193"])
def test_absurd_ctx_in_ponder_chat_is_a_usage_error(ctx: str, smollm2: Path) -> None:
    result = ponder_measured(
        "chat", "--model", str(smollm2), "--prompt", "Hi", "--ctx", ctx, "--no-save"
    )
    stderr = str(result["stderr"])
    assert result["code"] == 2, result
    assert stderr == (
        f"ponder: a context of {int(ctx):,} tokens is more than "
        "SmolLM2-135M-Instruct.Q4_1.gguf can use: it was trained for 8,192 tokens. "
        "Choose a context of at most 8,192 tokens.\n"
    )
    assert int(result["peak_rss"]) < CEILING, result  # type: ignore[call-overload]


@pytest.mark.parametrize("ctx", ["-5", "0", "lots"])
def test_negative_or_garbage_ctx_is_a_usage_error(ctx: str, smollm2: Path) -> None:
    result = ponder_measured("chat", "--model", str(smollm2), "--prompt", "Hi", "--ctx", ctx)
    assert result["code"] == 2, result
    assert "--ctx" in str(result["stderr"]) and "Traceback" not in str(result["stderr"])


def test_absurd_ctx_in_ponder_serve_is_a_usage_error(smollm2: Path) -> None:
    # The API server's context: refused before the engine starts, before a port is bound.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    result = ponder_measured("serve", "--model", str(smollm2), "--port", port, "--ctx", str(2**32))
    assert result["code"] == 2, result
    assert str(result["stderr"]) == (
        "ponder: a context of 4,294,967,296 tokens is more than "
        "SmolLM2-135M-Instruct.Q4_1.gguf can use: it was trained for 8,192 tokens. "
        "Choose a context of at most 8,192 tokens.\n"
    )


def test_absurd_ctx_from_the_window_never_reaches_llama_cpp(smollm2: Path) -> None:
    # The window (and the API server) load through the engine client: the worker refuses it.
    with EngineClient() as client:
        events = list(client.load(LoadParams(str(smollm2), n_ctx=2**32)))
        assert events[-1].kind is EventKind.ERROR
        assert events[-1].text.startswith(
            "a context of 4,294,967,296 tokens is more than SmolLM2-135M-Instruct.Q4_1.gguf"
        )
        assert not events[-1].data.get("crashed")
        info = client.load_blocking(LoadParams(str(smollm2), n_ctx=1024))  # still alive
        assert info.n_ctx == 1024


# --- broken model files ------------------------------------------------------------------------


def _with_architecture(source: Path, target: Path, arch: bytes) -> Path:
    data = source.read_bytes()
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # value type (u32), string length (u64)
    assert data[at : at + len(arch)] == b"llama" and len(arch) == 5
    target.write_bytes(data[:at] + arch + data[at + len(arch) :])
    return target


def test_unknown_architecture_is_named(smollm2: Path, tmp_path: Path) -> None:
    model = _with_architecture(smollm2, tmp_path / "zorgo.gguf", b"zorgo")
    proc = subprocess.run(
        [sys.executable, "-m", "app", "chat", "--model", str(model), "--prompt", "Hi"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert "architecture 'zorgo'" in proc.stderr, proc.stderr
    assert "could not load the model" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_truncated_gguf_is_unusable_in_models_list(smollm2: Path, tmp_path: Path) -> None:
    folder = tmp_path / "stash"
    folder.mkdir()
    with smollm2.open("rb") as fh:
        (folder / "Cut-Q4_1.gguf").write_bytes(fh.read(40_000_000))
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(tmp_path / "home"))
    env["HF_HUB_CACHE"] = str(tmp_path / "hf")

    def models(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "models", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=ROOT,
        )

    assert "0 usable model(s), 1 unusable" in models("add", str(folder)).stdout
    listed = models("list").stdout
    assert "unusable: " in listed and "truncated" in listed, listed
    chat = subprocess.run(
        [sys.executable, "-m", "app", "chat", "--model", "stash/Cut-Q4_1", "--prompt", "Hi"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert chat.returncode == 1 and "truncated" in chat.stderr, chat.stderr
