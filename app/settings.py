"""User settings, kept as JSON under the config folder (``PONDER_HOME`` moves it).

Unknown keys are kept aside and ignored, a broken file is renamed aside (never lost), and
writes are atomic (temp file + rename), so a crash never leaves a half-written file.
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
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    defaults = Settings()
    for key, value in raw.items():
        if key in known and key != "extra":
            default = getattr(defaults, key)
            if default is None or isinstance(value, type(default)) or value is None:
                values[key] = value
    return Settings(**values)


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or settings_path()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    os.replace(tmp, path)
