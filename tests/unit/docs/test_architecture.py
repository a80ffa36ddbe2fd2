"""The import contracts in pyproject.toml cover the whole house (docs/architecture.md)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
INTERFACES = {"cli", "server"}  # app's packages above the engines
NOT_MODULES = {"__init__", "__main__", "__pycache__", "migrations", "py.typed"}


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return {c["name"]: c for c in contracts}


def _domain_contract() -> dict[str, object]:
    return _contracts()["The domain never imports an engine or an interface"]


def test_every_domain_module_is_forbidden_to_import_engines_and_interfaces() -> None:
    on_disk = {
        f"app.{path.stem}"
        for path in (ROOT / "app").iterdir()
        if path.stem not in NOT_MODULES | INTERFACES
        and (path.suffix == ".py" or (path / "__init__.py").is_file())
    }
    listed = set(_domain_contract()["source_modules"])  # type: ignore[arg-type]
    assert on_disk - listed == set(), "add these to the domain contract in pyproject.toml"
    assert listed - on_disk == set(), "these are listed but no longer exist"


def test_the_domain_may_not_import_any_interface_or_engine() -> None:
    forbidden = set(_domain_contract()["forbidden_modules"])  # type: ignore[arg-type]
    assert forbidden == {"app.cli", "app.server", "backends", "ui"}


def test_layers_run_from_the_window_down_to_the_engines() -> None:
    layers = _contracts()["Layers: the window over the commands over the server over the engines"]
    assert layers["layers"] == ["ui", "app.cli", "app.server", "backends"]
