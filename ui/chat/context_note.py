"""The line above a conversation saying how much earlier reasoning the model gets to see."""

from __future__ import annotations

from collections.abc import Sequence

from app.families import Family, HistoryPolicy
from app.store.domain import Message, Role


def earlier_reasoning_tokens(path: Sequence[Message]) -> int:
    """Reasoning tokens of the answers before the last one (estimated where stats are missing)."""
    answers = [m for m in path if m.role is Role.ASSISTANT]
    total = 0
    for m in answers[:-1] if answers else []:
        if m.stats is not None and m.stats.reasoning_tokens:
            total += m.stats.reasoning_tokens
        elif m.reasoning:
            total += len(m.reasoning) // 4
    return total


def context_note(path: Sequence[Message], family: Family) -> str:
    tokens = earlier_reasoning_tokens(path)
    if not tokens:
        return ""
    policy = family.history_policy
    if policy is HistoryPolicy.DROP:
        return (
            f"{tokens:,} reasoning tokens of earlier answers are kept out of the model's context "
            f"({family.display_name} works best without them); only the answers are sent."
        )
    if policy is HistoryPolicy.REASONING_CONTENT:
        return (
            f"{tokens:,} reasoning tokens of earlier answers are passed to the model's template, "
            "which keeps only what belongs to the current question."
        )
    return f"{tokens:,} reasoning tokens of earlier answers are dropped from the context."
