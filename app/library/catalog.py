"""The curated catalog of reasoning models, shipped with Ponder and browsable offline.

The data lives in ``catalog.json`` next to this module (versioned by its ``version`` field):
for each model its family (``app.families`` id), lineage (base model, teacher), license and
what the license obliges, reputable GGUF repositories, and a recommended quantization per
memory tier (8 / 16 / 32 / 64 GB).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from app.library.errors import LibraryError
from app.library.fit import GIB, MachineMemory
from app.library.metadata import ModelShape

CATALOG_VERSION = 1


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One curated model.

    Attributes:
        id: a stable key (``deepseek-r1-distill-qwen-7b``).
        name: the model's own name.
        family: the ``app.families`` id that governs prompting and parsing.
        params: parameter count as shown (``7B``, ``21B (3.6B active)``).
        source_repo: the original (full-precision) Hugging Face repository.
        base_model, teacher: lineage: what it was trained from, and distilled from (or None).
        lineage: one sentence for the user.
        license, license_name, obligations: SPDX-like key, display name, what it obliges.
        gguf_repos: quantized repositories, preferred first.
        recommended: memory tier in GB -> quantization label, or None (too big).
        shape: layers / kv heads / head size, for KV-cache estimates before downloading.
        context_length: trained context in tokens.
    """

    id: str
    name: str
    family: str
    params: str
    source_repo: str
    base_model: str | None
    teacher: str | None
    lineage: str
    license: str
    license_name: str
    obligations: str
    gguf_repos: tuple[str, ...]
    recommended: dict[int, str | None]
    shape: ModelShape | None
    context_length: int | None

    def recommended_quant(self, total_ram: int) -> str | None:
        """The recommendation of the largest tier not above ``total_ram`` bytes."""
        best: str | None = None
        for tier in sorted(self.recommended):
            # A "16 GB" machine reports a little less than 16 GiB of RAM.
            if total_ram >= tier * GIB * 0.9:
                best = self.recommended[tier]
        return best

    def recommended_for(self, machine: MachineMemory) -> str | None:
        """The quantization for this machine: by its RAM plus its GPU's own memory."""
        return self.recommended_quant(machine.model_memory)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "params": self.params,
            "source_repo": self.source_repo,
            "base_model": self.base_model,
            "teacher": self.teacher,
            "lineage": self.lineage,
            "license": self.license,
            "license_name": self.license_name,
            "obligations": self.obligations,
            "gguf_repos": list(self.gguf_repos),
            "recommended": {str(k): v for k, v in self.recommended.items()},
            "context_length": self.context_length,
        }


@dataclass(frozen=True, slots=True)
class Catalog:
    version: int
    updated: str
    note: str
    tiers_gb: tuple[int, ...]
    entries: tuple[CatalogEntry, ...]

    def get(self, entry_id: str) -> CatalogEntry:
        for e in self.entries:
            if e.id == entry_id.lower():
                return e
        raise LibraryError(f"no catalog entry {entry_id!r}")

    def for_repo(self, repo_id: str) -> CatalogEntry | None:
        """The entry whose original or GGUF repository is ``repo_id`` (case-insensitive)."""
        wanted = repo_id.lower()
        for e in self.entries:
            if wanted == e.source_repo.lower() or wanted in (r.lower() for r in e.gguf_repos):
                return e
        return None

    def by_family(self, family: str) -> list[CatalogEntry]:
        return [e for e in self.entries if e.family == family]


def _entry(raw: dict[str, Any]) -> CatalogEntry:
    shape = raw.get("shape")
    return CatalogEntry(
        id=raw["id"],
        name=raw["name"],
        family=raw["family"],
        params=raw["params"],
        source_repo=raw["source_repo"],
        base_model=raw.get("base_model"),
        teacher=raw.get("teacher"),
        lineage=raw["lineage"],
        license=raw["license"],
        license_name=raw["license_name"],
        obligations=raw["obligations"],
        gguf_repos=tuple(raw["gguf_repos"]),
        recommended={int(k): v for k, v in raw["recommended"].items()},
        shape=ModelShape(shape["n_layer"], None, shape["n_head_kv"], shape["head_dim"])
        if shape
        else None,
        context_length=raw.get("context_length"),
    )


def parse_catalog(data: dict[str, Any]) -> Catalog:
    if data.get("version") != CATALOG_VERSION:
        raise LibraryError(f"unsupported catalog version {data.get('version')!r}")
    return Catalog(
        version=int(data["version"]),
        updated=str(data.get("updated", "")),
        note=str(data.get("note", "")),
        tiers_gb=tuple(int(t) for t in data["tiers_gb"]),
        entries=tuple(_entry(m) for m in data["models"]),
    )


@functools.cache
def load_catalog() -> Catalog:
    """The catalog shipped with Ponder (parsed once)."""
    text = resources.files("app.library").joinpath("catalog.json").read_text(encoding="utf-8")
    return parse_catalog(json.loads(text))
