"""The Hugging Face hub: search, a repository's quantization variants, lineage, and errors.

Everything goes through ``huggingface_hub`` (its shared HTTP session, headers and token:
``HF_TOKEN`` or the stored login) against :func:`hub_endpoint` (``HF_ENDPOINT`` read at each
call, so tests can point it at a loopback server). Hub data is untrusted: every file name is
checked by :func:`app.library.names.safe_relative_path` and unsafe ones are listed as refused.
Errors become :class:`app.library.errors.HubError` subclasses with a message for the user.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import httpx2
from huggingface_hub import HfApi, constants, get_session, hf_raise_for_status
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
)
from huggingface_hub.hf_api import ModelInfo
from huggingface_hub.utils._headers import build_hf_headers

from app.library.errors import (
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    HubUnreachableError,
    UnsafeFileNameError,
)
from app.library.fit import FitEstimate, MachineMemory, estimate_fit, is_apple_silicon
from app.library.metadata import ModelShape
from app.library.names import (
    BITS_PER_WEIGHT,
    check_repo_id,
    model_stem,
    parse_split,
    quant_from_name,
    safe_relative_path,
)

TIMEOUT = httpx2.Timeout(20.0, connect=10.0)
_TRUE = {"1", "on", "yes", "true"}


def hub_endpoint() -> str:
    """The hub's base URL: ``HF_ENDPOINT`` now, else huggingface_hub's default."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (now, or when huggingface_hub was imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE or bool(
        constants.is_offline_mode()
    )


def check_online() -> None:
    if hub_offline():
        raise HubOfflineError(
            "Hugging Face is switched off (HF_HUB_OFFLINE is set); local models still work"
        )


def hub_error(err: BaseException, what: str) -> HubError:
    """A user-facing HubError for an exception raised while doing ``what``."""
    if isinstance(err, HubError):
        return err
    if isinstance(err, OfflineModeIsEnabled):
        return HubOfflineError(f"{what}: HF_HUB_OFFLINE is set; local models still work")
    token_hint = "set HF_TOKEN or log in with `hf auth login`"
    if isinstance(err, GatedRepoError):
        return HubAuthError(
            f"{what}: the repository is gated; accept its terms on its Hugging Face page with "
            f"the account of your token ({token_hint})"
        )
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status == 401:
            return HubAuthError(
                f"{what}: Hugging Face refused access (401): the repository is private or "
                f"gated, or does not exist; {token_hint}"
            )
        if status == 403:
            return HubAuthError(
                f"{what}: your Hugging Face token has no access (403); accept the model's terms "
                "on its page or use a token with read access"
            )
        if status == 404:
            return HubNotFoundError(f"{what}: not found on Hugging Face (404)")
        if status == 429:
            return HubError(f"{what}: Hugging Face is rate limiting requests (429); try later")
        if status >= 500:
            return HubError(f"{what}: Hugging Face had a server error ({status}); try later")
        return HubError(f"{what}: Hugging Face answered {status}")
    if isinstance(err, httpx2.TimeoutException | httpx2.NetworkError | ConnectionError):
        return HubUnreachableError(
            f"{what}: cannot reach Hugging Face at {hub_endpoint()} ({type(err).__name__}); "
            "local models still work"
        )
    if isinstance(err, httpx2.HTTPError):
        return HubError(f"{what}: {type(err).__name__}: {err}")
    if isinstance(err, HFValidationError):
        return HubError(f"{what}: {err}")
    if isinstance(err, ValueError | KeyError | TypeError):
        return HubError(f"{what}: Hugging Face sent an answer Ponder cannot read ({err})")
    return HubError(f"{what}: {err}")


@contextmanager
def hub_call(what: str) -> Iterator[None]:
    """Turn anything the hub or the network raises inside into a HubError."""
    check_online()
    try:
        yield
    except UnsafeFileNameError:
        raise
    except (httpx2.HTTPError, HfHubHTTPError, HFValidationError, OSError, ValueError) as err:
        raise hub_error(err, what) from err


def hub_api() -> HfApi:
    return HfApi(endpoint=hub_endpoint())


# --- search ---------------------------------------------------------------------------------


class SearchSort(enum.Enum):
    DOWNLOADS = "downloads"
    LIKES = "likes"
    TRENDING = "trending"
    UPDATED = "updated"
    CREATED = "created"


_SORT_PARAM = {
    SearchSort.DOWNLOADS: "downloads",
    SearchSort.LIKES: "likes",
    SearchSort.TRENDING: "trendingScore",
    SearchSort.UPDATED: "lastModified",
    SearchSort.CREATED: "createdAt",
}
_EXPAND = [
    "author",
    "downloads",
    "likes",
    "trendingScore",
    "lastModified",
    "createdAt",
    "tags",
    "gated",
    "pipeline_tag",
    "library_name",
]


@dataclass(frozen=True, slots=True)
class HubModel:
    """One search result."""

    repo_id: str
    kind: str  # "gguf" or "mlx"
    author: str | None = None
    downloads: int = 0
    likes: int = 0
    trending_score: int = 0
    last_modified: datetime | None = None
    created_at: datetime | None = None
    gated: bool = False
    tags: tuple[str, ...] = ()

    def sort_key(self, sort: SearchSort) -> Any:
        epoch = datetime.min
        return {
            SearchSort.DOWNLOADS: self.downloads,
            SearchSort.LIKES: self.likes,
            SearchSort.TRENDING: self.trending_score,
            SearchSort.UPDATED: (self.last_modified or epoch).timestamp()
            if self.last_modified
            else 0.0,
            SearchSort.CREATED: (self.created_at or epoch).timestamp() if self.created_at else 0.0,
        }[sort]

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "kind": self.kind,
            "author": self.author,
            "downloads": self.downloads,
            "likes": self.likes,
            "trending_score": self.trending_score,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "gated": self.gated,
            "tags": list(self.tags),
        }


def _search_page(query: str, library: str, sort: SearchSort, limit: int) -> list[HubModel]:
    # One page through huggingface_hub's session: list_models' retry loop would make an
    # unreachable hub take ~30 s to report; here it fails at once.
    params: dict[str, Any] = {
        "search": query,
        "filter": library,
        "sort": _SORT_PARAM[sort],
        "limit": limit,
        "expand": _EXPAND,
    }
    response = get_session().get(
        f"{hub_endpoint()}/api/models", params=params, headers=build_hf_headers(), timeout=TIMEOUT
    )
    hf_raise_for_status(response)
    items = response.json()
    if not isinstance(items, list):
        raise ValueError("the search answer is not a list")
    results: list[HubModel] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        try:
            check_repo_id(item["id"])
        except UnsafeFileNameError:
            continue
        try:
            info = ModelInfo(**{"siblings": None, **item})  # type: ignore[no-untyped-call]
        except (ValueError, TypeError, KeyError):
            continue  # one malformed result does not hide the others
        results.append(
            HubModel(
                repo_id=info.id,
                kind=library,
                author=info.author,
                downloads=int(info.downloads or 0),
                likes=int(info.likes or 0),
                trending_score=int(info.trending_score or 0),
                last_modified=info.last_modified,
                created_at=info.created_at,
                gated=bool(info.gated),
                tags=tuple(t for t in info.tags or () if isinstance(t, str)),
            )
        )
    return results


def search_models(
    query: str,
    *,
    sort: SearchSort = SearchSort.DOWNLOADS,
    limit: int = 30,
    include_mlx: bool | None = None,
) -> list[HubModel]:
    """GGUF repositories matching ``query`` (and MLX ones on Apple Silicon), best first."""
    limit = max(1, min(limit, 200))
    libraries = ["gguf"]
    if include_mlx if include_mlx is not None else is_apple_silicon():
        libraries.append("mlx")
    found: dict[str, HubModel] = {}
    with hub_call(f"search for {query!r}"):
        for library in libraries:
            for model in _search_page(query, library, sort, limit):
                found.setdefault(model.repo_id, model)
    ranked = sorted(found.values(), key=lambda m: m.sort_key(sort), reverse=True)
    return ranked[:limit]


# --- a repository's files -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file in a hub repository; ``path`` has passed :func:`safe_relative_path`."""

    path: str
    size: int | None
    sha256: str | None  # LFS files
    blob_id: str | None  # the git blob id (sha1), for small non-LFS files

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "blob_id": self.blob_id,
        }


@dataclass(frozen=True, slots=True)
class QuantVariant:
    """One downloadable model of a repository: a GGUF file, all parts of a split GGUF, or an
    MLX repository's files. ``error`` says why it cannot be downloaded (e.g. missing parts)."""

    name: str
    quant: str | None
    kind: str  # "gguf" or "mlx"
    files: tuple[RemoteFile, ...]
    error: str | None = None

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)

    @property
    def split(self) -> bool:
        return len(self.files) > 1 and self.kind == "gguf"

    @property
    def first_file(self) -> RemoteFile:
        return self.files[0]

    def fit(self, shape: ModelShape | None, n_ctx: int, machine: MachineMemory) -> FitEstimate:
        bpw = BITS_PER_WEIGHT.get((self.quant or "").removeprefix("UD-"), 4.9)
        return estimate_fit(self.size, shape, n_ctx, machine, bits_per_weight=bpw)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "quant": self.quant,
            "kind": self.kind,
            "size": self.size,
            "split": self.split,
            "error": self.error,
            "files": [f.to_json() for f in self.files],
        }


@dataclass(frozen=True, slots=True)
class RepoDetails:
    """A hub repository as the library sees it."""

    repo_id: str
    revision: str  # the commit the file list belongs to (downloads pin it)
    license: str | None
    gated: bool
    base_models: tuple[str, ...]
    base_model_relation: str | None
    downloads: int
    likes: int
    tags: tuple[str, ...]
    variants: tuple[QuantVariant, ...]
    refused: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (name, reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "license": self.license,
            "gated": self.gated,
            "base_models": list(self.base_models),
            "base_model_relation": self.base_model_relation,
            "downloads": self.downloads,
            "likes": self.likes,
            "variants": [v.to_json() for v in self.variants],
            "refused": [{"name": n, "reason": r} for n, r in self.refused],
        }


def _card_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _card(info: ModelInfo) -> dict[str, Any]:
    card = info.card_data
    if card is None:
        return {}
    data = card.to_dict() if hasattr(card, "to_dict") else card  # type: ignore[no-untyped-call]
    return data if isinstance(data, dict) else {}


_MLX_BITS = re.compile(r"(\d{1,2})[-_]?bits?\b", re.IGNORECASE)


def group_variants(files: list[RemoteFile], repo_id: str) -> tuple[QuantVariant, ...]:
    """The downloadable variants among a repository's (already checked) files."""
    singles: list[QuantVariant] = []
    splits: dict[tuple[str, str, int], dict[int, RemoteFile]] = {}
    for f in files:
        p = PurePosixPath(f.path)
        if not p.name.lower().endswith(".gguf") or "mmproj" in p.name.lower():
            continue
        split = parse_split(p.name)
        if split is None:
            singles.append(QuantVariant(model_stem(p.name), quant_from_name(p.name), "gguf", (f,)))
        else:
            splits.setdefault((str(p.parent), split.base, split.count), {})[split.part] = f
    for (_folder, base, count), parts in splits.items():
        missing = [i for i in range(1, count + 1) if i not in parts]
        error = f"parts {missing} of {count} are missing from the repository" if missing else None
        ordered = tuple(parts[i] for i in sorted(parts))
        singles.append(QuantVariant(base, quant_from_name(base + ".gguf"), "gguf", ordered, error))
    if not singles and any(f.path.endswith(".safetensors") for f in files):
        names = {PurePosixPath(f.path).name for f in files}
        if "config.json" in names:
            kept = tuple(f for f in files if not PurePosixPath(f.path).name.startswith("."))
            m = _MLX_BITS.search(repo_id)
            quant = f"{m.group(1)}bit" if m else None
            singles.append(QuantVariant(repo_id.split("/")[1], quant, "mlx", kept))
    return tuple(sorted(singles, key=lambda v: (v.kind, v.size, v.name)))


def repo_details(repo_id: str, revision: str | None = None) -> RepoDetails:
    """The variants (sizes, sha256), license and lineage of a hub repository."""
    check_repo_id(repo_id)
    with hub_call(repo_id):
        info = hub_api().model_info(
            repo_id, revision=revision, files_metadata=True, timeout=TIMEOUT.read
        )
    files: list[RemoteFile] = []
    refused: list[tuple[str, str]] = []
    for sib in info.siblings or ():
        try:
            safe = safe_relative_path(sib.rfilename)
        except UnsafeFileNameError as err:
            refused.append((sib.rfilename, str(err)))
            continue
        lfs = sib.lfs
        sha = lfs.sha256.lower() if lfs is not None and isinstance(lfs.sha256, str) else None
        size = lfs.size if lfs is not None else sib.size
        files.append(RemoteFile(str(safe), size, sha, sib.blob_id))
    card = _card(info)
    license_ = card.get("license")
    if license_ == "other" and isinstance(card.get("license_name"), str):
        license_ = card["license_name"]
    return RepoDetails(
        repo_id=repo_id,
        revision=info.sha or revision or "main",
        license=license_ if isinstance(license_, str) else None,
        gated=bool(info.gated),
        base_models=_card_list(card.get("base_model")),
        base_model_relation=card.get("base_model_relation")
        if isinstance(card.get("base_model_relation"), str)
        else None,
        downloads=int(info.downloads or 0),
        likes=int(info.likes or 0),
        tags=tuple(t for t in info.tags or () if isinstance(t, str)),
        variants=group_variants(files, repo_id),
        refused=tuple(refused),
    )


def pick_variant(
    details: RepoDetails, *, quant: str | None = None, file: str | None = None
) -> QuantVariant:
    """The variant named by a quant label (``Q4_K_M``) or a file name/path in the repo."""
    variants = details.variants
    if file is not None:
        safe_relative_path(file)  # refuse traversal tricks before anything else
        for v in variants:
            if any(f.path == file or PurePosixPath(f.path).name == file for f in v.files):
                return v
        if any(name == file for name, _ in details.refused):
            raise UnsafeFileNameError(f"{file}: refused (an unsafe file name)")
        raise HubNotFoundError(f"{details.repo_id} has no GGUF file {file!r}")
    if quant is not None:
        wanted = quant.upper()
        hits = [v for v in variants if (v.quant or "").upper() == wanted]
        if not hits:
            hits = [v for v in variants if (v.quant or "").upper().removeprefix("UD-") == wanted]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            names = ", ".join(v.first_file.path for v in hits)
            raise HubError(f"{details.repo_id} has several {quant} files ({names}); use --file")
        have = ", ".join(sorted({v.quant or v.name for v in variants})) or "none"
        raise HubNotFoundError(f"{details.repo_id} has no {quant} variant (it has: {have})")
    if len(variants) == 1:
        return variants[0]
    if not variants:
        raise HubNotFoundError(f"{details.repo_id} has no GGUF or MLX model files")
    have = ", ".join(v.quant or v.name for v in variants)
    raise HubError(f"{details.repo_id} has several variants ({have}); choose one with --quant")


# --- lineage ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineageStep:
    repo_id: str
    relation: str | None  # "quantized", "finetune", "merge", "adapter" (card's own words)
    license: str | None


def hub_lineage(repo_id: str, max_depth: int = 4) -> list[LineageStep]:
    """Follow ``base_model`` in the model cards: the repo, its base, the base's base..."""
    steps: list[LineageStep] = []
    current: str | None = repo_id
    seen: set[str] = set()
    while current and current not in seen and len(steps) <= max_depth:
        seen.add(current)
        try:
            check_repo_id(current)
        except UnsafeFileNameError:
            break
        with hub_call(current):
            info = hub_api().model_info(current, expand=["cardData"], timeout=TIMEOUT.read)
        card = _card(info)
        relation = card.get("base_model_relation")
        license_ = card.get("license")
        steps.append(
            LineageStep(
                current,
                relation if isinstance(relation, str) else None,
                license_ if isinstance(license_, str) else None,
            )
        )
        bases = _card_list(card.get("base_model"))
        current = bases[0] if bases else None
    return steps
