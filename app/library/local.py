"""Models on this computer: Ponder's own folder, plus models found in place.

Found in place, never copied: GGUF files in the Hugging Face cache (``HF_HUB_CACHE``,
``HF_HOME``), LM Studio's models folders, and any folder or file the user added (kept in
``config_dir()/library.json``). A split GGUF is one model; an MLX folder (``config.json``
with ``quantization`` + ``*.safetensors``) is an MLX model. A file that cannot be used is
listed with the reason; a scan never fails because of one bad file.

Model ids are ``publisher/repo/file-stem`` (the split suffix and ``.gguf`` dropped); when two
sources hold the same id, the later one (order: Ponder, HF cache, LM Studio, user) gets a
``@source`` suffix. Every model also has a ``short_id``: 8 hex digits of its path.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.display_names import path_display_name
from app.errors import ModelFileError
from app.families import detect_family
from app.library.errors import LibraryError, UnknownModelError
from app.library.fit import FitEstimate, MachineMemory, detect_machine_memory, estimate_fit
from app.library.metadata import (
    MetadataCache,
    ModelMetadata,
    ModelShape,
    default_cache,
    read_metadata,
)
from app.library.names import model_stem, parse_split, quant_from_name
from app.paths import config_dir, models_dir

MAX_DEPTH = 6  # below a root: publisher/repo/subfolder/... is plenty


class ModelSource(enum.Enum):
    """Where a local model was found."""

    PONDER = "ponder"
    HF_CACHE = "hf-cache"
    LMSTUDIO = "lmstudio"
    USER = "user"


class ModelKind(enum.Enum):
    GGUF = "gguf"
    MLX = "mlx"


@dataclass(frozen=True, slots=True)
class ModelRoot:
    """A folder searched for models."""

    path: Path
    source: ModelSource


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A model on disk (or a file that looks like one and cannot be used: ``error``).

    Attributes:
        id: ``publisher/repo/stem``, unique within one listing; accepted by resolve_model.
        short_id: 8 hex digits of the path; also accepted by resolve_model.
        source: where it was found.
        kind: GGUF file(s) or an MLX folder.
        path: what to load: the GGUF file (the first part of a split model) or MLX folder.
        files: every file of the model (all parts of a split model).
        size: bytes on disk (all parts).
        quant: quantization label (``Q4_K_M``, ``4bit``...).
        metadata: from the header (None when unusable).
        error: why the model cannot be used, or None.
    """

    id: str
    short_id: str
    source: ModelSource
    kind: ModelKind
    path: Path
    files: tuple[Path, ...]
    size: int
    quant: str | None
    metadata: ModelMetadata | None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        """What the app calls it (:func:`app.display_names.display_name`)."""
        return path_display_name(str(self.path), quant=self.quant)

    def fit(self, n_ctx: int | None = None, machine: MachineMemory | None = None) -> FitEstimate:
        """The fit estimate at ``n_ctx`` (default: min(trained context, 8192))."""
        shape = self.metadata.shape if self.metadata else None
        ctx = n_ctx or min((self.metadata.context_length if self.metadata else None) or 8192, 8192)
        return estimate_fit(self.size, shape, ctx, machine or detect_machine_memory())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "short_id": self.short_id,
            "source": self.source.value,
            "kind": self.kind.value,
            "path": str(self.path),
            "files": [str(f) for f in self.files],
            "size": self.size,
            "quant": self.quant,
            "usable": self.usable,
            "error": self.error,
            "metadata": self.metadata.to_json() if self.metadata else None,
        }


# --- settings: folders and files the user added ---------------------------------------------


def _settings_path() -> Path:
    return config_dir() / "library.json"


def _read_settings() -> dict[str, list[str]]:
    try:
        data = json.loads(_settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"paths": []}
    paths = data.get("paths") if isinstance(data, dict) else None
    return {"paths": [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []}


def _write_settings(settings: dict[str, list[str]]) -> None:
    path = _settings_path()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def user_paths() -> list[Path]:
    """Folders and files the user added, in the order added."""
    return [Path(p) for p in _read_settings()["paths"]]


def add_user_path(path: str | Path) -> Path:
    """Remember a folder (searched for models) or a model file; returns the absolute path."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise LibraryError(f"no such file or folder: {p}")
    if p.is_file() and not p.name.lower().endswith(".gguf"):
        raise LibraryError(
            f"{p.name} is not a GGUF model file (a .gguf file or a folder is needed)"
        )
    settings = _read_settings()
    if str(p) not in settings["paths"]:
        settings["paths"].append(str(p))
        _write_settings(settings)
    return p


def remove_user_path(path: str | Path) -> bool:
    """Forget an added folder or file (nothing is deleted); False if it was not added."""
    p = Path(path).expanduser()
    settings = _read_settings()
    wanted = {str(p), str(p.resolve())}
    kept = [s for s in settings["paths"] if s not in wanted]
    if len(kept) == len(settings["paths"]):
        return False
    settings["paths"] = kept
    _write_settings(settings)
    return True


# --- where to look ----------------------------------------------------------------------------


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, from the environment at each call."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def lmstudio_dirs() -> list[Path]:
    """LM Studio's models folders: its settings' ``downloadsFolder``, then the defaults."""
    home = Path.home()
    found: list[Path] = []
    try:
        settings = json.loads((home / ".lmstudio" / "settings.json").read_text(encoding="utf-8"))
        folder = settings.get("downloadsFolder") if isinstance(settings, dict) else None
        if isinstance(folder, str) and folder:
            found.append(Path(folder).expanduser())
    except (OSError, ValueError):
        pass
    found += [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    return found


def default_roots() -> list[ModelRoot]:
    roots = [
        ModelRoot(models_dir(), ModelSource.PONDER),
        ModelRoot(hf_cache_dir(), ModelSource.HF_CACHE),
    ]
    roots += [ModelRoot(p, ModelSource.LMSTUDIO) for p in lmstudio_dirs()]
    roots += [ModelRoot(p, ModelSource.USER) for p in user_paths()]
    return roots


# --- scanning -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    source: ModelSource
    kind: ModelKind
    path: Path
    files: tuple[Path, ...]
    id: str
    error: str | None = None


def _walk(root: Path, depth: int = 0) -> Iterator[tuple[Path, list[os.DirEntry[str]]]]:
    """(folder, entries) below root; hidden folders (``.partial``, ``.git``) are skipped."""
    try:
        with os.scandir(root) as it:
            entries = list(it)
    except OSError:
        return
    yield root, entries
    if depth >= MAX_DEPTH:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            yield from _walk(Path(entry.path), depth + 1)


def _group_folder(
    folder: Path, entries: list[os.DirEntry[str]], make_id: Any, source: ModelSource
) -> Iterator[_Found]:
    """The models in one folder: single GGUFs, split GGUFs grouped, an MLX folder."""
    names = {e.name for e in entries if not e.name.startswith(".")}
    ggufs = sorted(n for n in names if n.lower().endswith(".gguf"))
    splits: dict[tuple[str, int], dict[int, str]] = {}
    for name in ggufs:
        split = parse_split(name)
        if split is None:
            if "mmproj" in name.lower():
                continue  # a vision projector, not a model of its own
            yield _Found(
                source, ModelKind.GGUF, folder / name, (folder / name,), make_id(model_stem(name))
            )
        else:
            splits.setdefault((split.base, split.count), {})[split.part] = name
    for (base, count), parts in sorted(splits.items()):
        files = tuple(folder / parts[i] for i in sorted(parts))
        first = folder / f"{base}-{1:05d}-of-{count:05d}.gguf"
        missing = [i for i in range(1, count + 1) if i not in parts]
        error = None
        if missing:
            shown = ", ".join(str(i) for i in missing[:8]) + ("..." if len(missing) > 8 else "")
            error = f"split model is missing part(s) {shown} of {count}"
        yield _Found(
            source, ModelKind.GGUF, first if 1 in parts else files[0], files, make_id(base), error
        )
    weights = sorted(folder / n for n in names if n.endswith(".safetensors"))
    if "config.json" in names and weights and _is_mlx(folder / "config.json"):
        yield _Found(source, ModelKind.MLX, folder, tuple(weights), make_id(None))


def _is_mlx(config: Path) -> bool:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("quantization"), dict)


def _id_maker(parts: Sequence[str], fallback: str) -> Any:
    """A function stem -> id for a folder at relative ``parts`` below its root."""
    prefix = list(parts[:2]) if parts else [fallback]

    def make(stem: str | None) -> str:
        if stem is None:  # an MLX folder: the folder is the model
            return "/".join(parts[:3]) if parts else fallback
        return "/".join([*prefix, stem])

    return make


def _scan_tree(root: ModelRoot) -> Iterator[_Found]:
    base = root.path
    if base.is_file():  # a model file the user added
        folder = base.parent
        try:
            entries = [
                e
                for e in os.scandir(folder)
                if e.name == base.name or _same_split(e.name, base.name)
            ]
        except OSError:
            return
        yield from _group_folder(
            folder, entries, _id_maker([folder.name], folder.name), root.source
        )
        return
    for folder, entries in _walk(base):
        rel = folder.relative_to(base).parts
        yield from _group_folder(folder, entries, _id_maker(rel, base.name), root.source)


def _same_split(name: str, other: str) -> bool:
    a, b = parse_split(name), parse_split(other)
    return a is not None and b is not None and (a.base, a.count) == (b.base, b.count)


def _scan_hf_cache(root: ModelRoot) -> Iterator[_Found]:
    try:
        with os.scandir(root.path) as it:
            repos = sorted((e for e in it if e.name.startswith("models--")), key=lambda e: e.name)
    except OSError:
        return
    for repo in repos:
        org_name = repo.name[len("models--") :].split("--", 1)
        if len(org_name) != 2:
            continue
        snapshots = Path(repo.path) / "snapshots"
        try:
            main = (Path(repo.path) / "refs" / "main").read_text(encoding="utf-8").strip()
        except OSError:
            main = ""
        revs = sorted(
            (p for p in _list_dirs(snapshots)),
            key=lambda p: (p.name == main, _mtime(p)),
            reverse=True,
        )
        seen: set[str] = set()
        for rev in revs:  # the revision "main" points at first, then the newest
            for folder, entries in _walk(rev):
                for found in _group_folder(
                    folder, entries, _id_maker(org_name, org_name[1]), root.source
                ):
                    if found.kind is ModelKind.MLX:
                        found.id = "/".join(org_name)
                    if found.id in seen:
                        continue
                    seen.add(found.id)
                    yield found


def _list_dirs(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir()]
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _short_id(path: Path) -> str:
    return hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:8]


def _mlx_metadata(folder: Path) -> ModelMetadata:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{folder.name}: unreadable config.json ({err})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{folder.name}: config.json is not an object")

    def num(key: str) -> int | None:
        v = config.get(key)
        return int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None

    layers, heads, hidden = num("num_hidden_layers"), num("num_attention_heads"), num("hidden_size")
    kv = num("num_key_value_heads") or heads
    head_dim = num("head_dim") or (hidden // heads if hidden and heads else None)
    shape = ModelShape(layers, heads, kv, head_dim, hidden) if layers and kv and head_dim else None
    template = None
    try:
        tok = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        template = tok.get("chat_template") if isinstance(tok, dict) else None
    except (OSError, ValueError):
        pass
    if not isinstance(template, str):
        template = None
    arch = str(config.get("model_type") or "unknown")
    family = detect_family(chat_template=template, architecture=arch, name=folder.name)
    bits = (
        config["quantization"].get("bits") if isinstance(config.get("quantization"), dict) else None
    )
    return ModelMetadata(
        architecture=arch,
        name=folder.name,
        quant=f"{bits}bit" if isinstance(bits, int) else None,
        context_length=num("max_position_embeddings"),
        shape=shape,
        chat_template=template,
        family_id=family.id,
        family_name=family.display_name,
    )


def _finish(found: _Found, cache: MetadataCache) -> LocalModel:
    size = 0
    error = found.error
    for f in found.files:
        try:
            size += f.stat().st_size
        except OSError:
            error = error or f"{f.name}: file is missing or a broken link (incomplete download?)"
    meta: ModelMetadata | None = None
    if error is None:
        try:
            if found.kind is ModelKind.MLX:
                meta = _mlx_metadata(found.path)
            else:
                meta = read_metadata(found.path, cache=cache, save=False)
        except ModelFileError as err:
            error = str(err)
    quant = meta.quant if meta else None
    if quant is None and found.kind is ModelKind.GGUF:
        quant = quant_from_name(found.path.name)
    return LocalModel(
        id=found.id,
        short_id=_short_id(found.path),
        source=found.source,
        kind=found.kind,
        path=found.path,
        files=found.files,
        size=size,
        quant=quant,
        metadata=meta,
        error=error,
    )


def list_local_models(roots: Sequence[ModelRoot] | None = None) -> list[LocalModel]:
    """Every model found under ``roots`` (default: :func:`default_roots`), usable or not."""
    cache = default_cache()
    models: list[LocalModel] = []
    ids: set[str] = set()
    paths: set[str] = set()
    for root in roots if roots is not None else default_roots():
        scan = _scan_hf_cache if root.source is ModelSource.HF_CACHE else _scan_tree
        for found in scan(root):
            real = str(found.path.resolve()) if found.path.exists() else str(found.path)
            if real in paths:
                continue  # the same file reached twice (e.g. an added folder inside another)
            paths.add(real)
            if found.id in ids:
                found.id = f"{found.id}@{root.source.value}"
                n = 2
                while found.id in ids:
                    found.id = f"{found.id.rsplit('#', 1)[0]}#{n}"
                    n += 1
            ids.add(found.id)
            models.append(_finish(found, cache))
    cache.save()
    return models


def find_model(id_or_path: str, models: Sequence[LocalModel] | None = None) -> LocalModel:
    """The library model with this id, short id, path, or (if unique) file stem."""
    listing = list(models) if models is not None else list_local_models()
    text = id_or_path.strip()
    candidate = Path(text).expanduser()
    if text and (os.sep in text or text.endswith(".gguf")) and candidate.exists():
        real = candidate.resolve()
        for m in listing:
            if real in {m.path.resolve(), *(f.resolve() for f in m.files)}:
                return m
    lowered = text.lower()
    keys: tuple[Callable[[LocalModel], str], ...] = (
        lambda m: m.id,
        lambda m: m.short_id,
        lambda m: m.id.lower(),
        lambda m: m.id.rsplit("/", 1)[-1].split("@", 1)[0].lower(),
    )
    for key, wanted in zip(keys, (text, lowered, lowered, lowered), strict=True):
        hits = [m for m in listing if key(m) == wanted]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            shown = ", ".join(m.id for m in hits[:5])
            raise UnknownModelError(f"'{text}' matches several models ({shown}); use the full id")
    raise UnknownModelError(
        f"no model '{text}' in the library (`ponder models list` shows the ids)"
    )


def resolve_model(id_or_path: str | Path) -> Path:
    """The path to load for a library model id, short id, or a model path.

    A path to an existing ``.gguf`` file or MLX folder is returned as it is (for a split
    model, its first part). Raises UnknownModelError for an unknown id and ModelFileError
    for a model that cannot be used.
    """
    text = str(id_or_path).strip()
    p = Path(text).expanduser()
    if text and p.exists():
        if p.is_file():
            split = parse_split(p.name)
            if split is not None and split.part != 1:
                first = p.with_name(split.part_name(1))
                if not first.exists():
                    raise ModelFileError(f"{p.name}: the first part {first.name} is missing")
                return first
            return p
        if p.is_dir():
            if (p / "config.json").exists() and _is_mlx(p / "config.json"):
                return p
            raise ModelFileError(f"{p} is a folder, not a model (add it with `ponder models add`)")
    if isinstance(id_or_path, Path):
        raise ModelFileError(f"model file not found: {p}")
    model = find_model(text)
    if model.error:
        raise ModelFileError(f"{model.id}: {model.error}")
    return model.path


def remove_model(id_or_path: str) -> str:
    """Remove a model: delete Ponder's own files, or forget an added file or folder.

    Models found in the Hugging Face cache or LM Studio's folders are not Ponder's to delete.
    Returns a sentence saying what was done.
    """
    if remove_user_path(id_or_path):
        return f"no longer searching {id_or_path} (nothing was deleted)"
    model = find_model(id_or_path)
    if model.source is ModelSource.USER:
        for p in user_paths():
            if p in (model.path, *model.files):
                remove_user_path(p)
                return f"forgot {model.id} (the file was not deleted)"
        raise LibraryError(
            f"{model.id} is in a folder you added; delete the file yourself or remove the folder"
        )
    if model.source is not ModelSource.PONDER:
        owner = "the Hugging Face cache" if model.source is ModelSource.HF_CACHE else "LM Studio"
        raise LibraryError(f"{model.id} belongs to {owner}; remove it there")
    root = models_dir().resolve()
    if model.kind is ModelKind.MLX:
        folder = model.path.resolve()
        if root not in folder.parents:
            raise LibraryError(f"refusing to delete {folder}: outside Ponder's models folder")
        shutil.rmtree(folder)
        return f"deleted {model.id} (folder {folder.name})"
    for f in model.files:
        real = f.resolve()
        if root not in real.parents:
            raise LibraryError(f"refusing to delete {f}: outside Ponder's models folder")
        real.unlink(missing_ok=True)
    folder = model.path.parent.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()  # only if empty
        except OSError:
            break
        folder = folder.parent
    return f"deleted {model.id} ({len(model.files)} file(s))"
