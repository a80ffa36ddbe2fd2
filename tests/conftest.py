"""Shared fixtures: every test gets its own PONDER_HOME; the real test model is cached."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.test_model import smollm2_path  # noqa: E402

TEMPLATES = ROOT / "tests" / "fixtures" / "chat_templates"


@pytest.fixture(autouse=True)
def ponder_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ponder-home"
    home.mkdir()
    monkeypatch.setenv("PONDER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The real SmolLM2-135M-Instruct GGUF (fetched once, cached between runs)."""
    return smollm2_path()


@pytest.fixture(scope="session")
def template_dir() -> Path:
    return TEMPLATES


@pytest.fixture(scope="session")
def r1_template() -> str:
    return (TEMPLATES / "deepseek-r1-distill.jinja").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def qwen3_template() -> str:
    return (TEMPLATES / "qwen3.jinja").read_text(encoding="utf-8")
