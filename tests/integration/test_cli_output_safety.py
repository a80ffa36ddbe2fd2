"""What ``ponder`` writes, and where: user-named paths, terminals, pipes, bad input.

Every test runs the real command (``python -m app ...``) and checks the bytes a user gets
(stdout, stderr, exit status) and what is left on disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.events import Event, EventKind, FinishReason, done_event
from app.paths import database_path
from app.store import open_store

ROOT = Path(__file__).resolve().parents[2]
ESC = "\x1b"
CLIPBOARD = f"{ESC}]52;c;ZWNobyBwd25lZA=={ESC}\\"
CLEAR = f"{ESC}[2J"


def ponder(
    *argv: str, home: Path, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PONDER_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "app", *argv],
        input=None if stdin is None else stdin.encode(),
        capture_output=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    err = done.stderr.decode()
    assert "Traceback" not in err, err
    assert err.count("\n") == 1, err
    return err


@pytest.fixture
def home(ponder_home: Path) -> Path:
    with open_store() as store:
        for question, reply in [("Why is the sky blue?", "Rayleigh."), ("Boil an egg?", "Nine.")]:
            conv = store.create_conversation()
            store.add_user_message(conv.id, question)
            recorder = store.start_answer(conv.id)
            recorder.apply(Event(EventKind.CONTENT, text=reply))
            recorder.apply(done_event(0, FinishReason.STOP))
    return ponder_home


# -- 7. user-named paths ----------------------------------------------------------------------


def device(tmp_path: Path, name: str, minor: int) -> Path:
    """``/dev/<name>``, or as root a private node of the same device (major 1).

    As root, a regression (a rename over the target) would replace the machine's own
    /dev/null with a regular file; a node in ``tmp_path`` keeps such a failure harmless.
    Others cannot rename into /dev, so the real node is safe to use.
    """
    if os.geteuid() != 0:
        return Path("/dev") / name
    folder = tmp_path / "dev"
    folder.mkdir(exist_ok=True)
    node = folder / name
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except OSError as err:
        pytest.skip(f"cannot make a device node here ({err})")
    return node


def test_export_to_dev_null_leaves_the_device_node(home: Path, tmp_path: Path) -> None:
    null = device(tmp_path, "null", 3)
    before = os.stat(null)
    done = ponder("history", "export", "--all", "--format", "md", "--out", str(null), home=home)
    assert done.returncode == 0, done.stderr
    assert f"Exported 2 conversation(s) to {null}.".encode() in done.stderr
    after = os.stat(null)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert sorted(
        p.name for p in null.parent.iterdir() if p.name.startswith((".null", "null"))
    ) == ["null"]


def test_export_to_dev_full_reports_the_write_error(home: Path, tmp_path: Path) -> None:
    full = device(tmp_path, "full", 7)
    done = ponder("history", "export", "--all", "--format", "json", "--out", str(full), home=home)
    assert done.returncode == 1
    err = one_error_line(done)
    assert f"Cannot write {full}: No space left on device." in err
    assert "Exported" not in err
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_export_into_a_fifo_writes_through_it(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    done = ponder("history", "export", "1", "--format", "sharegpt", "--out", str(fifo), home=home)
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    record = json.loads(received[0])
    assert record["conversations"][0]["value"] == "Why is the sky blue?"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a pipe, not a regular file
    assert sorted(p.name for p in folder.iterdir()) == ["pipe"]


def test_an_existing_file_is_replaced_only_with_force(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "notes.md"
    out.write_text("my own notes\n", encoding="utf-8")
    argv = ["history", "export", "2", "--format", "md", "--out", str(out)]
    done = ponder(*argv, home=home)
    assert done.returncode == 1
    assert f"{out} already exists; add --force to replace it." in one_error_line(done)
    assert out.read_text(encoding="utf-8") == "my own notes\n"

    done = ponder(*argv, "--force", home=home)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").startswith("# Boil an egg?")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.md"]  # no part file left


def test_a_folder_is_refused(home: Path, tmp_path: Path) -> None:
    done = ponder("history", "export", "1", "--format", "md", "--out", str(tmp_path), home=home)
    assert done.returncode == 1
    assert "is a folder" in one_error_line(done)


# -- 8. untrusted text never commands the terminal ---------------------------------------------


def _import_hostile(home: Path, tmp_path: Path) -> None:
    doc = {
        "format": "ponder.history",
        "version": 1,
        "conversations": [
            {
                "title": f"Nice title{CLIPBOARD}{CLEAR}\u009b31m\u202eevil",
                "messages": [
                    {"id": 1, "role": "user", "status": "complete", "content": f"hi{CLEAR}"},
                    {
                        "id": 2,
                        "parent_id": 1,
                        "role": "assistant",
                        "status": "complete",
                        "content": f"answer{CLIPBOARD} bell\x07",
                    },
                ],
            }
        ],
    }
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    done = ponder("history", "import", str(path), home=home)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["history", "list"],
        ["history", "show", "3"],
        ["history", "search", "answer"],
        ["history", "list", "--json"],
        ["history", "show", "3", "--json"],
    ],
)
def test_imported_escape_sequences_are_shown_not_obeyed(
    home: Path, tmp_path: Path, argv: list[str]
) -> None:
    _import_hostile(home, tmp_path)
    done = ponder(*argv, home=home)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    for raw in (ESC, "\x07", "\u009b", "\u202e"):
        assert raw not in out
    if "--json" in argv:
        data = json.loads(out)  # the same data comes back, escaped the JSON way
        titles = [data["title"]] if isinstance(data, dict) else [c["title"] for c in data]
        assert f"Nice title{CLIPBOARD}{CLEAR}\u009b31m\u202eevil" in titles
    else:
        assert "Nice title\\x1b]52;c;" in out and "\\x1b[2J" in out and "\\u202eevil" in out


def test_export_to_stdout_keeps_the_bytes_the_user_asked_for(home: Path, tmp_path: Path) -> None:
    _import_hostile(home, tmp_path)
    done = ponder("history", "export", "3", "--format", "md", "--out", "-", home=home)
    assert done.returncode == 0, done.stderr
    assert CLIPBOARD.encode() in done.stdout


# -- 9. bad input: one line, never a traceback -----------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested more than"),
        ('{"format": "ponder.history", "version": ' + "9" * 5000 + "}", "number"),
        (
            '{"format": "ponder.history", "version": 1, "conversations": '
            '[{"title": "\\ud800", "messages": []}]}',
            "lone surrogate",
        ),
        (
            '{"format": "ponder.history", "version": 1, "conversations": '
            '[{"title": "t", "model": {"model_id": "m", "size": 1' + "0" * 30 + "}}]}",
            "integer too large",
        ),
    ],
)
def test_hostile_imports_get_one_clear_line(
    home: Path, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    done = ponder("history", "import", str(path), home=home)
    assert done.returncode == 1
    err = one_error_line(done)
    assert f"{path} is not a Ponder export: " in err and expected in err
    with open_store() as store:
        assert store.count_conversations() == 2


@pytest.mark.parametrize("bad_id", ["²", "١", "#³", "99999999999999999999999"])
def test_ids_that_are_not_ascii_numbers(home: Path, bad_id: str) -> None:
    done = ponder("history", "show", bad_id, home=home)
    assert done.returncode == 1
    err = one_error_line(done)
    assert "is not a conversation ID" in err or "no conversation" in err


@pytest.mark.parametrize(
    "argv", [["models", "catalog"], ["history", "list"], ["history", "show", "1"]]
)
def test_a_reader_that_goes_away_ends_the_command_quietly(home: Path, argv: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PONDER_HOME=str(home))
    read, write = os.pipe()
    os.close(read)  # like `| head -3` that already quit: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == b""
    assert done.returncode == 141


# -- 11. one damaged conversation does not sink an export -------------------------------------


@pytest.mark.parametrize("fmt", ["md", "json", "sharegpt"])
def test_export_all_skips_a_damaged_conversation(home: Path, tmp_path: Path, fmt: str) -> None:
    with sqlite3.connect(database_path()) as db:
        db.execute("UPDATE messages SET status = 'bogus' WHERE conversation_id = 1")
    out = tmp_path / f"all.{fmt}"
    done = ponder("history", "export", "--all", "--format", fmt, "--out", str(out), home=home)
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert "Exported 1 conversation(s)" in err
    assert "skipped conversation 1: it is damaged" in err
    text = out.read_text(encoding="utf-8")
    assert "Boil an egg?" in text and "Why is the sky blue?" not in text
    if fmt == "json":
        assert [c["title"] for c in json.loads(text)["conversations"]] == ["Boil an egg?"]


def test_model_names_from_files_are_shown_not_obeyed(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / f"evil{CLEAR}{ESC}]52;c;eA==\x07.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    added = ponder("models", "add", str(folder), home=home)
    assert added.returncode == 0, added.stderr
    listed = ponder("models", "list", home=home)
    assert listed.returncode == 0, listed.stderr
    for done in (added, listed):
        assert ESC.encode() not in done.stdout + done.stderr
        assert b"\x07" not in done.stdout + done.stderr
    assert b"evil\\x1b[2J\\x1b]52;c;eA==\\x07" in listed.stdout


def _chat_against(server_url: str, home: Path, stdout: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PONDER_HOME=str(home))
    argv = ["chat", "--endpoint", server_url, "--model", "tiny", "-p", "Hi", "--no-save"]
    return subprocess.Popen(
        [sys.executable, "-m", "app", *argv],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


def test_a_models_answer_is_escaped_on_a_terminal_and_raw_in_a_pipe(home: Path) -> None:
    import pty

    from tests.support.sse_server import DONE, ScriptedServer, chunk, sse

    answer = f"Hello{CLIPBOARD} world{CLEAR}"
    with ScriptedServer(lambda body: sse(chunk(answer), chunk(finish="stop"), DONE)) as server:
        master, slave = pty.openpty()
        try:
            with _chat_against(server.url, home, slave) as proc:
                os.close(slave)
                seen = b""
                while True:
                    try:
                        data = os.read(master, 4096)
                    except OSError:  # EIO: the terminal's other end closed
                        break
                    if not data:
                        break
                    seen += data
                assert proc.wait(timeout=120) == 0
        finally:
            os.close(master)
        shown = seen.decode()
        assert "Hello\\x1b]52;c;" in shown and "world\\x1b[2J" in shown
        assert CLIPBOARD not in shown and CLEAR not in shown

        piped = _chat_against(server.url, home, subprocess.PIPE)
        out, err = piped.communicate(timeout=120)
        assert piped.returncode == 0, err
        assert out.decode().startswith(answer)  # the user asked for the answer's bytes
