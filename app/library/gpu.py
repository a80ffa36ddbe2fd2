"""Which GPU this machine has, and how much of its memory a model may use.

- NVIDIA: NVML through ``nvidia-ml-py`` (module ``pynvml``; a dependency on Linux/Windows
  x86-64), when a driver answers.
- AMD on Linux: the amdgpu driver's ``mem_info_vram_total``/``_used`` in sysfs.
- Apple Silicon: Metal's ``recommendedMaxWorkingSetSize`` (the share of unified memory the GPU
  may use), read through the Objective-C runtime; if that fails, macOS's default share of the
  RAM, flagged as an estimate.
- Anything else: :class:`GpuReport` with nothing detected ("GPU not detected").

Every probe is a plain function, so :func:`probe_gpus` is tested with injected results.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class GpuMemory:
    """One GPU's memory in bytes."""

    name: str
    total: int
    free: int


@dataclass(frozen=True, slots=True)
class GpuReport:
    """What the probes found.

    Attributes:
        gpus: discrete GPUs with their own memory.
        unified_budget: Apple Silicon: bytes of unified memory the GPU may use (else None).
        unified_name: the Apple GPU's name (e.g. "Apple M2 Pro").
        estimated: ``unified_budget`` is macOS's default share, not Metal's own figure.
    """

    gpus: tuple[GpuMemory, ...] = field(default_factory=tuple)
    unified_budget: int | None = None
    unified_name: str = ""
    estimated: bool = False

    @property
    def detected(self) -> bool:
        return bool(self.gpus) or self.unified_budget is not None


def apple_default_share(total_ram: int) -> int:
    """macOS's default GPU working set: about 2/3 of RAM up to 36 GiB, 3/4 above."""
    return int(total_ram * (0.75 if total_ram > 36 * GIB else 2 / 3))


def nvidia_gpus() -> tuple[GpuMemory, ...]:
    """NVIDIA GPUs from NVML; none without ``pynvml`` or a driver."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device: NVML raises its own error types
        return ()
    gpus: list[GpuMemory] = []
    try:
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            info = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            gpus.append(GpuMemory(str(name), int(info.total), int(info.free)))
    except Exception:
        return tuple(gpus)
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return tuple(gpus)


_CARD = re.compile(r"card\d+")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def amd_gpus(drm: Path = Path("/sys/class/drm")) -> tuple[GpuMemory, ...]:
    """AMD GPUs from the amdgpu driver's sysfs counters (Linux); none elsewhere."""
    try:
        cards = sorted(p for p in drm.iterdir() if _CARD.fullmatch(p.name))
    except OSError:
        return ()
    gpus = []
    for card in cards:
        device = card / "device"
        total = _read_int(device / "mem_info_vram_total")
        used = _read_int(device / "mem_info_vram_used")
        if not total or used is None:
            continue
        try:
            name = (device / "product_name").read_text().strip()
        except OSError:
            name = ""
        gpus.append(GpuMemory(name or f"AMD GPU ({card.name})", total, max(0, total - used)))
    return tuple(gpus)


def metal_working_set() -> tuple[str, int] | None:
    """Apple's Metal: the default device's name and ``recommendedMaxWorkingSetSize``."""
    import ctypes

    try:
        objc = ctypes.CDLL("/usr/lib/libobjc.A.dylib")
        metal = ctypes.CDLL("/System/Library/Frameworks/Metal.framework/Metal")
        metal.MTLCreateSystemDefaultDevice.restype = ctypes.c_void_p
        device = metal.MTLCreateSystemDefaultDevice()
        if not device:
            return None
        objc.sel_registerName.restype = ctypes.c_void_p
        objc.sel_registerName.argtypes = [ctypes.c_char_p]
        send = ctypes.cast(objc.objc_msgSend, ctypes.c_void_p).value or 0

        def msg(restype: type, receiver: int, selector: bytes) -> object:
            fn = ctypes.CFUNCTYPE(restype, ctypes.c_void_p, ctypes.c_void_p)(send)
            return fn(receiver, objc.sel_registerName(selector))

        size = msg(ctypes.c_uint64, device, b"recommendedMaxWorkingSetSize")
        ns_name = msg(ctypes.c_void_p, device, b"name")
        raw = msg(ctypes.c_char_p, ns_name, b"UTF8String") if ns_name else None  # type: ignore[arg-type]
    except (OSError, AttributeError, ValueError, TypeError):
        return None
    name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else "Apple GPU"
    return (name, int(size)) if isinstance(size, int) and size > 0 else None


def probe_gpus(
    total_ram: int,
    *,
    apple: bool,
    nvidia: Callable[[], tuple[GpuMemory, ...]] = nvidia_gpus,
    amd: Callable[[], tuple[GpuMemory, ...]] = amd_gpus,
    metal: Callable[[], tuple[str, int] | None] = metal_working_set,
) -> GpuReport:
    """This machine's GPUs: Metal's share on Apple Silicon, else NVIDIA's and AMD's GPUs."""
    if apple:
        found = metal()
        if found is not None:
            return GpuReport(unified_budget=found[1], unified_name=found[0])
        return GpuReport(
            unified_budget=apple_default_share(total_ram),
            unified_name="Apple GPU",
            estimated=True,
        )
    return GpuReport(gpus=nvidia() + amd())
