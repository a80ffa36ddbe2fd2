"""GPU probing with injected probe results (no GPU here), and what the fit, the catalog's
quantization and the machine text make of it."""

from __future__ import annotations

from pathlib import Path

from app.library.catalog import load_catalog
from app.library.fit import (
    GIB,
    FitVerdict,
    GpuMemory,
    MachineMemory,
    auto_gpu_layers,
    detect_machine_memory,
    estimate_fit,
)
from app.library.gpu import amd_gpus, apple_default_share, probe_gpus
from app.library.metadata import ModelShape

QWEN_7B = ModelShape(n_layer=28, n_head=28, n_head_kv=4, head_dim=128)
RTX = GpuMemory("NVIDIA GeForce RTX 4060", 8 * GIB, 8 * GIB)


def _none() -> tuple[GpuMemory, ...]:
    return ()


def _no_metal() -> tuple[str, int] | None:
    return None


def _machine(ram_gib: int, *gpus: GpuMemory) -> MachineMemory:
    return MachineMemory(ram_gib * GIB, ram_gib * GIB // 2, gpus=gpus)


def test_nvidia_and_amd_gpus_are_reported_together() -> None:
    amd = GpuMemory("AMD Radeon RX 7600", 8 * GIB, 7 * GIB)
    report = probe_gpus(32 * GIB, apple=False, nvidia=lambda: (RTX,), amd=lambda: (amd,))
    assert report.detected and report.gpus == (RTX, amd)
    assert report.unified_budget is None


def test_apple_uses_metals_working_set() -> None:
    report = probe_gpus(
        16 * GIB, apple=True, nvidia=_none, amd=_none, metal=lambda: ("Apple M2", 11 * GIB)
    )
    assert (report.unified_budget, report.unified_name, report.estimated) == (
        11 * GIB,
        "Apple M2",
        False,
    )


def test_apple_without_metal_is_an_estimate_from_the_ram() -> None:
    report = probe_gpus(16 * GIB, apple=True, nvidia=_none, amd=_none, metal=_no_metal)
    assert report.estimated and report.unified_budget == int(16 * GIB * 2 / 3)
    assert apple_default_share(64 * GIB) == 48 * GIB
    machine = MachineMemory(
        16 * GIB,
        8 * GIB,
        unified=True,
        unified_budget=report.unified_budget,
        gpu_name=report.unified_name,
        gpu_estimated=True,
    )
    assert machine.gpu_budget == report.unified_budget
    assert machine.gpu_text == "GPU: Apple GPU, 10.7 GiB of unified memory usable (estimate)"


def test_no_gpu_is_said_plainly() -> None:
    report = probe_gpus(16 * GIB, apple=False, nvidia=_none, amd=_none, metal=_no_metal)
    assert not report.detected
    assert _machine(16).gpu_text == "GPU not detected: models run on the CPU"
    assert _machine(16, RTX).gpu_text == "GPU: NVIDIA GeForce RTX 4060, 8.0 GiB (8.0 GiB free)"


def test_amdgpu_sysfs_counters(tmp_path: Path) -> None:
    device = tmp_path / "card1" / "device"
    device.mkdir(parents=True)
    (device / "mem_info_vram_total").write_text(f"{16 * GIB}\n")
    (device / "mem_info_vram_used").write_text(f"{2 * GIB}\n")
    (tmp_path / "card1-DP-1").mkdir()  # a connector, not a card
    (tmp_path / "card0" / "device").mkdir(parents=True)  # no amdgpu counters (e.g. Intel)
    assert amd_gpus(tmp_path) == (GpuMemory("AMD GPU (card1)", 16 * GIB, 14 * GIB),)
    assert amd_gpus(tmp_path / "missing") == ()


def test_this_machine_reads_without_error() -> None:
    machine = detect_machine_memory()
    assert machine.total_ram > 0
    assert machine.gpu_text  # "GPU not detected…" here


def test_an_8gb_gpu_changes_the_fit_and_the_quantization() -> None:
    cpu, gpu = _machine(8), _machine(8, RTX)
    weights = int(4.7 * GIB)  # a 7B at Q4_K_M
    assert estimate_fit(weights, QWEN_7B, 4096, cpu).verdict is FitVerdict.CPU_ONLY
    on_gpu = estimate_fit(weights, QWEN_7B, 4096, gpu)
    assert on_gpu.verdict is FitVerdict.FITS_GPU and on_gpu.gpu_layers == 28
    catalog = load_catalog()
    r1_14b = catalog.get("deepseek-r1-distill-qwen-14b")
    assert r1_14b.recommended_for(cpu) is None  # too big for 8 GB of RAM alone
    assert r1_14b.recommended_for(gpu) == "Q4_K_M"
    r1_7b = catalog.get("deepseek-r1-distill-qwen-7b")
    assert (r1_7b.recommended_for(cpu), r1_7b.recommended_for(gpu)) == ("Q4_K_M", "Q6_K")


def test_auto_offload_follows_the_fit_on_gpu_builds() -> None:
    weights = int(4.7 * GIB)  # a 7B at Q4_K_M, 28 layers
    small_gpu = GpuMemory("GTX 1650", 4 * GIB, 4 * GIB)
    full_gpu = GpuMemory("RTX 4060", 8 * GIB, 256 * 1024**2)  # other programs hold it

    def auto(machine: MachineMemory | None, gpu_build: bool = True, size: int = weights) -> int:
        return auto_gpu_layers(gpu_build, machine, size, QWEN_7B, 4096)

    partial = estimate_fit(weights, QWEN_7B, 4096, _machine(16, small_gpu))
    assert partial.verdict is FitVerdict.PARTIAL_OFFLOAD and 0 < partial.gpu_layers < 28
    assert auto(_machine(16, RTX)) == -1  # fits: all of them
    assert auto(_machine(16, small_gpu)) == partial.gpu_layers
    assert auto(_machine(16, full_gpu)) == 0  # measured, no room: the CPU
    assert auto(_machine(64, GpuMemory("GT 710", GIB, GIB)), size=40 * GIB) == 0
    apple = MachineMemory(16 * GIB, 8 * GIB, unified=True, unified_budget=10 * GIB)
    assert auto(apple) == -1
    # A GPU build on a machine whose GPU could not be measured: llama.cpp's own default.
    assert auto(_machine(16)) == -1 and auto(None) == -1
    for machine in (_machine(16, RTX), _machine(16, small_gpu), _machine(16), apple, None):
        assert auto(machine, gpu_build=False) == 0  # a CPU build never offloads
