"""What a GGUF header says about a model, read fast and cached.

:func:`read_metadata` reads only the header (``app.gguf.read_header`` skips the vocabulary
arrays) and keeps the result in a JSON cache under ``cache_dir()`` keyed by the file's resolved
path, size and modification time, so a library scan re-reads only files that changed.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.errors import ModelFileError
from app.families import detect_family
from app.gguf import GGUFHeader, read_header
from app.library.names import quant_from_file_type, quant_from_name
from app.paths import cache_dir

CACHE_VERSION = 2  # 2: files whose tensor data is cut short are unusable
MAX_LAYERS = 4096
MAX_CONTEXT = 1 << 24  # 16M tokens
MAX_HEADS = 4096


@dataclass(frozen=True, slots=True)
class BaseModel:
    """One ``general.base_model.N`` entry: what this model was made from."""

    name: str | None = None
    organization: str | None = None
    repo_url: str | None = None


@dataclass(frozen=True, slots=True)
class ModelShape:
    """The numbers a KV-cache estimate needs. ``head_dim`` is the key/value head size."""

    n_layer: int
    n_head: int | None
    n_head_kv: int
    head_dim: int
    n_embd: int | None = None

    def kv_bytes(self, n_ctx: int, bytes_per_element: float = 2.0) -> int:
        """KV cache bytes: 2 (K and V) × layers × context × kv heads × head size × bytes."""
        return int(2 * self.n_layer * n_ctx * self.n_head_kv * self.head_dim * bytes_per_element)


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What the header of a GGUF file says, normalised.

    Attributes:
        architecture: ``general.architecture`` (``qwen2``, ``llama``...).
        name: ``general.name``, or the file stem.
        size_label: ``general.size_label`` (``7B``, ``8x7B``...), if set.
        quant: quantization label from ``general.file_type``, else from the file name.
        context_length: trained context, in tokens.
        shape: layers / heads / kv heads / head size, when the header has them.
        chat_template: ``tokenizer.chat_template`` (untrusted text; never render unsandboxed).
        family_id, family_name: the reasoning family the template (then name, architecture)
            implies (``app.families``).
        license: ``general.license``.
        base_models: lineage from ``general.base_model.N.*``.
        tensor_count: number of tensors.
    """

    architecture: str
    name: str
    size_label: str | None = None
    quant: str | None = None
    context_length: int | None = None
    shape: ModelShape | None = None
    chat_template: str | None = None
    family_id: str = "generic"
    family_name: str = "Generic"
    license: str | None = None
    base_models: tuple[BaseModel, ...] = field(default_factory=tuple)
    tensor_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelMetadata:
        shape = data.get("shape")
        return cls(
            **{k: v for k, v in data.items() if k not in ("shape", "base_models")},
            shape=ModelShape(**shape) if isinstance(shape, dict) else None,
            base_models=tuple(BaseModel(**b) for b in data.get("base_models") or ()),
        )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def metadata_from_header(header: GGUFHeader, file_name: str | None = None) -> ModelMetadata:
    """Normalise a parsed header; ModelFileError if its numbers are absurd."""
    name = file_name or header.path.name
    n_layer = _int(header.arch_value("block_count"))
    n_head = _int(header.arch_value("attention.head_count"))
    n_head_kv = _int(header.arch_value("attention.head_count_kv"))
    n_embd = _int(header.arch_value("embedding_length"))
    key_length = _int(header.arch_value("attention.key_length"))
    context = header.context_length

    def absurd(what: str) -> ModelFileError:
        return ModelFileError(f"{name}: not a usable GGUF file (absurd {what} in its header)")

    if n_layer is not None and not 0 < n_layer <= MAX_LAYERS:
        raise absurd(f"layer count {n_layer}")
    if context is not None and not 0 < context <= MAX_CONTEXT:
        raise absurd(f"context length {context}")
    for label, heads in (("head count", n_head), ("KV head count", n_head_kv)):
        if heads is not None and not 0 < heads <= MAX_HEADS:
            raise absurd(f"{label} {heads}")

    head_dim = key_length
    if head_dim is None and n_embd and n_head:
        head_dim = n_embd // n_head
    shape = None
    if n_layer and head_dim and (n_head_kv or n_head):
        shape = ModelShape(n_layer, n_head, n_head_kv or n_head or 1, head_dim, n_embd)

    bases: list[BaseModel] = []
    count = _int(header.get("general.base_model.count")) or 0
    for i in range(min(count, 16)):
        prefix = f"general.base_model.{i}."
        entry = BaseModel(
            name=_str(header.get(prefix + "name")),
            organization=_str(header.get(prefix + "organization")),
            repo_url=_str(header.get(prefix + "repo_url")),
        )
        if entry != BaseModel():
            bases.append(entry)

    family = detect_family(
        chat_template=header.chat_template, architecture=header.architecture, name=header.name
    )
    return ModelMetadata(
        architecture=header.architecture,
        name=header.name,
        size_label=_str(header.get("general.size_label")),
        quant=quant_from_file_type(header.get("general.file_type")) or quant_from_name(name),
        context_length=context,
        shape=shape,
        chat_template=header.chat_template,
        family_id=family.id,
        family_name=family.display_name,
        license=_str(header.get("general.license")),
        base_models=tuple(bases),
        tensor_count=header.tensor_count,
    )


class MetadataCache:
    """A JSON file of metadata (or the error) per file, keyed by path + size + mtime.

    Thread-safe; loaded lazily, written by :meth:`save` (atomically: temp file + replace).
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] | None = None
        self._dirty = False

    @property
    def path(self) -> Path:
        return self._path or cache_dir() / "library" / "metadata.json"

    @staticmethod
    def key(path: Path) -> str:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                ok = isinstance(data, dict) and data.get("version") == CACHE_VERSION
                self._entries = dict(data["entries"]) if ok else {}
            except (OSError, ValueError, KeyError, TypeError):
                self._entries = {}
        return self._entries

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        with self._lock:
            entries = self._load()
            # Drop older entries for the same path (the file changed).
            path = key.rsplit("|", 2)[0]
            for old in [k for k in entries if k.rsplit("|", 2)[0] == path and k != key]:
                del entries[old]
            entries[key] = entry
            self._dirty = True

    def save(self) -> None:
        with self._lock:
            if not self._dirty or self._entries is None:
                return
            target = self.path
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            try:
                tmp.write_text(
                    json.dumps({"version": CACHE_VERSION, "entries": self._entries}),
                    encoding="utf-8",
                )
                os.replace(tmp, target)
                self._dirty = False
            except OSError:
                tmp.unlink(missing_ok=True)  # a cache: losing it only costs time


_DEFAULT_CACHE: MetadataCache | None = None
_DEFAULT_LOCK = threading.Lock()


def default_cache() -> MetadataCache:
    """The process-wide cache (its file follows ``PONDER_HOME`` at each call)."""
    global _DEFAULT_CACHE
    with _DEFAULT_LOCK:
        if (
            _DEFAULT_CACHE is None
            or _DEFAULT_CACHE.path != cache_dir() / "library" / "metadata.json"
        ):
            _DEFAULT_CACHE = MetadataCache()
        return _DEFAULT_CACHE


def read_metadata(
    path: str | Path, *, cache: MetadataCache | None = None, save: bool = True
) -> ModelMetadata:
    """Metadata of the GGUF file at ``path`` (for a split model: its first part).

    Raises ModelFileError (a clear per-file message) for a missing, non-GGUF, truncated or
    absurd file; the error is cached too, so a broken file is not re-parsed on every scan.
    """
    p = Path(path)
    store = cache or default_cache()
    try:
        key = MetadataCache.key(p)
    except OSError:
        return metadata_from_header(read_header(p))  # raises the right ModelFileError
    hit = store.get(key)
    if hit is not None:
        if "error" in hit:
            raise ModelFileError(str(hit["error"]))
        try:
            return ModelMetadata.from_json(hit["metadata"])
        except (KeyError, TypeError):
            pass  # an entry from another version: re-read
    try:
        meta = metadata_from_header(read_header(p))
    except ModelFileError as err:
        store.put(key, {"error": str(err)})
        if save:
            store.save()
        raise
    store.put(key, {"metadata": meta.to_json()})
    if save:
        store.save()
    return meta
