"""What a caller asks an engine for: messages, sampling and thinking control.

These are plain, picklable values: they cross the process boundary to the engine worker.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Role(enum.StrEnum):
    """Who wrote a message. The value is what chat templates, the API and the history use.

    The history keeps only user and assistant turns (its system prompt lives on the
    conversation); a request may also carry system turns, as the API allows.
    """

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class ThinkMode(enum.StrEnum):
    """Whether the model should reason before answering (the value is what ``--think`` and
    ``/think`` take)."""

    AUTO = "auto"  # the family's default (reasoning models reason)
    ON = "on"
    OFF = "off"


class Effort(enum.Enum):
    """Reasoning effort, for families that take one (gpt-oss)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class LoopPolicy(enum.Enum):
    """What the engine does when the reasoning goes in circles (see :mod:`app.loop_guard`)."""

    WARN = "warn"  # emit a REASONING_LOOP event; the user decides
    ANSWER = "answer"  # emit the event and end the reasoning as "answer now" does
    OFF = "off"  # do not watch at all


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation. ``reasoning`` is the trace of an earlier assistant turn.

    ``role`` may be given as its value (``"user"``); it is kept as a :class:`Role`.
    """

    role: Role
    content: str
    reasoning: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling settings; ``None`` means "use the model family's preset"."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None


@dataclass(frozen=True, slots=True)
class ThinkingControl:
    """Per-request control of reasoning; changing it never needs a reload.

    Attributes:
        mode: on, off or the family's default.
        budget: cap on reasoning tokens; at the cap Ponder closes the reasoning (s1 budget
            forcing) and the model answers.
        min_tokens: "think longer": while fewer reasoning tokens than this were written, an
            attempt to close the reasoning is replaced by ``wait_text``.
        max_waits: how many times "think longer" may extend the reasoning.
        effort: reasoning effort for families that take one.
        on_loop: what happens when the reasoning repeats itself (warn, answer, off).
    """

    mode: ThinkMode = ThinkMode.AUTO
    budget: int | None = None
    min_tokens: int | None = None
    max_waits: int = 3
    effort: Effort | None = None
    cap_message: str = "\n\nTime is up. I will give the final answer now.\n"
    wait_text: str = "\nWait"
    on_loop: LoopPolicy = LoopPolicy.WARN


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One request to generate an assistant turn.

    Attributes:
        messages: the conversation so far, ending with the user's turn.
        system_prompt: applied per the family's policy (kept, or folded into the first user turn).
        max_tokens: cap on reasoning + answer tokens (``None``: until the context is full).
        seed: sampling seed (``None``: random).
        template_kwargs: extra variables for the chat template.
    """

    messages: tuple[ChatMessage, ...]
    system_prompt: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    thinking: ThinkingControl = field(default_factory=ThinkingControl)
    max_tokens: int | None = None
    seed: int | None = None
    template_kwargs: tuple[tuple[str, Any], ...] = ()
