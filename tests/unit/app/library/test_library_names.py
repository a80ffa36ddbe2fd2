"""File names: quant labels, split parts, unsafe hub paths, repo ids."""

from __future__ import annotations

import pytest

from app.library.errors import UnsafeFileNameError
from app.library.names import (
    check_repo_id,
    model_stem,
    parse_split,
    quant_from_file_type,
    quant_from_name,
    safe_relative_path,
)


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf", "Q4_K_M"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("qwen3-8b-q8_0.gguf", "Q8_0"),
        ("Qwen3-8B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("Bespoke-Stratos-32B.i1-IQ3_XXS.gguf", "IQ3_XXS"),
        ("gpt-oss-20b-mxfp4.gguf", "MXFP4"),
        ("phi-4-F16.gguf", "F16"),
        ("OpenThinker2-7B-bf16.gguf", "BF16"),
        ("Qwen2.5-7B-Instruct-Q6_K-00001-of-00002.gguf", "Q6_K"),
        ("sub/dir/model-IQ4_XS.gguf", "IQ4_XS"),
        ("Qwen2.5-7B-Instruct.gguf", None),
        ("model.gguf", None),
    ],
)
def test_quant_from_name(name: str, quant: str | None) -> None:
    assert quant_from_name(name) == quant


def test_quant_from_file_type() -> None:
    assert quant_from_file_type(15) == "Q4_K_M"
    assert quant_from_file_type(3) == "Q4_1"
    assert quant_from_file_type(30) == "IQ4_XS"
    assert quant_from_file_type(38) == "MXFP4"
    assert quant_from_file_type(999) is None
    assert quant_from_file_type("15") is None
    assert quant_from_file_type(True) is None


def test_split_names() -> None:
    split = parse_split("Model-Q8_0-00002-of-00003.gguf")
    assert split is not None
    assert (split.base, split.part, split.count) == ("Model-Q8_0", 2, 3)
    assert split.part_name(1) == "Model-Q8_0-00001-of-00003.gguf"
    assert parse_split("Model-Q8_0.gguf") is None
    assert parse_split("Model-00004-of-00003.gguf") is None  # part beyond count
    assert parse_split("Model-00000-of-00003.gguf") is None
    assert model_stem("Model-Q8_0-00002-of-00003.gguf") == "Model-Q8_0"
    assert model_stem("Model.Q4_1.gguf") == "Model.Q4_1"


@pytest.mark.parametrize(
    "name",
    [
        "../evil.gguf",
        "sub/../../evil.gguf",
        "/etc/passwd",
        "C:/Windows/evil.gguf",
        "c:evil.gguf",
        "a\\..\\evil.gguf",
        "sub//evil.gguf",
        "./evil.gguf",
        "evil.gguf\x00.txt",
        "evil\n.gguf",
        "~/evil.gguf",
        "CON.gguf",
        "nul",
        "trailingdot.",
        "",
        "x" * 300 + ".gguf",
    ],
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeFileNameError, match="refused"):
        safe_relative_path(name)


@pytest.mark.parametrize(
    "name", ["model-Q4_K_M.gguf", "Q8_0/model-Q8_0-00001-of-00002.gguf", "config.json", "a.b/c-d_e"]
)
def test_safe_names_pass(name: str) -> None:
    assert str(safe_relative_path(name)) == name


def test_repo_ids() -> None:
    assert check_repo_id("bartowski/Qwen_QwQ-32B-GGUF") == ("bartowski", "Qwen_QwQ-32B-GGUF")
    for bad in ("a", "a/b/c", "../b", "a/..", "a/b c", "/a/b", "a/.hidden", ""):
        with pytest.raises(UnsafeFileNameError):
            check_repo_id(bad)
