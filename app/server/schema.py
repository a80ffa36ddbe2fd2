"""The body of ``POST /v1/chat/completions``: validation, and the engine request it becomes.

Validation is strict (a string where a number belongs is an error, not a conversion) and
every limit is explicit, so bad input is a 400 with the offending parameter named, never a
500. Unknown fields are ignored, as most OpenAI-compatible servers do; a few that would
silently change the meaning of the answer (``n`` > 1, ``tools``, ``logprobs``) are refused.

Sampling fields the request leaves out are passed on as ``None``: the engine then applies
the model family's preset.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.request import (
    ChatMessage,
    Effort,
    GenerationRequest,
    Role,
    Sampling,
    ThinkingControl,
    ThinkMode,
)
from app.server.errors import ApiError

#: Largest ``max_tokens`` / ``thinking_budget`` accepted; beyond any real context window.
MAX_TOKENS_LIMIT = 1 << 20
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 256
MAX_MESSAGES = 10_000
_SEED_BITS = 32
#: OpenAI's effort names onto Ponder's three ("none" turns thinking off instead).
_EFFORTS = {
    "minimal": Effort.LOW,
    "low": Effort.LOW,
    "medium": Effort.MEDIUM,
    "high": Effort.HIGH,
    "xhigh": Effort.HIGH,
    "max": Effort.HIGH,
}


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


class ContentPart(_Strict):
    """One part of a message's content; only text parts are supported."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)

    type: str
    text: str | None = None


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None  # the name newer vLLM uses
    name: str | None = None


class StreamOptions(_Strict):
    include_usage: bool | None = None


class ChatCompletionRequest(_Strict):
    """The fields Ponder reads; see the module docstring for the rest."""

    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    model: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0, le=100_000)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    repeat_penalty: float | None = Field(default=None, gt=0.0, le=10.0)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)
    seed: int | None = Field(default=None, ge=-(1 << 63), lt=1 << 63)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = (
        None
    )
    thinking_budget: int | None = Field(default=None, ge=0, le=MAX_TOKENS_LIMIT)
    chat_template_kwargs: dict[str, Any] | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    logprobs: bool | None = None
    # Accepted for compatibility; they do not change the answer.
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    user: str | None = None


def parse_request(raw: bytes) -> ChatCompletionRequest:
    """Parse and validate a request body.

    Raises:
        ApiError: a 400 naming the first problem found.
    """
    try:
        body = ChatCompletionRequest.model_validate_json(raw)
    except ValidationError as err:
        raise _validation_error(err) from None
    _check_semantics(body)
    return body


def _validation_error(err: ValidationError) -> ApiError:
    first = err.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        detail = first["msg"].removeprefix("Invalid JSON: ")
        return ApiError(400, f"The request body is not valid JSON: {detail}", code="invalid_json")
    param = _param_name(first["loc"])
    if first["type"] == "model_type" and not param:
        return ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    what = f"'{param}'" if param else "The request body"
    message = f"Invalid value for {what}: {first['msg']}."
    if first["type"] == "missing":
        message = f"Missing required parameter: '{param}'."
    code = "missing_required_parameter" if first["type"] == "missing" else "invalid_value"
    return ApiError(400, message, param=param or None, code=code)


def _param_name(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "list[ContentPart]", "list[str]", "function-after", "none"):
            continue  # union branch labels, not fields
        else:
            out += f".{part}" if out else str(part)
    return out


def _check_semantics(body: ChatCompletionRequest) -> None:
    if body.tools or body.functions:
        raise ApiError(
            400, "Tools and function calling are not supported by this server.", param="tools"
        )
    if body.logprobs:
        raise ApiError(400, "logprobs are not supported by this server.", param="logprobs")
    if isinstance(body.stop, list) and len(body.stop) > MAX_STOP_SEQUENCES:
        raise ApiError(
            400, f"At most {MAX_STOP_SEQUENCES} stop sequences are allowed.", param="stop"
        )
    for seq in stop_sequences(body):
        if len(seq) > MAX_STOP_CHARS:
            raise ApiError(
                400, f"A stop sequence may be at most {MAX_STOP_CHARS} characters.", param="stop"
            )
    for i, message in enumerate(body.messages):
        if isinstance(message.content, list):
            for j, part in enumerate(message.content):
                if part.type != "text" or part.text is None:
                    raise ApiError(
                        400,
                        f"Only text content is supported; messages[{i}].content[{j}] "
                        f"is {part.type!r}.",
                        param=f"messages[{i}].content[{j}]",
                    )
        if message.content is None and message.role != "assistant":
            raise ApiError(400, f"messages[{i}] has no content.", param=f"messages[{i}].content")
    if not any(m.role == "user" for m in body.messages):
        raise ApiError(
            400, "The messages must include at least one user message.", param="messages"
        )
    kwargs = body.chat_template_kwargs or {}
    if "enable_thinking" in kwargs and not isinstance(kwargs["enable_thinking"], bool):
        raise ApiError(
            400,
            "chat_template_kwargs.enable_thinking must be true or false.",
            param="chat_template_kwargs.enable_thinking",
        )


def stop_sequences(body: ChatCompletionRequest) -> list[str]:
    if body.stop is None:
        return []
    items = [body.stop] if isinstance(body.stop, str) else body.stop
    return [s for s in items if s]


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text or "" for part in content)


def _think_mode(body: ChatCompletionRequest) -> ThinkMode:
    kwargs = body.chat_template_kwargs or {}
    enable = kwargs.get("enable_thinking")
    if isinstance(enable, bool):
        return ThinkMode.ON if enable else ThinkMode.OFF
    if body.reasoning_effort == "none":
        return ThinkMode.OFF
    return ThinkMode.AUTO


def to_generation_request(body: ChatCompletionRequest) -> GenerationRequest:
    """The engine request for a validated body."""
    messages = tuple(
        ChatMessage(
            role=Role.SYSTEM if m.role == "developer" else Role(m.role),
            content=_text(m.content),
            reasoning=(m.reasoning_content or m.reasoning) if m.role == "assistant" else None,
        )
        for m in body.messages
    )
    effort = body.reasoning_effort
    seed = body.seed
    if seed is not None:
        seed = None if seed == -1 else seed % (1 << _SEED_BITS)
    template_kwargs = tuple(
        (key, value)
        for key, value in sorted((body.chat_template_kwargs or {}).items())
        if key != "enable_thinking"
    )
    return GenerationRequest(
        messages=messages,
        sampling=Sampling(
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=body.top_k,
            min_p=body.min_p,
            repeat_penalty=body.repeat_penalty,
        ),
        thinking=ThinkingControl(
            mode=_think_mode(body),
            budget=body.thinking_budget,
            effort=_EFFORTS.get(effort) if effort else None,
        ),
        max_tokens=body.max_completion_tokens or body.max_tokens,
        seed=seed,
        template_kwargs=template_kwargs,
    )
