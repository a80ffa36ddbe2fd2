"""Markdown → the HTML subset QTextDocument shows, for untrusted model output.

* markdown-it-py (CommonMark + tables, strikethrough, task lists); raw HTML is escaped,
  never interpreted; links are only followed when clicked (the view decides how).
* Code blocks highlighted with Pygments (inline styles, which QTextDocument understands),
  each with a "Copy" link (``copy:N``).
* Math — ``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]`` and bare ``\\boxed{…}`` — typeset by
  ziamath (LaTeX → SVG) and drawn into images the view registers as document resources
  (``math:<hash>``). Images from the model are shown as links, never fetched.
* :class:`StreamingMarkdown` renders finished blocks once; only the open block is rendered
  again as text streams in.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

_BRACKET_INLINE = re.compile(r"\\\((.+?)\\\)", re.S)
_BRACKET_BLOCK = re.compile(r"\\\[(.+?)\\\]", re.S)
_BOXED = re.compile(r"(?<![\$\\{])\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_FENCE = re.compile(r"^(\s{0,3})(```|~~~)", re.M)


def math_key(latex: str, display: bool) -> str:
    return hashlib.sha1(f"{int(display)}:{latex}".encode()).hexdigest()[:16]


@dataclass
class RenderResult:
    html: str
    math: dict[str, tuple[str, bool]] = field(default_factory=dict)  # key → (latex, display)
    code: list[str] = field(default_factory=list)


def _normalise_math(text: str) -> str:
    """Bring \\(…\\), \\[…\\] and bare \\boxed{} to dollar math, outside code fences."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.S)
    for i in range(0, len(parts), 2):
        chunk = parts[i]
        chunk = _BRACKET_BLOCK.sub(lambda m: f"$${m.group(1)}$$", chunk)
        chunk = _BRACKET_INLINE.sub(lambda m: f"${m.group(1).strip()}$", chunk)
        chunk = _BOXED.sub(lambda m: f"$\\boxed{{{m.group(1)}}}$", chunk)
        parts[i] = chunk
    return "".join(parts)


class _Renderer:
    def __init__(self, dark: bool) -> None:
        self.md = (
            MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
            .enable(["table", "strikethrough"])
            .use(dollarmath_plugin, allow_space=True, double_inline=True)
            .use(tasklists_plugin)
        )
        style = "monokai" if dark else "friendly"
        self.formatter = HtmlFormatter(noclasses=True, nowrap=True, style=style)
        self.code_bg = "#272822" if dark else "#f5f5f0"
        for name, method in (
            ("fence", self._fence),
            ("code_block", self._fence),
            ("math_inline", self._math_inline),
            ("math_inline_double", self._math_block),
            ("math_block", self._math_block),
            ("image", self._image),
        ):
            # markdown-it binds a rule to its renderer; a closure keeps ours reachable.
            def rule(
                _r: object,
                tokens: list[Token],
                idx: int,
                o: OptionsDict,
                env: EnvType,
                m: Callable[[list[Token], int, OptionsDict, EnvType], str] = method,
            ) -> str:
                return m(tokens, idx, o, env)

            self.md.add_render_rule(name, rule)
        self.result = RenderResult("")

    def _fence(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        code = token.content
        lang = (token.info or "").strip().split(" ")[0]
        try:
            lexer = get_lexer_by_name(lang) if lang else TextLexer()
        except ClassNotFound:
            lexer = TextLexer()
        body = str(highlight(code, lexer, self.formatter))
        n = len(self.result.code)
        self.result.code.append(code)
        label = html.escape(lang) if lang else "code"
        return (
            f'<table width="100%" cellspacing="0" cellpadding="6" style="background:{self.code_bg};">'
            f'<tr><td><span style="color:#888;">{label}</span> · <a href="copy:{n}">Copy</a>'
            f'<pre style="margin:0;">{body}</pre></td></tr></table>'
        )

    def _math(self, latex: str, display: bool) -> str:
        key = math_key(latex, display)
        self.result.math[key] = (latex, display)
        alt = html.escape(latex, quote=True)
        img = f'<img src="math:{key}" alt="{alt}" title="{alt}">'
        return f'<p align="center">{img}</p>' if display else img

    def _math_inline(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        return self._math(tokens[idx].content, False)

    def _math_block(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        return self._math(tokens[idx].content.strip(), True)

    def _image(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        src = html.escape(str(token.attrs.get("src", "")), quote=True)
        alt = html.escape(token.content or "image")
        return f'<a href="{src}">[image: {alt}]</a>'

    def render(self, text: str) -> RenderResult:
        self.result = RenderResult("")
        out = self.md.render(_normalise_math(text))
        # QTextDocument shows no form controls: task list boxes become characters.
        out = re.sub(r'<input class="task-list-item-checkbox" checked="checked"[^>]*>', "☑", out)
        out = re.sub(r'<input class="task-list-item-checkbox"[^>]*>', "☐", out)
        out = out.replace("<table>", '<table border="1" cellspacing="0" cellpadding="4">')
        self.result.html = out
        return self.result


_RENDERERS: dict[bool, _Renderer] = {}


def render_markdown(text: str, *, dark: bool = False) -> RenderResult:
    """Render a whole Markdown text."""
    renderer = _RENDERERS.get(dark)
    if renderer is None:
        renderer = _RENDERERS[dark] = _Renderer(dark)
    return renderer.render(text)


def stable_prefix_end(text: str, start: int = 0) -> int:
    """End of the text's finished blocks: the last blank line outside a code fence or $$."""
    end = start
    in_fence = False
    in_math = False
    pos = start
    for line in text[start:].splitlines(keepends=True):
        pos += len(line)
        stripped = line.strip()
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and stripped.count("$$") % 2 == 1:
            in_math = not in_math
        if not stripped and not in_fence and not in_math and line.endswith("\n"):
            end = pos
    return end


class StreamingMarkdown:
    """Splits a growing answer into finished blocks (rendered once) and the open tail."""

    def __init__(self) -> None:
        self.text = ""
        self.done_upto = 0  # text[:done_upto] has been handed out as finished blocks

    def append(self, piece: str) -> tuple[str, str]:
        """Add streamed text; returns (newly finished blocks, the open tail)."""
        self.text += piece
        # Only the part after the last finished block can change its status.
        end = stable_prefix_end(self.text, self.done_upto)
        finished = self.text[self.done_upto : end]
        self.done_upto = end
        return finished, self.text[end:]

    def finish(self) -> str:
        """The rest of the text, once the stream has ended."""
        rest = self.text[self.done_upto :]
        self.done_upto = len(self.text)
        return rest
