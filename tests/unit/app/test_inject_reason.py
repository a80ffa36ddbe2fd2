"""Why Ponder injected text: one set of reasons for the engine, the history, the CLI and the GUI."""

from __future__ import annotations

from app.events import InjectReason, inject_label


def test_every_reason_has_a_mark_and_unknown_ones_show_as_they_are() -> None:
    assert {r.value for r in InjectReason} == {
        "budget", "answer_now", "think_longer", "loop", "max_tokens",
    }  # fmt: skip
    assert all(r.label for r in InjectReason)
    assert inject_label("max_tokens") == "token limit near: answer now"
    assert inject_label("from-a-newer-version") == "from-a-newer-version"
    assert InjectReason.of("nope") is None
    assert [r for r in InjectReason if not r.ends_reasoning] == [InjectReason.THINK_LONGER]
