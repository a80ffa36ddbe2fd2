"""The MLX engine (mlx-lm), run inside the worker process.

MLX is what Apple Silicon runs fastest; ``mlx[cpu]`` also installs on Linux, which is how the
tests exercise this module. Nothing here imports MLX at module level: :func:`is_mlx_folder`
is a cheap file check the worker uses to choose the backend, and :class:`MlxEngine` imports
mlx and mlx-lm when it loads a model (in the worker, never on the GUI's start-up path).

The engine implements the driver's :class:`~backends.driver.TokenModel` over mlx-lm's
token-level ``generate_step``, so prompt planning, the reasoning split and thinking control
(budget forcing, answer now, think longer) are exactly those of the llama.cpp engine. One
prompt cache (the KV cache) lives as long as the model: each call compares its tokens with
the tokens already in the cache and trims the cache to the common prefix, as llama.cpp does,
so a continuation after an injection, and the next turn of a conversation, only evaluate new
tokens.
"""

from __future__ import annotations

import importlib.util
import json
import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from app.engine import (
    DEFAULT_CONTEXT,
    KV_CACHE_TYPES,
    Backend,
    Control,
    LoadParams,
    ModelFile,
    ModelInfo,
    RuntimeParams,
    choose_model_template,
)
from app.errors import EngineError, ModelFileError
from app.events import Event, EventKind
from app.request import GenerationRequest
from backends.driver import ResolvedSampling, common_prefix, run_generation

ProgressFn = Callable[[float], None]

#: Ponder's KV cache types as mlx-lm's ``kv_bits`` (quantized from mlx-lm's default start).
_KV_BITS: dict[str, int | None] = {"f16": None, "q8_0": 8, "q4_0": 4}


def is_mlx_folder(path: str | Path) -> bool:
    """Whether ``path`` is an MLX model folder: ``config.json`` with ``quantization`` and
    ``*.safetensors`` weights (the model library's definition too). Imports nothing."""
    folder = Path(path).expanduser()
    try:
        if not folder.is_dir() or not any(folder.glob("*.safetensors")):
            return False
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and isinstance(config.get("quantization"), dict)


def mlx_available() -> bool:
    """Whether mlx and mlx-lm are installed (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("mlx", "mlx_lm"))


def _unavailable_message(folder: Path) -> str:
    here = f"{platform.system()} {platform.machine()}"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return (
            f"{folder.name} is an MLX model, but MLX is not installed: "
            "pip install 'ponder[mlx]' (or choose a GGUF model)"
        )
    return (
        f"{folder.name} is an MLX model; MLX runs on Apple Silicon and is not installed on "
        f"this {here} computer: choose a GGUF version of the model"
    )


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet: each printable stand-in character → its byte."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += range(ord("®"), ord("ÿ") + 1)
    chars = list(keep)
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(keep, chars, strict=True)}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _trained_context(config: Mapping[str, Any]) -> int | None:
    for source in (config, config.get("text_config")):
        if isinstance(source, Mapping):
            value = source.get("max_position_embeddings")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def _model_template(tokenizer: Any) -> str | None:
    """The template transformers read (``tokenizer_config.json`` or ``chat_template.jinja``)."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default")
    elif isinstance(template, list):  # [{"name": ..., "template": ...}]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) and template.strip() else None


class MlxEngine:
    """An MLX model folder loaded with mlx-lm. One owner (the worker), calls serialised."""

    def __init__(self, params: LoadParams, progress: ProgressFn | None = None) -> None:
        folder = Path(params.model_path).expanduser()
        if not is_mlx_folder(folder):
            raise ModelFileError(
                f"{folder}: not an MLX model folder (config.json with quantization and "
                "*.safetensors weights)"
            )
        if params.kv_cache_type not in KV_CACHE_TYPES:
            raise EngineError(
                f"unknown KV cache type {params.kv_cache_type!r} "
                f"(choose one of {', '.join(KV_CACHE_TYPES)})"
            )
        if not mlx_available():
            raise EngineError(_unavailable_message(folder))
        try:
            # Modules as Any: mlx-lm's annotations do not always match what it returns.
            mx: Any = importlib.import_module("mlx.core")
            mlx_generate: Any = importlib.import_module("mlx_lm.generate")  # not the function
            mlx_sample: Any = importlib.import_module("mlx_lm.sample_utils")
            mlx_cache: Any = importlib.import_module("mlx_lm.models.cache")
            mlx_utils: Any = importlib.import_module("mlx_lm.utils")
        except ImportError as err:  # pragma: no cover - depends on the install
            raise EngineError(f"MLX is installed but cannot be imported: {err}") from None

        config = _read_json(folder / "config.json")
        trained = _trained_context(config) or DEFAULT_CONTEXT
        n_ctx = params.n_ctx or min(trained, DEFAULT_CONTEXT)
        if n_ctx < 64:
            raise EngineError(f"context size {n_ctx} is too small (at least 64 tokens)")
        if progress is not None:
            progress(0.0)
        try:
            model, tokenizer = mlx_utils.load(str(folder))
        except ValueError as err:
            arch = config.get("model_type", "?")
            raise EngineError(
                f"{folder.name}: mlx-lm could not load the model (architecture '{arch}'): {err}"
            ) from None
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
            raise ModelFileError(
                f"{folder.name}: mlx-lm could not load the model ({type(err).__name__}: {err})"
            ) from None
        if progress is not None:
            progress(1.0)

        self._mx = mx
        self._gen = mlx_generate
        self._sample = mlx_sample
        self._cache_mod = mlx_cache
        self._model = model
        self._tok = tokenizer
        self._n_ctx = n_ctx
        self._kv_bits = _KV_BITS[params.kv_cache_type]
        self._cache: list[Any] | None = None
        self._cache_tokens: list[int] = []  # what the KV cache holds, token for token
        self._eog = frozenset(int(t) for t in tokenizer.eos_token_ids)
        self._added = {
            int(i): str(getattr(t, "content", t))
            for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items()
        }
        self._pieces: dict[int, bytes] = {}
        detok = type(tokenizer.detokenizer).__name__
        self._style = "bpe" if "BPE" in detok else "spm" if "SPM" in detok else "text"
        self._bytes = _byte_decoder() if self._style == "bpe" else {}

        arch = str(config.get("model_type") or "unknown")
        self._template, self._family, template = choose_model_template(
            _model_template(tokenizer),
            params,
            file_name=folder.name,
            architecture=arch,
            name=folder.name,
        )
        bos = str(tokenizer.bos_token or "")
        eos = str(tokenizer.eos_token or "")
        gpu = mx.default_device() == mx.gpu
        file = ModelFile(
            str(folder),
            arch,
            folder.name,
            size_bytes=sum(p.stat().st_size for p in folder.glob("*.safetensors")),
            n_params=int(mlx_utils.get_total_parameters(model)),
            trained_context=trained,
            bos_token=bos,
            eos_token=eos,
            special_tokens={"bos": bos, "eos": eos},
        )
        runtime = RuntimeParams(
            n_ctx,
            n_gpu_layers=-1 if gpu else 0,
            n_threads=0,  # MLX schedules its own threads
            kv_cache_type=params.kv_cache_type,
            backend=Backend.MLX,
        )
        self.info = ModelInfo(file, runtime, template)

    # -- TokenModel ------------------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def tokenize(self, text: str) -> list[int]:
        return [int(t) for t in self._tok.encode(text, add_special_tokens=False)]

    def piece(self, token: int) -> bytes:
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._piece(token)
            self._pieces[token] = cached
        return cached

    def _piece(self, token: int) -> bytes:
        added = self._added.get(token)
        if added is not None:
            return added.encode("utf-8")
        text = self._tok.convert_ids_to_tokens(token)
        if not isinstance(text, str):
            return b""
        if self._style == "bpe" and all(c in self._bytes for c in text):
            return bytes(self._bytes[c] for c in text)
        if self._style == "spm":
            if len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
                try:
                    return bytes([int(text[3:5], 16)])
                except ValueError:
                    pass
            return text.replace("▁", " ").encode("utf-8")
        return str(self._tok.decode([token])).encode("utf-8")

    def is_eog(self, token: int) -> bool:
        return token in self._eog

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        return common_prefix(self._cache_tokens, tokens)

    def generate(
        self, tokens: Sequence[int], sampling: ResolvedSampling, seed: int
    ) -> Iterator[int]:
        if not tokens or len(tokens) >= self.n_ctx:
            return iter(())
        return self._generate(list(tokens), sampling, seed)

    def _generate(self, tokens: list[int], sampling: ResolvedSampling, seed: int) -> Iterator[int]:
        mx = self._mx
        mx.random.seed(seed)
        start = self._reuse_cache(tokens)
        self._cache_tokens = tokens  # the rest of the prompt is evaluated before the first token
        sampler = self._sample.make_sampler(
            temp=sampling.temperature,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            top_k=sampling.top_k,
        )
        processors = None
        if sampling.repeat_penalty != 1.0:
            processors = self._sample.make_logits_processors(
                repetition_penalty=sampling.repeat_penalty
            )
        # generate_step feeds each token into the cache before yielding it (it computes the
        # next one ahead): after every yield the cache holds the prompt and all yielded tokens.
        steps = self._gen.generate_step(
            mx.array(tokens[start:]),
            self._model,
            max_tokens=-1,
            sampler=sampler,
            logits_processors=processors,
            prompt_cache=self._cache,
            kv_bits=self._kv_bits,
        )
        clean = False
        try:
            with self._gen.wired_limit(self._model, [self._gen.generation_stream]):
                for token, _ in steps:
                    value = int(token)
                    self._cache_tokens.append(value)
                    yield value
            clean = True
        except GeneratorExit:
            clean = True
            raise
        finally:
            steps.close()
            if not clean:  # failed mid-way: the cache may not match the bookkeeping
                self._cache = None
                self._cache_tokens = []

    def _reuse_cache(self, tokens: list[int]) -> int:
        """Trim the cache to its common prefix with ``tokens``; how many it keeps."""
        if self._cache is None:
            self._cache = self._cache_mod.make_prompt_cache(self._model)
            self._cache_tokens = []
        keep = self.cached_prefix(tokens)
        keep = min(keep, len(tokens) - 1)  # at least one token to evaluate for the next logits
        drop = len(self._cache_tokens) - keep
        if drop > 0:
            trimmed = 0
            if self._cache_mod.can_trim_prompt_cache(self._cache):
                trimmed = self._cache_mod.trim_prompt_cache(self._cache, drop)
            if trimmed != drop:  # a cache that cannot be trimmed starts again
                self._cache = self._cache_mod.make_prompt_cache(self._model)
                keep = 0
        self._cache_tokens = tokens[:keep]
        return keep

    # -- Engine ----------------------------------------------------------------------------

    def stream(
        self, request: GenerationRequest, request_id: int, control: Control
    ) -> Iterator[Event]:
        self._mx.reset_peak_memory()
        events = run_generation(
            self, self._family, self._template, self.info, request, request_id, control
        )
        for event in events:
            if event.kind is EventKind.STATS:
                peak = int(self._mx.get_peak_memory())
                event = Event(
                    event.kind,
                    event.request_id,
                    data={"peak_memory_bytes": peak},
                    stats=event.stats,
                )
            yield event

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def close(self) -> None:
        self._cache = None
        self._cache_tokens = []
        self._model = None
        self._mx.clear_cache()
