"""The first model for a machine, and catalog ids and names as model names (no hub here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.library.catalog import load_catalog
from app.library.first_run import catalog_entry_named, downloaded_model, first_model
from app.library.fit import GIB, MachineMemory
from app.library.local import LocalModel, ModelKind, ModelSource


def machine(gb: float) -> MachineMemory:
    return MachineMemory(total_ram=int(gb * GIB), available_ram=int(gb * GIB * 0.7))


@pytest.mark.parametrize(
    ("gb", "entry_id", "quant"),
    [
        (7.6, "deepseek-r1-distill-qwen-1.5b", "Q4_K_M"),
        (15.5, "deepseek-r1-distill-qwen-7b", "Q6_K"),
        (24, "deepseek-r1-distill-qwen-7b", "Q6_K"),
        (31.3, "deepseek-r1-distill-qwen-14b", "Q8_0"),
    ],
)
def test_first_model_per_machine(gb: float, entry_id: str, quant: str) -> None:
    entry, chosen = first_model(machine(gb))
    assert (entry.id, chosen) == (entry_id, quant)


def test_catalog_ids_and_names_case_insensitive() -> None:
    entry = load_catalog().get("deepseek-r1-distill-qwen-7b")
    for text in (
        "deepseek-r1-distill-qwen-7b",
        "DeepSeek-R1-Distill-Qwen-7B",
        " DEEPSEEK-R1-DISTILL-QWEN-7B ",
    ):
        assert catalog_entry_named(text) is entry
    for text in ("", "deepseek", "bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF"):
        assert catalog_entry_named(text) is None


def local(model_id: str, quant: str, error: str | None = None) -> LocalModel:
    path = Path("/models") / f"{model_id}.gguf"
    return LocalModel(
        model_id, "0" * 8, ModelSource.PONDER, ModelKind.GGUF, path, (path,), 1, quant, None, error
    )


def test_downloaded_model_prefers_the_quant_and_skips_unusable_and_others() -> None:
    entry = load_catalog().get("deepseek-r1-distill-qwen-7b")
    q4 = local(
        "unsloth/DeepSeek-R1-Distill-Qwen-7B-GGUF/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M", "Q4_K_M"
    )
    q6 = local(
        "bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF/DeepSeek-R1-Distill-Qwen-7B-Q6_K", "Q6_K"
    )
    broken = local("bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF/broken-Q8_0", "Q8_0", "truncated")
    other = local(
        "bartowski/DeepSeek-R1-Distill-Qwen-14B-GGUF/DeepSeek-R1-Distill-Qwen-14B-Q6_K", "Q6_K"
    )
    assert downloaded_model(entry, [other, q4, q6], "Q6_K") is q6
    assert downloaded_model(entry, [other, q4, q6], "q8_0") is q4  # not there: any copy
    assert downloaded_model(entry, [broken, other], "Q8_0") is None
    assert downloaded_model(entry, [], None) is None
