"""``ponder chat --json`` through the real worker: the pieces' token counts are the engine's.

SmolLM2 behind the R1-distill template thinks without end; a budget of 32 closes it. The
worker merges pieces (~40 ms each): the counts on the merged pieces still add up to the
stats, the reasoning's already by the injected close, and the thinking time ends there.
"""

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


@pytest.mark.timeout(600)
def test_json_pieces_carry_the_engines_token_counts(smollm2: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "chat",
            "--model",
            str(smollm2),
            "--chat-template",
            str(TEMPLATES / "deepseek-r1-distill.jinja"),
            "--prompt",
            "Is 91 a prime number?",
            "--json",
            "--budget",
            "32",
            "--max-tokens",
            "80",
            "--temperature",
            "0",
            "--ctx",
            "1024",
        ],
        capture_output=True,
        text=True,
        timeout=540,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    stats = events[-2]
    assert stats["type"] == "stats"
    assert stats["reasoning_tokens"] == 32
    reasoning = [e for e in events if e["type"] == "reasoning"]
    content = [e for e in events if e["type"] == "content"]
    assert sum(e["tokens"] for e in reasoning) == stats["reasoning_tokens"]
    assert sum(e["tokens"] for e in content) == stats["content_tokens"]
    close = next(i for i, e in enumerate(events) if e["type"] == "injected")
    assert events[close]["reason"] == "budget"
    before = [e for e in events[:close] if e["type"] == "reasoning"]
    assert sum(e["tokens"] for e in before) == 32  # all of it by the close
    assert content, "the answer follows the close"
    assert (
        stats["thinking_ms"] <= stats["time_to_first_content_ms"] - stats["time_to_first_token_ms"]
    )
