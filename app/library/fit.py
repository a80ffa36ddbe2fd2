"""Will a model fit? Weights + KV cache + a compute margin against this machine's memory.

:func:`estimate_fit` is a pure function of a :class:`MachineMemory` value, so the verdicts
are tested without the machine; :func:`detect_machine_memory` fills that value from psutil
and the GPU probes of :mod:`app.library.gpu` (NVIDIA's NVML, AMD's sysfs counters, Metal's
working set on Apple Silicon).
"""

from __future__ import annotations

import enum
import math
import platform
from dataclasses import dataclass, field
from typing import Any

import psutil

from app.errors import ContextSizeError
from app.gguf import GGUFHeader
from app.library.gpu import GpuMemory, probe_gpus
from app.library.metadata import ModelShape, metadata_from_header

__all__ = ["GpuMemory"]  # re-exported: it belongs to MachineMemory

GIB = 1024**3
MIB = 1024**2
APPLE_GPU_FRACTION = 0.75
RAM_RESERVE = 2 * GIB  # left to the OS and other apps
VRAM_RESERVE = 512 * MIB  # driver, display, CUDA context
COMPUTE_BASE = 256 * MIB  # llama.cpp's compute buffers, logits, scratch
COMPUTE_PER_1K_CTX = 8 * MIB
COMPUTE_WEIGHT_FRACTION = 0.02


class FitVerdict(enum.Enum):
    """How a model runs on this machine, best first."""

    FITS_GPU = "fits_gpu"
    PARTIAL_OFFLOAD = "partial_offload"
    CPU_ONLY = "cpu_only"
    WONT_FIT = "wont_fit"


@dataclass(frozen=True, slots=True)
class MachineMemory:
    """This machine's memory, in bytes.

    Attributes:
        total_ram: physical RAM.
        available_ram: RAM available now without swapping (psutil's ``available``).
        gpus: discrete GPUs with their own memory (NVIDIA via NVML, AMD via sysfs).
        unified: Apple Silicon: the GPU shares RAM.
        unified_budget: the share of it Metal lets the GPU use (None: 75% of the RAM).
        gpu_name: the unified GPU's name.
        gpu_estimated: ``unified_budget`` is macOS's default share, not Metal's figure.
    """

    total_ram: int
    available_ram: int
    gpus: tuple[GpuMemory, ...] = field(default_factory=tuple)
    unified: bool = False
    unified_budget: int | None = None
    gpu_name: str = ""
    gpu_estimated: bool = False

    @property
    def gpu_budget(self) -> int:
        """Bytes the GPU can hold for a model (0 without a usable GPU)."""
        if self.unified:
            if self.unified_budget is not None:
                return min(self.unified_budget, self.total_ram)
            return int(self.total_ram * APPLE_GPU_FRACTION)
        return sum(max(0, g.free - VRAM_RESERVE) for g in self.gpus)

    @property
    def model_memory(self) -> int:
        """All the memory a model can be spread over: RAM plus the GPUs' own memory.

        What the catalog's memory tiers and the first-run model are chosen by.
        """
        if self.unified:
            return self.total_ram
        return self.total_ram + sum(g.total for g in self.gpus)

    @property
    def gpu_text(self) -> str:
        """The GPU as a person reads it, or "GPU not detected"."""
        if self.unified:
            estimate = " (estimate)" if self.gpu_estimated else ""
            name = self.gpu_name or "Apple GPU"
            return f"GPU: {name}, {gib(self.gpu_budget)} of unified memory usable{estimate}"
        if self.gpus:
            return "GPU: " + "; ".join(
                f"{g.name}, {gib(g.total)} ({gib(g.free)} free)" for g in self.gpus
            )
        return "GPU not detected: models run on the CPU"

    @property
    def ram_budget(self) -> int:
        """Bytes of RAM a model may use: all RAM but a reserve for the OS and other apps."""
        return max(0, self.total_ram - RAM_RESERVE)


@dataclass(frozen=True, slots=True)
class FitEstimate:
    """A verdict and the numbers behind it (bytes).

    Attributes:
        verdict: the outcome.
        gpu_layers: layers to offload to the GPU (all of them for FITS_GPU, 0 for CPU_ONLY).
        n_layer: the model's layer count (0 when unknown).
        weights, kv_cache, compute: the parts of ``total``.
        gpu_budget, ram_budget: what the machine offers (see MachineMemory).
        available_ram: RAM free right now; ``tight`` is set when ``ram_needed`` exceeds it.
        ram_needed: the part of ``total`` held in RAM (all of it with unified memory).
        kv_estimated: the KV cache was guessed from the weights (the shape was unknown).
        n_ctx: the context the estimate is for.
    """

    verdict: FitVerdict
    gpu_layers: int
    n_layer: int
    weights: int
    kv_cache: int
    compute: int
    gpu_budget: int
    ram_budget: int
    available_ram: int
    n_ctx: int
    ram_needed: int = 0
    kv_estimated: bool = False

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute

    @property
    def tight(self) -> bool:
        """More than the RAM free right now is needed: other apps may have to close."""
        return self.verdict is not FitVerdict.WONT_FIT and self.ram_needed > self.available_ram

    @property
    def label(self) -> str:
        """Short text: "fits on GPU", "partial offload (20/32 layers)", "CPU only", "won't fit"."""
        if self.verdict is FitVerdict.FITS_GPU:
            return "fits on GPU"
        if self.verdict is FitVerdict.PARTIAL_OFFLOAD:
            if not self.n_layer:
                return "partial offload"
            return f"partial offload ({self.gpu_layers}/{self.n_layer} layers on GPU)"
        if self.verdict is FitVerdict.CPU_ONLY:
            return "CPU only"
        return "won't fit"

    @property
    def summary(self) -> str:
        """One line with the numbers, e.g. for ``ponder models info``."""
        kv = "~" if self.kv_estimated else ""
        gpu = f"GPU {gib(self.gpu_budget)}" if self.gpu_budget else "no GPU"
        text = (
            f"{self.label}: needs {gib(self.total)} (weights {gib(self.weights)}, "
            f"KV cache {kv}{gib(self.kv_cache)} at {self.n_ctx} tokens, compute "
            f"{gib(self.compute)}); {gpu}, RAM {gib(self.ram_budget)} usable"
        )
        if self.tight:
            text += f", only {gib(self.available_ram)} free now"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "label": self.label,
            "gpu_layers": self.gpu_layers,
            "n_layer": self.n_layer,
            "weights": self.weights,
            "kv_cache": self.kv_cache,
            "compute": self.compute,
            "total": self.total,
            "gpu_budget": self.gpu_budget,
            "ram_budget": self.ram_budget,
            "available_ram": self.available_ram,
            "n_ctx": self.n_ctx,
            "ram_needed": self.ram_needed,
            "kv_estimated": self.kv_estimated,
            "tight": self.tight,
        }


def gib(n: int | float) -> str:
    """Bytes as "1.2 GiB" (or MiB below one GiB)."""
    if n < GIB:
        return f"{n / MIB:.0f} MiB"
    return f"{n / GIB:.1f} GiB"


def guess_kv_bytes_per_token(weights: int, bits_per_weight: float = 4.9) -> int:
    """A conservative KV-cache size per token (f16) when the model's shape is unknown.

    Grows with the square root of the parameter count: ~56 KiB/token at 1.5B, ~120 at 7B,
    ~260 at 32B, ~385 at 70B (real GQA models are at or below these).
    """
    params_b = max(weights * 8 / bits_per_weight / 1e9, 0.1)
    return int(46 * 1024 * math.sqrt(params_b))


def estimate_fit(
    weights: int,
    shape: ModelShape | None,
    n_ctx: int,
    machine: MachineMemory,
    *,
    kv_bytes_per_element: float = 2.0,
    bits_per_weight: float = 4.9,
) -> FitEstimate:
    """Where a model of ``weights`` bytes runs at context ``n_ctx`` on ``machine``.

    Without a ``shape`` the KV cache is guessed (``kv_estimated``) and partial offload is
    reckoned over 32 layers.
    """
    n_ctx = max(1, n_ctx)
    if shape is not None:
        kv = shape.kv_bytes(n_ctx, kv_bytes_per_element)
        n_layer = shape.n_layer
    else:
        per_token = guess_kv_bytes_per_token(weights, bits_per_weight)
        kv = int(per_token * n_ctx * kv_bytes_per_element / 2.0)
        n_layer = 0
    compute = (
        COMPUTE_BASE
        + COMPUTE_PER_1K_CTX * math.ceil(n_ctx / 1024)
        + int(weights * COMPUTE_WEIGHT_FRACTION)
    )
    total = weights + kv + compute
    gpu, ram = machine.gpu_budget, machine.ram_budget

    def result(verdict: FitVerdict, layers: int, ram_needed: int) -> FitEstimate:
        return FitEstimate(
            verdict=verdict,
            gpu_layers=layers,
            n_layer=n_layer,
            weights=weights,
            kv_cache=kv,
            compute=compute,
            gpu_budget=gpu,
            ram_budget=ram,
            available_ram=machine.available_ram,
            n_ctx=n_ctx,
            ram_needed=ram_needed,
            kv_estimated=shape is None,
        )

    # Everything on the GPU; with unified memory the GPU's share is also RAM.
    if gpu and total <= gpu and (not machine.unified or total <= ram):
        return result(FitVerdict.FITS_GPU, n_layer, total if machine.unified else compute)
    # Some layers on the GPU, the rest (and the compute buffers) in RAM.
    layers_known = n_layer or 32
    per_layer = (weights + kv) / layers_known
    if gpu > compute and per_layer > 0:
        on_gpu = min(layers_known - 1, int((gpu - compute) / per_layer))
        # With unified memory it is one pool either way.
        in_ram = total if machine.unified else int(total - on_gpu * per_layer)
        if on_gpu > 0 and in_ram <= ram:
            return result(FitVerdict.PARTIAL_OFFLOAD, on_gpu if n_layer else 0, in_ram)
    if total <= ram:
        return result(FitVerdict.CPU_ONLY, 0, total)
    return result(FitVerdict.WONT_FIT, 0, total)


def auto_gpu_layers(
    gpu_build: bool,
    machine: MachineMemory | None,
    weights: int,
    shape: ModelShape | None,
    n_ctx: int,
    *,
    kv_bytes_per_element: float = 2.0,
) -> int:
    """Layers to offload when the user has not chosen (llama.cpp's ``n_gpu_layers``).

    0 on a CPU build. On a GPU build (Metal, CUDA, Vulkan…), from the fit estimate on
    ``machine``: all layers (-1) when the model fits on the GPU, the estimate's layer count for
    a partial offload, 0 when only RAM can hold it (a GPU that is full counts as none). When no
    GPU was measured (``machine`` is None or shows none: e.g. an Intel GPU through Vulkan), all
    layers, llama.cpp's own default.
    """
    if not gpu_build:
        return 0
    if machine is None or not (machine.gpus or machine.unified):
        return -1
    fit = estimate_fit(weights, shape, n_ctx, machine, kv_bytes_per_element=kv_bytes_per_element)
    if fit.verdict is FitVerdict.FITS_GPU:
        return -1
    if fit.verdict is FitVerdict.PARTIAL_OFFLOAD:
        return fit.gpu_layers
    return 0


MIN_CONTEXT = 64
"""The smallest context window llama.cpp is given."""

KV_BYTES_PER_ELEMENT = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
"""Bytes per KV-cache element by cache type (quantized types in blocks of 32)."""


@dataclass(frozen=True, slots=True)
class ContextLimit:
    """The largest context window a model may be given here, and why.

    Attributes:
        trained: the model's trained context (``{arch}.context_length``), if its header says.
        rope_factor: the rope scaling factor in its header (1.0 without scaling).
        model_max: what the model can use: the trained context, stretched by rope scaling.
        memory_max: the largest context the memory estimate lets this machine hold (None when
            the weights alone do not fit, or nothing is known: then memory does not bound it).
    """

    trained: int | None
    rope_factor: float
    model_max: int | None
    memory_max: int | None

    @property
    def maximum(self) -> int | None:
        limits = [n for n in (self.model_max, self.memory_max) if n is not None]
        return min(limits) if limits else None


def _rope_stretched(header: GGUFHeader, trained: int | None) -> tuple[float, int | None]:
    kind = header.arch_value("rope.scaling.type")
    factor = header.arch_value("rope.scaling.factor")
    if kind == "none" or not isinstance(factor, int | float) or not 1.0 < factor <= 1024.0:
        return 1.0, trained
    original = header.arch_value("rope.scaling.original_context_length")
    base = original if isinstance(original, int) and original > 0 else trained
    if base is None:
        return float(factor), None
    return float(factor), max(trained or 0, int(base * factor))


def context_limit(
    header: GGUFHeader,
    weights: int,
    machine: MachineMemory,
    *,
    kv_bytes_per_element: float = 2.0,
) -> ContextLimit:
    """How large a context window the model of ``header`` (``weights`` bytes) may get here."""
    meta = metadata_from_header(header)
    trained = meta.context_length
    factor, model_max = _rope_stretched(header, trained)

    def fits(n_ctx: int) -> bool:
        fit = estimate_fit(
            weights, meta.shape, n_ctx, machine, kv_bytes_per_element=kv_bytes_per_element
        )
        return fit.verdict is not FitVerdict.WONT_FIT

    memory_max: int | None = None
    if fits(MIN_CONTEXT):
        low, high = MIN_CONTEXT, max(MIN_CONTEXT, model_max or 1 << 24)
        if not fits(high):
            while high - low > 1:  # low fits, high does not
                mid = (low + high) // 2
                low, high = (mid, high) if fits(mid) else (low, mid)
            memory_max = low
    return ContextLimit(trained, factor, model_max, memory_max)


def check_context(n_ctx: int, limit: ContextLimit, model: str) -> int:
    """``n_ctx`` if the model of ``limit`` (named ``model``) can have it; else a clear error.

    Raises:
        ContextSizeError: below :data:`MIN_CONTEXT`, beyond what the model was trained for
            (with its rope scaling), or beyond what the memory estimate lets this machine hold.
    """
    if n_ctx < MIN_CONTEXT:
        raise ContextSizeError(
            f"a context of {n_ctx:,} tokens is too small (at least {MIN_CONTEXT} tokens)"
        )
    if limit.model_max is not None and n_ctx > limit.model_max:
        trained = f"{limit.trained:,}" if limit.trained else "fewer"
        scaled = (
            f" ({limit.model_max:,} with its rope scaling ×{limit.rope_factor:g})"
            if limit.rope_factor > 1.0
            else ""
        )
        raise ContextSizeError(
            f"a context of {n_ctx:,} tokens is more than {model} can use: it was trained for "
            f"{trained} tokens{scaled}. Choose a context of at most {limit.maximum:,} tokens."
        )
    if limit.memory_max is not None and n_ctx > limit.memory_max:
        raise ContextSizeError(
            f"a context of {n_ctx:,} tokens for {model} does not fit in this machine's memory; "
            f"at most about {limit.memory_max:,} tokens fit. Choose a smaller context."
        )
    return n_ctx


def bound_context(
    n_ctx: int,
    header: GGUFHeader,
    weights: int,
    *,
    kv_cache_type: str = "f16",
    machine: MachineMemory | None = None,
) -> int:
    """:func:`check_context` for a model file, against this machine's memory now.

    Raises:
        ContextSizeError: see :func:`check_context`.
    """
    if n_ctx < MIN_CONTEXT:  # no need to read the machine for that
        return check_context(n_ctx, ContextLimit(None, 1.0, None, None), header.path.name)
    limit = context_limit(
        header,
        weights,
        machine or detect_machine_memory(),
        kv_bytes_per_element=KV_BYTES_PER_ELEMENT.get(kv_cache_type, 2.0),
    )
    return check_context(n_ctx, limit, header.path.name)


def is_apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() in ("arm64", "aarch64")


def detect_machine_memory() -> MachineMemory:
    """This machine's memory now: RAM from psutil, the GPU from :func:`probe_gpus`."""
    vm = psutil.virtual_memory()
    report = probe_gpus(int(vm.total), apple=is_apple_silicon())
    return MachineMemory(
        total_ram=int(vm.total),
        available_ram=int(vm.available),
        gpus=report.gpus,
        unified=report.unified_budget is not None,
        unified_budget=report.unified_budget,
        gpu_name=report.unified_name,
        gpu_estimated=report.estimated,
    )
