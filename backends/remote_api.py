"""The OpenAI-compatible wire format, as :mod:`backends.remote` speaks it.

URLs (:func:`api_base`), the model listing and what it says about the server
(:func:`list_models`, :class:`ServerKind`), request bodies with thinking control mapped to
what each server understands (:func:`request_body`), streamed chunks (:func:`parse_chunk`),
and messages a user can act on for every HTTP or connection failure. Imports no engine code,
so the CLI can test a connection without a worker.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx2

from app.errors import EngineError, PonderError
from app.families import Family, OffMode
from app.request import GenerationRequest, Role, ThinkMode

if TYPE_CHECKING:
    from app.remote_sources import RemoteSource

CONNECT_TIMEOUT_S = 10.0
#: Longest silence accepted from the server (a long prompt on a slow server is evaluated
#: before the first token arrives).
READ_TIMEOUT_S = 300.0
#: Optional request fields a server may refuse; on a 400 naming one, it is left out.
OPTIONAL_FIELDS = (
    "chat_template_kwargs",
    "reasoning_effort",
    "thinking_budget",
    "top_k",
    "min_p",
    "repeat_penalty",
    "repetition_penalty",
    "seed",
    "stream_options",
)


class ServerKind(enum.Enum):
    """What serves the endpoint, as far as its model listing tells."""

    PONDER = "ponder"
    LLAMA_CPP = "llama.cpp"
    VLLM = "vllm"
    OLLAMA = "ollama"
    GENERIC = "generic"


_OWNERS = {"ponder": ServerKind.PONDER, "llamacpp": ServerKind.LLAMA_CPP, "vllm": ServerKind.VLLM}
_OLLAMA_OWNERS = ("library", "ollama")


@dataclass(frozen=True, slots=True)
class RemoteModel:
    """One model a server lists."""

    id: str
    owned_by: str = ""
    context_length: int | None = None


# -- URLs, errors, listing -------------------------------------------------------------------


def api_base(endpoint: str) -> str:
    """The API root for ``endpoint``: ``http://h:8080`` → ``http://h:8080/v1``; a URL with a
    path (``https://h/api/v1``, ``http://h:11434/v1``) is used as it is.

    Raises:
        EngineError: not an http(s) URL.
    """
    url = endpoint.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EngineError(f"not an http(s) URL: {endpoint!r} (e.g. http://127.0.0.1:8080)")
    return url if parts.path not in ("", "/") else url + "/v1"


def server_message(text: str) -> str:
    """The server's own words from an error body (OpenAI, FastAPI or plain text)."""
    message: Any = text
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            inner = data.get("error", data.get("detail", data.get("message")))
            if isinstance(inner, dict):
                inner = inner.get("message", inner)
            message = inner if inner is not None else text
    words = " ".join(str(message).split())
    return words[:300] + ("…" if len(words) > 300 else "")


def status_message(base: str, status: int, reason: str, body: str, *, model: str = "",
                   has_key: bool = False) -> str:  # fmt: skip
    """A user-facing message for an HTTP error answer."""
    said = server_message(body)
    tail = f": {said}" if said else ""
    code = f"{status} {reason}".strip()
    if status in (401, 403):
        hint = "check the API key" if has_key else "it needs an API key (--api-key)"
        return f"{base} refused the request ({code}): {hint}{tail}"
    if status == 404:
        what = f"the model '{model}' or " if model else ""
        return f"{base}: not found ({code}): {what}the endpoint does not exist there{tail}"
    if status == 429:
        return f"{base} is busy or rate-limited ({code}); try again later{tail}"
    if status >= 500:
        return f"{base} failed ({code}){tail}"
    return f"{base} rejected the request ({code}){tail}"


def transport_message(base: str, err: BaseException, timeout: float) -> str:
    """A user-facing message for a failed connection or read."""
    if isinstance(err, httpx2.ConnectTimeout):
        return f"cannot reach {base}: no answer to the connection within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(err, httpx2.ReadTimeout):
        return f"{base} sent nothing for {timeout:g} s (timed out waiting for the answer)"
    if isinstance(err, httpx2.TimeoutException):
        return f"{base} timed out ({type(err).__name__})"
    if isinstance(err, httpx2.ConnectError):
        why = str(err)
        if "refused" in why.lower():
            return f"cannot reach {base}: connection refused (is the server running?)"
        return f"cannot reach {base}: {why or type(err).__name__}"
    if isinstance(err, httpx2.RemoteProtocolError | httpx2.ReadError):
        return f"{base} closed the connection in the middle of the answer"
    return f"{base}: {type(err).__name__}: {err}"


def auth_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _context_length(card: Mapping[str, Any]) -> int | None:
    """Ponder: ``context_length``; vLLM: ``max_model_len``; llama.cpp: ``meta.n_ctx_train``."""
    meta = card.get("meta")
    meta_ctx = meta.get("n_ctx_train") if isinstance(meta, Mapping) else None
    for value in (card.get("context_length"), card.get("max_model_len"), meta_ctx):
        if (found := _int_or_none(value)) is not None:
            return found
    return None


def list_models(
    endpoint: str, api_key: str | None = None, *, timeout: float = CONNECT_TIMEOUT_S
) -> tuple[ServerKind, list[RemoteModel]]:
    """The server's kind and its models (``GET /v1/models``).

    Raises:
        EngineError: the server cannot be reached or refuses (the message says why).
    """
    base = api_base(endpoint)
    try:
        with httpx2.Client(timeout=timeout, headers=auth_headers(api_key)) as client:
            response = client.get(base + "/models")
    except httpx2.HTTPError as err:
        raise EngineError(transport_message(base, err, timeout)) from None
    if response.status_code >= 400:
        raise EngineError(
            status_message(
                base, response.status_code, response.reason_phrase, response.text,
                has_key=bool(api_key),
            )
        )  # fmt: skip
    try:
        data = response.json()
        cards = data["data"] if isinstance(data, dict) else data
        if not isinstance(cards, list):
            raise TypeError("no list of models")
        models = [
            RemoteModel(str(c["id"]), str(c.get("owned_by") or ""), _context_length(c))
            for c in cards
            if isinstance(c, dict) and "id" in c
        ]
    except (ValueError, KeyError, TypeError) as err:
        raise EngineError(f"{base}/models did not answer with a model list ({err})") from None
    owners = {m.owned_by.lower() for m in models}
    kind = ServerKind.GENERIC
    for owner, known in _OWNERS.items():
        if owner in owners:
            kind = known
    if kind is ServerKind.GENERIC and owners & set(_OLLAMA_OWNERS):
        kind = ServerKind.OLLAMA
    if "llama.cpp" in response.headers.get("server", "").lower():
        kind = ServerKind.LLAMA_CPP
    return kind, models


# -- the request body ----------------------------------------------------------------------


def check_connection(
    source: RemoteSource, api_key: str | None = None
) -> tuple[ServerKind, list[RemoteModel]]:
    """Connect to a remote source the user added and list its models (``GET /v1/models``);
    ``api_key``, when given, is used instead of the source's own.

    Raises:
        PonderError: its key's variable is unset, its keyring cannot be read, or the server
            cannot be reached or refuses (the message says which: refused, timeout, 401…).
    """
    key = api_key if api_key is not None else source.api_key()
    if source.api_key_env and key is None:
        raise PonderError(f"${source.api_key_env} is not set")
    return list_models(source.url, key)


def request_body(
    request: GenerationRequest, model: str, kind: ServerKind, family: Family
) -> tuple[dict[str, Any], list[str]]:
    """The ``/chat/completions`` body for ``request``, and warnings about what it cannot ask."""
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": Role.SYSTEM.value, "content": request.system_prompt})
    for m in request.messages:
        item: dict[str, Any] = {"role": m.role.value, "content": m.content}
        if m.role is Role.ASSISTANT and m.reasoning and kind is ServerKind.PONDER:
            item["reasoning_content"] = m.reasoning  # Ponder applies the family's policy
        messages.append(item)
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    s = request.sampling
    for key, value in (("temperature", s.temperature), ("top_p", s.top_p), ("top_k", s.top_k),
                       ("min_p", s.min_p), ("seed", request.seed),
                       ("max_tokens", request.max_tokens)):  # fmt: skip
        if value is not None:
            body[key] = value
    warnings: list[str] = []
    if s.repeat_penalty is not None:
        if kind is ServerKind.VLLM:
            body["repetition_penalty"] = s.repeat_penalty
        else:
            body["repeat_penalty"] = s.repeat_penalty
    fields, more = thinking_fields(request, kind, family)
    body.update(fields)
    return body, warnings + more


def thinking_fields(
    request: GenerationRequest, kind: ServerKind, family: Family
) -> tuple[dict[str, Any], list[str]]:
    """Thinking control as the server understands it, and what it cannot apply."""
    thinking = request.thinking
    body: dict[str, Any] = {}
    warnings: list[str] = []
    kwargs: dict[str, Any] = dict(request.template_kwargs)
    mode = thinking.mode
    if kind is ServerKind.PONDER:  # Ponder applies each family's own way of doing it
        if mode is not ThinkMode.AUTO:
            kwargs["enable_thinking"] = mode is ThinkMode.ON
    elif mode is ThinkMode.OFF:
        if kind is ServerKind.OLLAMA:
            body["reasoning_effort"] = "none"
        elif family.off_mode is OffMode.LOW_EFFORT:
            body["reasoning_effort"] = "low"
            warnings.append(f"{family.display_name} cannot stop reasoning; asked for low effort")
        else:
            kwargs["enable_thinking"] = False
            if family.reasons and family.off_mode is not OffMode.TEMPLATE_KWARG:
                warnings.append(
                    f"turning reasoning off is not available for {family.display_name} on "
                    "this server (it was asked with enable_thinking=false; the model may "
                    "reason anyway)"
                )
    elif mode is ThinkMode.ON and kind is not ServerKind.OLLAMA:
        kwargs["enable_thinking"] = True
    if thinking.effort is not None and "reasoning_effort" not in body:
        body["reasoning_effort"] = thinking.effort.value
    if thinking.budget is not None:
        if kind is ServerKind.PONDER:
            body["thinking_budget"] = thinking.budget
        else:
            warnings.append(
                "a thinking budget is not available on this server: the reasoning is not "
                "capped (max tokens still apply)"
            )
    if thinking.min_tokens:
        warnings.append("think longer is not available for a remote model")
    if kwargs:
        if kind is ServerKind.OLLAMA:
            warnings.append(
                "this server takes no chat template settings: "
                + ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
                + " left out"
            )
        else:
            body["chat_template_kwargs"] = kwargs
    return body, warnings


class MalformedChunkError(Exception):
    """A chunk that is not the JSON an OpenAI-compatible server sends."""


def _text_field(delta: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = delta.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise MalformedChunkError(f"'{name}' is not text")
        if value:
            return value
    return ""


def parse_chunk(data: str) -> tuple[str, str, str | None, dict[str, Any] | None, str | None]:
    """``(reasoning, content, finish_reason, usage, error)`` of one chunk (or whole answer)."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise MalformedChunkError("not JSON") from None
    if not isinstance(obj, dict):
        raise MalformedChunkError("not a JSON object")
    if obj.get("error") is not None:
        return "", "", None, None, server_message(json.dumps(obj)) or "unknown error"
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else None
    choices = obj.get("choices")
    if choices is None:
        choices = []
    if not isinstance(choices, list):
        raise MalformedChunkError("'choices' is not a list")
    if not choices:
        return "", "", None, usage, None
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedChunkError("a choice is not an object")
    delta = choice.get("delta", choice.get("message")) or {}
    if not isinstance(delta, dict):
        raise MalformedChunkError("'delta' is not an object")
    reasoning = _text_field(delta, "reasoning_content", "reasoning")
    content = _text_field(delta, "content")
    finish = choice.get("finish_reason")
    return reasoning, content, str(finish) if finish else None, usage, None


def usage_int(usage: Mapping[str, Any] | None, *path: str) -> int | None:
    value: Any = usage
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
