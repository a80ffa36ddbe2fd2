"""The library screen's table models pass qtmodeltester and show what a user needs."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.library.catalog import load_catalog
from app.library.fit import GIB, GpuMemory, MachineMemory
from app.library.hub import HubModel, QuantVariant, RemoteFile
from app.library.local import LocalModel, ModelKind, ModelSource
from ui.library.models import (
    CatalogModel,
    HubResultsModel,
    ItemRole,
    LocalModelsModel,
    VariantsModel,
)

SMALL = MachineMemory(total_ram=8 * GIB, available_ram=6 * GIB)
GPU = MachineMemory(
    total_ram=32 * GIB, available_ram=24 * GIB, gpus=(GpuMemory("RTX", 12 * GIB, 12 * GIB),)
)


def test_catalog_model(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = CatalogModel(SMALL)
    model.set_items(load_catalog().entries)
    qtmodeltester.check(model)
    names = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert "DeepSeek-R1-Distill-Qwen-1.5B" in names
    row = names.index("DeepSeek-R1-Distill-Qwen-32B")
    assert model.index(row, 4).data() == "too big for this machine"
    assert model.index(row, 0).data(ItemRole).id == "deepseek-r1-distill-qwen-32b"


def test_hub_results_model(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = HubResultsModel()
    model.set_items(
        [
            HubModel(
                "a/b-GGUF", "gguf", downloads=1234, last_modified=datetime(2025, 2, 1, tzinfo=UTC)
            ),
            HubModel("c/d-GGUF", "gguf", gated=True),
        ]
    )
    qtmodeltester.check(model)
    assert model.index(0, 2).data() == "1,234"
    assert "🔒" in model.index(1, 0).data()


def test_local_models_model(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    good = LocalModel(
        "p/r/a",
        "12345678",
        ModelSource.USER,
        ModelKind.GGUF,
        Path("/m/a.gguf"),
        (Path("/m/a.gguf"),),
        3 * GIB,
        "Q4_K_M",
        None,
    )
    bad = LocalModel(
        "p/r/b",
        "87654321",
        ModelSource.PONDER,
        ModelKind.GGUF,
        Path("/m/b.gguf"),
        (Path("/m/b.gguf"),),
        10,
        None,
        None,
        error="not a GGUF file",
    )
    model = LocalModelsModel()
    model.set_items([good, bad])
    qtmodeltester.check(model)
    assert model.index(1, 6).data() == "unusable: not a GGUF file"
    assert "not a GGUF file" in model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert model.row_of_path("/m/b.gguf") == 1


def test_variants_model_badges(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    entry = load_catalog().get("deepseek-r1-distill-qwen-7b")
    variants = [
        QuantVariant(f"m-{q}", q, "gguf", (RemoteFile(f"m-{q}.gguf", size, None, None),))
        for q, size in (("Q4_K_M", 4 * GIB), ("Q8_0", 8 * GIB), ("F16", 15 * GIB))
    ]
    model = VariantsModel()
    model.recommended = "m-Q8_0"
    model.set_items([(v, v.fit(entry.shape, 8192, GPU)) for v in variants])
    qtmodeltester.check(model)
    badges = [model.index(r, 3).data() for r in range(3)]
    assert badges == ["fits on GPU", "fits on GPU", "partial offload"]
    assert "recommended" in model.index(1, 0).data()
    assert "GiB" in model.index(2, 3).data(Qt.ItemDataRole.ToolTipRole)
    small = [(v, v.fit(entry.shape, 8192, SMALL)) for v in variants]
    model.set_items(small)
    assert [model.index(r, 3).data() for r in range(3)] == ["CPU only", "won't fit", "won't fit"]
