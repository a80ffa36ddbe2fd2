"""``ponder models``: every action, its --json form, bad input, and Ctrl+C during a pull."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli.models import add_models_parser, main
from app.paths import models_dir
from tests.support.hub_server import HubServer, gguf_bytes, llama_like_metadata

ROOT = Path(__file__).resolve().parents[2]
REPO = "bartowski/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
MODEL_ID = f"{REPO}/SmolLM2-135M-Instruct-Q4_1"


@pytest.fixture
def hub(hub: HubServer, smollm2: Path) -> HubServer:
    hub.add_repo(REPO, {FILE: smollm2}, card_data={"license": "apache-2.0"}, downloads=7)
    return hub


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_registers_on_the_ponder_parser() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="ponder")
    add_models_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", "pull", REPO, "--quant", "Q4_K_M", "--json"])
    assert args.handler.__name__ == "run_models"
    assert (args.models_command, args.repo, args.quant, args.json) == ("pull", REPO, "Q4_K_M", True)
    with pytest.raises(SystemExit):
        parser.parse_args(["models", "pull", REPO, "--quant", "Q4_K_M", "--file", "x.gguf"])


def test_search_and_files(hub: HubServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "smol")
    assert code == 0 and REPO in out and "DOWNLOADS" in out
    code, out, _ = run(capsys, "search", "smol", "--json", "--sort", "likes")
    assert code == 0 and json.loads(out)[0]["repo_id"] == REPO
    code, out, _ = run(capsys, "search", "nothing-like-this")
    assert code == 0 and "no GGUF models" in out
    code, out, _ = run(capsys, "files", REPO)
    assert code == 0 and "Q4_1" in out and "98.4 MB" in out and "apache-2.0" in out
    code, out, _ = run(capsys, "files", REPO, "--json", "--ctx", "2048")
    data = json.loads(out)
    (variant,) = data["variants"]
    assert variant["files"][0]["sha256"] and variant["size"] == 98362432
    assert variant["fit"]["n_ctx"] == 2048 and variant["fit"]["verdict"]


def test_pull_list_info_rm(hub: HubServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pull", REPO, "--quant", "q4_1")
    assert code == 0
    path = Path(out.strip())
    assert path.is_file() and path.name == FILE
    code, out, _ = run(capsys, "pull", REPO, "--file", FILE, "--json")
    assert code == 0 and json.loads(out)["path"] == str(path)
    assert len(hub.downloads_of(FILE)) == 1  # the second pull found it complete

    code, out, _ = run(capsys, "list")
    assert code == 0 and MODEL_ID in out and "ponder" in out
    code, out, _ = run(capsys, "list", "--json")
    (model,) = json.loads(out)
    assert model["id"] == MODEL_ID and model["usable"] and model["quant"] == "Q4_1"

    code, out, _ = run(capsys, "info", MODEL_ID, "--ctx", "4096")
    assert code == 0 and "llama" in out and "fit at 4096" in out and "30 layers" in out
    code, out, _ = run(capsys, "info", str(path), "--json")
    data = json.loads(out)
    assert data["metadata"]["quant"] == "Q4_1" and data["fit"]["n_ctx"] == 8192

    code, out, _ = run(capsys, "rm", MODEL_ID)
    assert code == 0 and "deleted" in out and not path.exists()
    code, out, _ = run(capsys, "list", "--json")
    assert json.loads(out) == []


def test_add_and_info_of_a_loose_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    folder = tmp_path / "stash"
    folder.mkdir()
    (folder / "Mine-Q4_K_M.gguf").write_bytes(gguf_bytes(llama_like_metadata("Mine")))
    (folder / "junk-Q4_0.gguf").write_bytes(b"junk")
    code, out, _ = run(capsys, "add", str(folder))
    assert code == 0 and "1 usable model(s), 1 unusable" in out
    code, out, _ = run(capsys, "list")
    assert "stash/Mine-Q4_K_M" in out and "unusable: junk-Q4_0.gguf: not a GGUF" in out
    code, out, _ = run(capsys, "info", "stash/Mine-Q4_K_M", "--json")
    assert json.loads(out)["fit"]["n_layer"] == 32
    code, out, _ = run(capsys, "add", str(folder / "Mine-Q4_K_M.gguf"), "--json")
    assert json.loads(out)["added"].endswith("Mine-Q4_K_M.gguf")
    code, out, _ = run(capsys, "rm", str(folder))
    assert code == 0 and "no longer searching" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pull", "not a repo"], "not a Hugging Face repository id"),
        (["pull", "../x/y"], "not a Hugging Face repository id"),
        (["pull", "nobody/nothing"], "not found on Hugging Face (404)"),
        (["pull", REPO, "--quant", "Q8_0"], "has no Q8_0 variant"),
        (["pull", REPO, "--file", "../../etc/passwd"], "refused file name"),
        (["files", "nobody/nothing"], "404"),
        (["info", "no-such-model"], "no model 'no-such-model'"),
        (["rm", "no-such-model"], "no model 'no-such-model'"),
        (["add", "/definitely/not/here"], "no such file or folder"),
    ],
)
def test_bad_input_is_one_clear_line(
    hub: HubServer, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("ponder models: ")
    assert message in err
    assert "Traceback" not in err


def test_info_on_a_garbage_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    code, _, err = run(capsys, "info", str(junk))
    assert code == 1 and "not a GGUF model file" in err


def test_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog")
    assert code == 0 and "DeepSeek-R1-Distill-Qwen-7B" in out and "gpt-oss-20b" in out
    code, out, _ = run(capsys, "catalog", "--json")
    data = json.loads(out)
    assert data["version"] == 1
    assert all("recommended_here" in m for m in data["models"])


def test_offline_pull_is_a_clear_error(
    hub: HubServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(capsys, "pull", REPO)
    assert code == 1 and "HF_HUB_OFFLINE" in err
    code, _, _ = run(capsys, "list")
    assert code == 0  # local models still work


def test_ctrl_c_leaves_a_resumable_partial(
    hub: HubServer, capsys: pytest.CaptureFixture[str], ponder_home: Path, smollm2: Path
) -> None:
    hub.throttle = 20e6  # ~5 s for the whole file: time to interrupt it
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli.models", "pull", REPO, "--quant", "Q4_1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        partials = models_dir() / ".downloads"
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > 8_000_000 for p in partials.rglob("*.part")):
            assert time.monotonic() < deadline, "no partial file appeared"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "paused; run the same command again to resume" in err
    assert "Traceback" not in err
    (part,) = (models_dir() / ".downloads").rglob("*.part")
    kept = part.stat().st_size
    assert kept > 8_000_000

    hub.throttle = None
    code, out, _ = run(capsys, "pull", REPO, "--quant", "Q4_1")
    assert code == 0
    assert Path(out.strip()).read_bytes() == smollm2.read_bytes()
    last = hub.downloads_of(FILE)[-1]
    assert last.range == f"bytes={kept}-"
