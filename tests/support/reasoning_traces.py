"""Synthetic reasoning traces for the loop guard: legitimate ones that repeat notation, and loops.

Every generator is deterministic (a seeded ``random.Random``). The legitimate traces imitate
what real reasoning models write and what a naive repetition detector gets wrong: long
step-by-step arithmetic, enumerations whose cases share a long fixed sentence, a proof that
restates its hypothesis, the problem statement quoted again and again, code rewritten with
small changes, and R1-style hesitation ("Wait,", "Hmm, let me check again.").
"""

from __future__ import annotations

import random

_SUBJECTS = [
    "the sum",
    "the remainder",
    "the left side",
    "this term",
    "the product",
    "the slope",
    "the second factor",
    "the base case",
    "the inner loop",
    "the last digit",
    "the difference",
    "the constraint",
    "the bound",
    "the total area",
    "the expected value",
    "the denominator",
]
_VERBS = [
    "equals",
    "must exceed",
    "cannot be smaller than",
    "divides",
    "simplifies to",
    "is congruent to",
    "should match",
    "stays below",
    "grows faster than",
    "depends on",
]
_OBJECTS = [
    "the original number",
    "twice the radius",
    "the count of valid pairs",
    "the previous step",
    "zero modulo three",
    "the length of the string",
    "the answer from before",
    "one more than n",
    "the total number of edges",
    "the value at the midpoint",
    "the smallest prime factor",
    "the sum of the digits",
]
_OPENERS = [
    "So",
    "Then",
    "Now",
    "Next,",
    "Also,",
    "That means",
    "In other words,",
    "Hence",
    "Note that",
    "Hmm,",
    "Okay,",
    "Right,",
    "Therefore",
    "Because of that,",
    "Alternatively,",
]
_HESITATIONS = [
    "Wait, let me check that again.",
    "Hmm, let me think.",
    "Wait, is that right?",
    "Let me verify.",
    "Hmm, that seems off.",
    "Okay, that works.",
    "Wait, no.",
    "Let me double-check the arithmetic.",
]


def _sentence(rng: random.Random) -> str:
    n = rng.randint(2, 999)
    return (
        f"{rng.choice(_OPENERS)} {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} "
        f"{rng.choice(_OBJECTS)}, which gives {n} when x = {rng.randint(1, 60)}."
    )


def prose(words: int, seed: int = 0) -> str:
    """Varied reasoning prose with R1-style hesitations."""
    rng = random.Random(seed)
    out: list[str] = []
    count = 0
    while count < words:
        s = rng.choice(_HESITATIONS) if rng.random() < 0.2 else _sentence(rng)
        out.append(s)
        count += len(s.split())
        if rng.random() < 0.15:
            out.append("\n\n")
    return " ".join(out).replace(" \n\n ", "\n\n")


def arithmetic(steps: int, seed: int = 1) -> str:
    """Long step-by-step arithmetic: many "=" lines, the same words in every line."""
    rng = random.Random(seed)
    total = 0
    lines = ["Let me add these up step by step."]
    for i in range(1, steps + 1):
        a, b = rng.randint(10, 999), rng.randint(2, 99)
        total += a * b
        lines.append(f"Step {i}: {a} × {b} = {a * b}. Running total = {total}.")
        if i % 5 == 0:
            lines.append(f"Let me check: {total} - {a * b} = {total - a * b}. Yes, correct.")
    return "\n".join(lines)


def enumeration(cases: int, seed: int = 2) -> str:
    """Cases that share a long fixed sentence (21 words) but each with its own numbers."""
    rng = random.Random(seed)
    lines = ["We need n such that n^2 + 1 is divisible by 3. Let me try every n."]
    for n in range(1, cases + 1):
        v = n * n + 1
        lines.append(
            f"Case n = {n}: n^2 + 1 = {v}, and {v} leaves remainder {v % 3} when divided by 3, "
            "so this case does not give a solution to the original equation and we move on "
            "to the next value."
        )
        if rng.random() < 0.1:
            lines.append(rng.choice(_HESITATIONS))
    return "\n".join(lines)


HYPOTHESIS = (
    "By the induction hypothesis, the statement holds for every natural number smaller than "
    "k, including k minus one and k minus two."
)


def proof(paragraphs: int, seed: int = 3) -> str:
    """A long proof that restates its induction hypothesis (a 21-word sentence) often."""
    rng = random.Random(seed)
    parts = ["We prove the claim by strong induction on k."]
    for i in range(paragraphs):
        parts.append(f"Consider k = {i + 2}. {HYPOTHESIS}")
        parts.extend(_sentence(rng) for _ in range(rng.randint(3, 6)))
        parts.append(f"Thus the claim holds for k = {i + 2}.\n")
    return " ".join(parts)


PROBLEM = (
    "A train leaves the station at 3 pm travelling at 60 km per hour, and a second train leaves "
    "the same station at 4 pm travelling at 90 km per hour on a parallel track in the same "
    "direction. At what time does the second train catch up with the first one, and how far "
    "from the station are they when that happens?"
)


def requoting(times: int, seed: int = 4) -> str:
    """The problem statement (60 words) quoted again and again, with reasoning between."""
    parts = [f"The problem says: {PROBLEM}"]
    for i in range(times):
        parts.append(prose(120, seed=seed * 100 + i))
        parts.append(f"Wait, let me re-read the problem. {PROBLEM}")
    return "\n\n".join(parts)


_CODE = [
    "def count_pairs(values, target):",
    "    seen = {}",
    "    pairs = 0",
    "    for value in values:",
    "        need = target - value",
    "        if need in seen:",
    "            pairs += seen[need]",
    "        seen[value] = seen.get(value, 0) + 1",
    "    return pairs",
]
_CODE_VARIANTS = [
    (2, "    pairs = 0  # number of (i, j) with i < j"),
    (5, "        if need in seen and seen[need] > 0:"),
    (7, "        seen[value] = 1 + seen.get(value, 0)"),
    (4, "        need = target - value  # the partner"),
    (6, "            pairs = pairs + seen[need]"),
]


def code_rewrites(times: int, seed: int = 5) -> str:
    """A function rewritten in full several times, with one line changed each time."""
    code = list(_CODE)
    parts = ["Let me write the function."]
    for i in range(times):
        parts.append("```python\n" + "\n".join(code) + "\n```")
        parts.append(prose(60, seed=seed * 100 + i))
        line, text = _CODE_VARIANTS[i % len(_CODE_VARIANTS)]
        code[line] = text
        parts.append("Let me rewrite it with that fix.")
    return "\n".join(parts)


def legit_corpus() -> dict[str, str]:
    """Every legitimate trace, by name (a few thousand words each)."""
    return {
        "prose": prose(6000),
        "arithmetic": arithmetic(400),
        "enumeration": enumeration(200),
        "proof": proof(60),
        "requoting": requoting(8),
        "code_rewrites": code_rewrites(10),
    }


# -- loops ----------------------------------------------------------------------------------

RECHECK_CYCLE = (
    "Wait, but the second train starts one hour later, so the first train is 60 km ahead. "
    "Let me re-check: the gap closes at 90 - 60 = 30 km per hour, so it takes 2 hours. "
    "But wait, does the second train leave at 4 pm? Let me re-read the problem.\n"
)

SEA_LOOP = (
    "The sea is a mysterious and ancient place, a place where the past and the future meet. "
    "It is a place where the unknown is revealed, and where the unknown is revealed."
    + " It is a place where the past is revealed, and where the future is revealed."
    * 30
)


def recheck_loop(cycles: int, prefix_words: int = 400) -> str:
    """Legit reasoning, then the same "Wait, but… let me re-check" paragraph over and over."""
    return prose(prefix_words, seed=7) + "\n\n" + RECHECK_CYCLE * cycles


def long_period_loop(cycles: int) -> str:
    """A loop whose cycle is about 150 words long."""
    cycle = prose(150, seed=11) + "\nHmm, so I am back where I started. Let me redo it.\n"
    return prose(300, seed=12) + "\n\n" + cycle * cycles


def alternating_loop(cycles: int) -> str:
    """Two versions of a paragraph in turn (A, B, A, B, …): each exact loop with period 2."""
    a = "Wait, maybe 91 is prime. Let me check divisibility by 7: 7 × 13 = 91. So 91 = 7 × 13.\n"
    b = "Wait, maybe 91 is not prime. Let me check divisibility by 7: 7 × 13 = 91. Hmm.\n"
    return prose(200, seed=13) + "\n" + (a + b) * cycles


def word_loop(n: int) -> str:
    """Degenerate: one short line repeated."""
    return prose(100, seed=14) + "\n" + "A: \n" * n
