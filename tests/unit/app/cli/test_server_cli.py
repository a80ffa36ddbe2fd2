"""``ponder serve`` arguments, the bind rules and clear failures (no model loaded here)."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from app.cli.serve import DEFAULT_HOST, DEFAULT_PORT, add_serve_parser, run_serve
from app.server.runner import ServeError, bind_socket, url_for
from app.server.security import check_bind, is_loopback


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ponder")
    sub = parser.add_subparsers(dest="command")
    add_serve_parser(sub)
    return parser.parse_args(["serve", *argv])


def test_defaults() -> None:
    args = parse("--model", "m.gguf")
    assert args.handler is run_serve
    assert (args.host, args.port) == (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 8642)
    assert args.api_key is None and args.cors_origin is None
    assert args.queue_limit > 0


def test_options() -> None:
    args = parse(
        "--model", "m.gguf", "--host", "0.0.0.0", "--port", "9000", "--api-key", "k",
        "--ctx", "1024", "--gpu-layers", "-1", "--threads", "2", "--chat-template", "t.jinja",
        "--cors-origin", "http://a", "--cors-origin", "http://b", "--queue-limit", "0",
        "--model-name", "mine",
    )  # fmt: skip
    assert args.cors_origin == ["http://a", "http://b"]
    assert (args.ctx, args.gpu_layers, args.threads, args.queue_limit) == (1024, -1, 2, 0)
    assert args.model_name == "mine"


@pytest.mark.parametrize(
    "argv", [[], ["--model", "m", "--port", "0"], ["--model", "m", "--queue-limit", "-1"]]
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == 2


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("my-laptop.local", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert (check_bind(host, None) is None) is loopback
    assert check_bind(host, "key") is None


def test_refuses_a_public_address_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PONDER_API_KEY", raising=False)
    assert run_serve(parse("--model", "m.gguf", "--host", "0.0.0.0")) == 2
    err = capsys.readouterr().err
    assert err.startswith("ponder: refusing to listen on 0.0.0.0 without an API key")
    assert err.count("\n") == 1


def test_key_from_the_environment_allows_it_then_a_missing_model_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PONDER_API_KEY", "secret")
    missing = tmp_path / "nope.gguf"
    assert run_serve(parse("--model", str(missing), "--host", "0.0.0.0")) == 1
    err = capsys.readouterr().err
    assert err.startswith("ponder: ") and "nope.gguf" in err
    assert "Traceback" not in err


def test_a_file_that_is_not_gguf_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all" * 100)
    assert run_serve(parse("--model", str(bad))) == 1
    err = capsys.readouterr().err
    assert err.startswith("ponder: ") and "Traceback" not in err


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"port {port} .* already in use"):
            bind_socket("127.0.0.1", port)
    with pytest.raises(ServeError):
        bind_socket("no-such-host.invalid", 8642)


def test_urls() -> None:
    assert url_for("127.0.0.1", 8642) == "http://127.0.0.1:8642"
    assert url_for("::1", 80) == "http://[::1]:80"
