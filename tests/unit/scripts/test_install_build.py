"""scripts/install.sh's source build and PONDER_LLAMA_INDEX, with a stand-in for the venv's Python.

The stand-in runs scripts/progress.py and ``pip download`` (the look-up on the index) with the
real interpreter and answers every other pip command itself, writing down the command and its
CMAKE_ARGS; for ``pip wheel`` it prints what scikit-build-core and Ninja print and leaves a
wheel file (or fails, when told to). Nothing compiles, nothing is installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import socket
import subprocess
import sys
import sysconfig
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VERSION = "0.3.36"
FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"

FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = scripts/progress.py ]; then exec {real} "$@"; fi
printf '%s\\n' "CMAKE_ARGS=${{CMAKE_ARGS:-}}" "ARGS=$*" >> {calls}
if [ "$1 $2 $3" = "-m pip download" ]; then exec {real} "$@"; fi
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
    assert "Building llama.cpp (about 6 minutes on 2 idle cores, once)…" in lines
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


def test_a_full_build_cached_by_an_older_install_is_not_reused(install: Install) -> None:
    """Only the core-only build runs, so CI tests what users run."""
    earlier = install.cache / f"llama-cpp-python-{VERSION}-{key()}"
    earlier.mkdir(parents=True)
    (earlier / f"llama_cpp_python-{VERSION}-py3-none-linux_x86_64.whl").touch()
    done = install()
    assert "built before" not in done.stdout
    assert "Building llama.cpp" in done.stdout


def test_a_failed_build_names_its_log_and_shows_the_error(install: Install) -> None:
    done = install(FAKE_BUILD_FAILS="1")
    assert done.returncode == 1
    assert re.search(r"^Building llama\.cpp: failed in \d+s$", done.stdout, re.M)
    assert f"The full log is {install.log}; its last" in done.stdout
    assert "  llama.cpp:1: error: no space left\n" in done.stdout
    assert "Ponder is installed" not in done.stdout
    assert not (install.cache / f"llama-cpp-python-{VERSION}-core-{key()}").exists()


PLATFORM = sysconfig.get_platform().replace("-", "_").replace(".", "_")


def make_wheel(folder: Path, platform: str) -> Path:
    """A small but valid llama-cpp-python wheel for ``platform`` (pip reads its metadata)."""
    path = folder / f"llama_cpp_python-{VERSION}-py3-none-{platform}.whl"
    info = f"llama_cpp_python-{VERSION}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: {VERSION}\n",
        )
        wheel.writestr(
            f"{info}/WHEEL",
            f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: py3-none-{platform}\n",
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A "simple" package index on 127.0.0.1: its URL and llama-cpp-python's folder in it."""
    root = tmp_path / "index"
    project = root / "simple" / "llama-cpp-python"
    project.mkdir(parents=True)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/simple/", project
    server.shutdown()
    server.server_close()
    thread.join()


def fallback(url: str) -> str:
    return (
        f"No llama-cpp-python {VERSION} wheel for this platform at {url} "
        "(or it could not be reached): building from source instead"
    )


def test_a_wheel_for_this_platform_on_the_index_is_installed_instead_of_compiling(
    install: Install, index: tuple[str, Path]
) -> None:
    url, project = index
    wheel = make_wheel(project, PLATFORM)
    done = install(PONDER_LLAMA_INDEX=url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[2] == f"Using the prebuilt {wheel.name} from {url}"
    assert "Building llama.cpp" not in done.stdout and not install.cache.exists()
    installs = [a for _, a in install.pip_calls() if a.startswith("-m pip install /")]
    assert installs[0].endswith(f"/{wheel.name}") and "ponder-llama-index." in installs[0]
    assert not [a for _, a in install.pip_calls() if a.startswith("-m pip wheel")]


def test_an_index_without_a_wheel_for_this_platform_means_the_source_build(
    install: Install, index: tuple[str, Path]
) -> None:
    url, project = index
    make_wheel(project, "win_amd64")
    done = install(PONDER_LLAMA_INDEX=url)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[lines.index(fallback(url)) + 1].startswith("Compiling llama-cpp-python")
    assert [a for _, a in install.pip_calls() if a.startswith("-m pip wheel")]


def test_an_index_that_cannot_be_reached_means_the_source_build(install: Install) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/simple/"
    done = install(PONDER_LLAMA_INDEX=url)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[lines.index(fallback(url)) + 1].startswith("Compiling llama-cpp-python")
