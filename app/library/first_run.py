"""The first model: what to recommend for this machine, and catalog ids and names as models.

The window's welcome page and ``ponder chat`` (with an empty library) recommend the same model
(:func:`first_model`) and find its file on the hub the same way (:func:`lookup_variant`).
Wherever a model is named (``ponder models pull``, ``chat --model``, ``serve --model``), a
catalog id (``deepseek-r1-distill-qwen-1.5b``) or name (``DeepSeek-R1-Distill-Qwen-1.5B``) works
too (:func:`catalog_entry_named`, :func:`downloaded_model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.library.catalog import CatalogEntry, load_catalog
from app.library.errors import HubOfflineError, HubUnreachableError
from app.library.fit import GIB, MachineMemory

# huggingface_hub takes half a second to import: only when a lookup is asked for.
if TYPE_CHECKING:
    from app.library.hub import QuantVariant, RepoDetails
    from app.library.local import LocalModel


def first_model(machine: MachineMemory) -> tuple[CatalogEntry, str]:
    """The model to start with: R1-Distill-Qwen 1.5B (Q4_K_M) under 12 GB of memory, 7B from
    16 GB, 14B from 32 GB (the catalog's quantization for the tier). Memory: the RAM plus a
    GPU's own memory (:attr:`MachineMemory.model_memory`)."""
    catalog = load_catalog()
    ram = machine.model_memory
    if ram < 14 * GIB:
        return catalog.get("deepseek-r1-distill-qwen-1.5b"), "Q4_K_M"
    entry = catalog.get(
        "deepseek-r1-distill-qwen-14b" if ram >= 30 * GIB else "deepseek-r1-distill-qwen-7b"
    )
    return entry, entry.recommended_for(machine) or "Q4_K_M"


def catalog_entry_named(text: str) -> CatalogEntry | None:
    """The catalog entry whose id or model name is ``text`` (case-insensitive), if any."""
    wanted = text.strip().lower()
    for e in load_catalog().entries:
        if wanted in (e.id, e.name.lower()):
            return e
    return None


def lookup_variant(
    entry: CatalogEntry, quant: str | None = None, file: str | None = None
) -> tuple[RepoDetails, QuantVariant]:
    """The entry's file on the hub: its GGUF repositories in order of preference.

    Raises:
        HubUnreachableError, HubOfflineError: at once (the other repositories are no better).
        HubError: the last repository's error when none has the file.
    """
    from app.library.hub import pick_variant, repo_details

    last: Exception | None = None
    for repo in entry.gguf_repos:
        try:
            details = repo_details(repo)
            return details, pick_variant(details, quant=quant, file=file)
        except (HubUnreachableError, HubOfflineError):
            raise  # no point in trying the other repositories
        except Exception as err:
            last = err
    assert last is not None, f"{entry.id} lists no GGUF repository"
    raise last


def downloaded_model(
    entry: CatalogEntry, models: Sequence[LocalModel], quant: str | None = None
) -> LocalModel | None:
    """A usable local copy of ``entry`` from one of its GGUF repositories (``quant`` first)."""
    repos = tuple(r.lower() + "/" for r in entry.gguf_repos)
    mine = [m for m in models if m.usable and m.id.lower().startswith(repos)]
    preferred = [m for m in mine if quant and (m.quant or "").upper() == quant.upper()]
    found = preferred or mine
    return found[0] if found else None
