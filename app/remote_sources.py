"""Remote model sources: OpenAI-compatible servers the user added by name.

Kept in ``config_dir()/remote_sources.json`` as ``{"sources": [{"name", "url",
"api_key_env"}]}``. An API key is never written there: a source names the environment
variable that holds it (``--api-key-env``), so the file can be shared and shown freely.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.errors import PonderError
from app.paths import config_dir

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class RemoteSource:
    """A server added by the user.

    Attributes:
        name: what the user calls it (``ponder chat --endpoint NAME``).
        url: its base URL.
        api_key_env: the environment variable holding its API key, if it needs one.
    """

    name: str
    url: str
    api_key_env: str | None = None

    def api_key(self) -> str | None:
        """The key from the environment (None when unset or not needed)."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
            out.append(RemoteSource(item["name"], str(item.get("url", "")), env if env else None))
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


def add_source(name: str, url: str, api_key_env: str | None = None) -> RemoteSource:
    """Add (or replace) a source.

    Raises:
        PonderError: a bad name, URL or variable name.
    """
    if not _NAME.match(name):
        raise PonderError(
            f"bad source name {name!r}: letters, digits, '.', '_' or '-' (at most 64)"
        )
    if not re.match(r"^https?://[^/\s]+", url):
        raise PonderError(f"not an http(s) URL: {url!r} (e.g. http://127.0.0.1:8080)")
    if api_key_env is not None and not _ENV.match(api_key_env):
        raise PonderError(f"not an environment variable name: {api_key_env!r}")
    source = RemoteSource(name, url.rstrip("/"), api_key_env)
    _save([*(s for s in load_sources() if s.name != name), source])
    return source


def remove_source(name: str) -> RemoteSource:
    """Forget a source.

    Raises:
        PonderError: no source has that name.
    """
    sources = load_sources()
    found = next((s for s in sources if s.name == name), None)
    if found is None:
        raise PonderError(f"no remote source named {name!r}")
    _save([s for s in sources if s.name != name])
    return found
