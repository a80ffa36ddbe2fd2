"""A scripted stand-in for :class:`backends.client.EngineClient`, for tests and UI work.

It needs no model and no worker process: answers are made of whitespace-separated "tokens"
(reasoning first when thinking is not off, then the answer), one every ``token_delay``
seconds, honouring ``max_tokens``, the thinking budget, cancellation and simulated crashes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from app.engine import LoadParams, ModelFile, ModelInfo, ModelTemplate, RuntimeParams
from app.events import (
    TEXT_KINDS,
    Event,
    EventKind,
    FinishReason,
    InjectReason,
    ReasoningState,
    Stats,
    done_event,
    error_event,
    injected_event,
)
from app.request import GenerationRequest, ThinkMode
from app.templates import TemplateSource


def fake_info(path: str = "fake-model.gguf", n_ctx: int = 2048) -> ModelInfo:
    return ModelInfo(
        ModelFile(path, "fake", "Fake Model", trained_context=n_ctx),
        RuntimeParams(n_ctx, n_threads=1, kv_cache_type="f16"),
        ModelTemplate("", TemplateSource.MODEL, "generic"),
    )


@dataclass
class Script:
    """What the fake answers: ``(reasoning, content)`` for a request."""

    answer: Callable[[GenerationRequest], tuple[str, str]] = field(
        default=lambda req: ("Let me think about it.", f"You said: {req.messages[-1].content}")
    )


class FakeStream:
    """The events of one fake request; cancel from any thread."""

    def __init__(self, client: FakeEngineClient, request: GenerationRequest, rid: int) -> None:
        self._client = client
        self._request = request
        self._rid = rid
        self._cancelled = threading.Event()
        self._answer_now = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()
        self._client.cancels += 1

    def answer_now(self) -> None:
        """End the reasoning at the next piece, as the engine does (marked as injected)."""
        self._answer_now.set()
        self._client.answer_nows += 1

    def __iter__(self) -> Iterator[Event]:
        client, req, rid = self._client, self._request, self._rid
        if client.hold is not None:
            while not client.hold.wait(0.01):
                if self._cancelled.is_set():
                    break
        if client.fail_with is not None:
            yield error_event(rid, client.fail_with)
            return
        reasoning, content = client.script.answer(req)
        if req.thinking.mode is ThinkMode.OFF:
            reasoning = ""
        pieces = [(EventKind.REASONING, w) for w in _words(reasoning)]
        budget = req.thinking.budget
        capped = budget is not None and len(pieces) > budget
        if capped:
            pieces = pieces[:budget]
            pieces.append((EventKind.INJECTED, " [time is up]"))
        pieces += [(EventKind.CONTENT, w) for w in _words(content)]
        finish = FinishReason.BUDGET if capped else FinishReason.STOP
        n_reasoning = n_content = 0
        answered_now = False
        for i, (kind, text) in enumerate(pieces):
            if kind is EventKind.REASONING and self._answer_now.is_set():
                if not answered_now:
                    answered_now = True
                    yield injected_event(rid, " [answer now]", InjectReason.ANSWER_NOW)
                continue
            if client.crash_after is not None and i >= client.crash_after:
                client.crash_after = None
                client._alive = False
                client.info = None
                yield error_event(rid, "engine crashed (SIGKILL, signal 9)", crashed=True, signal=9)
                return
            if self._cancelled.is_set():
                finish = FinishReason.CANCELLED
                break
            if req.max_tokens is not None and n_reasoning + n_content >= req.max_tokens:
                finish = FinishReason.LENGTH
                break
            if client.token_delay:
                time.sleep(client.token_delay)
            if kind is EventKind.REASONING:
                n_reasoning += 1
            elif kind is EventKind.CONTENT:
                n_content += 1
            if kind is EventKind.INJECTED:
                yield injected_event(rid, text, InjectReason.BUDGET)
            else:
                yield Event(kind, rid, text, tokens=1 if kind in TEXT_KINDS else 0)
        state = ReasoningState.CAPPED if capped else ReasoningState.NONE
        if answered_now:
            state = ReasoningState.ANSWER_NOW
        elif n_reasoning and not capped:
            state = ReasoningState.COMPLETE
        stats = Stats(
            prompt_tokens=sum(len(m.content.split()) for m in req.messages) + 3,
            reasoning_tokens=n_reasoning,
            content_tokens=n_content,
            finish_reason=finish,
            reasoning_state=state,
        )
        yield Event(EventKind.STATS, rid, stats=stats)
        yield done_event(rid, finish)


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words) if text]


class FakeEngineClient:
    """Duck-types the parts of :class:`EngineClient` that :class:`EngineService` uses.

    Attributes:
        token_delay: seconds per token.
        hold: when set to an unset :class:`threading.Event`, requests wait for it to be set
            before their first token (to fill the queue deterministically).
        crash_after: the next request "crashes" after this many tokens.
        fail_with: every request ends with this ERROR message (not a crash).
        fail_restart: restarts fail (the model cannot be loaded again).
        requests, cancels, answer_nows, restarts: what happened, for assertions.
    """

    def __init__(self, *, token_delay: float = 0.0, script: Script | None = None) -> None:
        self.script = script or Script()
        self.token_delay = token_delay
        self.hold: threading.Event | None = None
        self.crash_after: int | None = None
        self.fail_with: str | None = None
        self.fail_restart = False
        self.info: ModelInfo | None = None
        self.requests: list[GenerationRequest] = []
        self.cancels = 0
        self.answer_nows = 0
        self.restarts = 0
        self.closed = False
        self._alive = False
        self._params: LoadParams | None = None
        self._ids = 0

    @property
    def alive(self) -> bool:
        return self._alive

    def load_blocking(self, params: LoadParams) -> ModelInfo:
        self._params = params
        self._alive = True
        self.info = fake_info(params.model_path, params.n_ctx or 2048)
        return self.info

    def generate(self, request: GenerationRequest) -> FakeStream:
        self.requests.append(request)
        self._ids += 1
        return FakeStream(self, request, self._ids)

    def restart(self) -> Iterator[Event]:
        self.restarts += 1
        self._alive = True
        if self.fail_restart or self._params is None:
            self.info = None
            yield error_event(0, "the model could not be loaded again")
            return
        self.info = fake_info(self._params.model_path, self._params.n_ctx or 2048)
        yield Event(EventKind.LOADED, 0, data=self.info.to_dict())

    def close(self, timeout: float = 5.0) -> None:
        self.closed = True
        self._alive = False
        self.info = None


def loaded_fake(
    path: str = "/models/fake-model.gguf",
    *,
    token_delay: float = 0.0,
    script: Script | None = None,
) -> FakeEngineClient:
    """A fake client with its model already loaded."""
    client = FakeEngineClient(token_delay=token_delay, script=script)
    client.load_blocking(LoadParams(path))
    return client
