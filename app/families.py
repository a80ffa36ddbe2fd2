"""Model families: how each kind of reasoning model wants to be prompted and read.

A :class:`Family` ties together the reasoning delimiters of a model's output, what to do with
earlier reasoning and with the system prompt when building the next prompt, how to turn
reasoning off, and the recommended sampling settings. :func:`detect_family` picks one from
what a model file says about itself: its chat template first (the most reliable: it is what
the model is prompted with), then its name, then its architecture.

Sampling presets set every field; ``top_k = 0`` and ``min_p = 0.0`` mean "off", and
``repeat_penalty = 1.0`` means none (a repeat penalty hurts long reasoning, which legitimately
repeats numbers and names).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, fields, replace

from app.reasoning_formats import (
    HARMONY,
    S1,
    SEED_THINK,
    STRATOS,
    THINK,
    THINK_BRACKET,
    THOUGHT,
    ReasoningFormat,
)
from app.request import Sampling


class HistoryPolicy(enum.Enum):
    """What happens to the reasoning of earlier assistant turns in the next prompt."""

    DROP = "drop"  # left out: only the answers go back (DeepSeek's advice for R1)
    REASONING_CONTENT = "reasoning_content"  # given to the template as `reasoning_content`
    THINKING_FIELD = "thinking_field"  # harmony's `thinking`, on an unfinished last turn only


class SystemPolicy(enum.Enum):
    """Where the system prompt goes."""

    KEEP = "keep"  # a leading system message
    FOLD_INTO_USER = "fold_into_user"  # prepended to the first user turn


class OffMode(enum.Enum):
    """How reasoning is turned off for a family."""

    NONE = "none"  # the family does not reason: nothing to do
    TEMPLATE_KWARG = "template_kwarg"  # enable_thinking=False (Qwen3)
    EMPTY_BLOCK = "empty_block"  # prefill an empty reasoning block (R1 distills, QwQ...)
    LOW_EFFORT = "low_effort"  # cannot be turned off; lowest effort instead (gpt-oss)


@dataclass(frozen=True, slots=True)
class Family:
    """How one family of models is prompted and how its output is read.

    Attributes:
        id: key in :data:`FAMILIES`.
        display_name: shown to the user.
        reasoning: the delimiters of its reasoning in the raw output.
        history_policy: what to do with earlier turns' reasoning.
        system_policy: where the system prompt goes.
        preset: recommended sampling; every field is set.
        off_mode: how to turn reasoning off.
        supports_effort: takes a reasoning effort (low/medium/high).
        advice: one or two sentences for the user, or "".
        stop_strings: text that ends the answer beyond the model's EOS tokens.
    """

    id: str
    display_name: str
    reasoning: ReasoningFormat
    history_policy: HistoryPolicy
    system_policy: SystemPolicy
    preset: Sampling
    off_mode: OffMode
    supports_effort: bool = False
    advice: str = ""
    stop_strings: tuple[str, ...] = ()

    @property
    def reasons(self) -> bool:
        """Whether models of this family reason (can be told to stop, or to think less)."""
        return self.off_mode is not OffMode.NONE

    def sampling(self, requested: Sampling) -> Sampling:
        """The preset, with every field the request sets taking its place."""
        overrides = {
            f.name: getattr(requested, f.name)
            for f in fields(requested)
            if getattr(requested, f.name) is not None
        }
        return replace(self.preset, **overrides)


def _preset(temperature: float, top_p: float, top_k: int = 0, min_p: float = 0.0) -> Sampling:
    return Sampling(
        temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, repeat_penalty=1.0
    )


_CHATML_STOPS = ("<|im_end|>",)

_R1_ADVICE = (
    "R1 distills work best without a system prompt; put instructions in your message. "
    "For maths, ask for the final answer in \\boxed{}."
)

_ALL = (
    Family(
        id="deepseek-r1",
        display_name="DeepSeek-R1 distill",
        reasoning=THINK,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.FOLD_INTO_USER,
        preset=_preset(0.6, 0.95),  # DeepSeek sets temperature and top_p only
        off_mode=OffMode.EMPTY_BLOCK,
        advice=_R1_ADVICE,
    ),
    Family(
        id="qwq",
        display_name="QwQ",
        reasoning=THINK,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.KEEP,
        preset=_preset(0.6, 0.95, top_k=40),
        off_mode=OffMode.EMPTY_BLOCK,
        advice="QwQ thinks at length: give it a large context (16k tokens or more).",
        stop_strings=_CHATML_STOPS,
    ),
    Family(
        id="openthinker",
        display_name="OpenThinker",
        reasoning=THINK,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.KEEP,
        preset=_preset(0.6, 0.95, top_k=40),
        off_mode=OffMode.EMPTY_BLOCK,
        stop_strings=_CHATML_STOPS,
    ),
    Family(
        id="qwen3",
        display_name="Qwen3 (hybrid thinking)",
        reasoning=THINK,
        history_policy=HistoryPolicy.REASONING_CONTENT,
        system_policy=SystemPolicy.KEEP,
        preset=_preset(0.6, 0.95, top_k=20),
        off_mode=OffMode.TEMPLATE_KWARG,
        advice=(
            "Never use greedy sampling with Qwen3. With thinking off, Qwen suggests "
            "temperature 0.7 and top_p 0.8."
        ),
        stop_strings=_CHATML_STOPS,
    ),
    Family(
        id="gpt-oss",
        display_name="gpt-oss",
        reasoning=HARMONY,
        history_policy=HistoryPolicy.THINKING_FIELD,
        system_policy=SystemPolicy.KEEP,  # the template makes it the developer message
        preset=_preset(1.0, 1.0),
        off_mode=OffMode.LOW_EFFORT,
        supports_effort=True,
        advice="gpt-oss always reasons; choose low effort for quick answers.",
        stop_strings=("<|return|>", "<|call|>"),
    ),
    Family(
        id="exaone-deep",
        display_name="EXAONE Deep",
        reasoning=THOUGHT,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.FOLD_INTO_USER,  # LG: avoid a system prompt
        preset=_preset(0.6, 0.95),
        off_mode=OffMode.EMPTY_BLOCK,
        advice="EXAONE Deep works best without a system prompt; put instructions in your message.",
    ),
    Family(
        id="magistral",
        display_name="Magistral",
        reasoning=THINK_BRACKET,
        history_policy=HistoryPolicy.DROP,
        # Magistral's template carries the system prompt that tells it to reason; a system
        # prompt of the user's would replace it, so the user's text goes into the message.
        system_policy=SystemPolicy.FOLD_INTO_USER,
        preset=_preset(0.7, 0.95),
        off_mode=OffMode.EMPTY_BLOCK,
        advice="Magistral reasons only with its built-in system prompt, which Ponder keeps.",
    ),
    Family(
        id="seed-oss",
        display_name="Seed-OSS",
        reasoning=SEED_THINK,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.KEEP,
        preset=_preset(1.1, 0.95),  # ByteDance's recommendation
        off_mode=OffMode.EMPTY_BLOCK,
    ),
    Family(
        id="stratos",
        display_name="Sky-T1 / Bespoke-Stratos",
        reasoning=STRATOS,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.KEEP,
        preset=_preset(0.7, 0.95, top_k=40),
        off_mode=OffMode.EMPTY_BLOCK,
        advice=(
            "These models write their thought/solution sections only when prompted with the "
            "system prompt they were trained with."
        ),
        stop_strings=_CHATML_STOPS,
    ),
    Family(
        id="s1",
        display_name="s1",
        reasoning=S1,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.KEEP,
        # s1 was evaluated greedily, but long greedy generations fall into loops.
        preset=_preset(0.6, 0.95, top_k=40),
        off_mode=OffMode.EMPTY_BLOCK,
        stop_strings=_CHATML_STOPS,
    ),
    # A model of no known reasoning family. Its format is still `<think>`: plenty of
    # reasoning fine-tunes with unknown names use it, and showing a stray `<think>` block as
    # part of the answer is worse than the rare answer that legitimately writes the tag.
    # Nothing is known about turning its reasoning off, hence OffMode.NONE.
    Family(
        id="generic",
        display_name="Generic",
        reasoning=THINK,
        history_policy=HistoryPolicy.DROP,
        system_policy=SystemPolicy.KEEP,
        preset=_preset(0.7, 0.95, top_k=40, min_p=0.05),
        off_mode=OffMode.NONE,
    ),
)

FAMILIES: dict[str, Family] = {f.id: f for f in _ALL}
GENERIC = FAMILIES["generic"]


def get_family(family_id: str) -> Family:
    """The family with this id; an unknown id (e.g. from an old settings file) is generic."""
    return FAMILIES.get(family_id, GENERIC)


# --- detection -------------------------------------------------------------------------------

_R1_ASSISTANT = ("<｜Assistant｜>", "<|Assistant|>")


def family_from_template(chat_template: str | None) -> Family | None:
    """The family a chat template belongs to, from features of its text; None if unknown."""
    if not chat_template:
        return None
    t = chat_template
    if "<|channel|>" in t or ("reasoning_effort" in t and "<|start|>" in t):
        family = "gpt-oss"
    elif "<seed:think>" in t:
        family = "seed-oss"
    elif "[THINK]" in t:
        family = "magistral"
    elif "<thought>" in t:
        family = "exaone-deep"
    elif "begin_of_thought" in t:
        family = "stratos"
    elif "<|im_start|>think" in t:
        family = "s1"
    elif "enable_thinking" in t:
        family = "qwen3"
    elif any(a in t for a in _R1_ASSISTANT) and ("<think>" in t or "</think>" in t):
        family = "deepseek-r1"
    elif "<|im_start|>" in t and "<think>" in t:
        family = "qwq"
    else:
        return None
    return FAMILIES[family]


_NAME_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"deepseek-r1|r1-distill|deepscaler", "deepseek-r1"),
        (r"gpt-oss", "gpt-oss"),
        (r"qwq", "qwq"),
        (r"openthinker[2-9]", "openthinker"),  # OpenThinker2, OpenThinker3
        (r"openthinker|sky-t1|stratos", "stratos"),  # OpenThinker v1 used Stratos' format
        (r"(^|[^a-z0-9.])s1(\.\d+)?([^a-z0-9.]|$)", "s1"),
        (r"exaone-deep", "exaone-deep"),
        (r"magistral", "magistral"),
        (r"seed-oss", "seed-oss"),
        (r"qwen-?3(?!.*(instruct|coder))", "qwen3"),  # Qwen3-*-Instruct-2507 does not reason
    )
)


def family_from_name(name: str | None) -> Family | None:
    """The family a model name (GGUF ``general.name`` or file name) suggests; None if none."""
    if not name:
        return None
    normalised = re.sub(r"[\s_]+", "-", name.lower())
    for pattern, family in _NAME_RULES:
        if pattern.search(normalised):
            return FAMILIES[family]
    return None


def detect_family(
    *, chat_template: str | None, architecture: str | None = None, name: str | None = None
) -> Family:
    """The family of a model, from its chat template, then its name, then its architecture.

    The template decides when it has a recognisable feature, except that a ChatML template
    with ``<think>`` (QwQ-like) defers to a name that points at another ``<think>`` family
    reasoning off the same way (e.g. OpenThinker2, an R1 distill). ``exaone`` as an
    architecture means EXAONE Deep only when no template is known: EXAONE Deep's template
    always has ``<thought>``, and other EXAONE models share the architecture.
    """
    by_template = family_from_template(chat_template)
    by_name = family_from_name(name)
    if by_template is not None:
        if (
            by_template.id == "qwq"
            and by_name is not None
            and by_name.reasoning == by_template.reasoning
            and by_name.off_mode is by_template.off_mode
        ):
            return by_name
        return by_template
    if by_name is not None:
        return by_name
    arch = (architecture or "").lower().replace("_", "-")
    if arch == "gpt-oss":
        return FAMILIES["gpt-oss"]
    if arch == "seed-oss":
        return FAMILIES["seed-oss"]
    if arch == "exaone" and not chat_template:
        return FAMILIES["exaone-deep"]
    return GENERIC
