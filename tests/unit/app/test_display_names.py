"""One display name per model: the catalog's name, else the cleaned file name; with its quant."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.display_names import (
    clean_stem,
    display_name,
    distinct_names,
    path_display_name,
    repo_of_path,
)


@pytest.mark.parametrize(
    ("file_name", "shown"),
    [
        # not in the catalog: the file name without .gguf and quant, then the quant
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct Q4_1"),
        ("my-finetune-f16.gguf", "my-finetune F16"),
        ("no-quant-here.gguf", "no-quant-here"),
        ("Q4_K_M.gguf", "Q4_K_M"),  # nothing but a quant: said once
        ("big-model-Q4_K_M-00001-of-00003.gguf", "big-model Q4_K_M"),
        # catalog models: the catalog's spelling, whatever the publisher did to the file name
        ("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf", "DeepSeek-R1-Distill-Qwen-7B Q4_K_M"),
        ("deepseek-r1-distill-qwen-7b.Q8_0.gguf", "DeepSeek-R1-Distill-Qwen-7B Q8_0"),
        ("Qwen_QwQ-32B-Q4_K_M.gguf", "QwQ-32B Q4_K_M"),
        ("open-thoughts_OpenThinker2-7B-IQ4_XS.gguf", "OpenThinker2-7B IQ4_XS"),
        ("Bespoke-Stratos-7B.i1-Q4_K_M.gguf", "Bespoke-Stratos-7B Q4_K_M"),
        ("Qwen3-8B-UD-Q4_K_XL.gguf", "Qwen3-8B UD-Q4_K_XL"),
        # an MLX folder or a server's model id: no GGUF quant in the name
        ("Qwen3-0.6B-4bit", "Qwen3-0.6B-4bit"),
        ("llama3.2:3b", "llama3.2:3b"),
    ],
)
def test_display_name(file_name: str, shown: str) -> None:
    assert display_name(file_name) == shown


def test_quant_given_is_not_repeated() -> None:
    assert display_name("Qwen3-0.6B-4bit", quant="4bit") == "Qwen3-0.6B-4bit"
    assert display_name("model.gguf", quant="Q4_K_M") == "model Q4_K_M"


def test_the_repository_names_a_catalog_model_whatever_the_file_is_called() -> None:
    assert (
        display_name("model.Q4_K_M.gguf", repo_id="mradermacher/Bespoke-Stratos-7B-GGUF")
        == "Bespoke-Stratos-7B Q4_K_M"
    )


def test_the_general_name_is_not_what_is_shown() -> None:
    """The issue: the bar said "Smollm2 135M 8k Lc100K Mix1 Ep2" (general.name)."""
    path = "/models/HuggingFaceTB/SmolLM2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path_display_name(path) == "SmolLM2-135M-Instruct Q4_1"


@pytest.mark.parametrize(
    ("path", "repo"),
    [
        (
            "/home/u/.cache/huggingface/hub/models--bartowski--Qwen_QwQ-32B-GGUF/snapshots/"
            "abc/Qwen_QwQ-32B-Q4_K_M.gguf",
            "bartowski/Qwen_QwQ-32B-GGUF",
        ),
        ("/data/Ponder/models/unsloth/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf", "unsloth/Qwen3-8B-GGUF"),
        ("model.gguf", None),
        ("C:\\Users\\u\\models\\pub\\repo\\m.gguf", "pub/repo"),
    ],
)
def test_repo_of_path(path: str, repo: str | None) -> None:
    assert repo_of_path(path) == repo


def test_path_display_name_uses_the_folders_the_file_is_in() -> None:
    path = "/data/Ponder/models/mradermacher/Bespoke-Stratos-7B-GGUF/x.Q4_K_M.gguf"
    assert path_display_name(path) == "Bespoke-Stratos-7B Q4_K_M"


def test_clean_stem_keeps_what_follows_the_quant() -> None:
    assert clean_stem("model-Q4_K_M-imat.gguf") == "model-imat"


def test_distinct_names_add_the_file_name_only_where_names_collide() -> None:
    models = [
        ("SmolLM2-135M-Instruct Q4_1", "/a/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ("SmolLM2-135M-Instruct Q4_1", "/b/smollm2-135m-instruct-q4_1.gguf"),
        ("Other Q8_0", "/a/other-Q8_0.gguf"),
    ]
    assert distinct_names(models) == [
        "SmolLM2-135M-Instruct Q4_1 — SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct Q4_1 — smollm2-135m-instruct-q4_1.gguf",
        "Other Q8_0",
    ]


def test_distinct_names_add_folders_when_the_file_names_are_the_same() -> None:
    models = [("M Q4_1", "/x/one/m.gguf"), ("M Q4_1", "/x/two/m.gguf"), ("M Q4_1", "/x/two/m.gguf")]
    two = "M Q4_1 — two/m.gguf"
    assert distinct_names(models) == ["M Q4_1 — one/m.gguf", two, two]  # the same path: alike


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.lists(st.sampled_from(["x", "y", "m.gguf"]), min_size=1, max_size=4).map(
                lambda parts: "/" + "/".join(parts)
            ),
        ),
        max_size=8,
    )
)
def test_distinct_names_tell_apart_every_different_path(models: list[tuple[str, str]]) -> None:
    shown = distinct_names(models)
    assert len(shown) == len(models)
    for (name_a, path_a), a in zip(models, shown, strict=True):
        assert a.startswith(name_a)
        for (name_b, path_b), b in zip(models, shown, strict=True):
            if (name_a, path_a) != (name_b, path_b):
                assert a != b
            else:
                assert a == b
