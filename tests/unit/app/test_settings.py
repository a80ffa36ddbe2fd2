"""The settings file: keys a person adds by hand (``server_port``) or a later version writes
are read and written back, not dropped."""

from __future__ import annotations

import json
from pathlib import Path

from app.settings import load_settings, save_settings, settings_path


def write(data: object) -> Path:
    path = settings_path()
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_port_and_unknown_keys_survive_a_load_and_a_save() -> None:
    later = {"colors": ["teal", "amber"], "level": 3}
    path = write({"temperature": 0.3, "server_port": 8123, "from_a_later_version": later})
    settings = load_settings()
    assert settings.temperature == 0.3
    assert settings.extra == {"server_port": 8123, "from_a_later_version": later}
    settings.temperature = 0.5
    save_settings(settings)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["temperature"] == 0.5
    assert saved["server_port"] == 8123
    assert saved["from_a_later_version"] == later
    assert "extra" not in saved  # beside the other keys, as the person wrote them
    assert load_settings().extra == {"server_port": 8123, "from_a_later_version": later}


def test_extra_keys_an_earlier_version_nested_are_read() -> None:
    path = write({"n_ctx": 2048, "extra": {"server_port": 0}})
    settings = load_settings()
    assert settings.n_ctx == 2048 and settings.extra == {"server_port": 0}
    save_settings(settings)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["server_port"] == 0 and "extra" not in saved


def test_a_server_port_that_is_no_port_is_left_out() -> None:
    for wrong in ("eighty", 70000, -1, True, 80.5, None):
        write({"server_port": wrong, "note": "kept"})
        assert load_settings().extra == {"note": "kept"}, wrong
