"""Reasoning loop guard: notice when a model's reasoning goes in circles.

The engine feeds every piece of reasoning text to a :class:`LoopGuard`; :meth:`LoopGuard.feed`
returns a :class:`LoopHit` (once) when the trace has started repeating itself.

The measure, and why
--------------------

Legitimate traces repeat a lot of *short* things: notation (``x =``, ``= 12 + 7``), stock
phrases ("Wait,", "Let me check", "So the answer is"), the names of the things being
enumerated. They rarely repeat *long* spans verbatim, and almost never back to back: even a
line of step-by-step arithmetic changes its numbers within a few words. A degenerate loop is
the opposite: the model writes the same paragraph (or sentence) again and again, word for
word, so nearly every long span of the recent text has been written before.

So the guard works on word 12-grams (whitespace-separated words, hashed) and fires when both:

1. **the current 12-gram has occurred at least 4 times** within the last 4,096 words, i.e. a
   passage of at least 12 words was written 4 times; and
2. **the recent text is nearly all repetition**: at least 90 % of the last S 12-grams had
   already occurred in that window (the distinct-n-gram ratio of the recent text collapsed),
   where S is four cycles of the loop (4·P, P = words since the current 12-gram last
   occurred), at least 48 and at most 160.

Condition 2 keeps apart what condition 1 alone would confuse: the problem statement quoted a
few times over a long trace, a formula restated in a proof, a code block rewritten with
changes, an enumeration whose cases share a long fixed sentence — they repeat long spans, but
separated by new text, so the recent text never becomes four cycles (or 160 words) of pure
repetition. Condition 1 keeps a single long re-quotation from firing: it must be the fourth
time. A loop of period P words fires after about 4·P + 12 words of looping (at least ~60), so
within a few hundred tokens for typical "Wait, but…" cycles, long before the thousands of
tokens users complain about. Loops that vary a word in every cycle are not caught (by design:
with 12-word n-grams a variation breaks 12 of them, and the recent text no longer reads as
pure repetition); a degenerate loop is, in practice, verbatim.

Alternatives considered: a zlib compression ratio over a sliding window costs a compression
per check (O(window), so it must be sampled), drops on legitimately repetitive notation
(long arithmetic compresses well) and does not say *what* repeats; counting repeated
sentences misses loops that have no sentence punctuation and fires on short stock sentences.

Cost: O(piece) per call. Text is only scanned once (a regular expression over the new piece
plus at most one unfinished word); each finished word costs a few dict and deque operations.
About 2 µs per token (``bench/loop_guard.py``: ~500,000 tokens/s on a 30,000-token trace).

Decisions do not depend on how the text is chunked: a word is only taken once the whitespace
after it (or 48 characters of it) has been seen, so any split of the same text gives the same
words, the same hit and the same passage.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from itertools import islice

#: Words per n-gram: long enough that stock phrases and notation do not repeat by chance.
NGRAM_WORDS = 12
#: How many times the current n-gram must have been written.
MIN_REPEATS = 4
#: How many of the most recent n-grams must be repetition: this many cycles of the loop ...
DENSE_CYCLES = 4
#: ... but at least / at most this many n-grams ...
DENSE_MIN = 48
DENSE_MAX = 160
#: ... and what share of them.
DENSE_SHARE = 0.9
#: The sliding window (in words) in which n-grams are counted.
WINDOW_WORDS = 4096
#: A run of non-space characters longer than this counts as several words.
MAX_WORD_CHARS = 48
#: The reported passage is cut to this many characters.
PASSAGE_CHARS = 1200

# Runs of whitespace or of anything else, for pieces that hold more than one word.
_RUNS = re.compile(r"\s+|\S+")
_SENTENCE_END = (".", "!", "?")


@dataclass(frozen=True, slots=True)
class LoopHit:
    """A detected loop.

    Attributes:
        passage: the text that repeats (one cycle, from a sentence start where there is one).
        repeats: how many times the n-gram that triggered the hit has been written.
        period_words: the length of one cycle, in words.
        at_word: how many words of reasoning had been seen when the loop was detected.
    """

    passage: str
    repeats: int
    period_words: int
    at_word: int


class LoopGuard:
    """Incremental repetition detector over one reasoning trace (see the module docstring)."""

    def __init__(
        self,
        *,
        ngram: int = NGRAM_WORDS,
        min_repeats: int = MIN_REPEATS,
        dense_cycles: int = DENSE_CYCLES,
        dense_min: int = DENSE_MIN,
        dense_max: int = DENSE_MAX,
        dense_share: float = DENSE_SHARE,
        window: int = WINDOW_WORDS,
    ) -> None:
        if not (ngram >= 1 and min_repeats >= 2 and 1 <= dense_min <= dense_max <= window):
            raise ValueError("invalid loop guard settings")
        self._ngram = ngram
        self._min_repeats = min_repeats
        self._cycles = dense_cycles
        self._dense_min = dense_min
        self._dense_max = dense_max
        self._share = dense_share
        self._window = window
        self._lead = ""  # whitespace before the word being written
        self._cur = ""  # the word being written (not complete until whitespace follows)
        self._units: deque[str] = deque(maxlen=window + ngram)  # words with leading whitespace
        self._recent: deque[int] = deque(maxlen=ngram)  # hashes of the last `ngram` words
        self._grams: deque[int] = deque()  # n-gram hashes in the window, oldest first
        self._counts: dict[int, int] = {}
        self._last_at: dict[int, int] = {}  # n-gram hash → word index of its last occurrence
        # Ring of running totals: how many n-grams so far were repeats, at each of the last
        # dense_max positions (the repeats among the last S n-grams is a difference of two).
        self._totals = [0] * (dense_max + 1)
        self._repeats = 0
        self._words = 0
        self.hit: LoopHit | None = None

    @property
    def words(self) -> int:
        """Complete words seen so far."""
        return self._words

    def feed(self, text: str) -> LoopHit | None:
        """Take the next piece of reasoning; the hit the first time a loop is detected."""
        if self.hit is not None or not text:
            return None
        parts = text.split()
        if len(parts) <= 1:  # nearly every token: at most one word, maybe with whitespace
            hit = self._take(text, parts[0] if parts else "")
        else:
            hit = None
            for run in _RUNS.findall(text):
                hit = self._take(run, "" if run.isspace() else run)
                if hit is not None:
                    break
        if hit is not None:
            self.hit = hit
        return hit

    def _take(self, text: str, word: str) -> LoopHit | None:
        """``text`` is whitespace, ``word`` (no whitespace), whitespace; each part may be empty."""
        hit = None
        if not word:
            if self._cur:
                hit = self._word()
            lead = self._lead + text
            # Endless whitespace: keep a little (it only shapes the passage's layout).
            self._lead = lead if len(lead) <= 256 else lead[-16:]
            return hit
        if text[0].isspace():  # whitespace first: the word being written is complete
            if self._cur and (hit := self._word()) is not None:
                return hit
            self._lead += text[: text.find(word)]
        cur = self._cur + word
        while len(cur) >= MAX_WORD_CHARS:  # a run without spaces counts as several words
            self._cur = cur[:MAX_WORD_CHARS]
            cur = cur[MAX_WORD_CHARS:]
            if (hit := self._word()) is not None:
                return hit
        self._cur = cur
        if text[-1].isspace():
            if cur and (hit := self._word()) is not None:
                return hit
            self._lead = text[len(text.rstrip()) :]
        return None

    def _word(self) -> LoopHit | None:
        """The word in ``_cur`` is complete: count its n-gram; a hit if it shows a loop."""
        word = self._cur
        self._units.append(self._lead + word)
        self._lead = ""
        self._cur = ""
        recent = self._recent
        recent.append(hash(word))
        self._words += 1
        if len(recent) < self._ngram:
            return None
        gram = hash(tuple(recent))
        grams = self._grams
        counts = self._counts
        if len(grams) >= self._window:
            old = grams.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
                del self._last_at[old]
        grams.append(gram)
        count = counts.get(gram, 0) + 1
        counts[gram] = count
        at = self._words
        previous = self._last_at.get(gram, at)
        self._last_at[gram] = at
        if count > 1:
            self._repeats += 1
        totals = self._totals
        size = len(totals)
        totals[at % size] = self._repeats
        if count < self._min_repeats:
            return None
        period = at - previous
        span = min(self._dense_max, max(self._dense_min, self._cycles * period))
        if len(grams) < span:  # too early to tell
            return None
        dense = self._repeats - totals[(at - span) % size]
        if dense < self._share * span:
            return None
        return LoopHit(self._passage(period), count, period, at)

    def _passage(self, period: int) -> str:
        """One cycle of the loop (a few if it is short), from a line or sentence start if any."""
        period *= -(-self._ngram // period)  # at least an n-gram's worth of words
        units = list(islice(self._units, max(0, len(self._units) - 2 * period), None))
        n = len(units)
        start = max(0, n - period)
        starts = range(max(period, n - period), n)  # the cycle just before s also repeats
        line = next((s for s in starts if "\n" in units[s]), None)
        if line is None:
            line = next((s for s in starts if units[s - 1].endswith(_SENTENCE_END)), None)
        if line is not None:
            start = line - period
        text = "".join(units[start : start + period]).strip()
        if len(text) > PASSAGE_CHARS:
            text = text[: PASSAGE_CHARS - 1].rstrip() + "…"
        return text
