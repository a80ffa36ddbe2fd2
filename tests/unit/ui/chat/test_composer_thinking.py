"""The composer's thinking menu: a saved choice selects its item, and the item asks the
engine for the matching mode and budget."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from app.request import ThinkMode
from ui.chat.composer import Composer


@pytest.mark.parametrize(
    ("choice", "budget", "label", "mode", "asked_budget"),
    [
        ("auto", 4096, "Thinking: auto", ThinkMode.AUTO, None),
        ("off", 4096, "Thinking: off", ThinkMode.OFF, None),
        ("budget", 1024, "Budget 1k", ThinkMode.AUTO, 1024),
        ("budget", 16384, "Budget 16k", ThinkMode.AUTO, 16384),
        ("budget", 24, "Custom budget…", ThinkMode.AUTO, 24),
    ],
)
def test_a_saved_choice_selects_its_item_and_asks_for_its_mode(  # type: ignore[no-untyped-def]
    qtbot, choice: str, budget: int, label: str, mode: ThinkMode, asked_budget: int | None
) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    composer.thinking.setCurrentIndex(3)  # "Budget 4k": each choice moves away from it
    composer.set_thinking(choice, budget)
    assert composer.thinking.currentText() == label
    control = composer.thinking_control()
    assert (control.mode, control.budget) == (mode, asked_budget)
    composer.think_longer.setValue(512)
    assert composer.thinking_control().min_tokens == (None if mode is ThinkMode.OFF else 512)


def test_a_budget_choice_without_a_budget_leaves_the_menu_alone(qtbot) -> None:  # type: ignore[no-untyped-def]
    composer = Composer()
    qtbot.addWidget(composer)
    composer.thinking.setCurrentIndex(1)
    composer.set_thinking("budget", None)
    assert composer.thinking.currentText() == "Thinking: off"
