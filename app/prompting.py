"""Turn a conversation into the prompt text a model is given.

Three steps, each usable on its own:

1. :func:`build_messages` applies the family's policies (earlier reasoning, system prompt)
   and gives the template plain ``{"role", "content", ...}`` dicts;
2. :func:`thinking_kwargs` says how this request's thinking control reaches the model:
   template variables (``enable_thinking``, ``reasoning_effort``) and, for families whose
   reasoning can only be skipped by prefilling an empty block, a flag to do so after
   rendering (:func:`apply_off_suffix`);
3. :func:`plan_prompt` renders, drops the oldest turns until the prompt fits the context
   window, and reports what it did in a :class:`PromptPlan`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from app.errors import ContextOverflowError
from app.families import Family, HistoryPolicy, OffMode, SystemPolicy
from app.reasoning_formats import ReasoningFormat
from app.request import (
    ChatMessage,
    Effort,
    GenerationRequest,
    Role,
    ThinkingControl,
    ThinkMode,
)
from app.templates import ChatTemplate

_RESERVED_KWARGS = frozenset(
    {"messages", "add_generation_prompt", "bos_token", "eos_token", "cancelled"}
)


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """The prompt for one request, and how it was made.

    Attributes:
        prompt: the rendered text, ready to tokenize (with ``special=True``, no extra BOS).
        prefilled: the prompt already opens the reasoning block, so the model's output
            starts inside the reasoning (no opening tag will come).
        dropped_messages: how many of the oldest messages were left out to fit the context.
        template_kwargs: the extra variables the template was rendered with.
        warnings: things the user should know (e.g. reasoning cannot be turned off).
        prompt_tokens: ``count_tokens(prompt)``.
    """

    prompt: str
    prefilled: bool
    dropped_messages: int
    template_kwargs: dict[str, Any]
    warnings: tuple[str, ...]
    prompt_tokens: int = 0


class ThinkingSetup(NamedTuple):
    """How a request's thinking control is applied to the prompt.

    Attributes:
        template_kwargs: variables for the chat template.
        empty_block: after rendering, close the reasoning at once with
            :func:`apply_off_suffix` (how reasoning is turned off for R1 distills, QwQ...).
        warnings: what could not be done as asked.
    """

    template_kwargs: dict[str, Any]
    empty_block: bool
    warnings: tuple[str, ...]


# --- messages --------------------------------------------------------------------------------


def _find_first(text: str, tags: Sequence[str], start: int) -> tuple[int, str]:
    """The earliest occurrence at or after ``start`` of any of ``tags``: (index, tag)."""
    best, best_tag = -1, ""
    for tag in tags:
        i = text.find(tag, start)
        if i != -1 and (best == -1 or i < best):
            best, best_tag = i, tag
    return best, best_tag


def split_reasoning(text: str, fmt: ReasoningFormat) -> tuple[str | None, str]:
    """Separate reasoning left in raw text from the answer: ``(reasoning or None, answer)``.

    Handles closed blocks, a block whose opening tag was in the prompt (text before the
    first closing tag), an unfinished block (everything after an opening tag), and removes
    the format's answer markers (harmony's final channel header, Stratos' solution tags).
    Text without any of the format's tags comes back unchanged.
    """
    if not fmt.reasons:
        return None, text
    reasoning: list[str] = []
    answer: list[str] = []
    pos = 0
    first_open, _ = _find_first(text, fmt.open_tags, 0)
    first_close, close_tag = _find_first(text, fmt.close_tags, 0)
    if first_close != -1 and (first_open == -1 or first_close < first_open):
        reasoning.append(text[:first_close])
        pos = first_close + len(close_tag)
    while True:
        start, open_tag = _find_first(text, fmt.open_tags, pos)
        if start == -1:
            answer.append(text[pos:])
            break
        answer.append(text[pos:start])
        body = start + len(open_tag)
        end, close_tag = _find_first(text, fmt.close_tags, body)
        if end == -1:
            reasoning.append(text[body:])
            break
        reasoning.append(text[body:end])
        pos = end + len(close_tag)
    out = "".join(answer)
    for marker in (*fmt.answer_open_tags, *fmt.answer_close_tags, *fmt.close_tags):
        out = out.replace(marker, "")
    if not reasoning and out == text:
        return None, text
    joined = "\n\n".join(part.strip() for part in reasoning if part.strip())
    return (joined or None), out.strip()


def build_messages(
    messages: Sequence[ChatMessage], family: Family, system_prompt: str | None
) -> list[dict[str, Any]]:
    """The conversation as template input, with the family's policies applied.

    System-role messages in ``messages`` are joined to ``system_prompt`` (in that order)
    and placed per ``family.system_policy``. Assistant turns never carry reasoning tags in
    their content; their reasoning (``ChatMessage.reasoning``, or what was found in the
    content) is dropped or passed per ``family.history_policy``.
    """
    fmt = family.reasoning
    system_parts = [system_prompt] if system_prompt and system_prompt.strip() else []
    system_parts += [m.content for m in messages if m.role is Role.SYSTEM and m.content.strip()]
    system_text = "\n\n".join(system_parts)
    turns = [m for m in messages if m.role is not Role.SYSTEM]

    out: list[dict[str, Any]] = []
    for i, message in enumerate(turns):
        if message.role is not Role.ASSISTANT:
            out.append({"role": message.role.value, "content": message.content})
            continue
        found, content = split_reasoning(message.content, fmt)
        reasoning = message.reasoning or found
        entry: dict[str, Any] = {"role": Role.ASSISTANT.value, "content": content}
        if reasoning:
            policy = family.history_policy
            if policy is HistoryPolicy.REASONING_CONTENT:
                entry["reasoning_content"] = reasoning
            elif policy is HistoryPolicy.THINKING_FIELD and i == len(turns) - 1:
                entry["thinking"] = reasoning
        out.append(entry)

    if system_text:
        if family.system_policy is SystemPolicy.KEEP:
            out.insert(0, {"role": Role.SYSTEM.value, "content": system_text})
        else:
            first_user = next((m for m in out if m["role"] == Role.USER.value), None)
            if first_user is None:
                out.insert(0, {"role": Role.USER.value, "content": system_text})
            else:
                first_user["content"] = system_text + "\n\n" + first_user["content"]
    return out


# --- thinking control ------------------------------------------------------------------------


def thinking_kwargs(family: Family, thinking: ThinkingControl) -> ThinkingSetup:
    """How ``thinking`` (mode and effort) reaches a model of ``family``."""
    kwargs: dict[str, Any] = {}
    warnings: list[str] = []
    off = thinking.mode is ThinkMode.OFF
    if family.supports_effort:
        effort = thinking.effort
        if off and family.off_mode is OffMode.LOW_EFFORT:
            effort = Effort.LOW
            warnings.append(f"{family.display_name} cannot turn reasoning off; using low effort")
        if effort is not None:
            kwargs["reasoning_effort"] = effort.value
    elif thinking.effort is not None:
        warnings.append(
            f"{family.display_name} has no reasoning effort setting; the effort is ignored"
        )
    empty_block = False
    if family.off_mode is OffMode.TEMPLATE_KWARG:
        kwargs["enable_thinking"] = not off
    elif family.off_mode is OffMode.EMPTY_BLOCK:
        empty_block = off
    return ThinkingSetup(kwargs, empty_block, tuple(warnings))


def prompt_prefilled(prompt: str, fmt: ReasoningFormat) -> bool:
    """Whether the prompt ends (trailing whitespace aside) with an opening reasoning tag."""
    tail = prompt.rstrip()
    return any(tail.endswith(tag) for tag in fmt.open_tags)


def apply_off_suffix(prompt: str, fmt: ReasoningFormat) -> str:
    """Append an empty, closed reasoning block, so the model answers at once.

    ``…<think>\\n`` (prefilled) becomes ``…<think>\\n\\n</think>\\n\\n``; a prompt that does
    not open the block gets the whole block. Formats with answer markers get the first one
    too (``<|begin_of_solution|>``), as when Ponder closes the reasoning itself.
    """
    if not fmt.reasons:
        return prompt
    if prompt_prefilled(prompt, fmt):
        return prompt.rstrip() + "\n\n" + fmt.forced_close
    return prompt + fmt.open_tag + "\n\n" + fmt.forced_close


# --- the whole prompt ------------------------------------------------------------------------


def _cut_points(turns: Sequence[ChatMessage]) -> list[int]:
    """Where the kept part of the conversation may start, oldest first.

    0 keeps everything; each later point is a user turn, so a user turn is dropped together
    with the answers after it. The last point is the last user turn, which is never dropped.
    """
    return [0] + [i for i, m in enumerate(turns) if i > 0 and m.role is Role.USER]


def plan_prompt(
    request: GenerationRequest,
    family: Family,
    template: ChatTemplate,
    *,
    bos_token: str,
    eos_token: str,
    count_tokens: Callable[[str], int],
    n_ctx: int,
    reserve_tokens: int,
    cancelled: Callable[[], bool] | None = None,
) -> PromptPlan:
    """Render the request's prompt, dropping the oldest turns until it fits.

    The prompt fits when ``count_tokens(prompt) + reserve_tokens <= n_ctx``. The system
    prompt and the last user turn are always kept; turns go oldest first, a user turn with
    the answer that follows it. Renders at most about ``2 + log2(turns)`` times.

    The thinking control's template variables take precedence over the request's own
    ``template_kwargs``; names the renderer sets itself (``messages``, ``bos_token``...)
    are ignored there. ``cancelled`` is polled while the template renders.

    Raises:
        ContextOverflowError: even the last user turn alone does not fit.
        TemplateError: the template failed to render.
        RenderCancelled: ``cancelled()`` became true while the template rendered.
    """
    setup = thinking_kwargs(family, request.thinking)
    warnings = list(setup.warnings)
    kwargs: dict[str, Any] = {}
    for key, value in request.template_kwargs:
        if key in _RESERVED_KWARGS:
            warnings.append(f"template variable {key!r} is set by Ponder; yours is ignored")
        else:
            kwargs[key] = value
    kwargs.update(setup.template_kwargs)

    system = [m for m in request.messages if m.role is Role.SYSTEM]
    turns = [m for m in request.messages if m.role is not Role.SYSTEM]
    last_user = max((i for i, m in enumerate(turns) if m.role is Role.USER), default=0)
    cuts = [c for c in _cut_points(turns) if c <= last_user]
    rendered: dict[int, tuple[str, int]] = {}

    def render(cut_index: int) -> tuple[str, int]:
        if cut_index not in rendered:
            kept = system + turns[cuts[cut_index] :]
            msgs = build_messages(kept, family, request.system_prompt)
            prompt = template.render(
                msgs,
                add_generation_prompt=True,
                bos_token=bos_token,
                eos_token=eos_token,
                cancelled=cancelled,
                **kwargs,
            )
            if setup.empty_block:
                prompt = apply_off_suffix(prompt, family.reasoning)
            rendered[cut_index] = (prompt, count_tokens(prompt))
        return rendered[cut_index]

    def fits(cut_index: int) -> bool:
        return render(cut_index)[1] + reserve_tokens <= n_ctx

    if fits(0):
        chosen = 0
    else:
        last = len(cuts) - 1
        if last == 0 or not fits(last):
            tokens = render(last)[1]
            raise ContextOverflowError(
                f"The message is too long for the context window: the prompt needs {tokens} "
                f"tokens and {reserve_tokens} more are kept for the answer, but the context "
                f"window holds {n_ctx}. Shorten the message or load the model with a larger "
                "context window."
            )
        low, high = 0, last  # low does not fit, high fits
        while high - low > 1:
            mid = (low + high) // 2
            if fits(mid):
                high = mid
            else:
                low = mid
        chosen = high

    prompt, tokens = render(chosen)
    return PromptPlan(
        prompt=prompt,
        prefilled=prompt_prefilled(prompt, family.reasoning),
        dropped_messages=cuts[chosen],
        template_kwargs=kwargs,
        warnings=tuple(warnings),
        prompt_tokens=tokens,
    )
