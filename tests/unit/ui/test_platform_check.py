"""The xcb library check: ldd's output and /etc/os-release turned into one install line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ui.platform_check import (
    missing_libraries,
    package_manager,
    parse_ldd,
    uses_xcb,
    xcb_problem,
)

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""
MISSING = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")


def test_parse_ldd_lists_each_missing_library_once() -> None:
    assert parse_ldd(LDD) == MISSING
    assert parse_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == ()


def test_install_line_per_distribution() -> None:
    debian = 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n'
    ubuntu = "ID=ubuntu\nID_LIKE=debian\n"
    fedora = 'ID=fedora\nVERSION_ID="40"\n'
    rocky = 'ID="rocky"\nID_LIKE="rhel centos fedora"\n'
    arch = "ID=arch\n"
    manjaro = "ID=manjaro\nID_LIKE=arch\n"
    assert missing_libraries(MISSING, debian).install_line == (
        "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"
    )
    assert missing_libraries(MISSING, ubuntu).install_line.startswith("sudo apt install ")
    assert missing_libraries(MISSING, fedora).install_line == (
        "sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms"
    )
    assert package_manager(rocky) == "dnf"
    assert missing_libraries(MISSING, arch).install_line == (
        "sudo pacman -S --needed xcb-util-cursor xcb-util-wm xcb-util-keysyms"
    )
    assert package_manager(manjaro) == "pacman"


def test_unknown_distribution_still_names_the_packages() -> None:
    fix = missing_libraries(("libxcb-icccm.so.4", "libweird.so.9"), "ID=gentoo\n")
    assert fix.manager is None
    assert "libxcb-icccm4" in fix.install_line and "libweird.so.9" in fix.install_line
    assert "libxcb-icccm.so.4, libweird.so.9" in fix.message


def test_xcb_is_used_on_x11_or_when_chosen() -> None:
    assert uses_xcb({"DISPLAY": ":0"})
    assert not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    assert not uses_xcb({})
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert not uses_xcb({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd is Linux")
def test_a_library_qt_opens_at_run_time_is_checked_too() -> None:
    """Qt builds that dlopen libxcb-cursor: ldd cannot see it, the loader check does."""
    binary = Path(sys.executable).resolve()  # links nothing missing
    problem = xcb_problem(binary, can_load=lambda soname: soname != "libxcb-cursor.so.0")
    assert problem is not None and problem.libraries == ("libxcb-cursor.so.0",)
    assert xcb_problem(binary, can_load=lambda soname: True) is None
