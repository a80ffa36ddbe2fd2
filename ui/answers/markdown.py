"""Markdown → the HTML subset QTextDocument shows, for untrusted model output.

* markdown-it-py (CommonMark + tables, strikethrough, task lists); raw HTML is escaped,
  never interpreted; links are only followed when clicked (the view decides how).
* Code blocks highlighted with Pygments (inline styles, which QTextDocument understands),
  each with a "Copy" link (``copy:N``).
* Math — ``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]`` and bare ``\\boxed{…}`` — typeset by
  ziamath (LaTeX → SVG) and drawn into images the view registers as document resources
  (``math:<hash>``). Images from the model are shown as links, never fetched.
* :class:`StreamingMarkdown` splits a streamed answer where markdown-it says a new top-level
  block starts after a blank line, so each finished part is rendered once and reads exactly as
  in the whole answer; the open tail is shown as plain text meanwhile.
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

from ui.answers.markdown_math import latex_delimiters_plugin

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_BLOCK_END_NEWLINE = re.compile(r"(</(?:p|li|ul|ol|h[1-6]|blockquote|table|tr|td|th|t\w+)>)\n")
_EMPTY_BLOCK = re.compile(r"<(p|li|h[1-6]|td|th)(\s[^>]*)?></\1>")
_LIST_ITEM = re.compile(r"(?:([-+*])|\d{1,9}([.)]))(?:[ \t]|$)")
_TASK_CHECKED = re.compile(r'<input class="task-list-item-checkbox" checked="checked"[^>]*>')
_TASK_OPEN = re.compile(r'<input class="task-list-item-checkbox"[^>]*>')


def math_key(latex: str, display: bool) -> str:
    return hashlib.sha1(f"{int(display)}:{latex}".encode()).hexdigest()[:16]


@dataclass
class RenderResult:
    html: str
    math: dict[str, tuple[str, bool]] = field(default_factory=dict)  # key → (latex, display)
    code: list[str] = field(default_factory=list)
    code_base: int = 0  # the first code block's copy link is ``copy:<code_base>``


class _Renderer:
    """One configured markdown-it; what a render collects lives in its ``env`` (thread-safe)."""

    def __init__(self, dark: bool) -> None:
        self.md = (
            MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
            .enable(["table", "strikethrough"])
            # Reference definitions act on links above them: a streamed answer could not
            # show its finished paragraphs as they will finally look. Shown as text instead.
            .disable("reference")
            .use(dollarmath_plugin, allow_space=True, double_inline=True)
            .use(latex_delimiters_plugin)
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

    def _fence(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        code = token.content
        lang = (token.info or "").strip().split(" ")[0]
        try:
            lexer = get_lexer_by_name(lang) if lang else TextLexer()
        except ClassNotFound:
            lexer = TextLexer()
        # Without its last newline, and never empty: Qt drops an empty <pre>, and then the
        # blocks after the table come out differently whether rendered with it or apart.
        body = str(highlight(code, lexer, self.formatter)).removesuffix("\n") or "&nbsp;"
        result: RenderResult = env["result"]
        n = result.code_base + len(result.code)
        result.code.append(code)
        label = html.escape(lang) if lang else "code"
        return (
            f'<table width="100%" cellspacing="0" cellpadding="6" style="background:{self.code_bg};">'
            f'<tr><td><span style="color:#888;">{label}</span> · <a href="copy:{n}">Copy</a>'
            f'<pre style="margin:0;">{body}</pre></td></tr></table>'
        )

    def _math(self, latex: str, display: bool, env: EnvType) -> str:
        key = math_key(latex, display)
        env["result"].math[key] = (latex, display)
        alt = html.escape(latex, quote=True)
        img = f'<img src="math:{key}" alt="{alt}" title="{alt}">'
        return f'<p align="center">{img}</p>' if display else img

    def _math_inline(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        return self._math(tokens[idx].content, False, env)

    def _math_block(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        return self._math(tokens[idx].content.strip(), True, env)

    def _image(self, tokens: list[Token], idx: int, o: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        src = html.escape(str(token.attrs.get("src", "")), quote=True)
        alt = html.escape(token.content or "image")
        return f'<a href="{src}">[image: {alt}]</a>'

    def render(self, text: str, code_base: int) -> RenderResult:
        result = RenderResult("", code_base=code_base)
        out = self.md.render(text, {"result": result})
        # QTextDocument shows no form controls: task list boxes become characters.
        out = _TASK_OPEN.sub("☐", _TASK_CHECKED.sub("☑", out))
        out = out.replace("<table>", '<table border="1" cellspacing="0" cellpadding="4">')
        # An empty block (list item, heading, cell), like an empty <pre>, is dropped or kept
        # by Qt depending on what follows: given a space, it reads the same however the
        # answer was cut into blocks.
        out = _EMPTY_BLOCK.sub(r"<\1\2>&nbsp;</\1>", out)
        # The line breaks markdown-it puts after blocks: Qt may read one as a space at the end
        # of the block before (a display formula inside a paragraph nests a <p>).
        out = _BLOCK_END_NEWLINE.sub(r"\1", out)
        result.html = out
        return result

    def starts_top_level_block(self, text: str, line: int) -> bool:
        """Whether line ``line`` of ``text`` opens a block of its own (not inside the one above)."""
        return any(t.level == 0 and t.map and t.map[0] == line for t in self.md.parse(text))


_RENDERERS: dict[bool, _Renderer] = {}


def _renderer(dark: bool) -> _Renderer:
    renderer = _RENDERERS.get(dark)
    if renderer is None:
        renderer = _RENDERERS[dark] = _Renderer(dark)
    return renderer


def render_markdown(text: str, *, dark: bool = False, code_base: int = 0) -> RenderResult:
    """Render a whole Markdown text; its code blocks' copy links count from ``code_base``."""
    return _renderer(dark).render(text, code_base)


def stable_prefix_end(text: str, start: int = 0) -> int:
    """End of the text's finished blocks: what comes after can no longer change them."""
    stream = StreamingMarkdown()
    stream.feed(text[start:])
    return start + stream.done_upto


def list_marker(line: str) -> str:
    """The kind of list item ``line`` starts ("-", "*", "+", "." or ")"), or ""."""
    item = _LIST_ITEM.match(line)
    return (item.group(1) or item.group(2)) if item else ""


class _BlockScanner:
    """Cheap per-line view of where a blank line may end the blocks above it: outside code
    fences and ``$$`` math. A guess on the safe side; markdown-it confirms each split."""

    def __init__(self) -> None:
        self.fence = ""  # the open fence's marker
        self.math = False
        self.after_blank = False
        self.open_list = ""  # the marker of a list known to go on ("-", "*", "+", ".", ")")

    def could_split_before(self, line: str, complete: bool) -> bool:
        """May a new top-level block start at ``line`` (all of it, or its start so far)?"""
        if not (self.after_blank and line and not self.fence and not self.math):
            return False
        # Indented: a list item's continuation or indented code. A list marker (or what may
        # yet become one): the list above may go on. Lines that start otherwise open a block.
        first = line[0]
        if not complete:
            return first not in " \t-+*0123456789"
        return first not in " \t" and not (self.open_list and list_marker(line) == self.open_list)

    def feed(self, line: str) -> None:
        """A complete line (without its newline)."""
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if self.fence:
            if (
                indent <= 3
                and stripped.startswith(self.fence)
                and not stripped.strip(self.fence[0])
            ):
                self.fence = ""
        elif self.math:
            self.math = not stripped.endswith("$$")
        elif (opened := _FENCE_OPEN.match(line)) is not None:
            if not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
                self.fence = opened.group(1)
        elif indent <= 3 and stripped.startswith("$$"):
            # As dollarmath reads it: "$$…$$" on one line is whole; "$$ a $$ b" is no block.
            self.math = not (
                len(stripped) > 3 and (stripped.endswith("$$") or "$$" in stripped[2:])
            )
        self.after_blank = not stripped


class StreamingMarkdown:
    """Splits a growing answer into finished blocks (rendered once) and the open tail.

    A split falls before a line that opens a new top-level block after a blank line, so the
    finished part renders exactly as it will in the whole answer, and the work per piece stays
    proportional to the piece (lines are scanned once; markdown-it checks each split once).
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.done_upto = 0  # the text up to here has been handed out as finished blocks
        self._open: list[str] = []  # complete lines after done_upto, with their newlines
        self._line: list[str] = []  # the line being written (no newline yet)
        self._line_checked = False  # its start has been judged (split before it, or not)
        self._scanner = _BlockScanner()
        self._cr = False  # a carriage return held back: CR LF may arrive in two pieces

    @property
    def text(self) -> str:
        return "".join(self._parts) + ("\n" if self._cr else "")

    @property
    def tail(self) -> str:
        """The open part: text after the finished blocks."""
        return "".join(self._open) + "".join(self._line)

    def append(self, piece: str) -> tuple[str, str]:
        """Add streamed text; returns (newly finished blocks, the open tail)."""
        finished, _added = self.feed(piece)
        return finished, self.tail

    def feed(self, piece: str) -> tuple[str, str]:
        """Add streamed text; returns (newly finished blocks, the text added to the tail).

        Line ends become newlines, as markdown-it reads them ("\\r\\n" may come split over
        two pieces). When blocks finish, the whole tail (:attr:`tail`) is new; otherwise the
        tail grew by the second value."""
        if self._cr:
            piece = "\r" + piece
        self._cr = piece.endswith("\r")
        if self._cr:
            piece = piece[:-1]
        piece = piece.replace("\r\n", "\n").replace("\r", "\n")
        if not piece:
            return "", ""
        self._parts.append(piece)
        finished: list[str] = []
        *lines, last = piece.split("\n")
        for segment in lines:
            self._line.append(segment)
            line = "".join(self._line)
            self._line = []
            if not self._line_checked:
                finished.append(self._split_before(line, complete=True))
            self._line_checked = False
            self._scanner.feed(line)
            self._open.append(line + "\n")
        if last:
            self._line.append(last)
            if not self._line_checked:
                start = "".join(self._line) if len(self._line) == 1 else self._line_start()
                finished.append(self._split_before(start, complete=False))
        return "".join(finished), piece

    def _line_start(self) -> str:
        out = ""
        for part in self._line:
            out += part
            if len(out) >= 64:
                break
        return out

    def _split_before(self, line: str, complete: bool) -> str:
        """Finish the open lines if a new top-level block starts at ``line``."""
        if not self._scanner.could_split_before(line, complete):
            return ""
        self._line_checked = True
        head = "".join(self._open)
        # A list item that goes on the list above: later items of its kind will too, so they
        # are not parsed again (a long list costs one check, not one per item).
        self._scanner.open_list = list_marker(line)
        if not _renderer(False).starts_top_level_block(head + line[:64], len(self._open)):
            return ""
        self.done_upto += len(head)
        self._open = []
        return head

    def finish(self) -> str:
        """The rest of the text, once the stream has ended."""
        rest = self.tail + ("\n" if self._cr else "")
        self._cr = False
        self.done_upto += len(rest)
        self._open, self._line = [], []
        return rest
