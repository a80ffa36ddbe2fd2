"""``ponder history`` sub-commands, through ``run_history`` and as a real process."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.history import add_history_parser, run_history
from app.events import Event, EventKind, FinishReason, ReasoningState, Stats, done_event
from app.store import open_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PONDER_HOME", str(tmp_path))
    with open_store() as store:
        for question, thought, reply in [
            ("Why is the sky blue?", "Light scatters off nitrogen.", "Rayleigh scattering."),
            ("Boil an egg?", "Eggs take time.", "Nine minutes."),
        ]:
            conv = store.create_conversation(system_prompt="Be brief.")
            store.add_user_message(conv.id, question)
            recorder = store.start_answer(conv.id)
            recorder.apply(Event(EventKind.REASONING, text=thought))
            recorder.apply(Event(EventKind.CONTENT, text=reply))
            stats = Stats(reasoning_state=ReasoningState.COMPLETE)
            recorder.apply(Event(EventKind.STATS, stats=stats))
            recorder.apply(done_event(0, FinishReason.STOP))
    return tmp_path


def ponder(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ponder")
    add_history_parser(parser.add_subparsers(dest="command", required=True))
    return run_history(parser.parse_args(["history", *argv]))


def test_list(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ponder("list") == 0
    out = capsys.readouterr().out.splitlines()
    assert "Boil an egg?" in out[0] and "Why is the sky blue?" in out[1]
    assert ponder("list", "--json", "--limit", "1") == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["id"] == 2 and item["title"] == "Boil an egg?"


def test_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ponder("show", "1") == 0
    out = capsys.readouterr().out
    assert "<details><summary>Reasoning</summary>" in out and "Rayleigh scattering." in out
    assert ponder("show", "#1", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]


def test_search(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ponder("search", "nitrogen") == 0
    out = capsys.readouterr().out
    assert "Why is the sky blue?" in out and "[nitrogen]" in out
    assert ponder("search", "egg", "--json") == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and {h["conversation_id"] for h in hits} == {2}
    assert ponder("search", "nothing-like-this") == 0
    assert "No matches" in capsys.readouterr().out


def test_rename_and_rm(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ponder("rename", "1", "Sky", "colour") == 0
    assert ponder("rm", "2") == 0
    assert capsys.readouterr().out == "Deleted conversation 2.\n"
    assert ponder("list", "--json") == 0
    assert [c["title"] for c in json.loads(capsys.readouterr().out)] == ["Sky colour"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "42"], "no conversation 42"),
        (["show", "abc"], "'abc' is not a conversation ID"),
        (["rm", "1", "42"], "no conversation 42"),
        (["rename", "1", " "], "title is empty"),
        (["export", "--format", "md", "--out", "x.md"], "IDs or --all"),
        (["export", "1", "--all", "--format", "md", "--out", "x.md"], "IDs or --all"),
        (["export", "1", "--format", "md", "--out", "/no/such/dir/x.md"], "Cannot write"),
        (["import", "/no/such/file.json"], "Cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert ponder(*argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    with open_store() as store:
        assert store.count_conversations() == 2  # nothing deleted by a failed rm


def test_export_and_import(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = home / "all.json"
    assert ponder("export", "--all", "--format", "json", "--out", str(out)) == 0
    assert "Exported 2 conversation(s)" in capsys.readouterr().err
    assert ponder("import", str(out)) == 0
    assert "Imported 2 conversation(s): 3, 4." in capsys.readouterr().out

    md = home / "one.md"
    assert ponder("export", "1", "--format", "md", "--out", str(md)) == 0
    assert "<details><summary>Reasoning</summary>" in md.read_text(encoding="utf-8")

    jsonl = home / "sft.jsonl"
    argv = ["export", "1", "2", "--format", "sharegpt", "--markers", "stratos"]
    assert ponder(*argv, "--complete-only", "--out", str(jsonl)) == 0
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and lines[0]["system"] == "Be brief."
    assert lines[0]["conversations"][1]["value"].startswith("<|begin_of_thought|>")
    assert not list(home.glob("*.part"))

    bad = home / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert ponder("import", str(bad)) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_as_a_process(home: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PONDER_HOME=str(home))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli.history",
            "history",
            "export",
            "2",
            "--format",
            "sharegpt",
            "--out",
            "-",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["conversations"][1]["value"] == (
        "<think>\nEggs take time.\n</think>\n\nNine minutes."
    )
    done = subprocess.run(
        [sys.executable, "-m", "app.cli.history", "history", "show", "9"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stderr.strip() == (
        "ponder history: There is no conversation 9."
    )


def test_sharegpt_leaves_injected_text_out_unless_kept(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store() as store:
        conv = store.create_conversation()
        store.add_user_message(conv.id, "Is 91 prime?")
        recorder = store.start_answer(conv.id)
        recorder.apply(Event(EventKind.REASONING, text="91 = 7 * 13"))
        recorder.apply(Event(EventKind.INJECTED, text="\nTime is up.\n", data={"reason": "budget"}))
        recorder.apply(Event(EventKind.CONTENT, text="No."))
        recorder.apply(Event(EventKind.STATS, stats=Stats(reasoning_state=ReasoningState.CAPPED)))
        recorder.apply(done_event(0, FinishReason.STOP))
    jsonl = home / "sft.jsonl"
    argv = ["export", "1", str(conv.id), "--format", "sharegpt", "--out", str(jsonl)]

    assert ponder(*argv) == 0
    assert capsys.readouterr().err == (
        f"Exported 1 conversation(s) to {jsonl}. Left out: 1 answer with text Ponder injected "
        "(budget cap, Answer now; keep it by choice); 1 conversation with no usable answer left.\n"
    )
    assert "Time is up." not in jsonl.read_text(encoding="utf-8")

    assert ponder(*argv, "--keep-injected", "--complete-only", "--force") == 0
    assert capsys.readouterr().err == f"Exported 2 conversation(s) to {jsonl}.\n"
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert lines[1]["conversations"][1]["value"] == (
        "<think>\n91 = 7 * 13\nTime is up.\n</think>\n\nNo."
    )
