"""Token-level generation shared by every local engine.

The driver turns a :class:`GenerationRequest` into events on top of any :class:`TokenModel`
(a model that can tokenize, and sample token ids from a token prompt while reusing its KV
cache for a shared prefix). It owns what must be the same for every engine:

* the prompt: family policy, template, thinking mode, trimming to the context window;
* the reasoning split (incremental, token by token);
* thinking control: the budget cap and "answer now" (inject an end-of-thinking message and
  the family's closing delimiter, then let the model answer), and "think longer" (replace an
  early closing delimiter with "Wait");
* the loop guard (:mod:`app.loop_guard`): a REASONING_LOOP event when the reasoning repeats
  itself, and with ``on_loop=answer`` the same ending as "answer now" (reason ``loop``);
* statistics and the finish reason.

Injections continue from the tokens already in the KV cache: the continuation prompt is the
old prompt + every generated token + the injected tokens, so only the new tokens are evaluated.
"""

from __future__ import annotations

import codecs
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.engine import Control, ModelInfo
from app.errors import PonderError
from app.events import (
    Event,
    EventKind,
    FinishReason,
    InjectReason,
    LoopReport,
    ReasoningState,
    Stats,
    Truncation,
    done_event,
    error_event,
    injected_event,
    loop_event,
    truncated_event,
)
from app.families import Family
from app.loop_guard import LoopGuard, LoopHit
from app.prompting import plan_prompt, prompt_prefilled
from app.reasoning import ReasoningSplitter, SegmentKind
from app.request import GenerationRequest, LoopPolicy, Sampling, ThinkMode
from app.templates import ChatTemplate, RenderCancelled, TemplateSource
from backends.tally import TokenTally

#: Tokens kept free for the answer when the prompt is trimmed to the context window.
DEFAULT_ANSWER_RESERVE = 1024
#: The least room worth keeping for an answer; a smaller token limit is left as it is.
MIN_ANSWER_ROOM = 32


def thinking_limit(
    max_new: int, close_tokens: int, reserve: int = DEFAULT_ANSWER_RESERVE
) -> int | None:
    """How many tokens the reasoning may take before it is closed to leave the answer room.

    A reasoning model that is still thinking when its token limit (``max_tokens`` or the end
    of the context) is reached leaves an empty answer. The answer keeps a quarter of the
    limit (at least :data:`MIN_ANSWER_ROOM`, at most ``reserve`` tokens); ``close_tokens``
    is the length of the text that closes the reasoning. ``None`` when the limit is too small
    to share.
    """
    room = min(reserve, max(MIN_ANSWER_ROOM, max_new // 4))
    limit = max_new - room - close_tokens
    return limit if limit >= MIN_ANSWER_ROOM else None


@dataclass(frozen=True, slots=True)
class ResolvedSampling:
    """Sampling values after the family preset filled what the request left open."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repeat_penalty: float


def resolve_sampling(requested: Sampling, preset: Sampling) -> ResolvedSampling:
    def pick(value: float | None, fallback: float | None, default: float) -> float:
        if value is not None:
            return value
        return fallback if fallback is not None else default

    return ResolvedSampling(
        temperature=pick(requested.temperature, preset.temperature, 0.7),
        top_p=pick(requested.top_p, preset.top_p, 0.95),
        top_k=int(pick(requested.top_k, preset.top_k, 40)),
        min_p=pick(requested.min_p, preset.min_p, 0.05),
        repeat_penalty=pick(requested.repeat_penalty, preset.repeat_penalty, 1.0),
    )


def common_prefix(cached: Sequence[int], tokens: Sequence[int]) -> int:
    """How many leading tokens two sequences share (for :meth:`TokenModel.cached_prefix`)."""
    n = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        n += 1
    return n


class TokenModel(Protocol):
    """What the driver needs from a loaded model."""

    @property
    def n_ctx(self) -> int: ...

    def tokenize(self, text: str) -> list[int]:
        """Tokens of already-rendered text (special tokens parsed, no BOS added)."""
        ...

    def piece(self, token: int) -> bytes:
        """The bytes of one token, special tokens rendered as their text."""
        ...

    def is_eog(self, token: int) -> bool:
        """Whether the token ends generation (EOS, EOT, ...)."""
        ...

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading tokens are already in the KV cache."""
        ...

    def generate(
        self, tokens: Sequence[int], sampling: ResolvedSampling, seed: int
    ) -> Iterator[int]:
        """Sample tokens after ``tokens``; closing the iterator stops generation."""
        ...


@dataclass(slots=True)
class _Clock:
    start: float
    first_token: float | None = None
    last_token: float | None = None
    first_content: float | None = None
    reasoning_start: float | None = None
    reasoning_end: float | None = None
    prompt_eval_ms: float = 0.0


@dataclass(slots=True)
class _Restart:
    """Why the token loop stopped early to continue with injected tokens."""

    tokens: list[int]
    event: Event


class Generation:
    """One request's run over a :class:`TokenModel`. Iterate :meth:`events` once."""

    def __init__(
        self,
        model: TokenModel,
        family: Family,
        template: ChatTemplate,
        request: GenerationRequest,
        request_id: int,
        control: Control,
        *,
        bos_token: str,
        eos_token: str,
        answer_reserve: int = DEFAULT_ANSWER_RESERVE,
    ) -> None:
        self._model = model
        self._family = family
        self._template = template
        self._request = request
        self._rid = request_id
        self._control = control
        self._bos = bos_token
        self._eos = eos_token
        self._reserve = answer_reserve
        self._fmt = family.reasoning
        # Raw text generated so far (injections included) and each generated token's end in it.
        # Appended to per token: a list (joined only when "think longer" must cut it), since
        # `str +=` on an attribute copies the whole trace every token.
        self._raw_parts: list[str] = []
        self._raw_len = 0
        self._token_ends: list[int] = []
        self._generated: list[int] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._splitter = ReasoningSplitter(self._fmt)
        self._splitter_base = 0  # offset of the current splitter's first character in the raw text
        self._reasoning_tokens = 0
        self._content_tokens = 0
        self._tally = TokenTally(request_id)  # the counts the text events carry
        self._waits = 0
        self._capped: ReasoningState | None = None
        self._budget_hit = False
        self._think_limit: int | None = None  # reasoning closed here to leave the answer room
        # The loop guard; None when off or once it fired (so it costs nothing from then on).
        policy = request.thinking.on_loop
        self._guard: LoopGuard | None = None if policy is LoopPolicy.OFF else LoopGuard()
        self._loop_answer = False  # a loop was found and the policy is "answer"

    # -- the public iterator ---------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        clock = _Clock(start=time.perf_counter())
        req = self._request
        # Room kept for the answer: never more than half the window (small contexts still work).
        reserve = min(self._reserve, req.max_tokens or self._reserve, self._model.n_ctx // 2)
        try:
            plan = plan_prompt(
                req,
                self._family,
                self._template,
                bos_token=self._bos,
                eos_token=self._eos,
                count_tokens=lambda text: len(self._model.tokenize(text)),
                n_ctx=self._model.n_ctx,
                reserve_tokens=reserve,
                cancelled=self._control.cancelled,
            )
        except RenderCancelled:  # Stop while the template rendered: its process was killed
            end = time.perf_counter()
            stats = self._stats(clock, end, 0, 0, FinishReason.CANCELLED, ReasoningState.NONE)
            yield Event(EventKind.STATS, self._rid, stats=stats)
            yield done_event(self._rid, FinishReason.CANCELLED)
            return
        prompt = plan.prompt  # thinking "off" suffixes are already applied
        prefilled = prompt_prefilled(prompt, self._fmt)
        self._splitter = ReasoningSplitter(self._fmt, prefilled=prefilled)
        prompt_tokens = self._model.tokenize(prompt)
        if plan.dropped_messages:
            yield truncated_event(
                self._rid,
                Truncation(plan.dropped_messages, len(prompt_tokens), self._model.n_ctx),
            )
        for warning in plan.warnings:
            yield Event(EventKind.WARNING, self._rid, warning)

        sampling = resolve_sampling(req.sampling, self._family.preset)
        seed = req.seed if req.seed is not None else random.randrange(2**31)
        cached = self._model.cached_prefix(prompt_tokens)
        room = self._model.n_ctx - len(prompt_tokens)
        max_new = min(req.max_tokens, room) if req.max_tokens else room
        if req.thinking.mode is not ThinkMode.OFF and self._fmt.forced_close:
            closing = self._model.tokenize(req.thinking.cap_message + self._fmt.forced_close)
            self._think_limit = thinking_limit(max_new, len(closing), self._reserve)
        finish = FinishReason.LENGTH
        while True:
            restart: _Restart | None = None
            stream = self._model.generate(prompt_tokens + self._generated, sampling, seed)
            t_call = time.perf_counter()
            try:
                for token in stream:
                    now = time.perf_counter()
                    if clock.first_token is None:
                        clock.first_token = now
                        clock.prompt_eval_ms = (now - t_call) * 1000.0
                    clock.last_token = now
                    if self._control.cancelled():
                        finish = FinishReason.CANCELLED
                        break
                    if self._model.is_eog(token):
                        finish = FinishReason.STOP
                        break
                    out, restart = self._on_token(token, clock)
                    yield from out
                    if restart is not None:
                        break
                    if len(self._generated) >= max_new:
                        finish = FinishReason.LENGTH
                        break
                    restart = self._maybe_cap(clock)
                    if restart is not None:
                        break
                else:
                    finish = FinishReason.STOP
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            if restart is None:
                break
            yield from self._tally.carry(EventKind.REASONING)  # the count up to the injection
            yield restart.event
            self._generated.extend(restart.tokens)
            self._token_ends.extend([self._raw_len] * len(restart.tokens))
            if len(self._generated) >= max_new:
                finish = FinishReason.LENGTH
                break

        held: list[Event] = []
        cut = finish in (FinishReason.LENGTH, FinishReason.CANCELLED)
        for seg in self._splitter.finish(cut=cut):
            held += self._segment_events(seg.kind, seg.text, clock)
        yield from self._tally.settle(held, closing=True)
        yield from self._tally.carry(EventKind.CONTENT)
        end = time.perf_counter()
        if self._splitter.in_reasoning and clock.reasoning_end is None:
            clock.reasoning_end = end
        state = self._capped or self._splitter.state
        if finish is FinishReason.STOP and self._budget_hit:
            finish = FinishReason.BUDGET
        yield Event(
            EventKind.STATS,
            self._rid,
            stats=self._stats(clock, end, len(prompt_tokens), cached, finish, state),
        )
        yield done_event(self._rid, finish)

    # -- per token ---------------------------------------------------------------------------

    def _append_raw(self, text: str) -> None:
        self._raw_parts.append(text)
        self._raw_len += len(text)

    def _on_token(self, token: int, clock: _Clock) -> tuple[list[Event], _Restart | None]:
        self._generated.append(token)
        text = self._decoder.decode(self._model.piece(token))
        self._append_raw(text)
        self._token_ends.append(self._raw_len)
        was_reasoning = self._splitter.in_reasoning
        events: list[Event] = []
        restart: _Restart | None = None
        closed = False
        for seg in self._splitter.feed(text):
            if seg.kind is SegmentKind.REASONING_END:
                closed = True
                restart = self._maybe_wait(self._splitter_base + seg.offset)
                if restart is not None:
                    break
                clock.reasoning_end = time.perf_counter()
            else:
                events.extend(self._segment_events(seg.kind, seg.text, clock))
                if self._guard is not None and seg.kind is SegmentKind.REASONING:
                    hit = self._guard.feed(seg.text)
                    if hit is not None:
                        events.append(self._on_loop(hit))
        if was_reasoning or closed or self._splitter.in_reasoning:
            self._reasoning_tokens += 1
            self._tally.count(EventKind.REASONING)
        else:
            self._content_tokens += 1
            self._tally.count(EventKind.CONTENT)
        return self._tally.settle(events, closing=not self._splitter.in_reasoning), restart

    def _segment_events(self, kind: SegmentKind, text: str, clock: _Clock) -> list[Event]:
        if not text:
            return []
        now = time.perf_counter()
        if kind is SegmentKind.REASONING:
            if clock.reasoning_start is None:
                clock.reasoning_start = now
            return [Event(EventKind.REASONING, self._rid, text)]
        if clock.first_content is None:
            clock.first_content = now
        return [Event(EventKind.CONTENT, self._rid, text)]

    def _on_loop(self, hit: LoopHit) -> Event:
        """The guard found a loop: report it once; with "answer", end the reasoning next."""
        self._guard = None
        policy = self._request.thinking.on_loop
        self._loop_answer = policy is LoopPolicy.ANSWER
        report = LoopReport(hit.repeats, hit.period_words, self._reasoning_tokens, policy)
        return loop_event(self._rid, hit.passage, report)

    def _maybe_wait(self, close_offset: int) -> _Restart | None:
        """Think longer: the model closed its reasoning too early → drop the tag, add "Wait"."""
        thinking = self._request.thinking
        if (
            not thinking.min_tokens
            or self._reasoning_tokens >= thinking.min_tokens
            or self._waits >= thinking.max_waits
        ):
            return None
        self._waits += 1
        keep = 0
        while keep < len(self._token_ends) and self._token_ends[keep] <= close_offset:
            keep += 1
        kept_end = self._token_ends[keep - 1] if keep else 0
        raw = "".join(self._raw_parts)
        leftover = raw[kept_end:close_offset]
        del self._generated[keep:]
        del self._token_ends[keep:]
        self._raw_parts = [raw[:kept_end]]
        self._raw_len = kept_end
        self._decoder.reset()
        injected = thinking.wait_text
        self._append_raw(leftover + injected)
        # A fresh splitter inside the reasoning; feeding it the injected text (output dropped:
        # it is reported as INJECTED) means the model's continuation is mid-trace, not a start.
        self._splitter = ReasoningSplitter(self._fmt, prefilled=True)
        self._splitter.feed(injected)
        self._splitter_base = self._raw_len - len(injected)
        tokens = self._model.tokenize(leftover + injected)
        event = injected_event(
            self._rid, injected, InjectReason.THINK_LONGER, self._reasoning_tokens
        )
        return _Restart(tokens, event)

    def _maybe_cap(self, clock: _Clock) -> _Restart | None:
        """Budget cap, "answer now" and a loop: close the reasoning and let the model answer."""
        if not self._splitter.in_reasoning:
            return None
        budget = self._request.thinking.budget
        reason: InjectReason | None = None
        if budget is not None and self._reasoning_tokens >= budget:
            reason = InjectReason.BUDGET
            self._budget_hit = True
            self._capped = ReasoningState.CAPPED
        elif self._control.answer_now():
            reason = InjectReason.ANSWER_NOW
            self._capped = ReasoningState.ANSWER_NOW
        elif self._loop_answer:
            reason = InjectReason.LOOP
            self._capped = ReasoningState.ANSWER_NOW
        elif self._think_limit is not None and len(self._generated) >= self._think_limit:
            reason = InjectReason.MAX_TOKENS  # the token limit is near: room is left for the answer
            self._capped = ReasoningState.CAPPED
        if reason is None:
            return None
        clock.reasoning_end = time.perf_counter()  # here, not when the answer ends
        self._loop_answer = False
        message = self._request.thinking.cap_message
        self._append_raw(message + self._fmt.forced_close)
        self._splitter.force_close()
        tokens = self._model.tokenize(message + self._fmt.forced_close)
        event = injected_event(self._rid, message, reason, self._reasoning_tokens)
        return _Restart(tokens, event)

    def _stats(
        self,
        clock: _Clock,
        end: float,
        prompt_tokens: int,
        cached: int,
        finish: FinishReason,
        state: ReasoningState,
    ) -> Stats:
        first = clock.first_token
        last = clock.last_token
        n = len(self._generated)
        decode_s = (last - first) if first is not None and last is not None else 0.0
        evaluated = max(prompt_tokens - cached, 0)
        thinking_ms = 0.0
        if clock.reasoning_start is not None:
            thinking_ms = ((clock.reasoning_end or end) - clock.reasoning_start) * 1000.0
        return Stats(
            prompt_tokens=prompt_tokens,
            cached_prompt_tokens=cached,
            prompt_eval_ms=clock.prompt_eval_ms,
            prompt_tokens_per_s=(
                evaluated / (clock.prompt_eval_ms / 1000.0) if clock.prompt_eval_ms > 0 else 0.0
            ),
            time_to_first_token_ms=((first - clock.start) * 1000.0) if first else 0.0,
            time_to_first_content_ms=(
                (clock.first_content - clock.start) * 1000.0 if clock.first_content else None
            ),
            reasoning_tokens=self._reasoning_tokens,
            content_tokens=self._content_tokens,
            decode_tokens_per_s=((n - 1) / decode_s) if decode_s > 0 and n > 1 else 0.0,
            thinking_ms=thinking_ms,
            total_ms=(end - clock.start) * 1000.0,
            finish_reason=finish,
            reasoning_state=state,
        )


def run_generation(
    model: TokenModel,
    family: Family,
    template: ChatTemplate,
    info: ModelInfo,
    request: GenerationRequest,
    request_id: int,
    control: Control,
) -> Iterator[Event]:
    """One request's events for a local engine; a failure becomes its last (ERROR) event.

    The worker stays alive whatever happens here: a user error (template, context) is
    reported as it is, anything else as "generation failed" with its type.
    """
    if info.template.template_source is TemplateSource.FALLBACK:
        yield Event(
            EventKind.WARNING,
            request_id,
            "this model file has no usable chat template; using ChatML "
            "(pass a template with --chat-template if the answers look wrong)",
        )
    generation = Generation(
        model,
        family,
        template,
        request,
        request_id,
        control,
        bos_token=info.file.bos_token,
        eos_token=info.file.eos_token,
    )
    try:
        yield from generation.events()
    except PonderError as err:
        yield error_event(request_id, str(err))
    except Exception as err:  # a bug or an engine failure: report it, keep the worker alive
        yield error_event(request_id, f"generation failed: {type(err).__name__}: {err}")
