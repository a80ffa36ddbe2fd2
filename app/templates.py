"""Render chat templates (Jinja) safely.

A chat template comes from a model file's metadata or from a file the user picked: it is
untrusted code. CVE-2024-34359 was remote code execution through a GGUF template rendered
with a plain Jinja environment, so templates here are only ever compiled by an
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`, set up as Hugging Face
transformers sets up its own (``trim_blocks``, ``lstrip_blocks``, ``loopcontrols``, a
``tojson`` that does not escape HTML, ``raise_exception`` and ``strftime_now``).

On top of the sandbox, a hostile template is kept from hanging or exhausting the process:

* ``range()`` is limited by the sandbox to :data:`jinja2.sandbox.MAX_RANGE` items;
* ``*`` and ``**`` refuse to build huge strings, lists or numbers (which would otherwise
  run inside one C call that nothing can interrupt, even at compile time);
* the rendered text is capped (:data:`MAX_OUTPUT_CHARS`);
* a render that runs past :data:`RENDER_TIMEOUT_S` stops at its next output, call or
  attribute access.

A template built only of empty nested loops over large lists can still burn CPU without
reaching any of those checkpoints; rendering happens in the engine worker, which the app can
restart.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.parser import Parser
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.errors import TemplateError

MAX_TEMPLATE_BYTES = 1024 * 1024
"""Largest template accepted (real ones are a few KB; gpt-oss's is 17 KB)."""

MAX_OUTPUT_CHARS = 4 * 1024 * 1024
"""Largest rendered prompt, in characters (far beyond any context window)."""

RENDER_TIMEOUT_S = 5.0
"""Wall-clock limit for one render (real templates take milliseconds)."""

_MAX_POWER_BITS = 4096
"""``a ** b`` may not produce an integer of more bits than this."""

CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)
"""ChatML, the fallback for a model whose file carries no chat template."""

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "ponder_template_deadline", default=None
)


class _RenderLimitError(Exception):
    """A render hit one of the limits above."""


def _check_deadline() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise _RenderLimitError("it ran too long")


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """``tojson`` as transformers defines it: plain JSON, no HTML escaping."""
    return json.dumps(
        value,
        ensure_ascii=ensure_ascii,
        indent=indent,
        separators=separators,
        sort_keys=sort_keys,
    )


def _raise_exception(message: object) -> None:
    raise TemplateError(str(message))


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(str(fmt))


class _GenerationTag(Extension):
    """Accepts transformers' ``{% generation %}…{% endgeneration %}`` and renders the body.

    (transformers uses the tag to mark assistant tokens for training masks.)
    """

    tags = {"generation"}  # noqa: RUF012 (the base class declares it as a plain set)

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus size and time limits (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        return super().call_binop(context, operator, left, right)

    def call(
        __self,  # noqa: N805 (jinja's signature)
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_deadline()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # The stock sandbox returns an Undefined that only fails when used further; a
        # template that reaches for internals is hostile or broken, so stop right here.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


def _check_power(left: Any, right: Any) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and abs(left) > 1
        and right * abs(left).bit_length() > _MAX_POWER_BITS
    ):
        raise SecurityError("the result of ** would be too large")


def _check_repeat(seq: Any, count: Any) -> None:
    if (
        isinstance(seq, str | list | tuple)
        and isinstance(count, int)
        and len(seq) * count > MAX_OUTPUT_CHARS
    ):
        raise SecurityError("the result of * would be too large")


def _make_environment() -> _GuardedEnvironment:
    env = _GuardedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", _GenerationTag],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


_ENVIRONMENT = _make_environment()


class ChatTemplate:
    """A chat template, compiled once in the sandbox, rendered per request.

    Attributes:
        source: the template text as given.
        fingerprint: SHA-256 (hex) of ``source``, to recognise a template again.
    """

    __slots__ = ("_max_output_chars", "_template", "_timeout_s", "fingerprint", "source")

    def __init__(
        self,
        source: str,
        *,
        timeout_s: float = RENDER_TIMEOUT_S,
        max_output_chars: int = MAX_OUTPUT_CHARS,
    ) -> None:
        """Compile ``source``.

        Raises:
            TemplateError: the template is empty, too large or not valid Jinja.
        """
        if not isinstance(source, str):
            raise TemplateError("chat template must be text")
        if not source.strip():
            raise TemplateError("chat template is empty")
        if len(source.encode("utf-8", "surrogatepass")) > MAX_TEMPLATE_BYTES:
            raise TemplateError(
                f"chat template is too large (more than {MAX_TEMPLATE_BYTES // 1024} KB)"
            )
        self.source = source
        self.fingerprint = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        self._timeout_s = timeout_s
        self._max_output_chars = max_output_chars
        try:
            self._template = _ENVIRONMENT.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"chat template has a syntax error on line {exc.lineno}: {exc.message}"
            ) from exc
        except Exception as exc:  # anything else the compiler trips on
            raise TemplateError(f"chat template could not be compiled: {exc}") from exc

    def __repr__(self) -> str:
        return f"ChatTemplate(fingerprint={self.fingerprint[:12]}…)"

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        add_generation_prompt: bool = True,
        bos_token: str = "",
        eos_token: str = "",
        **kwargs: Any,
    ) -> str:
        """Render the conversation to prompt text.

        Args:
            messages: ``{"role": ..., "content": ..., ...}`` mappings, oldest first.
            add_generation_prompt: end with the header of a new assistant turn.
            bos_token: the model's BOS text (most templates emit it themselves).
            eos_token: the model's EOS text.
            **kwargs: extra template variables (``enable_thinking``, ``reasoning_effort``…).

        Raises:
            TemplateError: the template raised, failed, or hit a size or time limit.
        """
        context: dict[str, Any] = dict(kwargs)
        context.update(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        )
        token = _deadline.set(time.monotonic() + self._timeout_s)
        try:
            pieces: list[str] = []
            size = 0
            for piece in self._template.generate(context):
                size += len(piece)
                if size > self._max_output_chars:
                    raise _RenderLimitError(
                        f"its output exceeds {self._max_output_chars // (1024 * 1024)} MB"
                    )
                _check_deadline()
                pieces.append(piece)
            return "".join(pieces)
        except _RenderLimitError as exc:
            raise TemplateError(f"chat template was stopped: {exc}") from None
        except Exception as exc:
            raise TemplateError(f"chat template failed to render: {exc}") from exc
        finally:
            _deadline.reset(token)


def load_template_file(path: str | os.PathLike[str]) -> str:
    """Read a chat template the user chose (a ``.jinja`` or plain text file).

    Raises:
        TemplateError: the file is missing, unreadable, too large, empty or not UTF-8.
    """
    name = os.fspath(path)
    try:
        size = os.stat(name).st_size
    except FileNotFoundError:
        raise TemplateError(f"chat template file not found: {name}") from None
    except OSError as exc:
        raise TemplateError(f"cannot read chat template file {name}: {exc.strerror}") from None
    if os.path.isdir(name):
        raise TemplateError(f"chat template path is a folder, not a file: {name}")
    if size > MAX_TEMPLATE_BYTES:
        raise TemplateError(
            f"chat template file is too large ({size} bytes; at most "
            f"{MAX_TEMPLATE_BYTES // 1024} KB): {name}"
        )
    try:
        with open(name, "rb") as fh:
            data = fh.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(f"cannot read chat template file {name}: {exc.strerror}") from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"chat template file is too large: {name}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TemplateError(f"chat template file is not UTF-8 text: {name}") from None
    if not text.strip():
        raise TemplateError(f"chat template file is empty: {name}")
    return text
