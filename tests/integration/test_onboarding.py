"""The terminal path to a first thinking model, against the loopback test hub.

``ponder chat`` with an empty library offers the model recommended for this machine (the
welcome page's), downloads it and chats; without a terminal, or with the hub down, it prints
the exact next commands. Catalog ids and names work in ``pull``, ``chat --model`` and
``serve --model``. The hub serves the real SmolLM2 GGUF under the catalog's repository names.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from app.cli.args import resolve_model_arg
from app.cli.models import main as models_main
from app.library.errors import UnknownModelError
from app.library.first_run import first_model
from app.library.fit import detect_machine_memory
from tests.integration.test_server_openai import FRANCE, KEY, ponder_serve
from tests.support.hub_server import HubServer, isolate_hf_client
from tests.support.pty_terminal import Terminal

pytestmark = pytest.mark.llama

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A catalog model whose recommended quantization is Q8_0 on every machine, served from its
# second repository only (the first one "moved"): the lookup falls back as the window's does.
SMALL_ID = "deepseek-r1-distill-qwen-1.5b"
SMALL_NAME = "DeepSeek-R1-Distill-Qwen-1.5B"
SMALL_REPO = "unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF"
SMALL_FILE = "DeepSeek-R1-Distill-Qwen-1.5B-Q8_0.gguf"


def ponder(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty library: no Hugging Face cache, no LM Studio folder, no token."""
    isolate_hf_client(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for var in ("XDG_CACHE_HOME", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def hub(isolated: None, hub: HubServer, smollm2: Path) -> HubServer:
    """The hub, serving SmolLM2 as this machine's first model and as the 1.5B's Q8_0."""
    entry, quant = first_model(detect_machine_memory())
    license_card = {"license": "mit"}
    hub.add_repo(
        entry.gguf_repos[0], {f"{entry.name}-{quant}.gguf": smollm2}, card_data=license_card
    )
    hub.add_repo(SMALL_REPO, {SMALL_FILE: smollm2}, card_data=license_card)
    return hub


def plain(screen: str) -> str:
    return ANSI.sub("", screen).replace("\r", "")


@pytest.mark.timeout(600)
def test_first_chat_from_an_empty_library(hub: HubServer, smollm2: Path) -> None:
    """Empty library → the offer (name, size, licence) → "y" → download → chat → saved."""
    from app.store import open_store

    entry, quant = first_model(detect_machine_memory())
    term = Terminal(ponder("chat", "--max-tokens", "40", "--ctx", "1024"))
    try:
        offer = plain(term.read_until(lambda s: "Download it now? [Y/n]" in s, timeout=120))
        assert f"{entry.name} ({quant}), a 98.4 MB download from {entry.gguf_repos[0]}" in offer
        assert f"Licence: {entry.license_name}. {entry.obligations}" in offer
        assert not hub.downloads_of(f"{entry.name}-{quant}.gguf")  # nothing before the "y"
        term.type("y\r")
        start = len(term.screen)
        term.read_until(lambda s: "\n> " in s[start:], timeout=300)
        shown = plain(term.screen[start:])
        assert "100.0% 98.4 MB/98.4 MB" in shown, shown[-2000:]  # the progress line, at its end
        assert f"Downloaded {entry.name} to " in shown
        term.type("What is the capital of France?\r")
        turn_start = len(term.screen)
        term.read_until(lambda s: "saved as conversation 1" in s[turn_start:], timeout=300)
        turn = plain(term.screen[turn_start:])
        term.type("/exit\r")
        assert term.wait(timeout=60) == 0
    finally:
        term.close()
    assert "Traceback" not in plain(term.screen)
    with open_store() as store:
        (conv,) = store.list_conversations()
        user, answer = store.active_path(conv.id)
    assert user.content == "What is the capital of France?"
    said = (answer.reasoning or "") + answer.content
    assert said.strip(), "the model answered"
    first_line = next(line for line in said.splitlines() if line.strip())
    assert first_line.strip() in turn  # what the person saw is what was saved
    assert answer.model is not None and answer.model.path is not None
    downloaded = Path(answer.model.path)
    assert downloaded.read_bytes()[:4096] == smollm2.read_bytes()[:4096]
    assert downloaded.stat().st_size == smollm2.stat().st_size

    # The printed hint works without --model: the conversation's own model answers.
    done = subprocess.run(
        ponder("chat", "--continue", "1", "--prompt", "And of Italy?", "--max-tokens", "8"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "saved as conversation 1" in done.stderr
    with open_store() as store:
        assert [m.content for m in store.active_path(1)][2] == "And of Italy?"
        assert len(store.active_path(1)) == 4


def _env() -> dict[str, str]:
    import os

    return dict(os.environ, PYTHONPATH=str(ROOT))


def test_not_a_terminal_prints_the_next_commands(isolated: None) -> None:
    entry, quant = first_model(detect_machine_memory())
    done = subprocess.run(
        ponder("chat", "--prompt", "hi"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env=_env(),
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"ponder chat: no model on this computer yet. Download the one recommended for this "
        f"machine, {entry.name} ({quant}), then chat with it:\n"
        f"  ponder models pull {entry.id}\n"
        f"  ponder chat --model {entry.id}\n"
        "or, with a GGUF model file you already have:\n"
        "  ponder chat --model FILE\n"
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_hub_unreachable_on_a_terminal_prints_the_next_commands(
    isolated: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, _ = first_model(detect_machine_memory())
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    term = Terminal(ponder("chat"))
    try:
        code = term.wait(timeout=120)
    finally:
        term.close()
    screen = plain(term.screen)
    assert code == 2, screen
    assert "ponder chat: cannot download a model now: " in screen
    assert f"  ponder models pull {entry.id}\n  ponder chat --model {entry.id}\n" in screen
    assert "  ponder chat --model FILE" in screen
    assert "Traceback" not in screen and "Download it now" not in screen


def test_declining_the_offer_downloads_nothing(hub: HubServer) -> None:
    entry, quant = first_model(detect_machine_memory())
    term = Terminal(ponder("chat"))
    try:
        term.read_until(lambda s: "Download it now? [Y/n]" in s, timeout=120)
        term.type("n\r")
        code = term.wait(timeout=60)
    finally:
        term.close()
    screen = plain(term.screen)
    assert code == 2, screen
    assert f"nothing downloaded. When you want it:\n  ponder models pull {entry.id}\n" in screen
    assert not hub.downloads_of(f"{entry.name}-{quant}.gguf")


def test_catalog_ids_and_names_in_pull_chat_and_serve(
    hub: HubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not downloaded yet: chat/serve --model say how to get it.
    with pytest.raises(UnknownModelError, match=f"`ponder models pull {SMALL_ID}` downloads it"):
        resolve_model_arg(SMALL_ID)

    assert models_main(["pull", SMALL_ID]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == SMALL_FILE and path.is_file()
    assert path.parent.name == SMALL_REPO.split("/")[1]  # the repository that has it
    assert models_main(["pull", SMALL_NAME, "--json"]) == 0  # the model's name: the same file
    assert json.loads(capsys.readouterr().out)["path"] == str(path)
    assert len(hub.downloads_of(SMALL_FILE)) == 1

    assert resolve_model_arg(SMALL_ID) == str(path)
    assert resolve_model_arg(SMALL_NAME.lower()) == str(path)

    with ponder_serve("--model", SMALL_ID) as (url, _lines):
        with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
            answer = client.chat.completions.create(model=SMALL_ID, messages=FRANCE, max_tokens=4)
        assert answer.choices[0].message.content is not None


def test_pull_of_an_unknown_name_is_one_clear_line(
    hub: HubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert models_main(["pull", "no-such-model"]) == 1
    _, err = capsys.readouterr()
    assert err == (
        "ponder models: not a Hugging Face repository id: 'no-such-model' (want owner/name), "
        "nor a catalog model (`ponder models catalog` lists them)\n"
    )


def _chat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ponder("chat", *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=_env(),
    )


def test_without_model_the_library_model_of_the_latest_conversation(
    isolated: None, smollm2: Path, tmp_path: Path
) -> None:
    import shutil

    from app.library import add_user_path, list_local_models
    from app.store import ModelRef, open_store

    copy = tmp_path / "mine" / "Mine-Q4_1.gguf"
    copy.parent.mkdir()
    shutil.copyfile(smollm2, copy)
    add_user_path(smollm2)
    add_user_path(copy.parent)
    ids = sorted(m.id for m in list_local_models())
    assert len(ids) == 2

    # Two models and no history: which one is the user's to say.
    done = _chat("--prompt", "hi")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ponder chat: 2 models in the library (")
    assert all(i in done.stderr for i in ids)
    assert "choose one: ponder chat --model ID" in done.stderr

    # The latest conversation was with the copy: that one answers.
    with open_store() as store:
        store.create_conversation(model=ModelRef("Mine", None, None, str(copy)), title="earlier")
    done = _chat("--prompt", "What is the capital of France?", "--max-tokens", "6")
    assert done.returncode == 0, done.stderr
    assert "model: Mine" in done.stderr and "saved as conversation 2" in done.stderr
    with open_store() as store:
        answer = store.active_path(2)[-1]
    assert answer.model is not None and answer.model.path == str(copy)
    assert answer.content and answer.content in done.stdout


def test_continue_without_model_when_its_file_is_gone(isolated: None, tmp_path: Path) -> None:
    from app.store import ModelRef, open_store

    gone = tmp_path / "Gone-Q4_K_M.gguf"
    with open_store() as store:
        store.create_conversation(model=ModelRef("Gone", None, None, str(gone)), title="old")
    done = _chat("--continue", "1", "--prompt", "more")
    assert done.returncode == 1
    assert done.stderr == (
        f"ponder: conversation 1 used Gone Q4_K_M, whose file {gone} is not there any more; "
        "choose a model with --model FILE\n"
    )
    done = _chat("--continue", "7", "--prompt", "more")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_readme_first_commands_need_nothing_else() -> None:
    """The first command a newcomer copies runs as installed, and needs no model file."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert commands[:2] == [
        "bash scripts/install.sh && .venv/bin/ponder\n",
        ".venv/bin/ponder chat\n",
    ]
    assert "--model" not in "".join(commands)
    assert "bash scripts/test.sh\n" in commands
    assert readme.count("docs/screenshots/answer-expanded-trace.png") == 1
