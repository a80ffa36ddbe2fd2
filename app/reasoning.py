"""Split a reasoning model's raw output into its reasoning and its answer.

:class:`ReasoningSplitter` does it incrementally, one token's text at a time, releasing text as
early as it can; :func:`split_text` does it for a whole string with plain string operations and
is the reference the splitter is tested against.

The rules, shared by both (whitespace means :meth:`str.isspace`):

* The output starts either with an opening tag (then it reasons) or, with ``prefilled=True``,
  already inside the reasoning (the rendered prompt ended with the opening tag). Whitespace
  before the opening tag is ignored. A stream that starts with an answer-opening tag (harmony's
  final channel) goes straight to the answer; any other start means the model does not reason
  and everything is answer.
* Inside the reasoning, one duplicate opening tag right at its start (after whitespace) is
  dropped, in both modes. The reasoning ends at the leftmost close tag (the longest one if
  several start there); a :attr:`SegmentKind.REASONING_END` segment marks where.
* After the close tag, whitespace and answer-opening tags are dropped. In the answer,
  answer-closing tags are removed wherever they occur (left to right, longest first).
* Reasoning and answer are each stripped of leading and trailing whitespace. Inner whitespace
  is kept; whitespace at the end of what was fed so far is held back until something else
  follows it.
* A stream that ends inside the reasoning has incomplete reasoning and an empty answer. A tag
  that was cut off by the end of the stream is ordinary text, unless the stream was cut (the
  token limit, a stop): then the model was in the middle of writing that tag, and the start
  of it is dropped (no stray ``<|`` at the end of an answer cut by the token limit).

Once the answer has started, reasoning tags are ordinary text.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from app.events import ReasoningState
from app.reasoning_formats import ReasoningFormat


class SegmentKind(enum.Enum):
    """What a :class:`Segment` carries."""

    REASONING = "reasoning"  # text: a piece of the reasoning
    CONTENT = "content"  # text: a piece of the answer
    REASONING_END = "reasoning_end"  # text: the close tag; offset: where it starts


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of split output.

    Attributes:
        kind: reasoning text, answer text, or the end of the reasoning.
        text: the text; for ``REASONING_END`` the close tag that was matched.
        offset: for ``REASONING_END``, the index of the close tag in the concatenation of all
            text fed to the splitter; -1 otherwise.
    """

    kind: SegmentKind
    text: str = ""
    offset: int = -1


class _TagSet:
    """A set of tags with what incremental matching needs precomputed."""

    __slots__ = ("_first_chars", "_longest", "_prefixes", "tags")

    def __init__(self, tags: tuple[str, ...]) -> None:
        if any(not t or t[0].isspace() for t in tags):
            raise ValueError(f"tags must be non-empty and not start with whitespace: {tags!r}")
        self.tags = tuple(sorted(set(tags), key=len, reverse=True))
        self._prefixes = frozenset(t[:k] for t in self.tags for k in range(1, len(t)))
        self._first_chars = frozenset(t[0] for t in self.tags)
        self._longest = len(self.tags[0]) if self.tags else 0

    def match_start(self, buf: str, final: bool) -> tuple[str | None, bool]:
        """The longest tag ``buf`` starts with, and whether that can still change.

        Returns:
            ``(None, True)`` when ``buf`` is a proper prefix of a tag and more text may come;
            otherwise ``(tag, False)`` with the longest tag ``buf`` starts with, or None.
        """
        if not final and buf in self._prefixes:
            return None, True
        for tag in self.tags:
            if buf.startswith(tag):
                return tag, False
        return None, False

    def search(self, buf: str, final: bool) -> tuple[int, str | None]:
        """Find the leftmost tag in ``buf``, or the point from which text must be held back.

        Returns:
            ``(i, tag)``: the leftmost (then longest) tag starts at ``i``. ``(i, None)``: no
            tag can be decided yet; ``buf[:i]`` is free text and ``buf[i:]`` (possibly empty)
            may still begin a tag. When ``final`` nothing is held back.
        """
        n = len(buf)
        if not self.tags:
            return n, None
        found, found_tag = n, None
        for tag in self.tags:  # longest first, so ties go to the longest
            i = buf.find(tag, 0, found + len(tag))
            if i != -1 and i < found:
                found, found_tag = i, tag
        if not final:
            hold = self._partial_start(buf, found)
            if hold <= found and hold < n:
                return hold, None  # a tag, or a longer tag, may still start there
        return found, found_tag

    def _partial_start(self, buf: str, limit: int) -> int:
        """The earliest ``j <= limit`` where ``buf[j:]`` is a proper prefix of a tag, else n."""
        n = len(buf)
        lo = max(0, n - self._longest + 1)
        best = n
        for c in self._first_chars:
            j = buf.find(c, lo)
            while j != -1 and j <= limit and j < best:
                if buf[j:] in self._prefixes:
                    best = j
                    break
                j = buf.find(c, j + 1)
        return best


@functools.lru_cache(maxsize=64)
def _tag_set(tags: tuple[str, ...]) -> _TagSet:
    return _TagSet(tags)


class _Phase(enum.Enum):
    START = enum.auto()  # nothing but whitespace yet
    LEAD = enum.auto()  # in the reasoning, before its first text (a duplicate open tag?)
    BODY = enum.auto()  # in the reasoning
    AFTER_CLOSE = enum.auto()  # between the close tag and the answer's first text
    CONTENT = enum.auto()  # in the answer


_IN_REASONING = (_Phase.LEAD, _Phase.BODY)


class ReasoningSplitter:
    """Split one streamed generation into reasoning and answer, chunk by chunk.

    Each :meth:`feed` costs time proportional to the chunk plus the longest tag; the whole
    output is never rescanned. Text is released as soon as it cannot be part of a tag (or of
    trailing whitespace, which is dropped).

    Args:
        fmt: the model family's delimiters.
        prefilled: the rendered prompt already ends with the opening tag, so the output starts
            inside the reasoning. Ignored for a format that has no reasoning tags.
    """

    def __init__(self, fmt: ReasoningFormat, *, prefilled: bool = False) -> None:
        self._fmt = fmt
        self._start_tags = _tag_set(fmt.open_tags + fmt.answer_open_tags)
        self._open_tags = _tag_set(fmt.open_tags)
        self._close_tags = _tag_set(fmt.close_tags)
        self._answer_open = _tag_set(fmt.answer_open_tags)
        self._answer_close = _tag_set(fmt.answer_close_tags)
        self._phase = _Phase.START
        self._started = False
        self._end_state: ReasoningState | None = None
        self._hold = ""  # undecided text: always a suffix of everything fed
        self._ws: list[str] = []  # whitespace held back inside reasoning or answer
        self._emitted = False  # the current part (reasoning or answer) has released text
        self._fed = 0
        self._out: list[Segment] = []
        self._finished = False
        if prefilled and fmt.open_tags:
            self._enter_reasoning()

    @property
    def format(self) -> ReasoningFormat:
        return self._fmt

    @property
    def in_reasoning(self) -> bool:
        """Whether the stream is inside the reasoning (or ended there)."""
        return self._phase in _IN_REASONING

    @property
    def reasoning_started(self) -> bool:
        """Whether the reasoning was entered (opening tag seen, or prefilled)."""
        return self._started

    @property
    def state(self) -> ReasoningState:
        """NONE before any reasoning, INCOMPLETE inside it, then how it was closed."""
        if self._phase in _IN_REASONING:
            return ReasoningState.INCOMPLETE
        return self._end_state or ReasoningState.NONE

    def feed(self, text: str) -> list[Segment]:
        """Take the next piece of raw output; return the segments it releases.

        Adjacent segments of one kind are merged; REASONING and CONTENT segments are never
        empty. Segments held back by :meth:`force_close` come first.

        Raises:
            RuntimeError: after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._fed += len(text)
        self._run(self._hold + text, final=False)
        return self._take()

    def finish(self, *, cut: bool = False) -> list[Segment]:
        """End of stream: release what was held back (a cut-off tag is plain text).

        Trailing whitespace is dropped. Calling it again returns nothing.

        Args:
            cut: the stream did not end by itself (the token limit, a stop): the start of a
                tag held back at its end is dropped, not released as text.
        """
        if not self._finished:
            self._run("" if cut else self._hold, final=True)
            self._hold = ""
            self._ws.clear()
            self._finished = True
        return self._take()

    def force_close(self, *, state: ReasoningState = ReasoningState.CAPPED) -> None:
        """Ponder closed the reasoning itself (it appended the close to the prompt).

        The splitter goes to the after-close state: whitespace and answer-opening tags that
        the model writes next are dropped, then the answer follows. Text held back from the
        reasoning (a tag that will now never complete) is returned, as reasoning, at the start
        of the next :meth:`feed` or :meth:`finish`. Does nothing outside the reasoning.

        Args:
            state: what :attr:`state` reports from now on: CAPPED (the thinking budget) or
                ANSWER_NOW (the user asked for the answer).
        """
        if state not in (ReasoningState.CAPPED, ReasoningState.ANSWER_NOW):
            raise ValueError(f"force_close state must be CAPPED or ANSWER_NOW, not {state}")
        if self._finished or self._phase not in _IN_REASONING:
            return
        self._run(self._hold, final=True)  # a cut-off tag held back is reasoning text now
        self._hold = ""
        if self._phase in _IN_REASONING:  # else the held text was a whole close tag after all
            self._ws.clear()
            self._phase = _Phase.AFTER_CLOSE
            self._end_state = state

    # -- the state machine -------------------------------------------------------------------

    def _take(self) -> list[Segment]:
        out, self._out = self._out, []
        return out

    def _run(self, buf: str, final: bool) -> None:
        """Consume ``buf`` (a suffix of everything fed), phase after phase."""
        rest: str | None = buf
        while rest is not None:
            match self._phase:
                case _Phase.START:
                    rest = self._on_start(rest, final)
                case _Phase.LEAD:
                    rest = self._on_lead(rest, final)
                case _Phase.BODY:
                    rest = self._on_body(rest, final)
                case _Phase.AFTER_CLOSE:
                    rest = self._on_after_close(rest, final)
                case _Phase.CONTENT:
                    self._on_content(rest, final)
                    rest = None

    # Each handler either moves to a later phase and returns the text left for it, or keeps
    # what it cannot decide yet in self._hold and returns None.

    def _on_start(self, buf: str, final: bool) -> str | None:
        buf = buf.lstrip()
        tag, wait = self._start_tags.match_start(buf, final)
        if wait or not buf:
            self._hold = buf
            return None
        if tag is not None and tag in self._fmt.open_tags:
            self._enter_reasoning()
            return buf[len(tag) :]
        if tag is not None:  # straight to the answer
            self._phase = _Phase.AFTER_CLOSE
            return buf[len(tag) :]
        self._enter_content()
        return buf

    def _on_lead(self, buf: str, final: bool) -> str | None:
        buf = buf.lstrip()
        tag, wait = self._open_tags.match_start(buf, final)
        if wait or not buf:
            self._hold = buf
            return None
        self._phase = _Phase.BODY
        return buf[len(tag) :] if tag is not None else buf

    def _on_body(self, buf: str, final: bool) -> str | None:
        i, tag = self._close_tags.search(buf, final)
        self._release(SegmentKind.REASONING, buf[:i])
        if tag is None:
            self._hold = buf[i:]
            return None
        self._ws.clear()  # whitespace before the close tag
        self._out.append(Segment(SegmentKind.REASONING_END, tag, self._fed - len(buf) + i))
        self._phase = _Phase.AFTER_CLOSE
        self._end_state = ReasoningState.COMPLETE
        return buf[i + len(tag) :]

    def _on_after_close(self, buf: str, final: bool) -> str | None:
        while True:
            buf = buf.lstrip()
            tag, wait = self._answer_open.match_start(buf, final)
            if wait or not buf:
                self._hold = buf
                return None
            if tag is None:
                break
            buf = buf[len(tag) :]
        self._enter_content()
        return buf

    def _on_content(self, buf: str, final: bool) -> None:
        while True:
            i, tag = self._answer_close.search(buf, final)
            self._release(SegmentKind.CONTENT, buf[:i])
            if tag is None:
                self._hold = buf[i:]
                return
            buf = buf[i + len(tag) :]

    def _enter_reasoning(self) -> None:
        self._phase = _Phase.LEAD
        self._started = True
        self._emitted = False
        self._ws.clear()

    def _enter_content(self) -> None:
        self._phase = _Phase.CONTENT
        self._emitted = False
        self._ws.clear()

    def _release(self, kind: SegmentKind, text: str) -> None:
        """Emit ``text``, less leading whitespace of the part and trailing whitespace."""
        if not self._emitted:
            text = text.lstrip()
        body = text.rstrip()
        if not body:
            if text:
                self._ws.append(text)
            return
        tail = text[len(body) :]
        if self._ws:
            body = "".join(self._ws) + body
            self._ws.clear()
        if tail:
            self._ws.append(tail)
        self._emitted = True
        last = self._out[-1] if self._out else None
        if last is not None and last.kind is kind:
            self._out[-1] = Segment(kind, last.text + body)
        else:
            self._out.append(Segment(kind, body))


# -- the reference, for whole strings ----------------------------------------------------------


def _longest_first(tags: tuple[str, ...]) -> list[str]:
    return sorted(tags, key=len, reverse=True)


def _starting_tag(text: str, tags: tuple[str, ...]) -> str | None:
    return next((t for t in _longest_first(tags) if text.startswith(t)), None)


def _alternation(tags: tuple[str, ...]) -> re.Pattern[str] | None:
    if not tags:
        return None
    return re.compile("|".join(re.escape(t) for t in _longest_first(tags)))


def _answer(text: str, fmt: ReasoningFormat) -> str:
    """The answer from what follows the reasoning's close tag (or a leading answer tag)."""
    while True:
        text = text.lstrip()
        tag = _starting_tag(text, fmt.answer_open_tags)
        if tag is None:
            break
        text = text[len(tag) :]
    closing = _alternation(fmt.answer_close_tags)
    if closing is not None:
        text = closing.sub("", text)
    return text.strip()


def split_text(
    text: str, fmt: ReasoningFormat, *, prefilled: bool = False
) -> tuple[str, str, ReasoningState]:
    """Split a whole output at once: ``(reasoning, answer, state)``.

    Same rules as :class:`ReasoningSplitter` (see the module docstring), done with plain
    string operations. The state is NONE, COMPLETE or INCOMPLETE.
    """
    if prefilled and fmt.open_tags:
        rest = text
    else:
        stripped = text.lstrip()
        tag = _starting_tag(stripped, fmt.open_tags + fmt.answer_open_tags)
        if tag is None:
            return "", _answer(stripped, fmt), ReasoningState.NONE
        if tag not in fmt.open_tags:
            return "", _answer(stripped[len(tag) :], fmt), ReasoningState.NONE
        rest = stripped[len(tag) :]
    rest = rest.lstrip()
    duplicate = _starting_tag(rest, fmt.open_tags)
    if duplicate is not None:
        rest = rest[len(duplicate) :]
    closing = _alternation(fmt.close_tags)
    match = closing.search(rest) if closing is not None else None
    if match is None:
        return rest.strip(), "", ReasoningState.INCOMPLETE
    reasoning = rest[: match.start()].strip()
    return reasoning, _answer(rest[match.end() :], fmt), ReasoningState.COMPLETE
