"""The engine contract every backend implements.

An engine lives inside the worker process (see :mod:`backends.worker`); callers use
:class:`backends.client.EngineClient`. The contract is deliberately small:

* load a model (:class:`LoadParams`) → an engine exposing :class:`ModelInfo`;
* ``stream(request, request_id, control)`` → an iterator of :class:`app.events.Event`;
* ``count_tokens(text)``;
* ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from app.events import Event
from app.request import GenerationRequest

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


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a loaded model is, as the rest of the app needs to know it."""

    path: str
    architecture: str
    name: str
    size_bytes: int
    n_params: int
    trained_context: int
    n_ctx: int
    n_gpu_layers: int
    n_threads: int
    flash_attn: bool
    kv_cache_type: str
    chat_template: str
    template_source: str  # "model", "override", "fallback" or "remote" (the server's own)
    family_id: str
    bos_token: str
    eos_token: str
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    backend: str = "llama.cpp"  # "llama.cpp", "mlx" or "remote"
    endpoint: str = ""  # the server's base URL for a remote model
    n_layer: int = 0  # the model's layer count (0 when unknown)

    @property
    def placement(self) -> str:
        """Where it runs: "CPU", "GPU" or "GPU: 20/28 layers"."""
        if not self.n_gpu_layers:
            return "CPU"
        if not self.n_layer:
            return "GPU"
        on_gpu = self.n_layer if self.n_gpu_layers < 0 else min(self.n_gpu_layers, self.n_layer)
        return f"GPU: {on_gpu}/{self.n_layer} layers"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["special_tokens"] = dict(self.special_tokens)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


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
