"""``ponder chat`` as a user runs it: a subprocess, real model, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.llama

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "tests" / "fixtures" / "chat_templates"


def ponder(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def test_json_events_in_order(smollm2: Path) -> None:
    proc = ponder(
        "chat",
        "--model",
        str(smollm2),
        "--prompt",
        "Which city is the capital of France?",
        "--json",
        "--max-tokens",
        "30",
        "--temperature",
        "0",
        "--ctx",
        "1024",
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[-2:] == ["stats", "done"]
    assert set(types[:-2]) <= {"reasoning", "content", "warning", "context_truncated", "injected"}
    content = "".join(e["text"] for e in events if e["type"] == "content")
    assert "Paris" in content
    stats = events[-2]
    for key in (
        "prompt_tokens",
        "prompt_tokens_per_s",
        "time_to_first_token_ms",
        "time_to_first_content_ms",
        "reasoning_tokens",
        "content_tokens",
        "decode_tokens_per_s",
        "thinking_ms",
        "finish_reason",
    ):
        assert key in stats
    assert events[-1]["finish_reason"] in ("stop", "length")


def test_budget_and_r1_template_override_end_to_end(smollm2: Path) -> None:
    proc = ponder(
        "chat",
        "--model",
        str(smollm2),
        "--prompt",
        "Is 17 a prime number?",
        "--json",
        "--chat-template",
        str(TEMPLATES / "deepseek-r1-distill.jinja"),
        "--budget",
        "24",
        "--max-tokens",
        "100",
        "--seed",
        "5",
        "--ctx",
        "1024",
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    injected = [e for e in events if e["type"] == "injected"]
    assert injected and injected[0]["reason"] == "budget"
    stats = next(e for e in events if e["type"] == "stats")
    assert stats["reasoning_tokens"] == 24
    assert stats["reasoning_state"] == "capped"
    first_content = next(i for i, e in enumerate(events) if e["type"] == "content")
    assert all(e["type"] != "reasoning" for e in events[first_content:])


def test_human_output_and_stdin_prompt(smollm2: Path) -> None:
    proc = ponder(
        "chat",
        "--model",
        str(smollm2),
        "--max-tokens",
        "20",
        "--temperature",
        "0",
        "--chat-template",
        str(TEMPLATES / "deepseek-r1-distill.jinja"),
        "--budget",
        "8",
        stdin="What is 2+2?",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Thinking…\n")
    assert "[budget reached]" in proc.stdout
    assert "── thought" in proc.stdout.splitlines()[-1]
    assert "\x1b[" not in proc.stdout  # no colour codes when not on a terminal


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p / "missing.gguf", "model file not found"),
        (
            lambda p: (p / "g.gguf").write_bytes(b"hello world, not a model" * 10) and p / "g.gguf",
            "not a GGUF",
        ),
        (lambda p: p, "is a folder"),
    ],
)
def test_bad_model_files_get_one_clear_line(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    proc = ponder("chat", "--model", str(path), "--prompt", "hi")
    assert proc.returncode == 1
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_truncated_model_and_json_error(smollm2: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.gguf"
    with smollm2.open("rb") as src:
        truncated.write_bytes(src.read(3_000_000))
    proc = ponder("chat", "--model", str(truncated), "--prompt", "hi", "--json")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = json.loads(proc.stdout.splitlines()[-1])
    assert last["type"] == "error" and "cut.gguf" in last["message"]


def test_broken_template_file_and_usage_errors(smollm2: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}{{ m.content ", encoding="utf-8")
    proc = ponder("chat", "--model", str(smollm2), "--prompt", "hi", "--chat-template", str(bad))
    assert proc.returncode == 1
    assert "syntax error" in proc.stderr and "Traceback" not in proc.stderr
    usage = ponder("chat", "--model", str(smollm2), "--budget", "-3", "--prompt", "hi")
    assert usage.returncode == 2
    assert ponder("chat").returncode == 2
