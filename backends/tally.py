"""Token counts on text events: every decoded token is carried by exactly one text event.

An engine counts each token it decodes as reasoning or answer; the text that token shows
may come out later (held back by the reasoning splitter, an unfinished UTF-8 character) or
never (a closing tag). :class:`TokenTally` keeps what was counted and not yet carried and
puts it on the next text event of its kind, so that over a request the events' ``tokens``
add up to the engine's ``Stats.reasoning_tokens`` and ``Stats.content_tokens`` — and the
reasoning's add up to its count by the time it ends (the live "N tokens" and the budget
meter read exactly the engine's figure when the reasoning closes).
"""

from __future__ import annotations

from dataclasses import replace

from app.events import Event, EventKind


class TokenTally:
    """Tokens counted and not yet carried by a text event, per kind, for one request."""

    def __init__(self, request_id: int) -> None:
        self._rid = request_id
        self._owed = {EventKind.REASONING: 0, EventKind.CONTENT: 0}

    def count(self, kind: EventKind, n: int = 1) -> None:
        """``n`` tokens of ``kind`` (REASONING or CONTENT) were decoded."""
        self._owed[kind] += n

    def attach(self, events: list[Event]) -> list[Event]:
        """``events`` with the owed counts put on the next text pieces of their kind."""
        out: list[Event] = []
        for event in events:
            owed = self._owed.get(event.kind, 0)
            if owed:
                self._owed[event.kind] = 0
                event = replace(event, tokens=event.tokens + owed)
            out.append(event)
        return out

    def settle(self, events: list[Event], *, closing: bool) -> list[Event]:
        """Like :meth:`attach`, and the reasoning's count is complete when it ends.

        Reasoning tokens still owed go out, on an empty piece, before the answer's first
        piece and at the end of the reasoning (``closing``: the reasoning is over).
        """
        out: list[Event] = []
        for event in events:
            if event.kind is EventKind.CONTENT:
                out += self.carry(EventKind.REASONING)
            out += self.attach([event])
        if closing:
            out += self.carry(EventKind.REASONING)
        return out

    def carry(self, kind: EventKind) -> list[Event]:
        """An empty piece for the owed tokens of ``kind`` (nothing when none are owed)."""
        owed = self._owed[kind]
        if not owed:
            return []
        self._owed[kind] = 0
        return [Event(kind, self._rid, tokens=owed)]
