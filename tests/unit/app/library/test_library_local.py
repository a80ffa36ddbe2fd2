"""Local discovery on fake Ponder, Hugging Face cache, LM Studio and user folder layouts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.errors import ModelFileError
from app.library.errors import LibraryError, UnknownModelError
from app.library.local import (
    ModelKind,
    ModelSource,
    add_user_path,
    find_model,
    hf_cache_dir,
    list_local_models,
    remove_model,
    resolve_model,
    user_paths,
)
from app.paths import models_dir
from tests.support.hub_server import gguf_bytes, llama_like_metadata

QWEN3_TEMPLATE = (
    "{%- if enable_thinking is defined and enable_thinking is false %}<think>{% endif %}"
)


def gguf(path: Path, name: str = "Model", **extra: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gguf_bytes(llama_like_metadata(name, **extra)))
    return path


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    hub = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return {"home": home, "hub": hub}


def hf_repo(
    hub: Path, repo: str, files: dict[str, bytes | None], rev: str = "a" * 40, main: bool = True
) -> Path:
    """A repo in the HF cache: blobs, a snapshot of symlinks, refs/main. None = missing blob."""
    root = hub / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    if main:
        (root / "refs" / "main").write_text(rev)
    snap = root / "snapshots" / rev
    for name, data in files.items():
        blob = root / "blobs" / f"blob{abs(hash((repo, name, rev)))}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            blob.write_bytes(data)
        link = snap / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snap


def by_id(models: list, model_id: str):  # type: ignore[no-untyped-def]
    return next(m for m in models if m.id == model_id)


def test_hf_cache_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "x"))
    assert hf_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hfhome"))
    assert hf_cache_dir() == tmp_path / "hfhome" / "hub"


def test_discovers_every_source(homes: dict[str, Path], tmp_path: Path) -> None:
    hub, home = homes["hub"], homes["home"]
    data = gguf_bytes(
        llama_like_metadata("Qwen3 8B", **{"tokenizer.chat_template": QWEN3_TEMPLATE})
    )
    hf_repo(hub, "Qwen/Qwen3-8B-GGUF", {"Qwen3-8B-Q4_K_M.gguf": data})
    # An older snapshot of the same file: listed once.
    hf_repo(hub, "Qwen/Qwen3-8B-GGUF", {"Qwen3-8B-Q4_K_M.gguf": data}, rev="b" * 40, main=False)
    gguf(home / ".lmstudio/models/lmstudio-community/Phi-GGUF/Phi-Q8_0.gguf", "Phi")
    gguf(home / ".cache/lm-studio/models/old/Repo-GGUF/Old-Q6_K.gguf", "Old")
    gguf(models_dir() / "bartowski/R1-GGUF/R1-Q5_K_M.gguf", "R1")
    (models_dir() / ".downloads/job/R1-Q8_0.gguf.part").parent.mkdir(parents=True)
    (models_dir() / ".downloads/job/R1-Q8_0.gguf.part").write_bytes(b"GGUF partial")
    (models_dir() / ".downloads/job/R1-Q8_0.gguf").write_bytes(b"GGUF unverified")
    mine = gguf(tmp_path / "mine/Loose-Q4_0.gguf", "Loose")
    add_user_path(mine.parent)

    models = list_local_models()
    ids = {m.id: m for m in models}
    assert set(ids) == {
        "bartowski/R1-GGUF/R1-Q5_K_M",
        "Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M",
        "lmstudio-community/Phi-GGUF/Phi-Q8_0",
        "old/Repo-GGUF/Old-Q6_K",
        "mine/Loose-Q4_0",
    }
    qwen = ids["Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M"]
    assert qwen.source is ModelSource.HF_CACHE
    assert qwen.usable and qwen.quant == "Q4_K_M"
    assert qwen.metadata is not None and qwen.metadata.family_id == "qwen3"
    assert "snapshots/" + "a" * 40 in str(qwen.path)  # the revision refs/main names
    assert ids["bartowski/R1-GGUF/R1-Q5_K_M"].source is ModelSource.PONDER
    assert ids["lmstudio-community/Phi-GGUF/Phi-Q8_0"].source is ModelSource.LMSTUDIO
    assert ids["mine/Loose-Q4_0"].source is ModelSource.USER
    assert all(len(m.short_id) == 8 for m in models)
    # The metadata cache was written for the next scan.
    assert any((models_dir().parent / "cache" / "library").glob("metadata.json"))


def test_unusable_files_are_listed_with_a_reason(homes: dict[str, Path]) -> None:
    hub, home = homes["hub"], homes["home"]
    hf_repo(hub, "org/Broken-GGUF", {"Broken-Q4_K_M.gguf": None})  # dangling symlink
    folder = home / ".lmstudio/models/pub/Repo-GGUF"
    folder.mkdir(parents=True)
    (folder / "garbage-Q4_0.gguf").write_bytes(b"definitely not gguf" * 10)
    (folder / "cut-Q4_0.gguf").write_bytes(gguf_bytes(llama_like_metadata())[:60])
    absurd = llama_like_metadata(**{"llama.block_count": 10**6})
    (folder / "absurd-Q4_0.gguf").write_bytes(gguf_bytes(absurd))

    models = {m.id.rsplit("/", 1)[-1]: m for m in list_local_models()}
    assert "broken link" in (models["Broken-Q4_K_M"].error or "")
    assert "not a GGUF" in (models["garbage-Q4_0"].error or "")
    assert "truncated" in (models["cut-Q4_0"].error or "")
    assert "absurd layer count" in (models["absurd-Q4_0"].error or "")
    assert not any(m.usable for m in models.values())
    with pytest.raises(ModelFileError, match="not a GGUF"):
        resolve_model("pub/Repo-GGUF/garbage-Q4_0")


def test_split_models_are_one_model(homes: dict[str, Path]) -> None:
    folder = models_dir() / "bartowski/Big-GGUF/Big-Q8_0"
    header = gguf_bytes(llama_like_metadata("Big"))
    (folder).mkdir(parents=True)
    (folder / "Big-Q8_0-00001-of-00003.gguf").write_bytes(header)
    (folder / "Big-Q8_0-00002-of-00003.gguf").write_bytes(b"\0" * 1000)
    (folder / "Big-Q8_0-00003-of-00003.gguf").write_bytes(b"\0" * 500)
    lm = homes["home"] / ".lmstudio/models/pub/Half-GGUF"
    lm.mkdir(parents=True)
    (lm / "Half-Q4_0-00001-of-00002.gguf").write_bytes(header)

    models = list_local_models()
    big = by_id(models, "bartowski/Big-GGUF/Big-Q8_0")
    assert big.usable
    assert len(big.files) == 3
    assert big.size == len(header) + 1500
    assert big.path.name == "Big-Q8_0-00001-of-00003.gguf"
    assert big.quant == "Q4_K_M"  # from general.file_type, not the name
    half = by_id(models, "pub/Half-GGUF/Half-Q4_0")
    assert half.error == "split model is missing part(s) 2 of 2"
    # resolve_model on any part gives the first one.
    assert resolve_model(folder / "Big-Q8_0-00002-of-00003.gguf") == big.path
    assert resolve_model(str(folder / "Big-Q8_0-00003-of-00003.gguf")) == big.path


def test_mlx_folders(homes: dict[str, Path]) -> None:
    snap = hf_repo(
        homes["hub"],
        "mlx-community/Qwen3-4B-4bit",
        {
            "config.json": json.dumps(
                {
                    "model_type": "qwen3",
                    "quantization": {"group_size": 64, "bits": 4},
                    "num_hidden_layers": 36,
                    "num_attention_heads": 32,
                    "num_key_value_heads": 8,
                    "head_dim": 128,
                    "max_position_embeddings": 40960,
                }
            ).encode(),
            "model.safetensors": b"\0" * 100,
            "tokenizer_config.json": json.dumps({"chat_template": QWEN3_TEMPLATE}).encode(),
        },
    )
    # A transformers (not MLX) folder is not a model here.
    plain = models_dir() / "org/FullPrecision"
    plain.mkdir(parents=True)
    (plain / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (plain / "model.safetensors").write_bytes(b"\0")

    models = list_local_models()
    assert [m.id for m in models] == ["mlx-community/Qwen3-4B-4bit"]
    mlx = models[0]
    assert mlx.kind is ModelKind.MLX and mlx.usable
    assert mlx.path == snap
    assert mlx.quant == "4bit"
    assert mlx.metadata is not None and mlx.metadata.family_id == "qwen3"
    assert mlx.metadata.shape is not None and mlx.metadata.shape.n_layer == 36
    assert resolve_model("mlx-community/Qwen3-4B-4bit") == snap


def test_resolve_model_by_id_short_id_stem_and_path(homes: dict[str, Path]) -> None:
    path = gguf(models_dir() / "bartowski/R1-GGUF/R1-Q5_K_M.gguf")
    model = find_model("bartowski/R1-GGUF/R1-Q5_K_M")
    assert resolve_model("bartowski/R1-GGUF/R1-Q5_K_M") == path
    assert resolve_model(model.short_id) == path
    assert resolve_model(model.short_id.upper()) == path
    assert resolve_model("r1-q5_k_m") == path  # a unique stem, any case
    assert resolve_model(str(path)) == path
    with pytest.raises(UnknownModelError, match="no model 'nope'"):
        resolve_model("nope")
    with pytest.raises(ModelFileError, match="not found"):
        resolve_model(path.with_name("gone.gguf"))
    with pytest.raises(ModelFileError, match="is a folder"):
        resolve_model(str(path.parent))


def test_duplicate_ids_get_a_source_suffix(homes: dict[str, Path]) -> None:
    gguf(models_dir() / "pub/Repo-GGUF/M-Q4_K_M.gguf")
    gguf(homes["home"] / ".lmstudio/models/pub/Repo-GGUF/M-Q4_K_M.gguf")
    ids = sorted(m.id for m in list_local_models())
    assert ids == ["pub/Repo-GGUF/M-Q4_K_M", "pub/Repo-GGUF/M-Q4_K_M@lmstudio"]
    with pytest.raises(UnknownModelError, match="several"):
        resolve_model("m-q4_k_m")
    assert "lmstudio" in str(resolve_model("pub/Repo-GGUF/M-Q4_K_M@lmstudio"))


def test_lmstudio_custom_folder_from_its_settings(homes: dict[str, Path], tmp_path: Path) -> None:
    custom = tmp_path / "lm-models"
    gguf(custom / "pub/Repo-GGUF/Custom-Q4_0.gguf")
    settings = homes["home"] / ".lmstudio" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"downloadsFolder": str(custom)}))
    (m,) = list_local_models()
    assert m.id == "pub/Repo-GGUF/Custom-Q4_0" and m.source is ModelSource.LMSTUDIO


def test_user_paths_add_and_forget(homes: dict[str, Path], tmp_path: Path) -> None:
    single = gguf(tmp_path / "somewhere/Single-Q8_0.gguf")
    gguf(tmp_path / "somewhere/Other-Q8_0.gguf")  # not added: the file alone was
    assert add_user_path(single) == single
    assert add_user_path(single) == single  # once only
    assert user_paths() == [single]
    assert [m.id for m in list_local_models()] == ["somewhere/Single-Q8_0"]
    with pytest.raises(LibraryError, match="no such file"):
        add_user_path(tmp_path / "missing")
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    with pytest.raises(LibraryError, match="not a GGUF"):
        add_user_path(text)
    assert "forgot" in remove_model("somewhere/Single-Q8_0")
    assert single.exists()  # never deleted
    assert user_paths() == []
    add_user_path(single.parent)
    assert "no longer searching" in remove_model(str(single.parent))


def test_remove_model_deletes_only_ponder_files(homes: dict[str, Path]) -> None:
    folder = models_dir() / "pub/Repo-GGUF"
    path = gguf(folder / "sub/M-Q4_K_M.gguf")
    hf_repo(
        homes["hub"], "org/Theirs-GGUF", {"Theirs-Q4_0.gguf": gguf_bytes(llama_like_metadata())}
    )
    assert "deleted" in remove_model("pub/Repo-GGUF/M-Q4_K_M")
    assert not path.exists()
    assert not (models_dir() / "pub").exists()  # empty folders pruned
    assert models_dir().exists()
    with pytest.raises(LibraryError, match="Hugging Face cache"):
        remove_model("org/Theirs-GGUF/Theirs-Q4_0")


def test_a_scan_of_nothing(homes: dict[str, Path]) -> None:
    assert list_local_models() == []


def test_a_truncated_gguf_is_listed_as_unusable_with_the_reason(
    tmp_path: Path, smollm2: Path
) -> None:
    from app.library.local import ModelRoot, ModelSource, list_local_models

    folder = tmp_path / "models"
    folder.mkdir()
    with smollm2.open("rb") as fh:
        (folder / "SmolLM2-135M-Instruct-Q4_1.gguf").write_bytes(fh.read(60_000_000))
    models = list_local_models([ModelRoot(folder, ModelSource.USER)])
    assert len(models) == 1
    assert not models[0].usable
    assert models[0].error is not None and "truncated" in models[0].error
