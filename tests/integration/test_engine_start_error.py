"""A worker process that cannot be started is a clear error, for every caller."""

from __future__ import annotations

import errno
import multiprocessing.context
import os
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import main as cli_main
from app.engine import LoadParams
from app.errors import EngineError
from app.events import EventKind
from app.request import ChatMessage, GenerationRequest
from backends.client import EngineClient


def _no_handles_left(process: Any) -> Any:
    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


@pytest.fixture
def spawn_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        multiprocessing.context.SpawnProcess, "_Popen", staticmethod(_no_handles_left)
    )


@pytest.mark.usefixtures("spawn_fails")
def test_load_ends_with_an_error_event(smollm2: Path) -> None:
    with EngineClient() as client:
        events = list(client.load(LoadParams(str(smollm2))))
        assert [e.kind for e in events] == [EventKind.ERROR]
        assert events[0].text == (
            "could not start the engine: OSError: [Errno 24] Too many open files"
        )
        assert not client.alive
        with pytest.raises(EngineError, match="could not start the engine"):
            client.load_blocking(LoadParams(str(smollm2)))
        with pytest.raises(EngineError, match="could not start the engine"):
            client.count_tokens("x")
        restarted = list(client.restart())
        assert [e.kind for e in restarted] == [EventKind.ERROR]
        request = GenerationRequest(messages=(ChatMessage("user", "hi"),))
        (failed,) = client.generate(request)
        assert failed.kind is EventKind.ERROR
        assert failed.text.startswith("could not start the engine: ")


@pytest.mark.usefixtures("spawn_fails")
def test_chat_says_so_in_one_line(smollm2: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["chat", "--model", str(smollm2), "--prompt", "hi", "--no-save"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == "ponder: could not start the engine: OSError: [Errno 24] Too many open files\n"
