"""Engine events in the shape OpenAI clients read.

The reasoning goes in ``reasoning_content`` beside ``content`` (``message`` when whole,
``delta`` when streaming) — the DeepSeek API / llama-server convention; ``usage`` carries
``completion_tokens_details.reasoning_tokens``.

What Ponder injected into the reasoning (the budget's "time is up" message) is part of the
trace the model continued from, so it is reported in ``reasoning_content`` too.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from typing import Any

from app.answer import Answer
from app.events import Event, EventKind, FinishReason, Stats

#: How Ponder's finish reasons read in OpenAI's vocabulary. A budget cut ends the reasoning,
#: not the answer (the model then finished normally); a cancelled request was stopped on
#: purpose (a stop sequence matched, or the client went away).
FINISH_REASONS = {
    FinishReason.STOP: "stop",
    FinishReason.BUDGET: "stop",
    FinishReason.CANCELLED: "stop",
    FinishReason.LENGTH: "length",
    FinishReason.ERROR: "stop",
}


def finish_reason(reason: FinishReason | str | None) -> str:
    if reason is None:
        return "stop"
    if isinstance(reason, str):
        try:
            reason = FinishReason(reason)
        except ValueError:
            return "stop"
    return FINISH_REASONS[reason]


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(stats: Stats | None) -> dict[str, Any]:
    s = stats or Stats()
    return {
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "total_tokens": s.prompt_tokens + s.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": s.cached_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": s.reasoning_tokens},
    }


class StopMatcher:
    """Cuts the answer at the first stop sequence, across streamed pieces.

    Text that could be the start of a stop sequence is held back until the next piece shows
    whether it is; :meth:`flush` releases it at the end.
    """

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """What of ``text`` may be sent now; sets :attr:`stopped` at a stop sequence."""
        if self.stopped:
            return ""
        if not self._stops:
            return text
        buf = self._held + text
        cut = min((i for i in (buf.find(s) for s in self._stops) if i != -1), default=-1)
        if cut != -1:
            self.stopped = True
            self._held = ""
            return buf[:cut]
        keep = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(buf)), 0, -1):
                if buf.endswith(stop[:n]):
                    keep = max(keep, n)
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.stopped else held


class Translator:
    """Turns one request's events into text deltas and folds the answer its client gets.

    Attributes:
        answer: what the client was sent: the reasoning and injected text, the answer cut
            at a stop sequence, the figures and the end.
        stop_hit: whether a stop sequence ended the answer.
    """

    def __init__(self, stops: list[str]) -> None:
        self.answer = Answer()
        self.stop_hit = False
        self._stop = StopMatcher(stops)

    @property
    def stopped(self) -> bool:
        """Whether a stop sequence ended the answer (the caller cancels the engine)."""
        return self._stop.stopped

    @property
    def finish_reason(self) -> str:
        """Why the answer ended, in OpenAI's words."""
        return openai_finish(self.answer, stop_hit=self.stop_hit)

    def feed(self, event: Event) -> tuple[str, str]:
        """``(reasoning, content)`` to send for ``event`` (either may be empty)."""
        kind = event.kind
        if kind in (EventKind.REASONING, EventKind.INJECTED):
            if self._stop.stopped:
                return "", ""
            self.answer.add(event)
            return event.text, ""
        if kind is EventKind.CONTENT:
            text = self._stop.feed(event.text)
            if self._stop.stopped:
                self.stop_hit = True
            self.answer.add(replace(event, text=text))
            return "", text
        if kind is EventKind.DONE:
            tail = self._stop.flush()
            self.answer.add(Event(EventKind.CONTENT, event.request_id, tail))
            self.answer.add(event)
            return "", tail
        self.answer.add(event)
        return "", ""


def openai_finish(answer: Answer, *, stop_hit: bool = False) -> str:
    """``finish_reason`` for ``answer`` (``stop`` when a stop sequence ended it)."""
    if stop_hit:
        return "stop"
    if answer.finish_reason is None and answer.stats is not None:
        return finish_reason(answer.stats.finish_reason)
    return finish_reason(answer.finish_reason)


def warnings(answer: Answer) -> list[str]:
    """The notes beside an answer: the engine's warnings, then a loop it went in."""
    notes = list(answer.warnings)
    if answer.loop is not None:  # no OpenAI field: a note beside the answer
        notes.append(f"The reasoning went in circles, repeating: {answer.loop}")
    return notes


# -- bodies ---------------------------------------------------------------------------------


def completion_body(
    completion_id: str, created: int, model: str, answer: Answer, *, stop_hit: bool = False
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` (``stop_hit``: a stop sequence ended it)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": openai_finish(answer, stop_hit=stop_hit),
            }
        ],
        "usage": usage(answer.stats),
    }
    notes = warnings(answer)
    if notes:
        body["warnings"] = notes
    return body


class ChunkWriter:
    """Server-Sent Events of one streamed ``chat.completion.chunk`` sequence."""

    def __init__(self, completion_id: str, model: str, created: int | None = None) -> None:
        self.completion_id = completion_id
        self.model = model
        self.created = created if created is not None else int(time.time())

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        body.update(extra)
        return sse(body)

    def role(self) -> bytes:
        return self._chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )

    def delta(self, reasoning: str, content: str) -> bytes:
        d: dict[str, Any] = {}
        if reasoning:
            d["reasoning_content"] = reasoning
        if content:
            d["content"] = content
        return self._chunk([{"index": 0, "delta": d, "finish_reason": None}])

    def finish(self, reason: str) -> bytes:
        return self._chunk([{"index": 0, "delta": {}, "finish_reason": reason}])

    def usage(self, stats: Stats | None) -> bytes:
        return self._chunk([], usage=usage(stats))


def sse(body: dict[str, Any]) -> bytes:
    return (
        b"data: " + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
    )


SSE_DONE = b"data: [DONE]\n\n"
