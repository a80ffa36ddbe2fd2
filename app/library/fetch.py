"""Download one file into a partial file, resuming with HTTP Range, and verify its hash.

``huggingface_hub`` gives the URL (``hf_hub_url``) and the metadata (``get_hf_file_metadata``);
the transfer is a streaming GET through its shared HTTP session (so ``HF_TOKEN``, proxies and
``HF_HUB_OFFLINE`` apply). Every piece read from the socket is written as it arrives, so after
a crash, a kill or a dropped connection the partial file holds everything received and the
next attempt asks for ``Range: bytes=<size of the partial>-``: only what was in flight (the
kernel's socket buffers) is fetched twice. ``app.library.transfer`` copies the body (straight
from the socket into reused buffers when it can) and hashes it on a thread of its own.

The hash covers the whole file: on resume the bytes already on disk are hashed first. A file
whose sha256 (LFS files) or git blob id (small files) differs from the hub's is deleted.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import get_hf_file_metadata, get_session, hf_raise_for_status
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils._headers import build_hf_headers

from app.library.errors import ChecksumError, DownloadError
from app.library.hub import TIMEOUT, hub_error
from app.library.names import safe_relative_path
from app.library.transfer import BUFFER, BrokenStreamError, HashThread, copy_body
from app.library.transfer import Stopped as Stopped  # the workers catch it from here

CHUNK = BUFFER  # the most a kill or a resume should cost
HASH_READ = 8 * 1024 * 1024
RETRIES = 4
_CONTENT_RANGE_START = "bytes "


@dataclass(frozen=True, slots=True)
class Expected:
    """What the hub says the file is: size and a checksum (sha256 or git blob sha1)."""

    size: int | None
    sha256: str | None = None
    git_sha1: str | None = None

    def new_hasher(self) -> Any:
        if self.sha256:
            return hashlib.sha256()
        if self.git_sha1 and self.size is not None:
            h = hashlib.sha1()
            h.update(b"blob %d\0" % self.size)
            return h
        raise DownloadError("the hub published no checksum for this file; refusing to download")

    def check(self, digest: str, name: str) -> None:
        want = (self.sha256 or self.git_sha1 or "").lower()
        if digest.lower() != want:
            raise ChecksumError(
                f"{name}: the download is corrupt (checksum {digest[:12]}… ≠ hub's {want[:12]}…); "
                "the file was deleted, download it again"
            )


def expected_from_metadata(
    url: str, size: int | None, sha256: str | None, blob_id: str | None, name: str
) -> Expected:
    """Ask the hub (HEAD) for the file and combine with what the repo listing said.

    The HEAD answer gives the size and the ETag (the sha256 of an LFS file, the git blob id
    of a small one); it also turns a 401/403/404 into a clear error before any transfer.
    """
    try:
        meta = get_hf_file_metadata(url, timeout=TIMEOUT.read)
    except (httpx2.HTTPError, OSError, ValueError) as err:  # HfHubHTTPError is an OSError
        raise hub_error(err, name) from err
    if size is not None and meta.size is not None and meta.size != size:
        raise DownloadError(
            f"{name}: the hub lists {size} bytes but serves {meta.size}; the repository "
            "changed, look at its files again"
        )
    etag = (meta.etag or "").lower()
    if not sha256 and len(etag) == 64 and all(c in "0123456789abcdef" for c in etag):
        sha256 = etag
    git_sha1 = blob_id if not sha256 else None
    if not sha256 and not git_sha1 and len(etag) == 40:
        git_sha1 = etag
    return Expected(size if size is not None else meta.size, sha256, git_sha1)


def _hash_existing(
    part: Path, hasher: Any, stop: threading.Event, reason: Callable[[], str]
) -> int:
    done = 0
    with part.open("rb") as fh:
        while block := fh.read(HASH_READ):
            hasher.update(block)
            done += len(block)
            if stop.is_set():
                raise Stopped(reason())
    return done


def _range_start(response: httpx2.Response) -> int | None:
    value = response.headers.get("Content-Range", "")
    if not value.startswith(_CONTENT_RANGE_START):
        return None
    try:
        return int(value[len(_CONTENT_RANGE_START) :].split("-", 1)[0])
    except ValueError:
        return None


def fetch_file(
    url: str,
    part: Path,
    expected: Expected,
    *,
    name: str,
    stop: threading.Event,
    stop_reason: Callable[[], str] = lambda: "pause",
    on_bytes: Callable[[int], None] = lambda n: None,
    headers: dict[str, str] | None = None,
    retries: int = RETRIES,
    on_response: Callable[[httpx2.Response | None], None] = lambda r: None,
) -> None:
    """Download ``url`` into ``part`` (resuming from its size) and verify it.

    ``on_bytes`` gets each chunk's size as it is written (a negative number when bytes on
    disk are thrown away). Raises Stopped when ``stop`` is set, ChecksumError (``part``
    deleted) on a hash mismatch, HubError/DownloadError on other failures (``part`` kept for
    a later resume). ``on_response`` receives the response being read (None once done): closing
    it from another thread after setting ``stop`` interrupts a stalled read at once.
    """
    safe_relative_path(name)  # names reach here from the hub: refuse tricks again
    part.parent.mkdir(parents=True, exist_ok=True)
    size = expected.size
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()
        on_bytes(-offset)
        offset = 0
    plain = expected.new_hasher()
    if offset:
        offset = _hash_existing(part, plain, stop, stop_reason)
    hasher = HashThread(plain)
    try:
        return _transfer(
            url,
            part,
            expected,
            hasher,
            offset,
            name,
            stop,
            stop_reason,
            on_bytes,
            headers,
            retries,
            on_response,
        )
    finally:
        hasher.close()


def _transfer(
    url: str,
    part: Path,
    expected: Expected,
    hasher: HashThread,
    offset: int,
    name: str,
    stop: threading.Event,
    stop_reason: Callable[[], str],
    on_bytes: Callable[[int], None],
    headers: dict[str, str] | None,
    retries: int,
    on_response: Callable[[httpx2.Response | None], None],
) -> None:
    size = expected.size
    failures, offset_at_failure = 0, offset
    while size is None or offset < size:
        if stop.is_set():
            raise Stopped(stop_reason())
        # The hub's headers: user agent and the token (HF_TOKEN or the stored login).
        request_headers = {**build_hf_headers(), "Accept-Encoding": "identity", **(headers or {})}
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        try:
            with get_session().stream("GET", url, headers=request_headers, timeout=TIMEOUT) as r:
                on_response(r)
                if stop.is_set():
                    raise Stopped(stop_reason())
                if r.status_code == 416 and offset:
                    raise _ResumeRefusedError(f"{name}: the server refused to resume; start again")
                hf_raise_for_status(r)
                if offset and (r.status_code != 206 or _range_start(r) != offset):
                    # The server sent the whole file: start again from zero.
                    part.unlink(missing_ok=True)
                    on_bytes(-offset)
                    offset = 0
                    hasher.reset(expected.new_hasher())
                # Unbuffered: every piece is on disk (in the page cache) once written.
                with part.open("ab" if offset else "wb", buffering=0) as fh:
                    offset = copy_body(
                        r, fh, hasher, offset, stop, stop_reason, on_bytes, TIMEOUT.read
                    )
            if size is None:
                break
            if offset < size:
                raise DownloadError(f"{name}: the connection closed early")
        except (Stopped, _ResumeRefusedError):
            raise
        except Exception as err:
            if isinstance(err, BrokenStreamError):
                offset = err.offset
            if stop.is_set():  # the response was closed to stop a read: not a failure
                raise Stopped(stop_reason()) from err
            failures = _failed(err, name, part, failures, offset > offset_at_failure, retries)
            offset_at_failure = offset
            stop.wait(min(0.25 * 2**failures, 4.0))
        finally:
            on_response(None)
    if size is not None and offset != size:
        raise DownloadError(f"{name}: received {offset} bytes, expected {size}")
    try:
        expected.check(hasher.hexdigest(), name)
    except ChecksumError:
        part.unlink(missing_ok=True)
        raise


def _failed(
    err: Exception, name: str, part: Path, failures: int, progressed: bool, retries: int
) -> int:
    """Count a failed attempt (returns the new count), or raise the error to report."""
    if isinstance(err, httpx2.TransportError | DownloadError) and not isinstance(
        err, httpx2.UnsupportedProtocol
    ):
        # A drop after progress starts the count again: only a stuck transfer gives up.
        failures = 1 if progressed else failures + 1
        if failures <= retries:
            return failures
        if isinstance(err, DownloadError):
            raise err
        raise hub_error(err, f"downloading {name}") from err
    if isinstance(err, ConnectionError | HfHubHTTPError):  # HF_HUB_OFFLINE, 401/403/404...
        raise hub_error(err, f"downloading {name}") from err
    if isinstance(err, OSError):  # the local file: disk full, permissions
        raise DownloadError(f"{name}: cannot write {part}: {err.strerror or err}") from err
    raise err


class _ResumeRefusedError(DownloadError):
    """416 on a resume: the partial file does not match the remote file."""
