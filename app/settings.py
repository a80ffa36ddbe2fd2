"""User settings, kept as JSON under the config folder (``PONDER_HOME`` moves it).

Keys this version does not know (a later version's, or ``server_port``, which only a person
sets) are kept in :attr:`Settings.extra` and written back as they were; a broken file is
renamed aside (never lost), and writes are atomic (temp file + rename), so a crash never
leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app import paths


@dataclass
class Settings:
    """What the desktop app remembers between runs."""

    last_model_path: str | None = None
    reload_last_model: bool = True  # the window opens the last model at start
    chat_template_path: str | None = None
    n_ctx: int | None = None
    n_gpu_layers: int | None = None
    n_threads: int | None = None
    system_prompt: str = ""
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    thinking: str = "auto"  # "auto" | "off" | "budget"
    budget: int = 4096
    think_longer: int | None = None
    effort: str | None = None
    collapse_trace: bool = True
    on_loop: str = "warn"
    save_api_history: bool = False  # keep the "Serve API" switch's conversations
    serve_network: bool = False  # "Serve API" for other devices too (with an API key)
    window_geometry: str | None = None
    #: The file's other keys, e.g. ``server_port`` (the window's "Serve API" port).
    extra: dict[str, Any] = field(default_factory=dict)


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError):
        aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}")
        with contextlib.suppress(OSError):
            path.replace(aside)
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    known = {f.name for f in fields(Settings)} - {"extra"}
    values: dict[str, Any] = {}
    defaults = Settings()
    nested = raw.pop("extra", None)  # where earlier versions wrote the extra keys
    extra: dict[str, Any] = dict(nested) if isinstance(nested, dict) else {}
    for key, value in raw.items():
        if key not in known:
            extra[key] = value
            continue
        default = getattr(defaults, key)
        if default is None or isinstance(value, type(default)) or value is None:
            values[key] = value
    if not _is_port(extra.get("server_port", 0)):
        del extra["server_port"]  # not a port: the window serves on its usual one
    return Settings(**values, extra=extra)


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write ``settings``, the extra keys beside the others as the file had them."""
    path = path or settings_path()
    data = asdict(settings)
    extra = data.pop("extra")
    data |= {key: value for key, value in extra.items() if key not in data}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _is_port(value: object) -> bool:
    """Whether ``value`` is a TCP port number (0: any free port)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535
