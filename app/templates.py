"""Chat templates: untrusted code, compiled and rendered only in a limited process.

A chat template comes from a model file's metadata or from a file the user picked: it is
untrusted code. CVE-2024-34359 was remote code execution through a GGUF template rendered
with a plain Jinja environment; one-line templates can also ask for gigabytes
(``'%0999999999d' % 1``, ``'x'|center(2000000000)``, even at compile time, where Jinja folds
constant expressions) or loop for minutes inside a single C call. So templates are never
compiled in this process: :class:`ChatTemplate` hands them to the renderer process of
:mod:`app.template_sandbox`, which is held from the outside to

* :data:`~app.template_sandbox.DEFAULT_MEMORY_LIMIT` of memory (an address-space limit set
  before any template is read; psutil's view of its memory where the OS does not enforce it);
* a deadline: a request still running :data:`RENDER_TIMEOUT_S` (plus a short grace) after it
  started kills the renderer, whatever the template is doing;
* Stop: a render the caller cancels kills the renderer at once.

Inside the renderer (:mod:`app.template_renderer`) the templates run in an
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` set up as Hugging Face transformers
sets up its own, with cheap checks that name the problem before a hard limit is reached:
``range()`` is limited, ``*`` and ``**`` refuse huge results, the output is capped
(:data:`MAX_OUTPUT_CHARS`). Every failure is a :class:`~app.errors.TemplateError` whose
message names the template (its ``origin``) and what went wrong.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.errors import TemplateError
from app.template_sandbox import (
    RenderCancelled,
    SandboxError,
    TemplateSandbox,
    default_sandbox,
)

__all__ = [
    "CHATML_TEMPLATE",
    "MAX_OUTPUT_CHARS",
    "MAX_TEMPLATE_BYTES",
    "RENDER_TIMEOUT_S",
    "ChatTemplate",
    "RenderCancelled",
    "TemplateSource",
    "choose_template",
    "load_template_file",
]

MAX_TEMPLATE_BYTES = 1024 * 1024
"""Largest template accepted (real ones are a few KB; gpt-oss's is 17 KB)."""

MAX_OUTPUT_CHARS = 4 * 1024 * 1024
"""Largest rendered prompt, in characters (far beyond any context window)."""

RENDER_TIMEOUT_S = 5.0
"""Wall-clock limit for compiling or rendering once (real templates take milliseconds)."""

CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)
"""ChatML, the fallback for a model whose file carries no chat template."""


class ChatTemplate:
    """A chat template, compiled once in the renderer process, rendered per request.

    Attributes:
        source: the template text as given.
        fingerprint: SHA-256 (hex) of ``source``, to recognise a template again.
        origin: where it came from, as error messages name it ("from the file x.jinja",
            "of model.gguf"); empty when unknown.
    """

    __slots__ = (
        "_max_output_chars",
        "_sandbox",
        "_timeout_s",
        "fingerprint",
        "origin",
        "source",
    )

    def __init__(
        self,
        source: str,
        *,
        origin: str = "",
        timeout_s: float = RENDER_TIMEOUT_S,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        sandbox: TemplateSandbox | None = None,
    ) -> None:
        """Compile ``source`` (in the renderer process).

        Raises:
            TemplateError: the template is empty, too large, not valid Jinja, or hit a
                memory or time limit while compiling.
        """
        self.origin = origin
        if not isinstance(source, str):
            raise TemplateError(self._message("must be text"))
        if not source.strip():
            raise TemplateError(self._message("is empty"))
        if len(source.encode("utf-8", "surrogatepass")) > MAX_TEMPLATE_BYTES:
            raise TemplateError(
                self._message(f"is too large (more than {MAX_TEMPLATE_BYTES // 1024} KB)")
            )
        self.source = source
        self.fingerprint = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        self._timeout_s = timeout_s
        self._max_output_chars = max_output_chars
        self._sandbox = sandbox or default_sandbox()
        try:
            self._sandbox.compile(self.fingerprint, source, timeout_s)
        except SandboxError as exc:
            raise TemplateError(self._message(str(exc))) from None

    def __repr__(self) -> str:
        return f"ChatTemplate(fingerprint={self.fingerprint[:12]}…)"

    def _message(self, tail: str) -> str:
        where = f" {self.origin}" if self.origin else ""
        return f"chat template{where} {tail}"

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        add_generation_prompt: bool = True,
        bos_token: str = "",
        eos_token: str = "",
        cancelled: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> str:
        """Render the conversation to prompt text.

        Args:
            messages: ``{"role": ..., "content": ..., ...}`` mappings, oldest first.
            add_generation_prompt: end with the header of a new assistant turn.
            bos_token: the model's BOS text (most templates emit it themselves).
            eos_token: the model's EOS text.
            cancelled: polled while the template renders; when it returns True the render
                is stopped (the renderer process is killed) and :class:`RenderCancelled`
                raised.
            **kwargs: extra template variables (``enable_thinking``, ``reasoning_effort``…).

        Raises:
            TemplateError: the template raised, failed, or hit a size, memory or time limit.
            RenderCancelled: ``cancelled()`` became true during the render.
        """
        context: dict[str, Any] = dict(kwargs)
        context.update(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        )
        try:
            return self._sandbox.render(
                self.fingerprint,
                self.source,
                context,
                timeout_s=self._timeout_s,
                max_output_chars=self._max_output_chars,
                cancelled=cancelled,
            )
        except SandboxError as exc:
            raise TemplateError(self._message(str(exc))) from None


class TemplateSource(enum.StrEnum):
    """Where the chat template a model is used with came from (the value is what
    ``ModelInfo.to_dict()`` says)."""

    MODEL = "model"  # the model file's own
    OVERRIDE = "override"  # one the user chose
    FALLBACK = "fallback"  # ChatML: the model has none that works
    REMOTE = "remote"  # the server applies its own


def choose_template(
    model_template: str | None,
    override: str | None,
    *,
    model_name: str,
    override_name: str | None = None,
) -> tuple[ChatTemplate, TemplateSource]:
    """The template a model is used with, and where it came from.

    The user's ``override`` wins (and must compile); otherwise the model's own template; a
    model without one, or with one that does not compile or hits a limit, gets ChatML.

    Raises:
        TemplateError: the override does not compile; the message names its file.
    """
    if override is not None:
        origin = f"from {override_name}" if override_name else "override"
        return ChatTemplate(override, origin=origin), TemplateSource.OVERRIDE
    if model_template:
        try:
            return ChatTemplate(model_template, origin=f"of {model_name}"), TemplateSource.MODEL
        except TemplateError:
            pass  # a broken template in the file: fall back rather than refuse the model
    return ChatTemplate(CHATML_TEMPLATE, origin="ChatML (the fallback)"), TemplateSource.FALLBACK


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
