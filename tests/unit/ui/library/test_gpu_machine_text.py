"""The first-run model and the library's machine line use the GPU (injected machines)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QLabel

from app.library.fit import GIB, GpuMemory, MachineMemory
from ui.library.view import LibraryView
from ui.library.welcome import first_model

CPU_8 = MachineMemory(8 * GIB, 4 * GIB)
GPU_8 = MachineMemory(8 * GIB, 4 * GIB, gpus=(GpuMemory("RTX 4060", 8 * GIB, 8 * GIB),))


def test_an_8gb_gpu_gets_a_larger_first_model() -> None:
    cpu_entry, cpu_quant = first_model(CPU_8)
    gpu_entry, gpu_quant = first_model(GPU_8)
    assert (cpu_entry.id, cpu_quant) == ("deepseek-r1-distill-qwen-1.5b", "Q4_K_M")
    assert (gpu_entry.id, gpu_quant) == ("deepseek-r1-distill-qwen-7b", "Q6_K")


def test_the_library_says_when_no_gpu_is_detected(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = LibraryView(machine=CPU_8)
    qtbot.addWidget(view)
    texts = [label.text() for label in view.findChildren(QLabel)]
    assert any("GPU not detected: models run on the CPU" in t for t in texts)
    view = LibraryView(machine=GPU_8)
    qtbot.addWidget(view)
    texts = [label.text() for label in view.findChildren(QLabel)]
    assert any("GPU: RTX 4060, 8.0 GiB (8.0 GiB free)" in t for t in texts)
