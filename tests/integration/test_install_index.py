"""scripts/install.sh with PONDER_LLAMA_INDEX: a prebuilt wheel from a package index, for real.

A "simple" index (PEP 503) is served on 127.0.0.1 from a temporary folder holding a copy of
the llama-cpp-python wheel an earlier install built (``~/.cache/ponder-wheels``). The script
runs with real pip into a venv that sees this interpreter's packages (a ``.pth`` file), so
pip and Ponder's dependencies are already there and nothing is compiled either way. (An index that
cannot be reached: tests/unit/scripts/test_install_build.py.)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.3.36"
FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"

pytestmark = pytest.mark.slow


def built_wheel() -> Path | None:
    """The llama-cpp-python wheel an earlier ``scripts/install.sh`` built and cached."""
    cache = Path(os.environ.get("PONDER_WHEEL_CACHE", Path.home() / ".cache" / "ponder-wheels"))
    found = sorted(cache.glob(f"llama-cpp-python-{VERSION}-*/llama_cpp_python-{VERSION}-*.whl"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def wheel() -> Path:
    found = built_wheel()
    if found is None:
        pytest.skip("no llama-cpp-python wheel cached yet: run scripts/install.sh once")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv whose Python also sees the packages (pip included) of the one running the tests."""
    path = tmp_path_factory.mktemp("install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    purelib = subprocess.run(
        [
            path / "bin" / "python",
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "tests-host.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return path


class Index:
    """A package index served from a folder on 127.0.0.1; remembers what was fetched."""

    def __init__(self, root: Path) -> None:
        self.root, self.fetched = root, []
        index = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                index.fetched.append(self.path)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=root))
        self.url = f"http://127.0.0.1:{self.server.server_port}/simple/"
        self.project = root / "simple" / "llama-cpp-python"
        self.project.mkdir(parents=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    served = Index(tmp_path / "index")
    yield served
    served.close()


def install(venv: Path, tmp_path: Path, llama_index: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PONDER_")}
    env.update(
        PONDER_VENV=str(venv),
        PONDER_WHEEL_CACHE=str(tmp_path / "wheels"),
        PONDER_BUILD_LOG=str(tmp_path / "install.log"),
        PONDER_LLAMA_INDEX=llama_index,
        PYTHON=sys.executable,
        CMAKE_ARGS=FLAGS,
    )
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def cache_with(wheel: Path, tmp_path: Path) -> Path:
    """An earlier source build in the wheel cache: "building" is then using it."""
    key = hashlib.sha256(FLAGS.encode()).hexdigest()[:12]
    folder = tmp_path / "wheels" / f"llama-cpp-python-{VERSION}-core-{key}"
    folder.mkdir(parents=True)
    shutil.copy(wheel, folder)
    return folder


def test_a_matching_wheel_on_the_index_is_installed_without_compiling(
    wheel: Path, venv: Path, index: Index, tmp_path: Path
) -> None:
    shutil.copy(wheel, index.project)
    done = install(venv, tmp_path, index.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Using the prebuilt {wheel.name} from {index.url}\n" in done.stdout
    assert "Compiling" not in done.stdout and "Building llama.cpp" not in done.stdout
    assert f"/simple/llama-cpp-python/{wheel.name}" in index.fetched
    assert not (tmp_path / "wheels").exists()  # nothing built, nothing cached
    log = (tmp_path / "install.log").read_text()
    downloaded = rf"^\$ \S+/bin/python -m pip install \S+/ponder-llama-index\.\w+/{wheel.name}$"
    assert re.search(downloaded, log, re.M), log


def test_an_index_without_a_wheel_for_this_platform_falls_back_to_the_source_build(
    wheel: Path, venv: Path, index: Index, tmp_path: Path
) -> None:
    other = wheel.name.replace(wheel.name.split("-")[-1], "win_amd64.whl")
    shutil.copy(wheel, index.project / other)
    cached = cache_with(wheel, tmp_path)
    done = install(venv, tmp_path, index.url)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    fallback = lines.index(
        f"No llama-cpp-python {VERSION} wheel for this platform at {index.url} "
        "(or it could not be reached): building from source instead"
    )
    assert lines[fallback + 1] == f"Using llama-cpp-python {VERSION} built before ({cached})"
    assert "/simple/llama-cpp-python/" in index.fetched
    assert f"/simple/llama-cpp-python/{other}" not in index.fetched
