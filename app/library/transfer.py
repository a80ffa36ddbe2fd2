"""Copy one response body into the partial file while a second thread hashes it.

httpx2 sends the request (the hub's headers and token, redirects to the CDN, proxies) and reads
the status line and headers; this module then reads the body in one of two ways:

- **Raw**: a plain HTTP/1.1 body (a ``Content-Length``, no ``Transfer-Encoding``) on a socket
  that httpcore2 reads itself (``http``, ``https``, or either through an ``http`` proxy). The
  few body bytes httpcore2 buffered with the headers come through ``iter_raw()``; the rest is
  read with ``recv_into`` straight into a few reused 1 MiB buffers. Each piece received is
  written at once; a full buffer goes to the hash thread, which hands it back once hashed: no
  copy in Python and a handful of Python operations per piece (httpcore2 reads 64 KiB at a
  time and copies every piece three times). The response is closed afterwards, which closes
  its connection: its HTTP state was bypassed, so it is never reused.
- **Chunks**: anything else (chunked transfer, HTTP/2, TLS inside TLS, a custom transport):
  ``response.iter_raw()``.

Either way every piece is written before it is hashed, so after a kill the partial file holds
everything received but what the kernel still buffered (it is re-hashed on resume), and a read
blocked on a stalled server ends when another thread shuts the socket down (see
``downloads._Job.interrupt``).
"""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from collections.abc import Callable, Generator
from typing import Any, BinaryIO

import httpx2

BUFFER = 1024 * 1024  # one raw read buffer, and the hash thread's batch size
BUFFERS = 4  # raw read buffers per response: the hash thread may be this far behind
RAW_MIN = 1024 * 1024  # smaller bodies are read in chunks: not worth a connection

_Item = list[bytes] | tuple[bytearray, int, "queue.Queue[bytearray]"] | None


class Stopped(Exception):  # noqa: N818 - a signal, not an error
    """The transfer was stopped on request (``reason`` is "pause" or "cancel")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BrokenStreamError(httpx2.TransportError):
    """The body stopped mid-way; ``offset`` bytes are on disk."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"connection lost after {offset} bytes")
        self.offset = offset


class HashThread:
    """Hashes in a thread of its own, so hashing overlaps reading and writing.

    hashlib releases the GIL on large buffers, so this uses a second core. The queue is
    bounded: at most ``depth`` batches wait. Every piece is written to disk *before* it is
    queued, so a kill loses nothing on disk (the partial is re-hashed on resume).
    """

    def __init__(self, hasher: Any, depth: int = 8) -> None:
        self._hasher = hasher
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        update = self._hasher.update
        while (item := self._queue.get()) is not None:
            if isinstance(item, list):
                for block in item:
                    update(block)
                continue
            buffer, size, free = item
            try:
                update(buffer if size == len(buffer) else memoryview(buffer)[:size])
            finally:
                free.put(buffer)

    def _put(self, item: _Item) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="download-hash", daemon=True)
            self._thread.start()
        self._queue.put(item)

    def update(self, blocks: list[bytes]) -> None:
        self._put(blocks)

    def update_buffer(self, buffer: bytearray, size: int, free: queue.Queue[bytearray]) -> None:
        """Hash ``buffer[:size]``, then put ``buffer`` into ``free``; do not touch it before."""
        self._put((buffer, size, free))

    def close(self) -> None:
        """Stop the thread (after it hashed what was queued)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def reset(self, hasher: Any) -> None:
        self.close()
        self._hasher = hasher

    def hexdigest(self) -> str:
        self.close()
        return str(self._hasher.hexdigest())


class _Sink:
    """The partial file: writes every piece whole, counts it and reports it."""

    def __init__(self, fh: BinaryIO, offset: int, on_bytes: Callable[[int], None]) -> None:
        self.fh = fh
        self.offset = offset
        self.on_bytes = on_bytes

    def write(self, data: bytes | memoryview) -> None:
        size = len(data)
        written = self.fh.write(data)
        if written != size:  # an unbuffered file may take part of it (rare: a full disk)
            view = memoryview(data)
            while written < size:
                written += self.fh.write(view[written:])
        self.offset += size
        self.on_bytes(size)


def raw_socket(response: httpx2.Response) -> socket.socket | None:
    """The socket to read the body of ``response`` from directly, or None (read in chunks)."""
    headers = response.headers
    if response.http_version != "HTTP/1.1" or "Transfer-Encoding" in headers:
        return None
    try:
        if int(headers.get("Content-Length", "")) < RAW_MIN:
            return None
    except ValueError:
        return None
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    if not isinstance(sock, socket.socket):
        return None
    # TLS inside TLS (an https proxy) decrypts in memory: the socket carries the outer layer.
    if isinstance(stream.get_extra_info("ssl_object"), ssl.SSLObject):
        return None
    return sock


def copy_body(
    response: httpx2.Response,
    fh: BinaryIO,
    hasher: HashThread,
    offset: int,
    stop: threading.Event,
    stop_reason: Callable[[], str],
    on_bytes: Callable[[int], None],
    read_timeout: float | None,
) -> int:
    """Stream the body into ``fh`` (opened unbuffered); returns the new offset.

    ``on_bytes`` hears of every piece written. Raises Stopped when ``stop`` is set (also when
    the response was closed to stop a read) and BrokenStreamError, with the offset reached,
    when the connection breaks.
    """
    sink = _Sink(fh, offset, on_bytes)
    sock = raw_socket(response)
    try:
        if sock is None:
            _copy_chunks(response, sink, hasher, stop, stop_reason)
        else:
            size = int(response.headers["Content-Length"])
            _copy_raw(response, sock, sink, hasher, size, stop, stop_reason, read_timeout)
    except Stopped:
        raise
    except Exception as err:  # a dropped connection, or the response closed to stop
        if stop.is_set():
            raise Stopped(stop_reason()) from err
        if isinstance(err, httpx2.TransportError):
            raise BrokenStreamError(sink.offset) from err
        raise
    return sink.offset


def _copy_chunks(
    response: httpx2.Response,
    sink: _Sink,
    hasher: HashThread,
    stop: threading.Event,
    stop_reason: Callable[[], str],
) -> None:
    """``iter_raw()``: pieces of up to 64 KiB, written at once, hashed in 1 MiB batches."""
    pending: list[bytes] = []
    pending_size = 0
    try:
        for block in response.iter_raw():
            sink.write(block)
            pending.append(block)
            pending_size += len(block)
            if pending_size >= BUFFER:
                hasher.update(pending)
                pending, pending_size = [], 0
            if stop.is_set():
                raise Stopped(stop_reason())
    finally:
        if pending:  # written to disk: hashed too
            hasher.update(pending)


def _copy_raw(
    response: httpx2.Response,
    sock: socket.socket,
    sink: _Sink,
    hasher: HashThread,
    size: int,
    stop: threading.Event,
    stop_reason: Callable[[], str],
    read_timeout: float | None,
) -> None:
    """``recv_into`` reused buffers; each piece written at once, each full buffer hashed."""
    chunks = response.iter_raw()
    try:
        # What httpcore2 read together with the headers (its buffer is empty after this).
        first = next(chunks, b"")
        if first:
            sink.write(first)
            hasher.update([first])
        left = size - len(first)
        free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(BUFFERS):
            free.put(bytearray(BUFFER))
        buffer = free.get()
        view = memoryview(buffer)
        used = 0
        sock.settimeout(read_timeout)
        try:
            while left > 0:
                if stop.is_set():
                    raise Stopped(stop_reason())
                try:
                    n = sock.recv_into(view[used:], min(left, BUFFER - used))
                except TimeoutError as err:
                    raise httpx2.ReadTimeout(str(err) or "timed out") from err
                except OSError as err:
                    raise httpx2.ReadError(str(err) or type(err).__name__) from err
                if n == 0:
                    raise httpx2.RemoteProtocolError("the server closed the connection early")
                sink.write(view[used : used + n])
                used += n
                left -= n
                if used == BUFFER:
                    hasher.update_buffer(buffer, used, free)
                    buffer = free.get()
                    view = memoryview(buffer)
                    used = 0
        finally:
            if used:  # written to disk: hashed too
                hasher.update_buffer(buffer, used, free)
    finally:
        if isinstance(chunks, Generator):
            chunks.close()
        response.close()  # and its connection: never reused
