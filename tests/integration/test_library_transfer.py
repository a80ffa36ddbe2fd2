"""The raw body path of downloads (``recv_into`` reused buffers) against real servers.

The loopback hub (plain HTTP, with a redirect to its CDN path, drops, stalls and corruption)
and a small HTTPS server with a throwaway certificate: the real hub is HTTPS.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from huggingface_hub import close_session, get_session

from app.library import transfer
from app.library.errors import ChecksumError
from app.library.fetch import Expected, Stopped, fetch_file
from app.library.transfer import HashThread, copy_body, raw_socket
from tests.support.hub_server import HubServer

REPO = "test/Raw-GGUF"
NAME = "model.gguf"
DATA = os.urandom(5 * 1024 * 1024 + 12345)  # not a whole number of buffers
EXPECTED = Expected(len(DATA), hashlib.sha256(DATA).hexdigest())


@pytest.fixture
def hub(hub: HubServer) -> HubServer:
    hub.redirect_lfs = True
    hub.add_repo(REPO, {NAME: DATA, "README.md": b"# small\n"})
    return hub


@pytest.fixture
def raw_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The Content-Length of every body read on the raw path."""
    sizes: list[int] = []
    real = transfer._copy_raw

    def spy(response: httpx2.Response, sock: socket.socket, *args: Any) -> None:
        sizes.append(int(response.headers["Content-Length"]))
        real(response, sock, *args)

    monkeypatch.setattr(transfer, "_copy_raw", spy)
    return sizes


def url(hub: HubServer, name: str = NAME) -> str:
    return f"{hub.endpoint}/{REPO}/resolve/main/{name}"


def cdn_gets(hub: HubServer) -> list[Any]:
    return [r for r in hub.log if r.method == "GET" and r.path.startswith("/cdn-lfs/")]


def test_a_large_body_is_read_raw_through_the_redirect(
    hub: HubServer, raw_reads: list[int], tmp_path: Path
) -> None:
    part = tmp_path / "model.part"
    seen: list[int] = []
    fetch_file(url(hub), part, EXPECTED, name=NAME, stop=threading.Event(), on_bytes=seen.append)
    assert part.read_bytes() == DATA
    assert raw_reads == [len(DATA)]
    assert sum(seen) == len(DATA)
    assert [r.status for r in cdn_gets(hub)] == [200]
    # The connection read raw was closed, not handed back: the session still works.
    assert get_session().get(url(hub, "README.md")).content == b"# small\n"


def test_a_small_body_is_read_in_chunks(
    hub: HubServer, raw_reads: list[int], tmp_path: Path
) -> None:
    small = b"# small\n"
    part = tmp_path / "readme.part"
    expected = Expected(len(small), hashlib.sha256(small).hexdigest())
    fetch_file(url(hub, "README.md"), part, expected, name="README.md", stop=threading.Event())
    assert part.read_bytes() == small
    assert raw_reads == []


def test_a_drop_mid_body_resumes_with_range_on_the_cdn(
    hub: HubServer, raw_reads: list[int], tmp_path: Path
) -> None:
    drop = 3 * 1024 * 1024 + 777
    hub.drop_after[NAME] = drop
    part = tmp_path / "model.part"
    seen: list[int] = []
    fetch_file(url(hub), part, EXPECTED, name=NAME, stop=threading.Event(), on_bytes=seen.append)
    assert part.read_bytes() == DATA
    gets = cdn_gets(hub)
    assert [(r.status, r.range) for r in gets] == [(200, None), (206, f"bytes={drop}-")]
    assert raw_reads == [len(DATA), len(DATA) - drop]
    assert sum(seen) == len(DATA)  # every byte received was written: nothing fetched twice


def test_a_partial_on_disk_is_resumed_raw(
    hub: HubServer, raw_reads: list[int], tmp_path: Path
) -> None:
    have = 2 * 1024 * 1024 + 5
    part = tmp_path / "model.part"
    part.write_bytes(DATA[:have])
    fetch_file(url(hub), part, EXPECTED, name=NAME, stop=threading.Event())
    assert part.read_bytes() == DATA
    (get,) = cdn_gets(hub)
    assert (get.status, get.range, get.body_bytes) == (206, f"bytes={have}-", len(DATA) - have)
    assert raw_reads == [len(DATA) - have]


def test_corrupt_bytes_on_the_raw_path_are_caught(
    hub: HubServer, raw_reads: list[int], tmp_path: Path
) -> None:
    hub.corrupt.add(NAME)
    part = tmp_path / "model.part"
    with pytest.raises(ChecksumError):
        fetch_file(url(hub), part, EXPECTED, name=NAME, stop=threading.Event())
    assert not part.exists()
    assert raw_reads == [len(DATA)]


def test_a_stalled_raw_read_stops_at_once_and_keeps_every_byte(
    hub: HubServer, raw_reads: list[int], tmp_path: Path
) -> None:
    stall = 3 * 1024 * 1024 + 99
    hub.stall_after[NAME] = stall
    part = tmp_path / "model.part"
    stop = threading.Event()
    responses: list[httpx2.Response] = []
    written = [0]
    errors: list[BaseException] = []

    def run() -> None:
        def counted(n: int) -> None:
            written[0] += n

        try:
            fetch_file(
                url(hub),
                part,
                EXPECTED,
                name=NAME,
                stop=stop,
                on_bytes=counted,
                on_response=lambda r: responses.append(r) if r is not None else None,
            )
        except BaseException as err:
            errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 20
    while written[0] < stall and time.monotonic() < deadline:
        time.sleep(0.01)
    assert written[0] == stall
    started = time.monotonic()
    # As downloads._Job.interrupt does: set the flag, shut the socket, close the response.
    stop.set()
    response = responses[-1]
    sock = response.extensions["network_stream"].get_extra_info("socket")
    sock.shutdown(socket.SHUT_RDWR)
    response.close()
    worker.join(10)
    assert time.monotonic() - started < 2
    assert len(errors) == 1 and isinstance(errors[0], Stopped)
    assert part.stat().st_size == stall
    hub.stall_release.set()
    fetch_file(url(hub), part, EXPECTED, name=NAME, stop=threading.Event())
    assert part.read_bytes() == DATA
    assert cdn_gets(hub)[-1].range == f"bytes={stall}-"


class _Recorder(BaseHTTPRequestHandler):
    """Redirects ``/resolve`` to ``target``, serves DATA elsewhere; records Authorization."""

    protocol_version = "HTTP/1.1"
    target = ""
    seen: list[tuple[str, str | None]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/resolve":
            self.send_response(302)
            self.send_header("Location", self.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA)


@pytest.fixture
def two_hosts() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """A "hub" on 127.0.0.1 redirecting to a "CDN" on localhost (another host, same box)."""
    seen: list[tuple[str, str | None]] = []
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), type("Cdn", (_Recorder,), {"seen": seen}))
    target = f"http://localhost:{cdn.server_address[1]}/blob"
    attrs = {"seen": seen, "target": target}
    hub = ThreadingHTTPServer(("127.0.0.1", 0), type("Hub", (_Recorder,), attrs))
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,)) for s in (hub, cdn)]
    for thread in threads:
        thread.start()
    try:
        yield f"http://127.0.0.1:{hub.server_address[1]}/resolve", seen
    finally:
        for server, thread in zip((hub, cdn), threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(5)


def test_the_token_goes_to_the_hub_not_to_the_cdn_on_another_host(
    two_hosts: tuple[str, list[tuple[str, str | None]]],
    raw_reads: list[int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    address, seen = two_hosts
    part = tmp_path / "model.part"
    fetch_file(address, part, EXPECTED, name=NAME, stop=threading.Event())
    assert part.read_bytes() == DATA
    assert raw_reads == [len(DATA)]
    assert seen == [("/resolve", "Bearer hf_secret"), ("/blob", None)]


class _ForwardProxy(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: relays ``GET http://host/path`` with its Content-Length."""

    protocol_version = "HTTP/1.1"
    relayed: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.relayed.append(self.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        with (
            httpx2.Client(trust_env=False) as upstream,
            upstream.stream("GET", self.path, headers=headers) as answer,
        ):
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.end_headers()
            for block in answer.iter_raw():
                self.wfile.write(block)


def test_an_environment_proxy_is_used_and_read_raw(
    hub: HubServer, raw_reads: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    relayed: list[str] = []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), type("P", (_ForwardProxy,), {"relayed": relayed}))
    thread = threading.Thread(target=proxy.serve_forever, args=(0.05,))
    thread.start()
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    close_session()  # the shared session reads the environment when it is made
    try:
        part = tmp_path / "model.part"
        fetch_file(url(hub), part, EXPECTED, name=NAME, stop=threading.Event())
    finally:
        close_session()
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)
    assert part.read_bytes() == DATA
    assert raw_reads == [len(DATA)]
    assert relayed == [url(hub), f"{hub.endpoint}/cdn-lfs/{REPO}/{EXPECTED.sha256}"]


# --- which responses are read raw -----------------------------------------------------------


class _Stream:
    def __init__(self, sock: object, ssl_object: object = None) -> None:
        self.info = {"socket": sock, "ssl_object": ssl_object}

    def get_extra_info(self, name: str) -> object:
        return self.info.get(name)


def fake_response(headers: dict[str, str], stream: object = None, version: str = "HTTP/1.1") -> Any:
    return SimpleNamespace(
        headers=httpx2.Headers(headers),
        http_version=version,
        extensions={"network_stream": stream} if stream is not None else {},
    )


def test_only_plain_http11_bodies_on_a_real_socket_are_read_raw() -> None:
    big = {"Content-Length": str(transfer.RAW_MIN)}
    with socket.socket() as sock:
        assert raw_socket(fake_response(big, _Stream(sock))) is sock
        assert raw_socket(fake_response({"Content-Length": "10"}, _Stream(sock))) is None
        assert raw_socket(fake_response({}, _Stream(sock))) is None  # no length: until close
        chunked = {**big, "Transfer-Encoding": "chunked"}
        assert raw_socket(fake_response(chunked, _Stream(sock))) is None
        assert raw_socket(fake_response(big, _Stream(sock), "HTTP/2")) is None
        assert raw_socket(fake_response(big)) is None  # a transport with no network stream
        assert raw_socket(fake_response(big, _Stream(object()))) is None
        # TLS inside TLS (through an https proxy): the socket carries the outer layer only.
        inner = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
        assert raw_socket(fake_response(big, _Stream(sock, inner))) is None


# --- HTTPS ----------------------------------------------------------------------------------


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_cert = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    make_cert += f" -addext subjectAltName=IP:127.0.0.1 -keyout {key} -out {cert}"
    subprocess.run(
        make_cert.split(),
        check=True,
        capture_output=True,
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            for i in range(0, len(DATA), 100_000):  # many TLS records of odd sizes
                self.wfile.write(DATA[i : i + 100_000])

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        yield f"https://127.0.0.1:{port}/file", ssl.create_default_context(cafile=str(cert))
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_an_https_body_is_read_raw_from_the_tls_socket(
    https_server: tuple[str, ssl.SSLContext], raw_reads: list[int], tmp_path: Path
) -> None:
    address, verify = https_server
    hasher = HashThread(hashlib.sha256())
    out = tmp_path / "out.bin"
    with httpx2.Client(verify=verify) as client, client.stream("GET", address) as response:
        assert isinstance(raw_socket(response), ssl.SSLSocket)
        with out.open("wb", buffering=0) as fh:
            size = copy_body(
                response, fh, hasher, 0, threading.Event(), lambda: "pause", lambda n: None, 5
            )
    assert size == len(DATA) and raw_reads == [len(DATA)]
    assert hasher.hexdigest() == EXPECTED.sha256
    assert out.read_bytes() == DATA
