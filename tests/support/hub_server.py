"""A small Hugging Face hub on 127.0.0.1 for tests: the real ``huggingface_hub`` talks to it.

Point the client at it with ``HF_ENDPOINT=server.endpoint`` (and ``HF_HUB_DISABLE_XET=1``; it
never sends ``X-Xet-*`` headers). It serves the routes the library uses:

- ``GET /api/models`` (search: ``search``, ``filter``, ``sort``, ``limit``),
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` (siblings with size,
  blobId and lfs.sha256 when ``blobs=true``; cardData),
- ``GET /api/models/{repo}/tree/{rev}``,
- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag``,
  ``X-Linked-Etag``, ``X-Linked-Size``, ``Content-Length`` and ``Range`` support (optionally
  via a 302 to a CDN-like path, as the real hub does for LFS files).

:func:`serving_hub` starts one and points the client at it; :func:`isolate_hf_client` first
keeps this machine's token and cache out of the test (the ``hub`` fixture does both).

Knobs for failures: :attr:`HubServer.drop_after` (close the connection after N body bytes,
once per entry), :attr:`HubServer.corrupt` (flip a byte of a file), :attr:`HubServer.gated`
(403 GatedRepo), a per-repo ``token``
(401 without it), :attr:`HubServer.throttle` (bytes/s), :attr:`HubServer.stall_after`
(stop sending, keep the connection open, until released). Every request is logged in
:attr:`HubServer.log`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

SEND_CHUNK = 1024 * 1024
_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached by path, size and mtime (the test model is hashed once)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(8 * 1024 * 1024):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


@dataclass
class HubFile:
    """A file of a repo: bytes in memory or a file on disk."""

    data: bytes | None = None
    path: Path | None = None
    lfs: bool = True
    sha256: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        if self.data is not None:
            self.size = len(self.data)
            self.sha256 = self.sha256 or hashlib.sha256(self.data).hexdigest()
        elif self.path is not None:
            self.size = self.path.stat().st_size
            self.sha256 = self.sha256 or file_sha256(self.path)

    @property
    def git_sha1(self) -> str:
        if self.data is None:
            return hashlib.sha1(f"pointer {self.sha256}".encode()).hexdigest()
        return hashlib.sha1(b"blob %d\0" % self.size + self.data).hexdigest()

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.path is not None
        with self.path.open("rb") as fh:
            fh.seek(start)
            return fh.read(end - start)


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, HubFile]
    sha: str
    card_data: dict[str, Any] = field(default_factory=dict)
    downloads: int = 0
    likes: int = 0
    trending: int = 0
    tags: tuple[str, ...] = ("gguf",)
    token: str | None = None
    gated: bool = False
    created_at: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    last_modified: datetime = field(default_factory=lambda: datetime(2025, 2, 1, tzinfo=UTC))

    def summary(self) -> dict[str, Any]:
        return {
            "_id": hashlib.sha1(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0],
            "downloads": self.downloads,
            "likes": self.likes,
            "trendingScore": self.trending,
            "createdAt": self.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "lastModified": self.last_modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "tags": list(self.tags),
            "gated": "auto" if self.gated else False,
            "private": False,
            "library_name": "gguf" if "gguf" in self.tags else None,
            "pipeline_tag": "text-generation",
        }


@dataclass
class RequestLog:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int = 0
    authorization: str | None = None


class HubServer:
    """The loopback hub. Use as a context manager or call start()/stop()."""

    def __init__(self, *, redirect_lfs: bool = False) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.redirect_lfs = redirect_lfs
        self.drop_after: dict[str, int] = {}  # file path -> close after N body bytes (once)
        self.stall_after: dict[str, int] = {}  # file path -> stop after N bytes until released
        self.stall_release = threading.Event()
        self.corrupt: set[str] = set()  # file paths served with one byte flipped
        self.gated: set[str] = set()  # file paths answered 403 GatedRepo (terms not accepted)
        self.throttle: float | None = None  # bytes per second per response
        self.log: list[RequestLog] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- setup --------------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes | Path | HubFile],
        **kwargs: Any,
    ) -> HubRepo:
        built = {
            name: f
            if isinstance(f, HubFile)
            else HubFile(data=f)
            if isinstance(f, bytes)
            else HubFile(path=f)
            for name, f in files.items()
        }
        sha = hashlib.sha1(f"{repo_id}{sorted(built)}".encode()).hexdigest()
        repo = HubRepo(repo_id, built, sha, **kwargs)
        self.repos[repo_id] = repo
        return repo

    @property
    def endpoint(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stall_release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- stats --------------------------------------------------------------------------------

    def downloads_of(self, name: str) -> list[RequestLog]:
        """GET requests that sent (part of) ``name``'s bytes."""
        with self._lock:
            return [
                r
                for r in self.log
                if r.method == "GET" and r.path.endswith("/" + quote(name)) and r.status < 300
            ]

    def body_bytes_sent(self, name: str) -> int:
        return sum(r.body_bytes for r in self.downloads_of(name))

    def record(self, entry: RequestLog) -> None:
        with self._lock:
            self.log.append(entry)


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"
    timeout = 20

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing -----------------------------------------------------------------------------

    def _send(
        self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.hub.record(RequestLog(self.command, self.path, None, status, len(body), self._auth()))

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(
            status,
            json.dumps({"error": message}).encode(),
            {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message},
        )

    def _auth(self) -> str | None:
        return self.headers.get("Authorization")

    def _repo(self, repo_id: str) -> HubRepo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if repo.token is not None and self._auth() != f"Bearer {repo.token}":
            self._error(401, "RepoNotFound", "Invalid username or password.")
            return None
        return repo

    # --- routes -------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts == ["_stats"]:  # for benchmarks running the server in another process
            with self.hub._lock:
                entries = [vars(r).copy() for r in self.hub.log]
            return self._json(entries)
        if parts[:2] == ["api", "models"]:
            if len(parts) == 2:
                return self._search(query)
            if len(parts) >= 4:
                repo = self._repo(f"{parts[2]}/{parts[3]}")
                if repo is None:
                    return None
                rest = parts[4:]
                if not rest or (rest[0] == "revision" and len(rest) == 2):
                    if rest and rest[1] not in ("main", repo.sha):
                        return self._error(404, "RevisionNotFound", "Invalid rev id")
                    return self._info(repo, query)
                if rest[0] == "tree" and len(rest) >= 2:
                    return self._tree(repo)
        if parts[:1] == ["cdn-lfs"] and len(parts) == 4:
            repo = self.hub.repos.get(f"{parts[1]}/{parts[2]}")
            sha = parts[3]
            for repo_ in [repo] if repo else []:
                for name, f in repo_.files.items():
                    if f.sha256 == sha:
                        return self._file(repo_, name, f)
            return self._error(404, "EntryNotFound", "no such blob")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = self._repo(f"{parts[0]}/{parts[1]}")
            if repo is None:
                return None
            if parts[3] not in ("main", repo.sha):
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            name = "/".join(parts[4:])
            f = repo.files.get(name)
            if f is None:
                return self._error(404, "EntryNotFound", "Entry not found")
            if name in self.hub.gated:
                return self._error(403, "GatedRepo", "Access to this model is restricted")
            if self.hub.redirect_lfs and f.lfs:
                location = f"/cdn-lfs/{repo.repo_id}/{f.sha256}"
                return self._send(302, b"", {**self._file_headers(repo, f), "Location": location})
            return self._file(repo, name, f)
        return self._error(404, "NotFound", f"no route {url.path}")

    def _search(self, query: dict[str, list[str]]) -> None:
        text = (query.get("search") or [""])[0].lower()
        filters = query.get("filter") or []
        sort = (query.get("sort") or ["downloads"])[0]
        limit = int((query.get("limit") or ["100"])[0])
        repos = [
            r
            for r in self.hub.repos.values()
            if text in r.repo_id.lower() and all(f in r.tags for f in filters)
        ]
        keys = {
            "downloads": lambda r: r.downloads,
            "likes": lambda r: r.likes,
            "trendingScore": lambda r: r.trending,
            "lastModified": lambda r: r.last_modified.timestamp(),
            "createdAt": lambda r: r.created_at.timestamp(),
        }
        key = keys.get(sort, keys["downloads"])
        repos.sort(key=key, reverse=True)
        self._json([r.summary() for r in repos[:limit]])

    def _info(self, repo: HubRepo, query: dict[str, list[str]]) -> None:
        blobs = (query.get("blobs") or ["false"])[0].lower() == "true"
        siblings = []
        for name, f in repo.files.items():
            entry: dict[str, Any] = {"rfilename": name}
            if blobs:
                entry.update(size=f.size, blobId=f.git_sha1)
                if f.lfs:
                    entry["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            siblings.append(entry)
        data = {**repo.summary(), "sha": repo.sha, "siblings": siblings, "cardData": repo.card_data}
        self._json(data)

    def _tree(self, repo: HubRepo) -> None:
        entries = []
        for name, f in repo.files.items():
            entry: dict[str, Any] = {
                "type": "file",
                "oid": f.git_sha1,
                "size": f.size,
                "path": name,
            }
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(entry)
        self._json(entries)

    def _file_headers(self, repo: HubRepo, f: HubFile) -> dict[str, str]:
        etag = f.sha256 if f.lfs else f.git_sha1
        return {
            "X-Repo-Commit": repo.sha,
            "ETag": f'"{etag}"',
            "X-Linked-Etag": f'"{etag}"',
            "X-Linked-Size": str(f.size),
            "Accept-Ranges": "bytes",
        }

    def _file(self, repo: HubRepo, name: str, f: HubFile) -> None:
        start, end, status = 0, f.size, 200
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            first, _, last = range_header[len("bytes=") :].partition("-")
            start = int(first or 0)
            end = int(last) + 1 if last else f.size
            if start >= f.size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{f.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.hub.record(RequestLog(self.command, self.path, range_header, 416))
                return
            status = 206
        headers = self._file_headers(repo, f)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{f.size}")
        self.end_headers()
        log = RequestLog(self.command, self.path, range_header, status, 0, self._auth())
        self.hub.record(log)
        if self.command == "HEAD":
            return
        self._body(name, f, start, end, log)

    def _body(self, name: str, f: HubFile, start: int, end: int, log: RequestLog) -> None:
        hub = self.hub
        drop = hub.drop_after.pop(name, None)
        stall = hub.stall_after.pop(name, None)
        limit = end if drop is None else min(end, start + drop)
        plain = f.path is not None and name not in hub.corrupt and hub.throttle is None
        pos = start
        try:
            if plain and stall is None and f.path is not None:
                with f.path.open("rb") as fh:
                    while pos < limit:
                        sent = self.connection.sendfile(fh, pos, limit - pos)
                        if not sent:
                            break
                        pos += sent
                        log.body_bytes = pos - start
            else:
                while pos < limit:
                    if stall is not None and pos >= start + stall:
                        hub.stall_release.wait(30)
                        stall = None
                    step = SEND_CHUNK if hub.throttle is None else 64 * 1024
                    if stall is not None:
                        step = min(step, start + stall - pos)
                    step = min(step, limit - pos)
                    block = bytearray(f.read(pos, pos + step))
                    if name in hub.corrupt:
                        middle = f.size // 2
                        if pos <= middle < pos + len(block):
                            block[middle - pos] ^= 0xFF
                    self.wfile.write(block)
                    pos += len(block)
                    log.body_bytes = pos - start
                    if hub.throttle:
                        time.sleep(len(block) / hub.throttle)
        except OSError:
            self.close_connection = True
            return
        if drop is not None and pos < end:
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def isolate_hf_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Hugging Face token, cache, offline switch or home folder of this machine reaches the
    test, and no Xet transfer (the loopback hub speaks plain HTTP)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))


@contextlib.contextmanager
def serving_hub(
    monkeypatch: pytest.MonkeyPatch, *, redirect_lfs: bool = False
) -> Iterator[HubServer]:
    """A started :class:`HubServer` with ``HF_ENDPOINT`` pointing at it until the block ends."""
    with HubServer(redirect_lfs=redirect_lfs) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def make_split_parts(source: Path, folder: Path, base: str, count: int) -> list[Path]:
    """Byte-split ``source`` into ``{base}-0000i-of-0000N.gguf`` files (for grouping and
    download tests: such parts are not loadable, only the first one has a GGUF header)."""
    data = source.read_bytes()
    size = len(data) // count + 1
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = folder / f"{base}-{i + 1:05d}-of-{count:05d}.gguf"
        p.write_bytes(data[i * size : (i + 1) * size])
        paths.append(p)
    return paths


def days_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)


# --- synthetic GGUF files (headers only) for library tests and benchmarks -----------------


def gguf_bytes(
    metadata: Mapping[str, Any],
    *,
    arrays: Mapping[str, list[str] | list[int]] | None = None,
    tensor_count: int = 0,
    version: int = 3,
) -> bytes:
    """A GGUF header: ints are written as uint32 (uint64 above 2**32), strings as strings;
    ``arrays`` holds string arrays (a vocabulary) or int32 arrays."""
    import struct

    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", version, tensor_count, len(metadata) + len(arrays or {}))

    def string(s: str) -> bytes:
        raw = s.encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw

    for key, value in metadata.items():
        out += string(key)
        if isinstance(value, bool):
            out += struct.pack("<I?", 7, value)
        elif isinstance(value, int):
            out += struct.pack("<IQ", 10, value) if value >= 2**32 else struct.pack("<II", 4, value)
        elif isinstance(value, float):
            out += struct.pack("<If", 6, value)
        else:
            out += struct.pack("<I", 8) + string(str(value))
    for key, items in (arrays or {}).items():
        out += string(key)
        if items and isinstance(items[0], str):
            out += struct.pack("<IIQ", 9, 8, len(items))
            out += b"".join(string(str(s)) for s in items)
        else:
            out += struct.pack("<IIQ", 9, 5, len(items))
            out += struct.pack(f"<{len(items)}i", *[int(i) for i in items])
    return bytes(out)


def llama_like_metadata(name: str = "Test Model", **extra: Any) -> dict[str, Any]:
    """The keys of a small llama-architecture model (for fit and metadata tests)."""
    return {
        "general.architecture": "llama",
        "general.name": name,
        "general.size_label": "8B",
        "general.file_type": 15,
        "general.license": "mit",
        "llama.context_length": 131072,
        "llama.block_count": 32,
        "llama.embedding_length": 4096,
        "llama.attention.head_count": 32,
        "llama.attention.head_count_kv": 8,
        **extra,
    }
