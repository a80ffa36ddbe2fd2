"""GGUF metadata: real, truncated, garbage and absurd files; the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ModelFileError
from app.library import metadata as metadata_module
from app.library.metadata import MetadataCache, ModelMetadata, read_metadata
from tests.support.hub_server import gguf_bytes, llama_like_metadata

R1_TEMPLATE = "{{ bos_token }}<｜User｜>{{ m }}<｜Assistant｜><think>\n"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_real_smollm2(smollm2: Path) -> None:
    meta = read_metadata(smollm2)
    assert meta.architecture == "llama"
    assert meta.quant == "Q4_1"
    assert meta.context_length == 8192
    assert meta.shape is not None
    assert (meta.shape.n_layer, meta.shape.n_head_kv, meta.shape.head_dim) == (30, 3, 64)
    assert meta.chat_template and "<|im_start|>" in meta.chat_template
    assert meta.size_label == "135M"


def test_synthetic_header_fields(tmp_path: Path) -> None:
    keys = llama_like_metadata(
        "DeepSeek R1 Distill Llama 8B",
        **{
            "tokenizer.chat_template": R1_TEMPLATE,
            "general.base_model.count": 2,
            "general.base_model.0.name": "Llama 3.1 8B",
            "general.base_model.0.organization": "Meta Llama",
            "general.base_model.0.repo_url": "https://huggingface.co/meta-llama/Llama-3.1-8B",
            "general.base_model.1.name": "DeepSeek R1",
        },
    )
    meta = read_metadata(write(tmp_path / "m.gguf", gguf_bytes(keys)))
    assert meta.quant == "Q4_K_M"  # general.file_type 15
    assert meta.family_id == "deepseek-r1"
    assert meta.license == "mit"
    assert [b.name for b in meta.base_models] == ["Llama 3.1 8B", "DeepSeek R1"]
    assert meta.base_models[0].organization == "Meta Llama"
    assert meta.shape is not None and meta.shape.head_dim == 128  # 4096 / 32
    assert ModelMetadata.from_json(meta.to_json()) == meta


def test_quant_falls_back_to_the_file_name(tmp_path: Path) -> None:
    keys = llama_like_metadata()
    del keys["general.file_type"]
    meta = read_metadata(write(tmp_path / "thing-IQ4_XS.gguf", gguf_bytes(keys)))
    assert meta.quant == "IQ4_XS"


def test_truncated_real_file(tmp_path: Path, smollm2: Path) -> None:
    with smollm2.open("rb") as fh:
        head = fh.read(200_000)  # in the middle of the vocabulary
    path = write(tmp_path / "cut.gguf", head)
    with pytest.raises(ModelFileError, match="truncated"):
        read_metadata(path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"PK\x03\x04" + b"\0" * 100, "not a GGUF"),
        (b"GGUF", "truncated"),
        (b"", "not a GGUF"),
        (b"GGUF" + (7).to_bytes(4, "little") + b"\0" * 40, "unsupported GGUF version"),
    ],
)
def test_garbage(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(ModelFileError, match=match):
        read_metadata(write(tmp_path / "bad.gguf", data))


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("llama.block_count", 1_000_000, "layer count"),
        ("llama.context_length", 2**40, "context length"),
        ("llama.attention.head_count_kv", 0, "KV head count"),
    ],
)
def test_absurd_values(tmp_path: Path, key: str, value: int, match: str) -> None:
    data = gguf_bytes(llama_like_metadata(**{key: value}))
    with pytest.raises(ModelFileError, match=match):
        read_metadata(write(tmp_path / "absurd.gguf", data))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        read_metadata(tmp_path / "nope.gguf")


def test_cache_skips_reparsing_and_follows_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "m.gguf", gguf_bytes(llama_like_metadata("First")))
    calls: list[Path] = []
    real = metadata_module.read_header

    def counting(p: Path) -> object:
        calls.append(Path(p))
        return real(p)

    monkeypatch.setattr(metadata_module, "read_header", counting)
    cache = MetadataCache(tmp_path / "cache.json")
    assert read_metadata(path, cache=cache).name == "First"
    assert read_metadata(path, cache=cache).name == "First"
    assert len(calls) == 1
    # A fresh cache object reads the JSON file written by the first.
    assert read_metadata(path, cache=MetadataCache(tmp_path / "cache.json")).name == "First"
    assert len(calls) == 1
    # The file changes (size and mtime): read again.
    write(path, gguf_bytes(llama_like_metadata("Second, longer name")))
    assert read_metadata(path, cache=cache).name == "Second, longer name"
    assert len(calls) == 2


def test_errors_are_cached_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "bad.gguf", b"nonsense" * 10)
    cache = MetadataCache(tmp_path / "cache.json")
    with pytest.raises(ModelFileError):
        read_metadata(path, cache=cache)
    monkeypatch.setattr(metadata_module, "read_header", lambda p: pytest.fail("re-parsed"))
    with pytest.raises(ModelFileError, match="not a GGUF"):
        read_metadata(path, cache=cache)


def test_default_cache_lives_in_ponder_home(tmp_path: Path, ponder_home: Path) -> None:
    path = write(tmp_path / "m.gguf", gguf_bytes(llama_like_metadata()))
    read_metadata(path)
    assert (ponder_home / "cache" / "library" / "metadata.json").exists()


def test_a_file_cut_short_in_its_tensor_data_is_unusable(tmp_path: Path, smollm2: Path) -> None:
    # Header and tensor records complete, weights missing: an interrupted copy or download.
    with smollm2.open("rb") as fh:
        head = fh.read(50_000_000)
    path = write(tmp_path / "SmolLM2-cut.gguf", head)
    with pytest.raises(ModelFileError, match=r"SmolLM2-cut.gguf: .*truncated.*98,362,432 bytes"):
        read_metadata(path)
    # The whole file is still fine, and its tensor data ends exactly at its end.
    from app.gguf import read_header

    assert read_header(smollm2).data_end == smollm2.stat().st_size
    assert read_metadata(smollm2).tensor_count == 272
