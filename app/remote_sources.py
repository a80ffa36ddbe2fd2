"""Remote model sources: OpenAI-compatible servers the user added by name.

Kept in ``config_dir()/remote_sources.json`` as ``{"sources": [{"name", "url",
"api_key_env"}]}`` (plus ``"keyring": true`` for a source whose key is in the system
keyring). An API key is never written there: a source names the environment variable that
holds it (``--api-key-env``), or its key is kept in the OS keyring (:mod:`app.remote_keys`),
so the file can be shared and shown freely.

A model that a source serves is named ``remote://SOURCE/MODEL`` where the app takes a model
path (:func:`model_ref`, :func:`parse_model_ref`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import PonderError
from app.paths import config_dir
from app.remote_keys import delete_key, read_key, store_key

if TYPE_CHECKING:
    from app.engine import LoadParams

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REF_PREFIX = "remote://"


@dataclass(frozen=True, slots=True)
class RemoteSource:
    """A server added by the user.

    Attributes:
        name: what the user calls it (``ponder chat --endpoint NAME``).
        url: its base URL.
        api_key_env: the environment variable holding its API key, if it needs one.
        keyring: its API key is in the system keyring instead.
    """

    name: str
    url: str
    api_key_env: str | None = None
    keyring: bool = False

    def api_key(self) -> str | None:
        """The key from the environment or the keyring (None when unset or not needed).

        Raises:
            KeyringUnavailableError: the key is in a keyring that cannot be read now.
        """
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        if self.keyring:
            return read_key(self.name)
        return None

    def key_label(self) -> str:
        """Where its key comes from, for display: ``keyring``, ``$VAR`` or ``none``."""
        if self.api_key_env:
            return f"${self.api_key_env}"
        return "keyring" if self.keyring else "none"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.keyring:
            del data["keyring"]  # the file and `--json` keep their shape for env-var sources
        return data


def sources_path() -> Path:
    return config_dir() / "remote_sources.json"


def load_sources() -> list[RemoteSource]:
    """The configured sources (none when the file is missing or unreadable)."""
    try:
        data = json.loads(sources_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = data.get("sources") if isinstance(data, dict) else None
    out: list[RemoteSource] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            env = item.get("api_key_env")
            out.append(
                RemoteSource(
                    item["name"],
                    str(item.get("url", "")),
                    env if env else None,
                    keyring=item.get("keyring") is True and not env,
                )
            )
    return out


def _save(sources: list[RemoteSource]) -> None:
    path = sources_path()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(
        json.dumps({"sources": [s.to_json() for s in sources]}, indent=2), encoding="utf-8"
    )
    os.replace(tmp, path)


def find_source(name: str) -> RemoteSource | None:
    return next((s for s in load_sources() if s.name == name), None)


def add_source(
    name: str, url: str, api_key_env: str | None = None, *, api_key: str | None = None
) -> RemoteSource:
    """Add (or replace) a source; ``api_key`` goes into the system keyring.

    Raises:
        PonderError: a bad name, URL or variable name, or both a key and a variable.
        KeyringUnavailableError: a key was given and no system keyring can keep it.
    """
    if not _NAME.match(name):
        raise PonderError(
            f"bad source name {name!r}: letters, digits, '.', '_' or '-' (at most 64)"
        )
    if not re.match(r"^https?://[^/\s]+", url):
        raise PonderError(f"not an http(s) URL: {url!r} (e.g. http://127.0.0.1:8080)")
    if api_key_env is not None and not _ENV.match(api_key_env):
        raise PonderError(f"not an environment variable name: {api_key_env!r}")
    if api_key is not None and api_key_env is not None:
        raise PonderError("give either an API key or an environment variable, not both")
    if api_key is not None and not api_key.strip():
        raise PonderError("the API key is empty")
    if api_key is not None:
        store_key(name, api_key.strip())
    source = RemoteSource(name, url.rstrip("/"), api_key_env, keyring=api_key is not None)
    old = find_source(name)
    _save([*(s for s in load_sources() if s.name != name), source])
    if old is not None and old.keyring and not source.keyring:
        delete_key(name)
    return source


def remove_source(name: str) -> RemoteSource:
    """Forget a source, and its key in the keyring.

    Raises:
        PonderError: no source has that name.
    """
    sources = load_sources()
    found = next((s for s in sources if s.name == name), None)
    if found is None:
        raise PonderError(f"no remote source named {name!r}")
    _save([s for s in sources if s.name != name])
    if found.keyring:
        delete_key(name)
    return found


def model_ref(source_name: str, model_id: str) -> str:
    """How the app names a model a source serves: ``remote://SOURCE/MODEL``."""
    return f"{REF_PREFIX}{source_name}/{model_id}"


def parse_model_ref(ref: str) -> tuple[str, str] | None:
    """``(source name, model id)`` of a :func:`model_ref`; None for anything else."""
    if not ref.startswith(REF_PREFIX):
        return None
    source, sep, model = ref[len(REF_PREFIX) :].partition("/")
    return (source, model) if sep and source and model else None


def remote_load_params(ref: str) -> LoadParams | None:
    """How to load a :func:`model_ref`: its source's URL and key (None for anything else,
    or a source no longer configured). A key that cannot be read is left out (the server
    then says it needs one)."""
    from app.engine import LoadParams

    parsed = parse_model_ref(ref)
    source = find_source(parsed[0]) if parsed else None
    if parsed is None or source is None:
        return None
    try:
        key = source.api_key()
    except PonderError:
        key = None
    return LoadParams(model_path=parsed[1], endpoint=source.url, api_key=key)
