"""One display name per model, used wherever the app names a model.

The rule: the catalog's name when the file belongs to a catalog model (its repository, or a
file name that is the catalog name with a quantization), else the file name cleaned of
``.gguf``, the split suffix and the quantization; then the quantization, when known
(``DeepSeek-R1-Distill-Qwen-7B Q4_K_M``, ``SmolLM2-135M-Instruct Q4_1``). The GGUF's own
``general.name`` is not used: it is often a training run's label.

Where two models of one list would look the same, :func:`distinct_names` adds as much of
their paths as tells them apart (the file name first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Protocol

from app.library.catalog import CatalogEntry, load_catalog
from app.library.names import QUANT_RE, model_stem, quant_from_name

_SEPARATORS = "-_. "
_IMATRIX = re.compile(r"[-_.]i1$", re.IGNORECASE)  # mradermacher's ``Name.i1-Q4_K_M``
_HF_CACHE_REPO = re.compile(r"^models--(?P<org>[^-].*?)--(?P<name>.+)$")


def _path(path: str) -> PurePath:
    return PureWindowsPath(path) if "\\" in path else PurePosixPath(path)


def _key(name: str) -> str:
    """``Qwen_QwQ-32B`` → ``qwen-qwq-32b``: case and separators do not matter."""
    return re.sub(r"[-_. ]+", "-", name.strip(_SEPARATORS)).lower()


def clean_stem(file_name: str) -> str:
    """A file name without ``.gguf``, the split suffix and the quantization label.

    ``DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf`` → ``DeepSeek-R1-Distill-Qwen-7B``;
    ``Bespoke-Stratos-7B.i1-Q4_K_M.gguf`` → ``Bespoke-Stratos-7B``. A name that is nothing
    but a quantization keeps it.
    """
    stem = model_stem(file_name)
    upper = stem.upper()
    matches = list(QUANT_RE.finditer(upper)) if len(upper) == len(stem) else []
    if not matches:
        return stem
    last = matches[-1]
    left = _IMATRIX.sub("", stem[: last.start()].rstrip(_SEPARATORS)).rstrip(_SEPARATORS)
    right = stem[last.end() :].lstrip(_SEPARATORS)
    base = f"{left}-{right}" if left and right else left or right
    return base or stem


def repo_of_path(path: str) -> str | None:
    """``publisher/repo`` of a file in a Hugging Face cache folder, else the two folders above
    the file (Ponder's and LM Studio's layout), or None."""
    parts = _path(path).parts
    for part in reversed(parts):
        m = _HF_CACHE_REPO.match(part)
        if m:
            return f"{m['org']}/{m['name']}"
    if len(parts) >= 3:
        return f"{parts[-3]}/{parts[-2]}"
    return None


def catalog_entry_for(file_name: str, repo_id: str | None = None) -> CatalogEntry | None:
    """The catalog model a file belongs to: by its repository, else by its cleaned name (or
    that name after a ``publisher_`` prefix, bartowski's habit)."""
    catalog = load_catalog()
    if repo_id:
        entry = catalog.for_repo(repo_id)
        if entry is not None:
            return entry
    stem = clean_stem(file_name)
    wanted = {_key(stem)}
    if "_" in stem:
        wanted.add(_key(stem.split("_", 1)[1]))
    for entry in catalog.entries:
        if _key(entry.name) in wanted:
            return entry
    return None


def display_name(file_name: str, *, quant: str | None = None, repo_id: str | None = None) -> str:
    """The name the app shows for a model file (or MLX folder, or a server's model id).

    Args:
        file_name: the file's (or folder's) name, without its folder.
        quant: the quantization label when known otherwise; default: read from the name.
        repo_id: ``publisher/repo`` the file came from, when known.
    """
    quant = quant or quant_from_name(file_name)
    entry = catalog_entry_for(file_name, repo_id)
    base = entry.name if entry is not None else clean_stem(file_name)
    if quant and f"-{_key(quant)}-" not in f"-{_key(base)}-":
        return f"{base} {quant}"
    return base


def path_display_name(path: str, *, quant: str | None = None) -> str:
    """:func:`display_name` of a model given by its path (a file, an MLX folder, or the
    model id of a remote server)."""
    name = _path(path).name or path
    return display_name(name, quant=quant, repo_id=repo_of_path(path))


class SavedModel(Protocol):
    """How the history names the model of an answer (``app.store.ModelRef`` is one): the
    library does not import the history, so this module asks only for what it reads."""

    @property
    def path(self) -> str | None: ...

    @property
    def model_id(self) -> str: ...


def ref_display_name(ref: SavedModel | None) -> str:
    """The name of the model that wrote an answer, the same live and reopened from the
    history: from the file it was (the saved ``path``), else the saved id; "" if unknown."""
    if ref is None:
        return ""
    return path_display_name(ref.path) if ref.path else ref.model_id


def distinct_names(models: Sequence[tuple[str, str]]) -> list[str]:
    """Names for a list of ``(display name, path)`` that tell every model apart.

    A name shared by models at different paths gets `` — `` and the shortest end of the
    path that differs among them (the file name, then its folder too, ...). The same path
    twice keeps the same name.
    """
    groups: dict[str, set[str]] = {}
    for name, path in models:
        groups.setdefault(name, set()).add(path)
    suffix: dict[tuple[str, str], str] = {}
    for name, paths in groups.items():
        if len(paths) < 2:
            continue
        split = {p: _path(p).parts for p in paths}
        depth = 1
        longest = max(len(parts) for parts in split.values())
        while depth < longest:
            ends = [tuple(parts[-depth:]) for parts in split.values()]
            if len(set(ends)) == len(ends):
                break
            depth += 1
        for p, parts in split.items():
            suffix[(name, p)] = "/".join(parts[-depth:])
    return [
        f"{name} — {suffix[(name, path)]}" if (name, path) in suffix else name
        for name, path in models
    ]
