"""scripts/install.sh's source build, with a stand-in for the venv's Python: nothing compiles.

The stand-in runs scripts/progress.py with the real interpreter and answers every pip command
itself, writing down the command and its CMAKE_ARGS; for ``pip wheel`` it prints what
scikit-build-core and Ninja print and leaves a wheel file (or fails, when told to).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VERSION = "0.3.36"
FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"

FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = scripts/progress.py ]; then exec {real} "$@"; fi
printf '%s\\n' "CMAKE_ARGS=${{CMAKE_ARGS:-}}" "ARGS=$*" >> {calls}
if [ "$1 $2 $3" = "-m pip wheel" ]; then
  while [ $# -gt 0 ]; do [ "$1" = -w ] && out=$2; shift; done
  echo "  *** Configuring CMake..."
  echo "  *** Building project with Ninja..."
  echo "  [1/2] /usr/bin/g++ -c llama.cpp"
  if [ -n "${{FAKE_BUILD_FAILS:-}}" ]; then echo "  llama.cpp:1: error: no space left"; exit 1; fi
  echo "  [2/2] /usr/bin/g++ -c ggml.c"
  echo "  *** Installing project into wheel..."
  touch "$out/llama_cpp_python-{version}-py3-none-linux_x86_64.whl"
fi
exit 0
"""


class Install:
    """Runs scripts/install.sh against the stand-in venv; remembers what pip was asked."""

    def __init__(self, tmp_path: Path) -> None:
        self.venv, self.cache = tmp_path / "venv", tmp_path / "wheels"
        self.calls, self.log = tmp_path / "calls.txt", tmp_path / "install.log"
        python = self.venv / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(
            FAKE_PYTHON.format(real=sys.executable, calls=self.calls, version=VERSION)
        )
        python.chmod(0o755)

    def __call__(self, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PONDER_", "PIP_"))}
        env.update(
            PONDER_VENV=str(self.venv),
            PONDER_WHEEL_CACHE=str(self.cache),
            PONDER_BUILD_LOG=str(self.log),
            PYTHON=sys.executable,
            CMAKE_ARGS=FLAGS,
            **extra,
        )
        return subprocess.run(
            ["bash", str(ROOT / "scripts" / "install.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def pip_calls(self) -> list[tuple[str, str]]:
        """(CMAKE_ARGS, arguments) of each pip command, in order."""
        lines = self.calls.read_text().splitlines()
        pairs = zip(lines[::2], lines[1::2], strict=True)
        return [(a.removeprefix("CMAKE_ARGS="), b.removeprefix("ARGS=")) for a, b in pairs]


@pytest.fixture
def install(tmp_path: Path) -> Install:
    return Install(tmp_path)


def key() -> str:
    return hashlib.sha256(FLAGS.encode()).hexdigest()[:12]


def test_the_build_leaves_out_what_ponder_does_not_use(install: Install) -> None:
    done = install()
    assert done.returncode == 0, done.stdout + done.stderr
    [cmake_args] = [c for c, args in install.pip_calls() if args.startswith("-m pip wheel")]
    include = ROOT / "scripts" / "llama_core_only.cmake"
    # scikit-build-core splits CMAKE_ARGS with shlex; the person's flags come last and win.
    assert shlex.split(cmake_args) == [
        "-DLLAVA_BUILD=OFF",
        f"-DCMAKE_PROJECT_llama.cpp_INCLUDE={include}",
        *FLAGS.split(),
    ]
    assert "set(LLAMA_BUILD_COMMON OFF CACHE BOOL" in include.read_text()
    cached = install.cache / f"llama-cpp-python-{VERSION}-core-{key()}"
    assert [p.name for p in cached.iterdir()] == [
        f"llama_cpp_python-{VERSION}-py3-none-linux_x86_64.whl"
    ]


def test_a_log_gets_a_few_plain_lines_and_none_of_pips_output(install: Install) -> None:
    done = install()
    lines = done.stdout.splitlines()
    assert f"Compiling llama-cpp-python {VERSION} (CMAKE_ARGS={FLAGS})" in lines
    assert "Building llama.cpp (about 9 minutes on 2 cores, once)…" in lines
    assert any(re.fullmatch(r"Building llama\.cpp: done in \d+s", line) for line in lines)
    assert any(
        re.fullmatch(r"Installing Ponder and its dependencies: done in \d+s", x) for x in lines
    )
    assert lines[-1] == f"Ponder is installed in {install.venv} — run: {install.venv}/bin/ponder"
    assert "g++" not in done.stdout and "***" not in done.stdout and not done.stderr
    assert "[2/2] /usr/bin/g++ -c ggml.c" in install.log.read_text()  # all of it in the log
    assert len(lines) < 20


def test_the_second_install_uses_the_cached_wheel(install: Install) -> None:
    install()
    install.calls.unlink()
    done = install()
    cached = install.cache / f"llama-cpp-python-{VERSION}-core-{key()}"
    assert f"Using llama-cpp-python {VERSION} built before ({cached})" in done.stdout
    assert "Building llama.cpp" not in done.stdout
    assert not [a for _, a in install.pip_calls() if a.startswith("-m pip wheel")]


def test_a_full_build_cached_by_an_earlier_install_is_used_too(install: Install) -> None:
    earlier = install.cache / f"llama-cpp-python-{VERSION}-{key()}"
    earlier.mkdir(parents=True)
    (earlier / f"llama_cpp_python-{VERSION}-py3-none-linux_x86_64.whl").touch()
    done = install()
    assert f"Using llama-cpp-python {VERSION} built before ({earlier})" in done.stdout
    assert "Building llama.cpp" not in done.stdout


def test_a_failed_build_names_its_log_and_shows_the_error(install: Install) -> None:
    done = install(FAKE_BUILD_FAILS="1")
    assert done.returncode == 1
    assert re.search(r"^Building llama\.cpp: failed in \d+s$", done.stdout, re.M)
    assert f"The full log is {install.log}; its last" in done.stdout
    assert "  llama.cpp:1: error: no space left\n" in done.stdout
    assert "Ponder is installed" not in done.stdout
    assert not (install.cache / f"llama-cpp-python-{VERSION}-core-{key()}").exists()
