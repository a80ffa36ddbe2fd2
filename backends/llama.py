"""The llama.cpp engine (llama-cpp-python), run inside the worker process."""

from __future__ import annotations

import collections
import ctypes
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.engine import (
    DEFAULT_CONTEXT,
    KV_CACHE_TYPES,
    Control,
    LoadParams,
    ModelFile,
    ModelInfo,
    RuntimeParams,
    choose_model_template,
)
from app.errors import EngineError, ModelFileError
from app.events import Event
from app.gguf import model_bytes, read_header
from app.library.fit import (
    KV_BYTES_PER_ELEMENT,
    auto_gpu_layers,
    bound_context,
    detect_machine_memory,
)
from app.library.metadata import metadata_from_header
from app.request import GenerationRequest
from backends.driver import ResolvedSampling, common_prefix, run_generation

ProgressFn = Callable[[float], None]

_GGML_TYPES = {"f16": 1, "q4_0": 2, "q8_0": 8}


def physical_cores() -> int:
    """Physical cores (llama-cpp-python's default of half the logical CPUs is slower)."""
    try:
        import psutil

        count = psutil.cpu_count(logical=False)
    except Exception:  # pragma: no cover - psutil missing or broken
        count = None
    return max(1, count or os.cpu_count() or 1)


class _LogCapture:
    """Keeps llama.cpp's recent log lines so a failed load can say why."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=50)
        self._partial = ""
        self.callback: Any = None

    def install(self, llama_cpp: Any) -> None:
        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def _cb(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            self._partial += text.decode("utf-8", errors="replace")
            while "\n" in self._partial:
                line, self._partial = self._partial.split("\n", 1)
                if line.strip():
                    self.lines.append(line.strip())

        self.lines.clear()  # a reason must come from this load, not an earlier one
        self._partial = ""
        self.callback = _cb  # keep a reference: ctypes callbacks must outlive their use
        llama_cpp.llama_log_set(_cb, ctypes.c_void_p(0))

    def reason(self) -> str:
        """llama.cpp's own words for why a load failed ("" when it said nothing useful).

        The most specific line wins: "error loading model: …" says what was wrong, while the
        lines after it ("failed to load model") only say that it failed.
        """
        for keys in (_SPECIFIC, _GENERAL):
            for line in reversed(self.lines):
                low = line.lower()
                if any(k in low for k in keys):
                    return _strip_log_prefix(line)
        return ""


_SPECIFIC = ("error loading model", "unknown model architecture", "not within", "unsupported")
_GENERAL = ("error", "unknown", "failed", "invalid")


def _strip_log_prefix(line: str) -> str:
    """``llama_model_load: error loading model: X`` → ``X``."""
    text = line
    for prefix in (
        "llama_model_load:",
        "error loading model:",
        "error loading model architecture:",
    ):
        text = text.strip()
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.strip()


_LOGS = _LogCapture()


@contextmanager
def _progress_hook(llama_cpp: Any, progress: ProgressFn | None) -> Iterator[None]:
    """Report load progress: llama-cpp-python offers no parameter, so wrap its defaults."""
    if progress is None:
        yield
        return
    original = llama_cpp.llama_model_default_params

    @llama_cpp.llama_progress_callback  # type: ignore[untyped-decorator]
    def _cb(value: float, user_data: ctypes.c_void_p) -> bool:
        progress(float(value))
        # An int, not True: CPython's ctypes mis-counts references of a bool returned from a
        # c_bool callback, and after many calls the interpreter aborts ("deallocating True").
        return 1  # type: ignore[return-value]

    def patched() -> Any:
        params = original()
        params.progress_callback = _cb
        return params

    llama_cpp.llama_model_default_params = patched
    try:
        yield
    finally:
        llama_cpp.llama_model_default_params = original


class LlamaEngine:
    """A GGUF model loaded with llama.cpp. One owner (the worker), calls serialised."""

    def __init__(self, params: LoadParams, progress: ProgressFn | None = None) -> None:
        path = Path(params.model_path).expanduser()
        header = read_header(path)  # raises ModelFileError with a clear message
        if params.kv_cache_type not in KV_CACHE_TYPES:
            raise EngineError(
                f"unknown KV cache type {params.kv_cache_type!r} "
                f"(choose one of {', '.join(KV_CACHE_TYPES)})"
            )
        try:
            import llama_cpp
            import llama_cpp.llama_cpp as llama_low
        except ImportError as err:  # pragma: no cover - depends on the install
            raise EngineError(f"llama-cpp-python is not installed or broken: {err}") from None

        _LOGS.install(llama_low)
        gpu = bool(llama_low.llama_supports_gpu_offload())
        trained = header.context_length or DEFAULT_CONTEXT
        n_ctx = params.n_ctx or min(trained, DEFAULT_CONTEXT)
        if params.n_ctx is not None:  # bounded before it reaches llama.cpp: never 2**32 tokens
            n_ctx = bound_context(
                params.n_ctx, header, model_bytes(path), kv_cache_type=params.kv_cache_type
            )
        elif n_ctx < 64:
            raise EngineError(f"context size {n_ctx} is too small (at least 64 tokens)")
        n_threads = params.n_threads or physical_cores()
        shape = metadata_from_header(header).shape
        n_gpu_layers = params.n_gpu_layers
        if n_gpu_layers is None:  # as many layers as the GPU holds (see auto_gpu_layers)
            n_gpu_layers = auto_gpu_layers(
                gpu,
                detect_machine_memory() if gpu else None,
                model_bytes(path),
                shape,
                n_ctx,
                kv_bytes_per_element=KV_BYTES_PER_ELEMENT.get(params.kv_cache_type, 2.0),
            )
        flash_attn = params.flash_attn if params.flash_attn is not None else gpu
        kv_type = _GGML_TYPES[params.kv_cache_type]
        try:
            with _progress_hook(llama_low, progress):
                self._llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_batch=512,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    n_gpu_layers=n_gpu_layers,
                    flash_attn=flash_attn,
                    type_k=kv_type,
                    type_v=kv_type,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as err:
            why = _LOGS.reason() or str(err)
            arch = header.architecture
            if "unknown model architecture" in why:
                raise EngineError(
                    f"{path.name}: this llama.cpp build does not support the model "
                    f"architecture '{arch}' ({why})"
                ) from None
            if "failed to allocate" in why.lower() or "out of memory" in why.lower():
                raise EngineError(
                    f"{path.name}: not enough memory for a {n_ctx}-token context; "
                    f"try a smaller context size ({why})"
                ) from None
            raise ModelFileError(
                f"{path.name}: llama.cpp could not load the model ({why})"
            ) from None

        self._low = llama_low
        self._vocab = self._llm._model.vocab
        self._piece_cache: dict[int, bytes] = {}
        meta = self._llm.metadata
        bos_id = self._llm.token_bos()
        eos_id = self._llm.token_eos()
        bos = self._token_text(bos_id)
        eos = self._token_text(eos_id)

        self._template, self._family, template = choose_model_template(
            header.chat_template or meta.get("tokenizer.chat_template"),
            params,
            file_name=path.name,
            architecture=header.architecture,
            name=header.name,
        )
        eot = self._token_text(self._vocab_call("llama_vocab_eot"))
        file = ModelFile(
            str(path),
            header.architecture,
            header.name,
            size_bytes=path.stat().st_size,
            n_params=int(self._llm._model.n_params()),
            trained_context=trained,
            n_layer=shape.n_layer if shape is not None else 0,
            bos_token=bos,
            eos_token=eos,
            special_tokens={"bos": bos, "eos": eos, "eot": eot},
        )
        runtime = RuntimeParams(
            self._llm.n_ctx(),
            n_gpu_layers=n_gpu_layers,
            n_threads=n_threads,
            flash_attn=flash_attn,
            kv_cache_type=params.kv_cache_type,
        )
        self.info = ModelInfo(file, runtime, template)

    # -- helpers -------------------------------------------------------------------------

    def _vocab_call(self, name: str, *args: Any) -> int:
        return int(getattr(self._low, name)(self._vocab, *args))

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.piece(token).decode("utf-8", errors="replace")

    # -- TokenModel ------------------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return int(self._llm.n_ctx())

    def tokenize(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def piece(self, token: int) -> bytes:
        cached = self._piece_cache.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(256)
            n = self._low.llama_token_to_piece(self._vocab, token, buf, 256, 0, True)
            cached = buf.raw[: max(n, 0)]
            self._piece_cache[token] = cached
        return cached

    def is_eog(self, token: int) -> bool:
        return bool(self._low.llama_vocab_is_eog(self._vocab, token))

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        return common_prefix(self._llm._input_ids.tolist(), tokens)

    def generate(
        self, tokens: Sequence[int], sampling: ResolvedSampling, seed: int
    ) -> Iterator[int]:
        if len(tokens) >= self.n_ctx:
            return iter(())
        self._llm.set_seed(seed)
        gen: Iterator[int] = self._llm.generate(
            list(tokens),
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
        )
        return gen

    # -- Engine ----------------------------------------------------------------------------

    def stream(
        self, request: GenerationRequest, request_id: int, control: Control
    ) -> Iterator[Event]:
        yield from run_generation(
            self, self._family, self._template, self.info, request, request_id, control
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def close(self) -> None:
        self._llm.close()
