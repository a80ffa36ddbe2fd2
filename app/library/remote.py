"""A remote GGUF's header without downloading the model, and fit estimates for hub variants.

:func:`remote_metadata` streams the start of a GGUF file (``Range: bytes=0-``) into a temp
file and stops as soon as the header parses (a 152k-token vocabulary needs ~8 MB), so the
fit estimate of an arbitrary repository uses its real layer and KV-head counts. Results are
cached per repo, revision and file. :func:`fit_variants` uses the curated catalog's shape when
it knows the repository and the remote header otherwise.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from huggingface_hub import get_session, hf_hub_url, hf_raise_for_status

from app.errors import ModelFileError
from app.gguf import read_header
from app.library.catalog import load_catalog
from app.library.errors import HubError
from app.library.fit import FitEstimate, MachineMemory, detect_machine_memory
from app.library.hub import TIMEOUT, QuantVariant, RepoDetails, hub_call, hub_endpoint
from app.library.metadata import ModelMetadata, ModelShape, metadata_from_header
from app.library.names import safe_relative_path
from app.paths import cache_dir

MAX_HEADER = 96 * 1024 * 1024
FIRST_TRY = 2 * 1024 * 1024
_lock = threading.Lock()


def _cache_path() -> Path:
    return cache_dir() / "library" / "remote-headers.json"


def _cache_load() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _cache_store(key: str, meta: ModelMetadata) -> None:
    with _lock:
        data = _cache_load()
        data[key] = meta.to_json()
        path = _cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)


def remote_metadata(repo_id: str, path: str, revision: str = "main") -> ModelMetadata:
    """The header of a GGUF file on the hub (its first part, for a split model)."""
    safe_relative_path(path)
    key = f"{repo_id}@{revision}/{path}"
    cached = _cache_load().get(key)
    if isinstance(cached, dict):
        try:
            return ModelMetadata.from_json(cached)
        except (KeyError, TypeError):
            pass
    url = hf_hub_url(repo_id, path, revision=revision, endpoint=hub_endpoint())
    folder = cache_dir() / "library"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".gguf-head") as tmp:
        meta = _stream_header(url, Path(tmp.name), path, repo_id)
    _cache_store(key, meta)
    return meta


def _stream_header(url: str, tmp: Path, name: str, repo_id: str) -> ModelMetadata:
    next_try = FIRST_TRY
    received = 0
    last_error: ModelFileError | None = None
    with hub_call(f"{repo_id}/{name}"), tmp.open("wb") as fh:
        headers = {"Range": f"bytes=0-{MAX_HEADER - 1}", "Accept-Encoding": "identity"}
        with get_session().stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
            hf_raise_for_status(response)
            for block in response.iter_bytes(256 * 1024):
                fh.write(block)
                received += len(block)
                if received < next_try:
                    continue
                fh.flush()
                try:
                    return metadata_from_header(read_header(tmp, whole=False), file_name=name)
                except ModelFileError as err:
                    if "truncated" not in str(err):
                        raise
                    last_error = err
                next_try = received * 2
            fh.flush()
    try:
        return metadata_from_header(read_header(tmp, whole=False), file_name=name)
    except ModelFileError as err:
        raise HubError(
            f"{repo_id}/{name}: cannot read the GGUF header ({last_error or err})"
        ) from err


def repo_shape(details: RepoDetails) -> ModelShape | None:
    """The model shape for a repository: from the catalog, else from a remote header."""
    entry = load_catalog().for_repo(details.repo_id)
    if entry is not None and entry.shape is not None:
        return entry.shape
    ggufs = [v for v in details.variants if v.kind == "gguf" and v.error is None]
    if not ggufs:
        return None
    smallest = min(ggufs, key=lambda v: v.size)
    try:
        meta = remote_metadata(details.repo_id, smallest.first_file.path, details.revision)
    except (HubError, ModelFileError):
        return None
    return meta.shape


def fit_variants(
    details: RepoDetails,
    n_ctx: int = 8192,
    machine: MachineMemory | None = None,
    shape: ModelShape | None = None,
) -> list[tuple[QuantVariant, FitEstimate]]:
    """Every variant of a repository with its fit estimate at ``n_ctx``."""
    machine = machine or detect_machine_memory()
    shape = shape or repo_shape(details)
    return [(v, v.fit(shape, n_ctx, machine)) for v in details.variants]
