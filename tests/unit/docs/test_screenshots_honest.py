"""The README's screenshots are honest: a real run, or captioned as a scripted illustration.

``scripts/screenshots.py`` says which of its pictures come from a real run (the window with
the real test model) and which are scripted with made-up data; the README must show only a
real run as its hero image, say so under it, and caption every scripted one wherever it
appears.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
SHOTS = ROOT / "docs" / "screenshots"
IMAGE_OR_LINK = re.compile(r"docs/screenshots/([\w-]+?)(?:-dark)?\.png")


def screenshots_script() -> ModuleType:
    return load_script("screenshots")


def items(markdown: str) -> list[str]:
    """Paragraphs and list items, each as one string (a caption wraps over lines)."""
    return re.split(r"\n\s*\n|\n(?=\s*[-*] )", markdown)


def test_every_screenshot_is_declared_real_or_scripted() -> None:
    script = screenshots_script()
    assert not set(script.REAL_RUN) & set(script.SCRIPTED)
    declared = {f"{n}{s}.png" for n in script.REAL_RUN + script.SCRIPTED for s in ("", "-dark")}
    assert {p.name for p in SHOTS.glob("*.png")} == declared


def test_the_readme_hero_is_a_real_run_shown_once_and_captioned() -> None:
    script = screenshots_script()
    lines = README.read_text(encoding="utf-8").splitlines()
    images = [(i, line) for i, line in enumerate(lines) if line.startswith("![")]
    assert len(images) == 1, f"one image in the README, the hero: {images}"
    at, hero = images[0]
    assert at < 5, "the hero image is at the top"
    match = IMAGE_OR_LINK.search(hero)
    assert match and match.group(1) in script.REAL_RUN
    caption = next(line for line in lines[at + 1 :] if line.strip())
    assert caption.startswith("*A real run: SmolLM2-135M")


def test_every_scripted_screenshot_the_readme_links_is_captioned_as_one() -> None:
    script = screenshots_script()
    linked: set[str] = set()
    for item in items(README.read_text(encoding="utf-8")):
        for name in IMAGE_OR_LINK.findall(item):
            assert (SHOTS / f"{name}.png").exists(), name
            linked.add(name)
            if name in script.SCRIPTED:
                assert "Scripted illustration" in item, item
    assert set(script.SCRIPTED) <= linked, "the README lists every screenshot"
    assert set(script.REAL_RUN) <= linked
