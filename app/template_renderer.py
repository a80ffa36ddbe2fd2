"""The template renderer process: compiles and renders chat templates, nothing else.

Chat templates are untrusted code (see :mod:`app.templates`). They are compiled and rendered
only here, in a small process started by :mod:`app.template_sandbox`, which limits it from
the outside: an address-space limit (``RLIMIT_AS``, set first thing, before any template is
read), a deadline after which the parent kills it, and a watch on its memory by the parent
where that limit is not enforced. A template that allocates gigabytes — even at compile time,
where Jinja folds constant expressions — or loops for minutes costs this process, never the
app or the engine.

Inside, templates are compiled by an :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`
set up as Hugging Face transformers sets up its own (``trim_blocks``, ``lstrip_blocks``,
``loopcontrols``, a ``tojson`` that does not escape HTML, ``raise_exception`` and
``strftime_now``), with cheap checks that give a precise message before the hard limits are
reached: ``range()`` is limited by the sandbox; ``*`` and ``**`` refuse huge results; the
output is capped; a render past its time limit stops at its next output, call or attribute
access.

Protocol (stdin/stdout): each request is a frame (8-byte little-endian length, then a pickle
of a dict written by the parent); each reply a frame of UTF-8 JSON, so the parent never
unpickles what this process wrote. Replies: ``{"ok": true}``, ``{"text": ...}``,
``{"unknown": true}`` (a render of a template this process has not compiled) or
``{"error": ...}`` (the message after "chat template").
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import pickle
import signal
import sys
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.parser import Parser
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.template_sandbox import DEFAULT_MEMORY_LIMIT, NO_RLIMIT_ARG, read_frame, write_frame

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Largest request accepted (a template of at most 1 MB and the conversation)."""

_MAX_POWER_BITS = 4096
"""``a ** b`` may not produce an integer of more bits than this."""

_CACHED_TEMPLATES = 16
"""Compiled templates kept (least recently used dropped first)."""

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "ponder_template_deadline", default=None
)
_max_output: contextvars.ContextVar[int] = contextvars.ContextVar(
    "ponder_template_max_output", default=4 * 1024 * 1024
)


class _RenderLimitError(Exception):
    """A render hit one of the cooperative limits."""


class _TemplateRaisedError(Exception):
    """The template called ``raise_exception``."""


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
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _raise_exception(message: object) -> None:
    raise _TemplateRaisedError(str(message))


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
    """The immutable sandbox, plus size and time checks (see the module docstring)."""

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
        and len(seq) * count > _max_output.get()
    ):
        raise SecurityError("the result of * would be too large")


def make_environment() -> jinja2.Environment:
    """The sandboxed environment every template is compiled in."""
    env = _GuardedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", _GenerationTag],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def _megabytes(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB"


class Renderer:
    """Compiles templates (kept by fingerprint) and renders them, with the cheap checks.

    Every method returns the reply to send; nothing raises for a template's sake.
    """

    def __init__(self, memory_limit: int) -> None:
        self._env = make_environment()
        self._templates: OrderedDict[str, jinja2.Template] = OrderedDict()
        self._memory_limit = memory_limit

    def _too_big(self) -> str:
        return f"it needs more than the {_megabytes(self._memory_limit)} of memory it may use"

    def compile(self, fingerprint: str, source: str, timeout_s: float) -> dict[str, Any]:
        if fingerprint in self._templates:
            self._templates.move_to_end(fingerprint)
            return {"ok": True}
        token = _deadline.set(time.monotonic() + timeout_s)
        try:
            template = self._env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            return {"error": f"has a syntax error on line {exc.lineno}: {exc.message}"}
        except MemoryError:
            return {"error": f"could not be compiled: {self._too_big()}"}
        except _RenderLimitError as exc:
            return {"error": f"could not be compiled: {exc}"}
        except Exception as exc:  # anything else the compiler trips on
            return {"error": f"could not be compiled: {exc}"}
        finally:
            _deadline.reset(token)
        self._templates[fingerprint] = template
        while len(self._templates) > _CACHED_TEMPLATES:
            self._templates.popitem(last=False)
        return {"ok": True}

    def render(
        self, fingerprint: str, context: dict[str, Any], timeout_s: float, max_output_chars: int
    ) -> dict[str, Any]:
        template = self._templates.get(fingerprint)
        if template is None:
            return {"unknown": True}
        self._templates.move_to_end(fingerprint)
        deadline = _deadline.set(time.monotonic() + timeout_s)
        cap = _max_output.set(max_output_chars)
        try:
            pieces: list[str] = []
            size = 0
            for piece in template.generate(context):
                size += len(piece)
                if size > max_output_chars:
                    raise _RenderLimitError(f"its output exceeds {_megabytes(max_output_chars)}")
                _check_deadline()
                pieces.append(piece)
            return {"text": "".join(pieces)}
        except MemoryError:
            return {"error": f"was stopped: {self._too_big()}"}
        except _RenderLimitError as exc:
            return {"error": f"was stopped: {exc}"}
        except Exception as exc:
            return {"error": f"failed to render: {exc}"}
        finally:
            _max_output.reset(cap)
            _deadline.reset(deadline)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "compile":
            return self.compile(request["fingerprint"], request["source"], request["timeout_s"])
        if op == "render":
            return self.render(
                request["fingerprint"],
                request["context"],
                request["timeout_s"],
                request["max_output_chars"],
            )
        return {"error": f"failed: the renderer does not know the request {op!r}"}


# --- the process -----------------------------------------------------------------------------


def limit_address_space(limit: int) -> bool:
    """Cap this process's address space at ``limit`` bytes; False where the OS cannot."""
    try:
        import resource
    except ImportError:  # Windows: the parent watches the memory instead
        return False
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        return False
    return True


def _watch_parent() -> None:
    """End this process when its parent is gone (even in the middle of a render)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Serve requests on stdin/stdout until stdin closes.

    ``argv``: the memory limit in bytes, then optionally :data:`NO_RLIMIT_ARG`.
    """
    args = sys.argv[1:] if argv is None else argv
    memory_limit = int(args[0]) if args else DEFAULT_MEMORY_LIMIT
    if NO_RLIMIT_ARG not in args:
        limit_address_space(memory_limit)  # before any template is read
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the app
    _watch_parent()
    requests = sys.stdin.buffer
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but replies on the reply channel
    renderer = Renderer(memory_limit)
    while True:
        payload = read_frame(requests, MAX_REQUEST_BYTES)
        if payload is None:
            return 0
        try:
            reply = renderer.handle(pickle.loads(payload))
            data = json.dumps(reply).encode("utf-8")
        except MemoryError:
            data = json.dumps({"error": f"was stopped: {renderer._too_big()}"}).encode()
        with contextlib.suppress(BrokenPipeError):
            write_frame(replies, data)


if __name__ == "__main__":
    sys.exit(main())
