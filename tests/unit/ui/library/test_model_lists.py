"""Compare's dropdown and the library list name models by the one rule, and tell apart the
copies that would look the same (the issue: eight identical entries)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from app.library.local import ModelRoot, ModelSource, list_local_models
from tests.support.hub_server import gguf_bytes, llama_like_metadata
from ui.compare.view import CompareColumn
from ui.library.models import LocalModelsModel

RUN_LABEL = "Smollm2 135M 8k Lc100K Mix1 Ep2"  # what general.name says in the real file


@pytest.fixture
def copies(tmp_path: Path) -> list[Path]:
    """The same model in four folders, plus a catalog model with a publisher's file name."""
    header = gguf_bytes(llama_like_metadata(RUN_LABEL, **{"general.file_type": 3}))
    files = []
    for folder in ("a", "b", "c/x", "c/y"):
        path = tmp_path / "models" / folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
        path.parent.mkdir(parents=True)
        path.write_bytes(header)
        files.append(path)
    qwq = tmp_path / "models" / "b" / "Qwen_QwQ-32B-Q4_K_M.gguf"
    qwq.write_bytes(gguf_bytes(llama_like_metadata("QwQ 32B")))
    return [*files, qwq]


def models(tmp_path: Path):  # type: ignore[no-untyped-def]
    found = list_local_models([ModelRoot(tmp_path / "models", ModelSource.USER)])
    assert len(found) == 5 and all(m.usable for m in found), [m.error for m in found]
    return found


def test_compare_dropdown_entries_are_named_once_and_all_different(
    qtbot, tmp_path: Path, copies: list[Path]
) -> None:  # type: ignore[no-untyped-def]
    column = CompareColumn()
    qtbot.addWidget(column)
    column.set_models(models(tmp_path))
    shown = [column.models.itemText(i) for i in range(column.models.count())]
    assert len(shown) == 5 and len(set(shown)) == 5, shown
    assert not any(RUN_LABEL in s for s in shown)
    smol = sorted(s for s in shown if s.startswith("SmolLM2-135M-Instruct Q4_1 — "))
    assert len(smol) == 4  # the copies: told apart by the end of their paths
    assert [s.split(" — ")[1].split(" · ")[0] for s in smol] == [
        "a/SmolLM2-135M-Instruct.Q4_1.gguf",
        "b/SmolLM2-135M-Instruct.Q4_1.gguf",
        "x/SmolLM2-135M-Instruct.Q4_1.gguf",
        "y/SmolLM2-135M-Instruct.Q4_1.gguf",
    ]
    assert any(s.startswith("QwQ-32B Q4_K_M · ") for s in shown)  # the catalog's name


def test_library_list_uses_the_same_names(qtbot, tmp_path: Path, copies: list[Path]) -> None:  # type: ignore[no-untyped-def]
    table = LocalModelsModel()
    found = models(tmp_path)
    table.set_items(found)
    column = CompareColumn()
    qtbot.addWidget(column)
    column.set_models(found)
    listed = [table.index(r, 0).data() for r in range(table.rowCount())]
    in_compare = [column.models.itemText(i).rsplit(" · ", 1)[0] for i in range(5)]
    assert sorted(listed) == sorted(in_compare)
