"""The model card against a loopback hub: the fit line follows the context; a 404 says what
to do, without offering a download to resume."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from app.library.fit import GIB, MachineMemory
from tests.support.hub_server import HubServer, gguf_bytes, llama_like_metadata
from ui.library.card import ModelCard

REPO = "someone/Tiny-GGUF"
WAIT = 60_000
SMALL = MachineMemory(total_ram=8 * GIB, available_ram=6 * GIB)


@pytest.fixture
def hub(hub: HubServer) -> HubServer:
    hub.add_repo(REPO, {"Tiny-Q4_K_M.gguf": gguf_bytes(llama_like_metadata("Tiny"))})
    return hub


@pytest.fixture
def card(qtbot) -> ModelCard:  # type: ignore[no-untyped-def]
    c = ModelCard(SMALL)
    qtbot.addWidget(c)
    c.show()
    return c


def test_the_fit_line_follows_the_context_chosen(qtbot, hub: HubServer, card: ModelCard) -> None:  # type: ignore[no-untyped-def]
    card.show_repo(REPO)
    qtbot.waitUntil(lambda: card.variants.rowCount() == 1, timeout=WAIT)
    assert "Fit at 8,192 tokens of context" in card.status.text()
    card.context_combo.setCurrentIndex(card.context_combo.findData(32768))
    assert "Fit at 32,768 tokens of context" in card.status.text()
    assert "8,192" not in card.status.text()


def test_a_missing_repository_says_so_and_offers_no_resume(
    qtbot, hub: HubServer, card: ModelCard
) -> None:  # type: ignore[no-untyped-def]
    card.show_repo("someone/Missing-GGUF")
    qtbot.waitUntil(lambda: "⚠" in card.status.text(), timeout=WAIT)
    shown = card.status.text()
    assert "404" in shown or "not found" in shown.lower()
    assert "check its name" in shown
    assert "Resume" not in shown and "resume" not in shown
