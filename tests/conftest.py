"""Shared fixtures: every test gets its own PONDER_HOME; the real test model is cached.

Every test is marked with its folder's name (``unit``, ``integration``, ``e2e``), so
``pytest -m unit`` runs tests/unit/ and a test file marks itself only with what its folder
does not say (``llama``: it runs the real model; ``slow``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.test_model import smollm2_path  # noqa: E402

pytest_plugins = ["tests.support.fixtures"]  # window, hub, served

TEMPLATES = ROOT / "tests" / "fixtures" / "chat_templates"
TESTS = ROOT / "tests"
FOLDER_MARKERS = frozenset({"unit", "integration", "e2e"})


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by them
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder (tests/unit/... -> ``unit``); refuse a hand-made one."""
    for item in items:
        own = {mark.name for mark in item.iter_markers()} & FOLDER_MARKERS
        if own:
            raise pytest.UsageError(
                f"{item.nodeid}: marked {', '.join(sorted(own))} by hand; that mark comes from "
                "the folder (a test that runs the real model is marked llama)"
            )
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)


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
