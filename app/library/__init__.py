"""The model library: local models, the Hugging Face hub, the curated catalog, downloads.

No Qt here. The GUI uses:

- :func:`list_local_models` / :func:`resolve_model` / :func:`add_user_path` /
  :func:`remove_model` (local models, ``LocalModel.fit()`` for the fit badge),
- :func:`load_catalog` (offline curated catalog, ``CatalogEntry.recommended_for(machine)``),
- :func:`search_models` / :func:`repo_details` / :func:`fit_variants` (hub browser),
- :class:`DownloadManager` (queue with progress callbacks, pause/resume/cancel),
- :func:`detect_machine_memory` / :func:`estimate_fit` (fit estimates).

Attributes are imported on first use (``resolve_model`` must not pull in huggingface_hub).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.lazy import lazy_getattr

if TYPE_CHECKING:
    from app.library.catalog import Catalog, CatalogEntry, load_catalog
    from app.library.downloads import DownloadInfo, DownloadManager, DownloadStatus
    from app.library.errors import (
        ChecksumError,
        DiskSpaceError,
        DownloadError,
        HubAuthError,
        HubError,
        HubNotFoundError,
        HubOfflineError,
        HubUnreachableError,
        LibraryError,
        UnknownModelError,
        UnsafeFileNameError,
    )
    from app.library.fit import (
        FitEstimate,
        FitVerdict,
        GpuMemory,
        MachineMemory,
        detect_machine_memory,
        estimate_fit,
    )
    from app.library.hub import (
        HubModel,
        QuantVariant,
        RemoteFile,
        RepoDetails,
        SearchSort,
        hub_lineage,
        pick_variant,
        repo_details,
        search_models,
    )
    from app.library.local import (
        LocalModel,
        ModelKind,
        ModelSource,
        add_user_path,
        find_model,
        list_local_models,
        remove_model,
        resolve_model,
        user_paths,
    )
    from app.library.metadata import BaseModel, ModelMetadata, ModelShape, read_metadata
    from app.library.remote import fit_variants, remote_metadata

_EXPORTS = {
    "BaseModel": "app.library.metadata",
    "Catalog": "app.library.catalog",
    "CatalogEntry": "app.library.catalog",
    "ChecksumError": "app.library.errors",
    "DiskSpaceError": "app.library.errors",
    "DownloadError": "app.library.errors",
    "DownloadInfo": "app.library.downloads",
    "DownloadManager": "app.library.downloads",
    "DownloadStatus": "app.library.downloads",
    "FitEstimate": "app.library.fit",
    "FitVerdict": "app.library.fit",
    "GpuMemory": "app.library.fit",
    "HubAuthError": "app.library.errors",
    "HubError": "app.library.errors",
    "HubModel": "app.library.hub",
    "HubNotFoundError": "app.library.errors",
    "HubOfflineError": "app.library.errors",
    "HubUnreachableError": "app.library.errors",
    "LibraryError": "app.library.errors",
    "LocalModel": "app.library.local",
    "MachineMemory": "app.library.fit",
    "ModelKind": "app.library.local",
    "ModelMetadata": "app.library.metadata",
    "ModelShape": "app.library.metadata",
    "ModelSource": "app.library.local",
    "QuantVariant": "app.library.hub",
    "RemoteFile": "app.library.hub",
    "RepoDetails": "app.library.hub",
    "SearchSort": "app.library.hub",
    "UnknownModelError": "app.library.errors",
    "UnsafeFileNameError": "app.library.errors",
    "add_user_path": "app.library.local",
    "detect_machine_memory": "app.library.fit",
    "estimate_fit": "app.library.fit",
    "find_model": "app.library.local",
    "fit_variants": "app.library.remote",
    "hub_lineage": "app.library.hub",
    "list_local_models": "app.library.local",
    "load_catalog": "app.library.catalog",
    "pick_variant": "app.library.hub",
    "read_metadata": "app.library.metadata",
    "remote_metadata": "app.library.remote",
    "remove_model": "app.library.local",
    "repo_details": "app.library.hub",
    "resolve_model": "app.library.local",
    "search_models": "app.library.hub",
    "user_paths": "app.library.local",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS)


__all__ = [
    "BaseModel",
    "Catalog",
    "CatalogEntry",
    "ChecksumError",
    "DiskSpaceError",
    "DownloadError",
    "DownloadInfo",
    "DownloadManager",
    "DownloadStatus",
    "FitEstimate",
    "FitVerdict",
    "GpuMemory",
    "HubAuthError",
    "HubError",
    "HubModel",
    "HubNotFoundError",
    "HubOfflineError",
    "HubUnreachableError",
    "LibraryError",
    "LocalModel",
    "MachineMemory",
    "ModelKind",
    "ModelMetadata",
    "ModelShape",
    "ModelSource",
    "QuantVariant",
    "RemoteFile",
    "RepoDetails",
    "SearchSort",
    "UnknownModelError",
    "UnsafeFileNameError",
    "add_user_path",
    "detect_machine_memory",
    "estimate_fit",
    "find_model",
    "fit_variants",
    "hub_lineage",
    "list_local_models",
    "load_catalog",
    "pick_variant",
    "read_metadata",
    "remote_metadata",
    "remove_model",
    "repo_details",
    "resolve_model",
    "search_models",
    "user_paths",
]
