"""Fit estimates: a pure function of the model size, its shape and a MachineMemory."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ContextSizeError
from app.gguf import GGUFHeader, read_header
from app.library.fit import (
    GIB,
    FitVerdict,
    GpuMemory,
    MachineMemory,
    bound_context,
    context_limit,
    detect_machine_memory,
    estimate_fit,
    guess_kv_bytes_per_token,
)
from app.library.metadata import ModelShape
from tests.support.hub_server import gguf_bytes, llama_like_metadata

QWEN_7B = ModelShape(n_layer=28, n_head=28, n_head_kv=4, head_dim=128)
QWEN_32B = ModelShape(n_layer=64, n_head=40, n_head_kv=8, head_dim=128)


def cpu_machine(ram_gib: float, free_gib: float | None = None) -> MachineMemory:
    return MachineMemory(int(ram_gib * GIB), int((free_gib or ram_gib / 2) * GIB))


def nvidia(ram_gib: float, vram_gib: float) -> MachineMemory:
    return MachineMemory(
        int(ram_gib * GIB),
        int(ram_gib * GIB / 2),
        gpus=(GpuMemory("RTX", int(vram_gib * GIB), int(vram_gib * GIB)),),
    )


def apple(ram_gib: float) -> MachineMemory:
    return MachineMemory(int(ram_gib * GIB), int(ram_gib * GIB / 2), unified=True)


def test_kv_cache_formula() -> None:
    # The tech notes' example: a Qwen2.5-7B distill at 32k, f16: about 1.75 GiB.
    assert QWEN_7B.kv_bytes(32768) == 2 * 28 * 32768 * 4 * 128 * 2
    assert QWEN_7B.kv_bytes(32768) / GIB == pytest.approx(1.75)
    assert QWEN_7B.kv_bytes(1000, bytes_per_element=1.0) == QWEN_7B.kv_bytes(1000) // 2


def test_fits_on_gpu() -> None:
    fit = estimate_fit(int(4.7 * GIB), QWEN_7B, 8192, nvidia(32, 24))
    assert fit.verdict is FitVerdict.FITS_GPU
    assert fit.gpu_layers == 28
    assert fit.label == "fits on GPU"
    assert fit.total == fit.weights + fit.kv_cache + fit.compute
    assert fit.ram_needed < GIB  # only the compute buffers' share stays in RAM


def test_partial_offload_counts_layers() -> None:
    fit = estimate_fit(int(19.9 * GIB), QWEN_32B, 8192, nvidia(64, 12))
    assert fit.verdict is FitVerdict.PARTIAL_OFFLOAD
    assert 0 < fit.gpu_layers < 64
    # Offloaded layers fit in the GPU budget.
    per_layer = (fit.weights + fit.kv_cache) / 64
    assert fit.gpu_layers * per_layer + fit.compute <= fit.gpu_budget
    assert f"{fit.gpu_layers}/64 layers" in fit.label


def test_cpu_only_without_gpu() -> None:
    fit = estimate_fit(int(4.7 * GIB), QWEN_7B, 8192, cpu_machine(16))
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert fit.gpu_layers == 0
    assert "no GPU" in fit.summary


def test_wont_fit() -> None:
    fit = estimate_fit(int(42 * GIB), QWEN_32B, 32768, cpu_machine(16))
    assert fit.verdict is FitVerdict.WONT_FIT
    assert fit.label == "won't fit"
    assert not fit.tight


def test_context_changes_the_verdict() -> None:
    machine = nvidia(64, 8)
    small = estimate_fit(int(4.7 * GIB), QWEN_7B, 4096, machine)
    large = estimate_fit(int(4.7 * GIB), QWEN_7B, 131072, machine)
    assert small.verdict is FitVerdict.FITS_GPU
    assert large.verdict is FitVerdict.PARTIAL_OFFLOAD
    assert large.kv_cache > small.kv_cache * 30


def test_apple_unified_memory_uses_75_percent() -> None:
    machine = apple(16)
    assert machine.gpu_budget == int(12 * GIB)
    assert estimate_fit(int(8 * GIB), QWEN_7B, 8192, machine).verdict is FitVerdict.FITS_GPU
    # Over 75% of RAM: some layers stay on the CPU, in the same memory.
    fit = estimate_fit(int(12.5 * GIB), QWEN_7B, 8192, machine)
    assert fit.verdict is FitVerdict.PARTIAL_OFFLOAD
    assert fit.ram_needed == fit.total
    assert estimate_fit(int(20 * GIB), QWEN_7B, 8192, machine).verdict is FitVerdict.WONT_FIT


def test_tight_when_free_ram_is_short() -> None:
    fit = estimate_fit(int(10 * GIB), QWEN_7B, 8192, cpu_machine(32, free_gib=4))
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert fit.tight
    assert "free now" in fit.summary


def test_unknown_shape_guesses_kv() -> None:
    fit = estimate_fit(int(4.7 * GIB), None, 32768, cpu_machine(64))
    assert fit.kv_estimated
    assert fit.n_layer == 0
    assert "~" in fit.summary
    # The guess is conservative: at or above a real 7B GQA model's KV cache.
    assert fit.kv_cache >= QWEN_7B.kv_bytes(32768)
    assert guess_kv_bytes_per_token(70 * GIB // 2) > guess_kv_bytes_per_token(7 * GIB // 2)
    partial = estimate_fit(int(30 * GIB), None, 8192, nvidia(64, 12))
    assert partial.verdict is FitVerdict.PARTIAL_OFFLOAD
    assert partial.label == "partial offload"


def test_json_has_the_numbers() -> None:
    data = estimate_fit(GIB, QWEN_7B, 2048, cpu_machine(8)).to_json()
    assert data["verdict"] == "cpu_only"
    assert data["total"] == data["weights"] + data["kv_cache"] + data["compute"]


def test_detect_machine_memory_reads_psutil() -> None:
    machine = detect_machine_memory()
    assert machine.total_ram > 0
    assert 0 < machine.available_ram <= machine.total_ram


# --- the context bound (--ctx, the window's setting, the API server's --ctx) -------------------


def _header(tmp_path: Path, **extra: object) -> GGUFHeader:
    path = tmp_path / "Model-Q4_K_M.gguf"
    path.write_bytes(gguf_bytes(llama_like_metadata(**extra)))
    return read_header(path)


@pytest.mark.parametrize("n_ctx", [2**32, 2**40, 99999999999999999999, 131073])
def test_a_context_beyond_the_trained_one_is_refused(tmp_path: Path, n_ctx: int) -> None:

    header = _header(tmp_path)  # trained for 131,072 tokens, no rope scaling
    with pytest.raises(ContextSizeError) as info:
        bound_context(n_ctx, header, 5 * GIB, machine=cpu_machine(1024))
    message = str(info.value)
    assert f"a context of {n_ctx:,} tokens is more than Model-Q4_K_M.gguf can use" in message
    assert "trained for 131,072 tokens" in message and "at most 131,072 tokens" in message


def test_rope_scaling_stretches_the_bound(tmp_path: Path) -> None:

    header = _header(
        tmp_path,
        **{
            "llama.context_length": 32768,
            "llama.rope.scaling.type": "yarn",
            "llama.rope.scaling.factor": 4.0,
            "llama.rope.scaling.original_context_length": 32768,
        },
    )
    big = cpu_machine(1024)
    assert bound_context(100_000, header, 5 * GIB, machine=big) == 100_000
    with pytest.raises(ContextSizeError, match=r"131,072 with its rope scaling ×4"):
        bound_context(131_073, header, 5 * GIB, machine=big)


def test_a_context_beyond_the_memory_is_refused_with_what_fits(tmp_path: Path) -> None:

    header = _header(tmp_path)  # 128 KiB of KV cache per token (f16)
    small = cpu_machine(16)
    limit = context_limit(header, 5 * GIB, small)
    assert limit.memory_max is not None and 32_768 < limit.memory_max < 131_072
    fit = estimate_fit(5 * GIB, ModelShape(32, 32, 8, 128), limit.memory_max, small)
    assert fit.verdict is not FitVerdict.WONT_FIT
    too_many = estimate_fit(5 * GIB, ModelShape(32, 32, 8, 128), limit.memory_max + 1, small)
    assert too_many.verdict is FitVerdict.WONT_FIT
    with pytest.raises(ContextSizeError, match=rf"at most about {limit.memory_max:,} tokens fit"):
        bound_context(131_072, header, 5 * GIB, machine=small)
    assert bound_context(8192, header, 5 * GIB, machine=small) == 8192
    # A quantized KV cache needs less: more context fits.
    q8 = context_limit(header, 5 * GIB, small, kv_bytes_per_element=34 / 32)
    assert q8.memory_max is not None and q8.memory_max > limit.memory_max


def test_a_tiny_context_is_refused(tmp_path: Path) -> None:

    with pytest.raises(ContextSizeError, match="too small"):
        bound_context(10, _header(tmp_path), GIB)
