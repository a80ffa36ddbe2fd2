"""How the worker merges text pieces before they cross the process boundary."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from app.events import Event, EventKind
from backends.worker import COALESCE_S, coalesce

R, C, S = EventKind.REASONING, EventKind.CONTENT, EventKind.STATS


def timed(items: list[tuple[float, EventKind, str]]) -> tuple[list[Event], Iterator[float]]:
    return [Event(kind, 1, text) for _, kind, text in items], iter(t for t, _, _ in items)


def run(items: list[tuple[float, EventKind, str]]) -> list[tuple[EventKind, str]]:
    events, times = timed(items)
    return [(e.kind, e.text) for e in coalesce(events, lambda: next(times))]


def test_first_pieces_go_at_once_and_close_ones_are_merged() -> None:
    step = COALESCE_S / 4  # a fast model: four pieces per window
    items = [(10 + i * step, R, f"r{i} ") for i in range(9)]
    items += [(10 + (9 + i) * step, C, f"c{i} ") for i in range(3)]
    items.append((10 + 12 * step, S, ""))
    out = run(items)
    assert out[0] == (R, "r0 ")  # the first token of the reasoning: not held
    assert "".join(t for k, t in out if k is R) == "".join(f"r{i} " for i in range(9))
    assert "".join(t for k, t in out if k is C) == "c0 c1 c2 "
    assert len([k for k, _ in out if k is R]) < 9  # merged
    first_content = next(i for i, (k, _) in enumerate(out) if k is C)
    assert out[first_content] == (C, "c0 ")  # the first answer token: not held either
    assert out[-1] == (S, "")  # held text went out before the stats, in order
    kinds = [k for k, _ in out]
    assert kinds == sorted(kinds, key=[R, C, S].index)


def test_slow_tokens_each_go_alone() -> None:
    items = [(i * COALESCE_S * 1.5, R, f"t{i}") for i in range(5)]
    assert run(items) == [(R, f"t{i}") for i in range(5)]


def test_a_burst_is_sent_within_one_window() -> None:
    # Pieces 1 ms apart: nothing waits longer than the window before it is sent.
    items = [(i * 0.001, C, "x") for i in range(200)]
    events, times = timed(items)
    sent_at: list[tuple[float, int]] = []
    clock_values: list[float] = []

    def clock() -> float:
        clock_values.append(next(times))
        return clock_values[-1]

    for event in coalesce(events, clock):
        sent_at.append((clock_values[-1], len(event.text)))
    assert sum(n for _, n in sent_at) == 200
    gaps = [b[0] - a[0] for a, b in pairwise(sent_at)]
    assert all(g <= COALESCE_S + 0.0011 for g in gaps)
    assert len(sent_at) <= 200 * 0.001 / COALESCE_S + 2


def test_merged_pieces_carry_the_sum_of_their_token_counts() -> None:
    # The live "N tokens" and the budget meter add these up: a merge must not lose any.
    step = COALESCE_S / 5
    kinds = [R] * 20 + [C] * 10
    events = [Event(kind, 1, f"p{i}", tokens=1 + i % 3) for i, kind in enumerate(kinds)]
    events.insert(20, Event(R, 1, "", tokens=2))  # a closing tag: a count, no text
    times = iter(i * step for i in range(len(events)))
    out = list(coalesce(events, lambda: next(times)))
    assert len(out) < len(events)  # merged
    for kind in (R, C):
        assert sum(e.tokens for e in out if e.kind is kind) == sum(
            e.tokens for e in events if e.kind is kind
        )
