"""The curated catalog shipped in the package."""

from __future__ import annotations

import re

import pytest

from app.families import FAMILIES
from app.library.catalog import load_catalog, parse_catalog
from app.library.errors import LibraryError
from app.library.fit import GIB, MachineMemory
from app.library.names import check_repo_id

ISSUE_MODELS = [
    "DeepSeek-R1-Distill-Qwen-1.5B",
    "DeepSeek-R1-Distill-Qwen-7B",
    "DeepSeek-R1-Distill-Qwen-14B",
    "DeepSeek-R1-Distill-Qwen-32B",
    "DeepSeek-R1-Distill-Llama-8B",
    "DeepSeek-R1-Distill-Llama-70B",
    "QwQ-32B",
    "Qwen3-0.6B",
    "Qwen3-32B",
    "OpenThinker2-7B",
    "OpenThinker2-32B",
    "Bespoke-Stratos-7B",
    "Bespoke-Stratos-32B",
    "s1.1-32B",
    "Sky-T1-32B-Preview",
    "DeepScaleR-1.5B-Preview",
    "Phi-4-reasoning",
    "EXAONE-Deep-7.8B",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "Magistral-Small-2509",
]
QUANT = re.compile(r"^(I?Q\d(_[A-Z0-9]+)*|F16|BF16|MXFP4)$")


def test_catalog_loads_from_the_package() -> None:
    catalog = load_catalog()
    assert catalog.version == 1
    assert catalog.tiers_gb == (8, 16, 32, 64)
    names = {e.name for e in catalog.entries}
    assert set(ISSUE_MODELS) <= names
    assert len({e.id for e in catalog.entries}) == len(catalog.entries)


@pytest.mark.parametrize("entry", load_catalog().entries, ids=lambda e: e.id)
def test_every_entry_is_complete(entry) -> None:  # type: ignore[no-untyped-def]
    assert entry.family in FAMILIES
    check_repo_id(entry.source_repo)
    assert entry.gguf_repos
    for repo in entry.gguf_repos:
        check_repo_id(repo)
    assert entry.license and entry.license_name and entry.obligations
    assert entry.lineage
    assert sorted(entry.recommended) == [8, 16, 32, 64]
    for quant in entry.recommended.values():
        assert quant is None or QUANT.match(quant), quant
    # Once a tier recommends something, bigger tiers do too.
    seen = False
    for tier in (8, 16, 32, 64):
        seen = seen or entry.recommended[tier] is not None
        assert not seen or entry.recommended[tier] is not None
    assert entry.shape is not None and entry.shape.n_layer > 0


def test_license_obligations_are_specific() -> None:
    catalog = load_catalog()
    llama = catalog.get("deepseek-r1-distill-llama-8b")
    assert 'begin with "Llama"' in llama.obligations
    assert catalog.get("deepseek-r1-distill-qwen-7b").license == "MIT"
    assert "non-commercial" in catalog.get("exaone-deep-7.8b").obligations
    assert catalog.get("deepseek-r1-distill-qwen-1.5b").teacher == "deepseek-ai/DeepSeek-R1"
    assert catalog.get("deepseek-r1-distill-qwen-1.5b").base_model == "Qwen/Qwen2.5-Math-1.5B"


def test_recommendation_per_machine() -> None:
    entry = load_catalog().get("deepseek-r1-distill-qwen-32b")
    assert entry.recommended_quant(8 * GIB) is None
    assert entry.recommended_quant(int(15.5 * GIB)) is None
    assert entry.recommended_quant(int(31.3 * GIB)) == "Q4_K_M"  # a "32 GB" machine
    assert entry.recommended_for(MachineMemory(128 * GIB, 64 * GIB)) == "Q6_K"
    assert entry.recommended_quant(4 * GIB) is None


def test_lookup_by_repo() -> None:
    catalog = load_catalog()
    assert catalog.for_repo("BARTOWSKI/DeepSeek-R1-Distill-Qwen-7B-GGUF") is not None
    assert catalog.for_repo("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B") is not None
    assert catalog.for_repo("nobody/nothing") is None
    assert {e.name for e in catalog.by_family("gpt-oss")} == {"gpt-oss-20b", "gpt-oss-120b"}
    with pytest.raises(LibraryError):
        catalog.get("nope")


def test_unknown_version_is_refused() -> None:
    with pytest.raises(LibraryError, match="version"):
        parse_catalog({"version": 99, "tiers_gb": [], "models": []})
