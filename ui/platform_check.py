"""Will Qt's xcb platform plugin load? If not, which system packages fix it.

Qt aborts the process (rc 134) when its platform plugin cannot load, and its message names
only the first missing library. Before the window is created, :func:`xcb_problem` runs ``ldd``
on ``PySide6/Qt/plugins/platforms/libqxcb.so`` and turns every ``not found`` into the one
``apt``/``dnf``/``pacman`` line for this distribution (``/etc/os-release``).

This module imports no Qt, so ``scripts/install.sh`` runs it as
``python -m ui.platform_check`` (exit 1 with the fix when something is missing).
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# soname -> package on (Debian/Ubuntu, Fedora/RHEL, Arch)
_PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": (
        "libxcb-render-util0",
        "xcb-util-renderutil",
        "xcb-util-renderutil",
    ),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
}
_MANAGERS = {
    "apt": "sudo apt install",
    "dnf": "sudo dnf install",
    "pacman": "sudo pacman -S --needed",
}
_FAMILY = {"debian": "apt", "ubuntu": "apt", "fedora": "dnf", "rhel": "dnf", "arch": "pacman"}
# Opened by Qt at run time (dlopen), so ldd never lists it: Qt >= 6.5 refuses xcb without it.
_DLOPENED = ("libxcb-cursor.so.0",)
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class MissingLibraries:
    """What keeps the xcb plugin from loading, and the fix.

    Attributes:
        libraries: the sonames ``ldd`` could not find, in its order.
        manager: ``apt``, ``dnf``, ``pacman``, or ``None`` for an unknown distribution.
        packages: the packages to install (for ``manager``, Debian's names when unknown).
    """

    libraries: tuple[str, ...]
    manager: str | None
    packages: tuple[str, ...]

    @property
    def install_line(self) -> str:
        prefix = _MANAGERS.get(self.manager or "", "install (Debian/Ubuntu names):")
        return f"{prefix} {' '.join(self.packages)}"

    @property
    def message(self) -> str:
        return (
            "Ponder cannot open its window: Qt's xcb platform plugin needs system libraries "
            f"that are missing: {', '.join(self.libraries)}.\n"
            f"Install them with:\n  {self.install_line}\n"
            "(The terminal commands, e.g. `ponder chat`, work without them.)"
        )


def parse_ldd(output: str) -> tuple[str, ...]:
    """The libraries ``ldd`` reported as ``not found``, each once, in order."""
    return tuple(dict.fromkeys(_NOT_FOUND.findall(output)))


def package_manager(os_release: str) -> str | None:
    """``apt``/``dnf``/``pacman`` from the text of ``/etc/os-release`` (ID, then ID_LIKE)."""
    values: dict[str, str] = {}
    for line in os_release.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    for word in [values.get("ID", ""), *values.get("ID_LIKE", "").split()]:
        if word.lower() in _FAMILY:
            return _FAMILY[word.lower()]
    return None


def missing_libraries(libraries: tuple[str, ...], os_release: str) -> MissingLibraries:
    """The fix for ``libraries`` on the distribution of ``os_release``."""
    manager = package_manager(os_release)
    column = {"dnf": 1, "pacman": 2}.get(manager or "", 0)
    packages = []
    for soname in libraries:
        names = _PACKAGES.get(soname)
        packages.append(names[column] if names else soname)
    return MissingLibraries(libraries, manager, tuple(dict.fromkeys(packages)))


def xcb_plugin() -> Path | None:
    """``libqxcb.so`` of the installed PySide6, without importing Qt (None if absent)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if path.is_file():
            return path
    return None


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` (as Qt's dlopen would)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def xcb_problem(
    plugin: Path | None = None, *, can_load: Callable[[str], bool] = loadable
) -> MissingLibraries | None:
    """What the xcb plugin lacks on this machine, or None (all there, or nothing to check).

    ``ldd`` on the plugin lists what it links; the libraries Qt opens itself at run time
    (``libxcb-cursor.so.0``) are looked up with ``can_load``.
    """
    if not sys.platform.startswith("linux"):
        return None
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return None
    try:
        done = subprocess.run(
            ["ldd", str(plugin)], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no ldd: let Qt say what it says
    late = tuple(name for name in _DLOPENED if not can_load(name))
    libraries = tuple(dict.fromkeys(late + parse_ldd(done.stdout)))
    if not libraries:
        return None
    try:
        os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        os_release = ""
    return missing_libraries(libraries, os_release)


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Would Qt pick the xcb plugin with this environment?"""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def has_display(env: Mapping[str, str]) -> bool:
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


NO_DISPLAY = (
    "ponder: there is no desktop display here (neither DISPLAY nor WAYLAND_DISPLAY is set), "
    "so the window cannot open.\n"
    "Chat in the terminal instead: ponder chat (ponder --help lists the other commands)."
)


def needs_display(env: Mapping[str, str], platform: str) -> bool:
    """Would the window fail for want of a display (Linux and the BSDs, no platform chosen)?

    Qt aborts there with a message about plugins that does not say what is missing.
    """
    if platform in ("darwin", "win32") or env.get("QT_QPA_PLATFORM", "").strip():
        return False
    return not has_display(env)


def main() -> int:
    """``python -m ui.platform_check``: print the fix and exit 1 when libraries are missing."""
    problem = xcb_problem()
    if problem is None:
        print("Qt's xcb platform plugin has all its system libraries.")
        return 0
    print(problem.message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
