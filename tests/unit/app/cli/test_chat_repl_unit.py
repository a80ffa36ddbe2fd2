"""The REPL's lines, the thinking-control note and ``--continue``'s model, without a model."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli.chat import History
from app.cli.chat_continue import conversation_model, use_conversation_model
from app.cli.chat_notes import no_effect_note, set_controls
from app.cli.chat_repl import HELP, Command, Repl, parse_budget, parse_line
from app.engine import Backend, ModelFile, ModelInfo, ModelTemplate, RuntimeParams
from app.errors import ModelFileError, PonderError
from app.events import Event, EventKind
from app.request import ThinkMode
from app.store import ModelRef, open_store
from app.templates import TemplateSource


def test_lines_and_commands() -> None:
    assert parse_line("  ") is None
    assert parse_line("Hello there") == "Hello there"
    assert parse_line("/help") == Command("/help", "")
    assert parse_line("  /Budget  512 ") == Command("/budget", "512")
    assert parse_line("/model ~/models/a b.gguf") == Command("/model", "~/models/a b.gguf")
    # An unknown word is still a command (Ponder says so); it never reaches the model.
    assert parse_line("/usr/bin is what?") == Command("/usr/bin", "is what?")
    assert parse_line("//usr/bin is what?") == "/usr/bin is what?"


def test_help_lists_every_command() -> None:
    for command in ("/help", "/model", "/budget", "/think", "/new", "/exit", "//"):
        assert command in HELP


def test_budget_argument() -> None:
    assert parse_budget("512") == 512
    assert parse_budget("off") is None
    for bad in ("0", "-3", "lots", "²", ""):
        with pytest.raises(ValueError, match="/budget takes"):
            parse_budget(bad)


def _info(family_id: str, backend: str = "llama.cpp") -> ModelInfo:
    return ModelInfo(
        ModelFile(
            "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
            "llama",
            "SmolLM2",
            size_bytes=1,
            n_params=1,
            trained_context=8192,
        ),
        RuntimeParams(1024, n_threads=2, kv_cache_type="f16", backend=Backend(backend)),
        ModelTemplate("", TemplateSource.MODEL, family_id),
    )


def _args(**values: object) -> argparse.Namespace:
    base: dict[str, object] = dict(budget=None, think="auto", think_longer=None, effort=None)
    return argparse.Namespace(**{**base, **values})


def test_note_names_the_model_and_the_controls() -> None:
    controls = set_controls(_args(budget=64, think="off"))
    assert controls == ["--budget", "--think off"]
    assert no_effect_note(_info("generic"), controls) == (
        "note: SmolLM2-135M-Instruct Q4_1 does not reason; --budget and --think off have no effect"
    )
    assert no_effect_note(_info("generic"), ["/budget"]) == (
        "note: SmolLM2-135M-Instruct Q4_1 does not reason; /budget has no effect"
    )


def test_no_note_when_it_reasons_or_nothing_is_set_or_remote() -> None:
    assert no_effect_note(_info("deepseek-r1"), ["--budget"]) is None
    assert no_effect_note(_info("generic"), set_controls(_args())) is None
    assert no_effect_note(_info("generic", backend="remote"), ["--budget"]) is None


def _saved_conversation(model_path: str) -> int:
    with open_store() as store:
        first = ModelRef("first", None, 1, "/gone/first.gguf")
        conv = store.create_conversation(model=first)
        store.add_user_message(conv.id, "hi")
        answer = store.start_answer(conv.id, model=ModelRef("later", None, 1, model_path))
        answer.apply(Event(EventKind.CONTENT, 1, "hello"))
        answer.finish()
        return conv.id


def test_continue_uses_the_latest_answers_model(tmp_path: Path) -> None:
    model = tmp_path / "Later-Model-Q4_K_M.gguf"
    model.write_bytes(b"GGUF")
    cid = _saved_conversation(str(model))
    with open_store() as store:
        ref = conversation_model(store, store.get_conversation(cid))
    args = argparse.Namespace(continue_id=str(cid), model=None, endpoint=None)
    use_conversation_model(args, ref)
    assert args.model == str(model)


def test_continue_with_a_missing_model_file_names_it(tmp_path: Path) -> None:
    cid = _saved_conversation(str(tmp_path / "Later-Model-Q4_K_M.gguf"))
    with open_store() as store:
        ref = conversation_model(store, store.get_conversation(cid))
    args = argparse.Namespace(continue_id=str(cid), model=None, endpoint=None)
    with pytest.raises(ModelFileError) as err:
        use_conversation_model(args, ref)
    assert str(tmp_path / "Later-Model-Q4_K_M.gguf") in str(err.value)
    assert f"conversation {cid} used Later-Model Q4_K_M" in str(err.value)
    assert "--model FILE" in str(err.value)


def test_continue_without_a_saved_model() -> None:
    with open_store() as store:
        conv = store.create_conversation()
        assert conversation_model(store, conv) is None
    args = argparse.Namespace(continue_id=str(conv.id), model=None, endpoint=None)
    with pytest.raises(PonderError, match="does not say which model"):
        use_conversation_model(args, None)


def test_continue_a_server_conversation() -> None:
    ref = ModelRef("qwq", None, None, "http://127.0.0.1:9/v1")
    args = argparse.Namespace(continue_id="3", model=None, endpoint=None)
    use_conversation_model(args, ref)
    assert (args.endpoint, args.model) == ("http://127.0.0.1:9/v1", "qwq")


class _Engine:
    """A worker double: loads any file, except one it fails on (as llama.cpp may)."""

    def __init__(self, fails_on: str) -> None:
        self.fails_on = fails_on
        self.loaded: list[str] = []
        self.info: ModelInfo | None = None

    def load(self, params: Any) -> Iterator[Event]:
        self.loaded.append(params.model_path)
        if params.model_path == self.fails_on:
            self.info = None  # the worker let go of the old model first
            yield Event(EventKind.ERROR, 1, "failed to load model")
            return
        self.info = _info("generic").replace(path=params.model_path)
        yield Event(EventKind.LOADED, 1)


def test_model_switch_that_fails_in_the_engine_loads_the_old_model_again(
    smollm2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "Broken-Q4_1.gguf"
    broken.symlink_to(smollm2)  # a GGUF header: only the engine fails on it
    args = argparse.Namespace(
        model=str(smollm2),
        endpoint=None,
        chat_template=None,
        ctx=None,
        gpu_layers=None,
        threads=None,
        budget=None,
        think="auto",
        think_longer=None,
        effort=None,
    )
    engine = _Engine(fails_on=str(broken))
    engine.info = _info("generic")
    repl = Repl(
        engine,
        args,
        lambda event: None,
        History(argparse.Namespace(system=None, no_save=True, continue_id=None)),
    )
    repl._model(str(broken))
    assert engine.loaded == [str(broken), str(smollm2)]
    assert args.model == str(smollm2)
    out, err = capsys.readouterr()
    assert "ponder: failed to load model" in err
    assert f"file     {smollm2}" in out

    repl._model(str(tmp_path / "missing.gguf"))  # refused before the engine is asked
    assert engine.loaded == [str(broken), str(smollm2)]
    assert "missing.gguf" in capsys.readouterr().err


def test_think_takes_a_mode_in_any_case_and_notes_a_model_that_does_not_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _args()
    engine = _Engine(fails_on="")
    engine.info = _info("generic")
    repl = Repl(
        engine,
        args,
        lambda event: None,
        History(argparse.Namespace(system=None, no_save=True, continue_id=None)),
    )
    repl._think("OFF")
    assert args.think is ThinkMode.OFF
    out, err = capsys.readouterr()
    assert out == "thinking: off\n"
    assert err == "note: SmolLM2-135M-Instruct Q4_1 does not reason; /think off has no effect\n"
    assert set_controls(args) == ["--think off"]
    repl._think("maybe")
    assert args.think is ThinkMode.OFF
    assert capsys.readouterr().err == "/think takes auto, on, off\n"
    repl._think("auto")
    assert args.think is ThinkMode.AUTO and capsys.readouterr().err == ""
