"""``--model ID|PATH`` of ``ponder chat`` and ``ponder serve``: library ids and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.args import resolve_model_arg
from app.library import add_user_path, list_local_models
from app.library.errors import UnknownModelError


def test_a_library_id_with_a_folder_part_is_an_id_not_a_path(smollm2: Path) -> None:
    add_user_path(smollm2)
    (model,) = [m for m in list_local_models() if m.path == smollm2]
    assert "/" in model.id  # as `ponder models list` shows it: "folder/name"
    assert resolve_model_arg(model.id) == str(smollm2)
    assert resolve_model_arg(smollm2.stem) == str(smollm2)  # the short id


def test_paths_stay_paths(smollm2: Path, tmp_path: Path) -> None:
    assert resolve_model_arg(str(smollm2)) == str(smollm2)
    for missing in (str(tmp_path / "gone.gguf"), "./gone.gguf", "gone.gguf", "~/x/gone"):
        assert resolve_model_arg(missing) == missing  # the loader reports the missing file


def test_an_unknown_id_names_the_command_that_lists_ids() -> None:
    with pytest.raises(UnknownModelError, match="ponder models list"):
        resolve_model_arg("nosuch/model")
