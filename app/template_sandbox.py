"""Run chat templates in a separate, limited process (:mod:`app.template_renderer`).

A :class:`TemplateSandbox` owns one long-lived renderer process and enforces, from outside
the Jinja code:

* memory: the renderer caps its own address space first thing (``RLIMIT_AS``, POSIX); where
  the OS does not enforce that (Windows, macOS) this side watches its resident memory with
  psutil and kills it above the limit;
* time: a request that has no answer :data:`HARD_DEADLINE_GRACE_S` after its time limit kills
  the renderer, whatever the template is doing (a C call that never returns included);
* cancellation: the caller's ``cancelled()`` is polled while waiting; a cancelled render
  kills the renderer at once.

A killed renderer is started again on the next request (about a tenth of a second); compiled
templates are cached in the renderer, so the common render costs one round trip through a
pipe. The llama.cpp worker itself gets no such limit (it maps whole model files).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024
"""Address space the renderer may use (Python and Jinja take about 100 MB of it)."""

HARD_DEADLINE_GRACE_S = 1.0
"""How long past its time limit a request may go before the renderer is killed (the
renderer's own check usually stops the template first, with a more precise message)."""

RENDERER_ARG = "--ponder-template-renderer"
"""First argument that turns a frozen ``ponder`` executable into the renderer."""

_POLL_S = 0.02

FRAME = struct.Struct("<Q")
"""Length prefix of every frame, both ways."""


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(stream: IO[bytes], max_bytes: int) -> bytes | None:
    """One frame's payload; None at the end of the stream or for an oversized frame."""
    head = _read_exact(stream, FRAME.size)
    if head is None:
        return None
    (size,) = FRAME.unpack(head)
    if size > max_bytes:
        return None
    return _read_exact(stream, size)


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(FRAME.pack(len(payload)) + payload)
    stream.flush()


_MAX_REPLY_BYTES = 256 * 1024 * 1024


class RenderCancelled(Exception):  # noqa: N818 (not an error: the user stopped it)
    """The caller cancelled while the template was rendering; the renderer was stopped."""


class SandboxError(Exception):
    """A request did not complete; ``str()`` is the message after "chat template"."""


class _RendererGoneError(SandboxError):
    """The renderer ended without answering (killed, out of memory, crashed)."""


NO_RLIMIT_ARG = "--no-rlimit"
"""Renderer argument: leave the address space unlimited (the memory watch alone, as on
Windows; tests use it to prove the watch)."""


def renderer_command(memory_limit: int, *, rlimit: bool = True) -> list[str]:
    """How to start the renderer: this Python with the module, or the frozen executable."""
    args = [str(memory_limit)] if rlimit else [str(memory_limit), NO_RLIMIT_ARG]
    if getattr(sys, "frozen", False):
        return [sys.executable, RENDERER_ARG, *args]
    return [sys.executable, "-m", "app.template_renderer", *args]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # where the `app` package lives
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _megabytes(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB"


class _Process:
    """One running renderer and the thread that reads its replies."""

    def __init__(self, memory_limit: int, rlimit: bool) -> None:
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        self.popen = subprocess.Popen(
            renderer_command(memory_limit, rlimit=rlimit),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_child_env(),
            creationflags=flags,
        )
        self.compiled: set[str] = set()
        self.replies: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="template-replies", daemon=True)
        self._reader.start()
        self.psutil_process: Any = None
        with contextlib.suppress(Exception):
            import psutil

            self.psutil_process = psutil.Process(self.popen.pid)

    def _read(self) -> None:
        stdout = self.popen.stdout
        assert stdout is not None
        while True:
            payload = read_frame(stdout, _MAX_REPLY_BYTES)
            self.replies.put(payload)
            if payload is None:
                return

    def send(self, request: dict[str, Any]) -> bool:
        stdin = self.popen.stdin
        assert stdin is not None
        try:
            data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a template variable that cannot travel
            raise SandboxError(f"failed to render: a variable cannot be passed ({exc})") from None
        try:
            stdin.write(FRAME.pack(len(data)) + data)
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def ended(self) -> bool:
        """Whether the renderer has exited (also when something else reaped it first)."""
        if self.popen.poll() is not None:
            return True
        if self.psutil_process is None:
            return False
        try:
            import psutil

            return bool(self.psutil_process.status() == psutil.STATUS_ZOMBIE)
        except Exception:  # gone: reaped elsewhere
            return True

    def rss(self) -> int:
        if self.psutil_process is None:
            return 0
        try:
            return int(self.psutil_process.memory_info().rss)
        except Exception:
            return 0

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.popen.kill()
        with contextlib.suppress(Exception):
            self.popen.wait(5)
        for stream in (self.popen.stdin, self.popen.stdout):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.popen.stdin is not None:
                self.popen.stdin.close()  # the renderer ends at the end of its input
        try:
            self.popen.wait(2)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(Exception):
            if self.popen.stdout is not None:
                self.popen.stdout.close()


class TemplateSandbox:
    """Compiles and renders templates in a limited renderer process (one at a time).

    Attributes:
        memory_limit: bytes of memory the renderer may use.
        rlimit: the renderer also caps its own address space (where the OS can).
        starts: how many renderer processes were started (for tests and measurements).
    """

    def __init__(self, memory_limit: int = DEFAULT_MEMORY_LIMIT, *, rlimit: bool = True) -> None:
        self.memory_limit = memory_limit
        self.rlimit = rlimit
        self.starts = 0
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._pid = os.getpid()

    @property
    def pid(self) -> int | None:
        """The renderer's process id, while one runs."""
        return None if self._process is None else int(self._process.popen.pid)

    def _running(self) -> _Process:
        if self._pid != os.getpid():  # copied into a forked child: start its own
            self._process, self._pid = None, os.getpid()
        if self._process is None or self._process.ended():
            if self._process is not None:
                self._process.kill()
                self._process = None
            try:
                self._process = _Process(self.memory_limit, self.rlimit)
            except OSError as err:  # no interpreter to run it, no processes left...
                raise SandboxError(
                    f"could not be used: the template renderer could not be started ({err})"
                ) from None
            self.starts += 1
        return self._process

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process = None

    def close(self) -> None:
        """End the renderer (a later request starts a new one)."""
        with self._lock:
            if self._process is not None:
                self._process.close()
                self._process = None

    def compile(self, fingerprint: str, source: str, timeout_s: float) -> None:
        """Compile ``source`` in the renderer (cached there by ``fingerprint``).

        Raises:
            SandboxError: the template does not compile, or hit a limit while compiling.
        """
        with self._lock:
            self._compile(self._running(), fingerprint, source, timeout_s, None)

    def render(
        self,
        fingerprint: str,
        source: str,
        context: dict[str, Any],
        *,
        timeout_s: float,
        max_output_chars: int,
        cancelled: Callable[[], bool] | None = None,
    ) -> str:
        """Render a compiled template with ``context``.

        Raises:
            SandboxError: the template failed or hit a limit.
            RenderCancelled: ``cancelled()`` became true first.
        """
        request = {
            "op": "render",
            "fingerprint": fingerprint,
            "context": context,
            "timeout_s": timeout_s,
            "max_output_chars": max_output_chars,
        }
        with self._lock:
            retried = False
            for _ in range(3):
                reused = self._process is not None and not self._process.ended()
                process = self._running()
                try:
                    if fingerprint not in process.compiled:
                        self._compile(process, fingerprint, source, timeout_s, cancelled)
                    reply = self._exchange(process, request, timeout_s, cancelled)
                except _RendererGoneError:
                    # A renderer that died since the last request (the OOM killer, a user's
                    # kill) may look alive until it is asked: once, a fresh one is tried.
                    if not reused or retried:
                        raise
                    retried = True
                    continue
                if reply.get("unknown"):  # the renderer dropped it from its cache
                    process.compiled.discard(fingerprint)
                    continue
                if "error" in reply:
                    raise SandboxError(str(reply["error"]))
                return str(reply["text"])
        raise SandboxError("failed to render: the renderer lost the compiled template")

    def _compile(
        self,
        process: _Process,
        fingerprint: str,
        source: str,
        timeout_s: float,
        cancelled: Callable[[], bool] | None,
    ) -> None:
        request = {
            "op": "compile",
            "fingerprint": fingerprint,
            "source": source,
            "timeout_s": timeout_s,
        }
        reply = self._exchange(process, request, timeout_s, cancelled, compiling=True)
        if "error" in reply:
            raise SandboxError(str(reply["error"]))
        process.compiled.add(fingerprint)

    def _exchange(
        self,
        process: _Process,
        request: dict[str, Any],
        timeout_s: float,
        cancelled: Callable[[], bool] | None,
        *,
        compiling: bool = False,
    ) -> dict[str, Any]:
        """Send one request and wait for its reply, enforcing the limits."""
        what = "could not be compiled" if compiling else "was stopped"
        if not process.send(request):
            self._stop()
            raise SandboxError(f"{what}: the template renderer could not be started")
        deadline = time.monotonic() + timeout_s + HARD_DEADLINE_GRACE_S
        while True:
            try:
                payload = process.replies.get(timeout=_POLL_S)
            except queue.Empty:
                payload = b""
            if payload:
                reply: dict[str, Any] = json.loads(payload)
                return reply
            if payload is None or process.popen.poll() is not None:
                self._stop()
                raise _RendererGoneError(
                    f"{what}: the template renderer stopped (it may have needed more than "
                    f"the {_megabytes(self.memory_limit)} of memory it may use)"
                )
            if cancelled is not None and cancelled():
                self._stop()
                raise RenderCancelled()
            if process.rss() > self.memory_limit:
                self._stop()
                raise SandboxError(
                    f"{what}: it needs more than the {_megabytes(self.memory_limit)} of "
                    "memory it may use"
                )
            if time.monotonic() > deadline:
                self._stop()
                raise SandboxError(f"{what}: it ran too long (more than {timeout_s:g} s)")


_default: TemplateSandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> TemplateSandbox:
    """This process's renderer, started on first use and ended at exit."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TemplateSandbox()
            atexit.register(_default.close)
        return _default
