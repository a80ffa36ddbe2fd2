"""markdown-it rules for the LaTeX delimiters models write besides ``$…$``: ``\\(…\\)``,
``\\[…\\]`` and a bare ``\\boxed{…}``.

They are parser rules, not a regular-expression pass over the whole text, so code spans and
code blocks keep their backslashes, and the cost stays linear: a delimiter that is never closed
is searched for over at most :data:`MAX_MATH` characters, not to the end of the answer.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline

MAX_MATH = 4000  # longest formula looked for; an open delimiter further away stays text


def _push(state: StateInline, kind: str, content: str, markup: str) -> None:
    token = state.push(kind, "math", 0)
    token.content = content
    token.markup = markup


def _paren(state: StateInline, silent: bool) -> bool:
    """``\\(…\\)``: inline math."""
    src, pos = state.src, state.pos
    if not src.startswith("\\(", pos):
        return False
    end = src.find("\\)", pos + 2, min(state.posMax, pos + MAX_MATH))
    content = src[pos + 2 : end].strip() if end >= 0 else ""
    if not content:
        return False
    if not silent:
        _push(state, "math_inline", content, "\\(")
    state.pos = end + 2
    return True


def _bracket(state: StateInline, silent: bool) -> bool:
    """``\\[…\\]`` inside a paragraph: display math."""
    src, pos = state.src, state.pos
    if not src.startswith("\\[", pos):
        return False
    end = src.find("\\]", pos + 2, min(state.posMax, pos + MAX_MATH))
    if end < 0 or not src[pos + 2 : end].strip():
        return False
    if not silent:
        _push(state, "math_inline_double", src[pos + 2 : end], "\\[")
    state.pos = end + 2
    return True


def _boxed(state: StateInline, silent: bool) -> bool:
    """A bare ``\\boxed{…}`` (the final answer of many reasoning models), braces balanced."""
    src, pos = state.src, state.pos
    if not src.startswith("\\boxed{", pos) or (pos > 0 and src[pos - 1] in "$\\{"):
        return False
    limit = min(state.posMax, pos + MAX_MATH)
    depth, i = 0, pos + len("\\boxed")
    while True:  # one step per closing brace, the scanning done by str.find/count
        close = src.find("}", i, limit)
        if close < 0:
            return False
        depth += src.count("{", i, close) - 1
        if depth <= 0:
            break
        i = close + 1
    if not silent:
        _push(state, "math_inline", src[pos : close + 1], "\\boxed")
    state.pos = close + 1
    return True


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _bracket_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """``\\[`` at the start of a line, ``\\]`` at the end of it or of a later line, with no
    blank line between (LaTeX allows none in math): a display formula of its own."""
    if state.is_code_block(start_line):
        return False
    src = state.src
    begin = state.bMarks[start_line] + state.tShift[start_line]
    if not src.startswith("\\[", begin):
        return False
    stop = min(len(src), begin + MAX_MATH)
    if end_line < len(state.bMarks):
        stop = min(stop, state.bMarks[end_line])
    closing = src.find("\\]", begin + 2, stop)
    if closing < 0 or not src[begin + 2 : closing].strip():
        return False
    line_end = src.find("\n", closing)
    rest = src[closing + 2 : line_end if line_end >= 0 else len(src)]
    if rest.strip() or _BLANK_LINE.search(src, begin, closing):
        return False  # not a block: the inline rule may still take it
    line = start_line
    while state.eMarks[line] < closing:
        line += 1
    if silent:
        return True
    state.line = line + 1
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = src[begin + 2 : closing]
    token.markup = "\\["
    token.map = [start_line, state.line]
    return True


def latex_delimiters_plugin(md: MarkdownIt) -> None:
    """Add the rules (after dollarmath, whose tokens and renderers they share)."""
    md.inline.ruler.before("escape", "math_paren", _paren)
    md.inline.ruler.before("escape", "math_bracket", _bracket)
    md.inline.ruler.before("escape", "math_boxed", _boxed)
    md.block.ruler.before(
        "fence",
        "math_bracket_block",
        _bracket_block,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
