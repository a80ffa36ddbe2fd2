"""The engine contract every backend implements.

An engine lives inside the worker process (see :mod:`backends.worker`); callers use
:class:`backends.client.EngineClient`. The contract is deliberately small:

* load a model (:class:`LoadParams`) → an engine exposing :class:`ModelInfo` (its file,
  how it runs, its template);
* ``stream(request, request_id, control)`` → an iterator of :class:`app.events.Event`;
* ``count_tokens(text)``;
* ``close()``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Generic, Protocol, TypeVar, overload

from app.events import Event
from app.families import Family, detect_family
from app.request import GenerationRequest
from app.templates import ChatTemplate, TemplateSource, choose_template

DEFAULT_CONTEXT = 8192

KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")


@dataclass(frozen=True, slots=True)
class LoadParams:
    """How to load a model. ``None`` means "choose what a user would want".

    Attributes:
        model_path: the model file (a GGUF, or the first shard of a split GGUF), an MLX model
            folder, or, with ``endpoint``, the name of the remote model.
        n_ctx: context window; default min(the model's trained context, 8192).
        n_gpu_layers: layers offloaded to the GPU; by default as many as the fit estimate puts
            there on a GPU build (``app.library.fit.auto_gpu_layers``), none on a CPU build.
        n_threads: decode threads; default the number of physical cores.
        flash_attn: default on where a GPU build supports it.
        kv_cache_type: "f16", "q8_0" or "q4_0".
        chat_template: template source that overrides the model's own.
        chat_template_name: where the override came from (shown to the user).
        endpoint: base URL of an OpenAI-compatible server (``http://host:8080`` or
            ``https://host/v1``): the model runs there, not here (see :mod:`backends.remote`).
        api_key: the endpoint's API key, if it needs one (never shown in ``repr``).
    """

    model_path: str
    n_ctx: int | None = None
    n_gpu_layers: int | None = None
    n_threads: int | None = None
    flash_attn: bool | None = None
    kv_cache_type: str = "f16"
    chat_template: str | None = None
    chat_template_name: str | None = None
    endpoint: str | None = None
    api_key: str | None = field(default=None, repr=False)


class Backend(enum.StrEnum):
    """What runs a model (the value is what ``ModelInfo.to_dict()`` says)."""

    LLAMA_CPP = "llama.cpp"
    MLX = "mlx"
    REMOTE = "remote"  # an OpenAI-compatible server (see backends.remote)


@dataclass(frozen=True, slots=True)
class ModelFile:
    """What a model file says about itself (for a remote model: what its server lists).

    Attributes:
        path: the file, the MLX folder, or the remote model's name.
        n_layer: the model's layer count (0 when unknown).
        special_tokens: the special tokens' text by role ("bos", "eos", "eot"; for a remote
            model, "server": the kind of server).
    """

    path: str
    architecture: str
    name: str
    size_bytes: int = 0
    n_params: int = 0
    trained_context: int = 0
    n_layer: int = 0
    bos_token: str = ""
    eos_token: str = ""
    special_tokens: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuntimeParams:
    """How a model runs: what :class:`LoadParams` asked for, as the engine settled it.

    Attributes:
        endpoint: the server's base URL for a remote model ("" otherwise).
    """

    n_ctx: int
    n_gpu_layers: int = 0
    n_threads: int = 0
    flash_attn: bool = False
    kv_cache_type: str = ""
    backend: Backend = Backend.LLAMA_CPP
    endpoint: str = ""


@dataclass(frozen=True, slots=True)
class ModelTemplate:
    """The chat template a model is used with, where it came from, and the family it shows."""

    chat_template: str
    template_source: TemplateSource
    family_id: str


def choose_model_template(
    own: str | None, params: LoadParams, *, file_name: str, architecture: str, name: str
) -> tuple[ChatTemplate, Family, ModelTemplate]:
    """The template a local model is used with (the user's override, the model's ``own``,
    or the ChatML fallback: :func:`app.templates.choose_template`) and the family it shows.

    ``file_name`` names the model's template in messages; ``architecture`` and ``name`` help
    tell its family.

    Raises:
        TemplateError: the override does not compile.
    """
    template, source = choose_template(
        own, params.chat_template, model_name=file_name, override_name=params.chat_template_name
    )
    family = detect_family(chat_template=template.source, architecture=architecture, name=name)
    return template, family, ModelTemplate(template.source, source, family.id)


def _known(part: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The values in ``data`` of the dataclass ``part``'s fields."""
    return {f.name: data[f.name] for f in fields(part) if f.name in data}


_T = TypeVar("_T")


class _Field(Generic[_T]):
    """A part's field, read through :class:`ModelInfo` (``info.n_ctx``)."""

    def __init__(self, part: str) -> None:
        self._part = part
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Field[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _T: ...
    def __get__(self, obj: object, owner: type) -> _Field[_T] | _T:
        if obj is None:
            return self
        value: _T = getattr(getattr(obj, self._part), self._name)
        return value


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a loaded model is, as the rest of the app needs to know it: its file, how it
    runs and its template. The parts' fields read through it too (``info.n_ctx``)."""

    file: ModelFile
    runtime: RuntimeParams
    template: ModelTemplate

    path = _Field[str]("file")
    architecture = _Field[str]("file")
    name = _Field[str]("file")
    size_bytes = _Field[int]("file")
    n_params = _Field[int]("file")
    trained_context = _Field[int]("file")
    n_layer = _Field[int]("file")
    bos_token = _Field[str]("file")
    eos_token = _Field[str]("file")
    special_tokens = _Field[Mapping[str, str]]("file")
    n_ctx = _Field[int]("runtime")
    n_gpu_layers = _Field[int]("runtime")
    n_threads = _Field[int]("runtime")
    flash_attn = _Field[bool]("runtime")
    kv_cache_type = _Field[str]("runtime")
    backend = _Field[Backend]("runtime")
    endpoint = _Field[str]("runtime")
    chat_template = _Field[str]("template")
    template_source = _Field[TemplateSource]("template")
    family_id = _Field[str]("template")

    @property
    def placement(self) -> str:
        """Where it runs: "CPU", "GPU" or "GPU: 20/28 layers"."""
        n_gpu_layers, n_layer = self.runtime.n_gpu_layers, self.file.n_layer
        if not n_gpu_layers:
            return "CPU"
        if not n_layer:
            return "GPU"
        on_gpu = n_layer if n_gpu_layers < 0 else min(n_gpu_layers, n_layer)
        return f"GPU: {on_gpu}/{n_layer} layers"

    def to_dict(self) -> dict[str, Any]:
        """The parts' fields in one flat, JSON-ready mapping (enums as their values)."""
        out: dict[str, Any] = {}
        for part in (self.file, self.runtime, self.template):
            for f in fields(part):
                value = getattr(part, f.name)
                out[f.name] = value.value if isinstance(value, enum.Enum) else value
        out["special_tokens"] = dict(self.file.special_tokens)
        return out

    def replace(self, **changes: Any) -> ModelInfo:
        """A copy with some of the parts' fields changed: ``info.replace(n_ctx=4096)``."""
        now = self.to_dict()
        unknown = changes.keys() - now.keys()
        if unknown:
            raise TypeError(f"ModelInfo has no field {', '.join(sorted(unknown))}")
        return ModelInfo.from_dict({**now, **changes})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        """The inverse of :meth:`to_dict` (unknown keys are ignored)."""
        file = ModelFile(**_known(ModelFile, data))
        runtime = RuntimeParams(**_known(RuntimeParams, data))
        template = ModelTemplate(**_known(ModelTemplate, data))
        return cls(
            file,
            replace(runtime, backend=Backend(runtime.backend)),
            replace(template, template_source=TemplateSource(template.template_source)),
        )


@dataclass(frozen=True, slots=True)
class Control:
    """Signals a caller can raise while a request runs (checked between tokens)."""

    cancelled: Callable[[], bool]
    answer_now: Callable[[], bool] = lambda: False


class Engine(Protocol):
    """A loaded model inside the worker process."""

    info: ModelInfo

    def stream(
        self, request: GenerationRequest, request_id: int, control: Control
    ) -> Iterator[Event]:
        """Generate one assistant turn; the last event is DONE or ERROR."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...
