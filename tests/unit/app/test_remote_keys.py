"""Remote sources' API keys in the system keyring: a real ``keyring`` backend kept in memory,
and keyring's own fail and null backends for "no keyring here"."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from keyring.backends import fail, null

from app.cli.models import main as models_main
from app.errors import PonderError
from app.remote_keys import SERVICE, KeyringUnavailableError, keyring_available, read_key
from app.remote_sources import (
    RemoteSource,
    add_source,
    find_source,
    load_sources,
    model_ref,
    parse_model_ref,
    remote_load_params,
    remove_source,
    sources_path,
)
from tests.support.memory_keyring import MemoryKeyring, memory_keyring, use_keyring

SECRET = "sk-test-0123456789abcdef"


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    with memory_keyring() as backend:
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[None]:
    with use_keyring(fail.Keyring()):
        yield


class _Plaintext(MemoryKeyring):
    priority = 0.5  # type: ignore[assignment]  # like keyrings.alt's plain-text file


class _Broken(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("the keyring is locked")


def test_a_key_goes_to_the_keyring_never_to_the_file(
    memory: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = add_source("box", "http://127.0.0.1:8080/", api_key=f"  {SECRET}\n")
    assert source == RemoteSource("box", "http://127.0.0.1:8080", None, keyring=True)
    assert memory.passwords == {(SERVICE, "remote:box"): SECRET}
    text = sources_path().read_text(encoding="utf-8")
    assert SECRET not in text
    assert json.loads(text) == {
        "sources": [
            {"name": "box", "url": "http://127.0.0.1:8080", "api_key_env": None, "keyring": True}
        ]
    }
    loaded = find_source("box")
    assert loaded is not None and loaded.keyring and loaded.key_label() == "keyring"
    assert loaded.api_key() == SECRET
    assert SECRET not in repr(loaded) and SECRET not in json.dumps(loaded.to_json())
    params = remote_load_params(model_ref("box", "qwen3:8b"))
    assert params is not None
    assert (params.model_path, params.endpoint, params.api_key) == (
        "qwen3:8b",
        "http://127.0.0.1:8080",
        SECRET,
    )
    assert SECRET not in repr(params)
    removed = remove_source("box")
    assert removed.name == "box" and memory.passwords == {}
    assert SECRET not in caplog.text


def test_an_environment_variable_still_works_and_keeps_the_file_shape(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOX_KEY", SECRET)
    source = add_source("box", "http://h:1", "BOX_KEY")
    assert source.api_key() == SECRET and source.key_label() == "$BOX_KEY"
    assert source.to_json() == {"name": "box", "url": "http://h:1", "api_key_env": "BOX_KEY"}
    assert memory.passwords == {}
    plain = add_source("open", "http://h:2")
    assert plain.api_key() is None and plain.key_label() == "none"


def test_replacing_a_keyring_source_with_a_variable_forgets_the_stored_key(
    memory: MemoryKeyring,
) -> None:
    add_source("box", "http://h:1", api_key=SECRET)
    add_source("box", "http://h:1", api_key="sk-new")
    assert memory.passwords == {(SERVICE, "remote:box"): "sk-new"}
    add_source("box", "http://h:1", "BOX_KEY")
    assert memory.passwords == {}
    assert load_sources() == [RemoteSource("box", "http://h:1", "BOX_KEY")]


def test_a_key_and_a_variable_together_or_an_empty_key_are_refused(memory: MemoryKeyring) -> None:
    with pytest.raises(PonderError, match="either an API key or an environment variable"):
        add_source("box", "http://h:1", "BOX_KEY", api_key=SECRET)
    with pytest.raises(PonderError, match="the API key is empty"):
        add_source("box", "http://h:1", api_key="   ")
    with pytest.raises(PonderError, match="bad source name"):
        add_source("a b", "http://h:1", api_key=SECRET)
    assert memory.passwords == {} and load_sources() == []


@pytest.mark.parametrize(
    "backend", [fail.Keyring(), null.Keyring(), _Plaintext()], ids=["fail", "null", "plaintext"]
)
def test_without_a_real_keyring_nothing_is_written_and_the_message_says_what_to_do(
    backend: object,
) -> None:
    with use_keyring(backend):  # type: ignore[arg-type]
        assert not keyring_available()
        with pytest.raises(KeyringUnavailableError, match="set an environment variable"):
            add_source("box", "http://h:1", api_key=SECRET)
    assert load_sources() == []
    assert not sources_path().exists() or SECRET not in sources_path().read_text()


def test_a_keyring_that_cannot_be_read(memory: MemoryKeyring) -> None:
    add_source("box", "http://h:1", api_key=SECRET)
    with use_keyring(_Broken()):
        source = find_source("box")
        assert source is not None
        with pytest.raises(KeyringUnavailableError, match="cannot read the API key of 'box'"):
            source.api_key()
        params = remote_load_params(model_ref("box", "m"))  # the server will say it needs one
        assert params is not None and params.api_key is None
    with use_keyring(fail.Keyring()):
        with pytest.raises(KeyringUnavailableError):
            read_key("box")
        remove_source("box")  # forgetting the source works without a keyring
    assert load_sources() == []


def test_model_refs() -> None:
    ref = model_ref("box", "org/Model-7B:q4")
    assert ref == "remote://box/org/Model-7B:q4"
    assert parse_model_ref(ref) == ("box", "org/Model-7B:q4")
    for other in ("/models/a.gguf", "remote://box", "remote:///m", "remote://box/"):
        assert parse_model_ref(other) is None
    assert remote_load_params("/models/a.gguf") is None
    assert remote_load_params(model_ref("gone", "m")) is None


def _models(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = models_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_reads_the_key_from_stdin_into_the_keyring(
    memory: MemoryKeyring, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    code, out, err = _models(
        capsys, "add-remote", "box", "http://127.0.0.1:9", "--api-key-stdin", "--no-check"
    )
    assert code == 0, err
    assert memory.passwords == {(SERVICE, "remote:box"): SECRET}
    code, out, _ = _models(capsys, "list")
    assert code == 0 and "keyring" in out and SECRET not in out
    code, out, _ = _models(capsys, "list", "--json")
    assert json.loads(out)[0]["keyring"] is True and SECRET not in out
    assert _models(capsys, "rm-remote", "box")[0] == 0
    assert memory.passwords == {}
    with pytest.raises(SystemExit) as exc:
        _models(capsys, "add-remote", "b", "http://h:1", "--api-key-stdin", "--api-key-env", "X")
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_cli_without_a_keyring(
    no_keyring: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    code, out, err = _models(
        capsys, "add-remote", "box", "http://127.0.0.1:9", "--api-key-stdin", "--no-check"
    )
    assert code == 1
    assert "no system keyring" in err and "--api-key-env" in err
    assert SECRET not in out + err
    assert load_sources() == []


def test_cli_check_uses_the_same_connection_test(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _models(capsys, "add-remote", "nobox", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach http://127.0.0.1:9/v1" in err and "--no-check" in err


# -- the key of the window's API for other devices ------------------------------------------------


def test_the_network_key_is_made_once_and_kept(memory: MemoryKeyring) -> None:
    from app.remote_keys import SERVE_USER, new_serve_api_key, serve_api_key

    key, kept = serve_api_key()
    assert kept and len(key) >= 32
    assert memory.passwords[(SERVICE, SERVE_USER)] == key
    assert serve_api_key() == (key, True)  # the same on the next start
    fresh, kept = new_serve_api_key()
    assert kept and fresh != key and memory.passwords[(SERVICE, SERVE_USER)] == fresh


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_without_a_keyring_the_network_key_lasts_one_run(backend: type) -> None:
    from app.remote_keys import serve_api_key

    with use_keyring(backend()):
        (first, kept), (second, _) = serve_api_key(), serve_api_key()
    assert not kept and len(first) >= 32 and first != second
