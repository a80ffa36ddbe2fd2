"""The reasoning delimiters of each model family (exact strings; see TECH-NOTES)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReasoningFormat:
    """How one family marks its reasoning in the raw output.

    Attributes:
        name: key in :data:`FORMATS`.
        open_tags: what starts the reasoning (the first is the canonical one).
        close_tags: what ends it.
        answer_open_tags: markers that may stand before the answer and are not part of it
            (Stratos ``<|begin_of_solution|>``, harmony's final channel header).
        answer_close_tags: markers that may end the answer and are not part of it.
    """

    name: str
    open_tags: tuple[str, ...]
    close_tags: tuple[str, ...]
    answer_open_tags: tuple[str, ...] = ()
    answer_close_tags: tuple[str, ...] = ()

    @property
    def open_tag(self) -> str:
        return self.open_tags[0] if self.open_tags else ""

    @property
    def close_tag(self) -> str:
        return self.close_tags[0] if self.close_tags else ""

    @property
    def forced_close(self) -> str:
        """Text Ponder injects to end the reasoning (budget cap, answer now)."""
        if not self.close_tags:
            return ""
        text = self.close_tag + "\n\n"
        if self.answer_open_tags:
            text += self.answer_open_tags[0]
        return text

    @property
    def reasons(self) -> bool:
        return bool(self.open_tags)


THINK = ReasoningFormat("think", ("<think>",), ("</think>",))
THOUGHT = ReasoningFormat("thought", ("<thought>",), ("</thought>",))
THINK_BRACKET = ReasoningFormat("think_bracket", ("[THINK]",), ("[/THINK]",))
SEED_THINK = ReasoningFormat("seed_think", ("<seed:think>",), ("</seed:think>",))
STRATOS = ReasoningFormat(
    "stratos",
    ("<|begin_of_thought|>",),
    ("<|end_of_thought|>",),
    answer_open_tags=("<|begin_of_solution|>",),
    answer_close_tags=("<|end_of_solution|>",),
)
S1 = ReasoningFormat("s1", ("<|im_start|>think",), ("<|im_start|>answer",))
HARMONY = ReasoningFormat(
    "harmony",
    ("<|channel|>analysis<|message|>",),
    ("<|end|>",),
    answer_open_tags=(
        "<|start|>assistant<|channel|>final<|message|>",
        "<|channel|>final<|message|>",
    ),
    answer_close_tags=("<|return|>",),
)
NONE = ReasoningFormat("none", (), ())

FORMATS: dict[str, ReasoningFormat] = {
    f.name: f for f in (THINK, THOUGHT, THINK_BRACKET, SEED_THINK, STRATOS, S1, HARMONY, NONE)
}
