"""scripts/check_module_size.py: CI's lint step fails on a module over 600 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.scripts import ROOT, load_script

check = load_script("check_module_size")


def module(root: Path, name: str, lines: int) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"x{i} = {i}\n" for i in range(lines)), encoding="utf-8")


def test_600_lines_pass_and_601_fail_naming_the_file_and_its_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module(tmp_path, "app/fits.py", 600)
    module(tmp_path, "bench/also_fits.py", 12)
    assert check.main([str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""

    module(tmp_path, "backends/grown.py", 601)
    assert check.main([str(tmp_path)]) == 1
    assert capsys.readouterr().err == "backends/grown.py: 601 lines, over 600; split it\n"


def test_every_package_and_the_scripts_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("app", "backends", "ui", "bench", "scripts", "ui/deep/er"):
        module(tmp_path, f"{folder}/big.py", 700)
    module(tmp_path, "tests/big_test.py", 700)  # tests are not held to it
    assert check.main([str(tmp_path)]) == 1
    named = [line.split(":")[0] for line in capsys.readouterr().err.splitlines()]
    assert named == [
        "app/big.py",
        "backends/big.py",
        "ui/big.py",
        "ui/deep/er/big.py",
        "bench/big.py",
        "scripts/big.py",
    ]


def test_an_allowlisted_module_may_keep_its_size_but_not_grow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, ceiling = "ui/window.py", 700
    monkeypatch.setattr(check, "ALLOWED", {name: ceiling})
    module(tmp_path, name, ceiling)
    assert check.main([str(tmp_path)]) == 0

    module(tmp_path, name, ceiling + 1)
    assert check.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert (
        err == f"{name}: {ceiling + 1} lines, over the ceiling kept for it ({ceiling}); split it\n"
    )


def test_a_last_line_without_a_newline_counts(tmp_path: Path) -> None:
    module(tmp_path, "ui/edge.py", 600)
    with (tmp_path / "ui/edge.py").open("a", encoding="utf-8") as fh:
        fh.write("last = 1")
    assert check.main([str(tmp_path)]) == 1


def test_the_command_exits_1_on_an_offender(tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "check_module_size.py")
    module(tmp_path, "app/huge.py", 900)
    bad = subprocess.run(
        [sys.executable, script, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert (bad.returncode, bad.stderr) == (1, "app/huge.py: 900 lines, over 600; split it\n")
