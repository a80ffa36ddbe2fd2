"""``ponder`` on a machine whose Qt xcb plugin lacks system libraries: the fix, not rc 134.

Real processes: ``python -m app`` with a display set but no X server behind it. One test puts
a fake ``ldd`` first on PATH (so it holds on machines that have the libraries); the other uses
the real ``ldd`` on the real plugin, whichever way this machine is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ui.platform_check import missing_libraries

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    }
    env.update(PYTHONPATH=str(ROOT), PONDER_HOME=str(tmp_path / "home"), **extra)
    return env


def _ponder(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _fake_ldd(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ldd = bin_dir / "ldd"
    ldd.write_text(
        "#!/bin/sh\n"
        "printf '\\tlibc.so.6 => /lib/libc.so.6 (0x1)\\n'\n"
        "printf '\\tlibxcb-icccm.so.4 => not found\\n\\tlibxcb-keysyms.so.1 => not found\\n'\n"
    )
    ldd.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def _expected_line() -> str:
    try:
        release = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        release = ""
    return missing_libraries(("libxcb-icccm.so.4", "libxcb-keysyms.so.1"), release).install_line


@pytest.mark.parametrize("args", [(), ("--self-test",)])
def test_missing_xcb_libraries_print_the_install_line(tmp_path: Path, args: tuple[str]) -> None:
    done = _ponder(*args, env=_env(tmp_path, DISPLAY=":97", PATH=_fake_ldd(tmp_path)))
    assert done.returncode == 1, done.stderr
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in done.stderr
    assert _expected_line() in done.stderr
    assert "Traceback" not in done.stderr


def test_self_test_with_an_unusable_display_fails_clearly(tmp_path: Path) -> None:
    """Real ldd: missing libraries here → the fix; all there (CI) → Qt's own message."""
    done = _ponder("--self-test", env=_env(tmp_path, DISPLAY=":97"))
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Ponder cannot open its window" in done.stderr or "cannot load" in done.stderr
    assert "Traceback" not in done.stderr


def test_self_test_without_a_display_runs_offscreen(tmp_path: Path) -> None:
    done = _ponder("--self-test", env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "self-test ok" in done.stdout


def test_the_install_scripts_check_prints_the_fix(tmp_path: Path) -> None:
    """``python -m ui.platform_check``, as scripts/install.sh runs it (no display needed)."""
    done = subprocess.run(
        [sys.executable, "-m", "ui.platform_check"],
        capture_output=True,
        text=True,
        env=_env(tmp_path, PATH=_fake_ldd(tmp_path)),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert _expected_line() in done.stderr
    assert "-m ui.platform_check" in (ROOT / "scripts" / "install.sh").read_text()


def test_no_display_says_so_instead_of_qt_aborting(tmp_path: Path) -> None:
    """A server or an SSH session: before, Qt aborted (rc 134) blaming its xcb plugin."""
    done = _ponder(env=_env(tmp_path))
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.startswith("ponder: there is no desktop display here"), done.stderr
    assert "ponder chat" in done.stderr
    assert "qt.qpa" not in done.stderr and "Traceback" not in done.stderr
