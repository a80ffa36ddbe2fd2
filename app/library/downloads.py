"""The download manager: a queue of model downloads with pause, resume, cancel and progress.

No Qt here: the GUI passes ``on_progress`` (called from worker threads with a frozen
:class:`DownloadInfo`, at most every ``progress_interval`` seconds per job and on every status
change) and marshals it to its own thread.

Each job downloads every file of one variant (all parts of a split model) into
``models_dir()/.downloads/<job>/`` (a hidden folder: never listed as a model). Only when every
file has been verified against the hub's checksum are they moved into
``models_dir()/<publisher>/<repo>/``. The queue is saved in ``.downloads/state.json``; after a
restart unfinished jobs come back PAUSED and resume from their partial files.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import hf_hub_url

from app.library.errors import DiskSpaceError, LibraryError
from app.library.fetch import Stopped, expected_from_metadata, fetch_file
from app.library.hub import QuantVariant, RemoteFile, check_online, hub_endpoint
from app.library.names import check_repo_id, safe_relative_path
from app.paths import models_dir

DISK_MARGIN = 256 * 1024 * 1024
FOLD_INTERVAL = 0.05  # seconds between two updates of a running job's progress
STATE_VERSION = 1


class DownloadStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"  # resumable: the partial files are kept
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (DownloadStatus.COMPLETED, DownloadStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class DownloadInfo:
    """A download as the UI shows it: what, where, how far, how fast.

    Attributes:
        id: the job id (stable for the same repo, revision and variant).
        repo_id, revision, variant, quant, kind: what is downloaded.
        files: the files of the variant (repo-relative paths, sizes, checksums).
        dest: what will be loaded once complete: the GGUF (first part) or the MLX folder.
        status: see DownloadStatus.
        bytes_done, bytes_total: progress over all files (bytes_done counts partial files).
        speed: bytes per second over the last few seconds (0 when not running).
        eta: seconds left at that speed, or None.
        current_file: the file being transferred.
        error: the reason of a FAILED status.
    """

    id: str
    repo_id: str
    revision: str
    variant: str
    quant: str | None
    kind: str
    files: tuple[RemoteFile, ...]
    dest: Path
    status: DownloadStatus = DownloadStatus.QUEUED
    bytes_done: int = 0
    bytes_total: int = 0
    speed: float = 0.0
    eta: float | None = None
    current_file: str | None = None
    error: str | None = None
    verified: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "variant": self.variant,
            "quant": self.quant,
            "kind": self.kind,
            "files": [f.to_json() for f in self.files],
            "dest": str(self.dest),
            "status": self.status.value,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "speed": self.speed,
            "eta": self.eta,
            "current_file": self.current_file,
            "error": self.error,
            "verified": list(self.verified),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DownloadInfo:
        files = tuple(RemoteFile(**f) for f in data["files"])
        for f in files:
            safe_relative_path(f.path)
        check_repo_id(data["repo_id"])
        return cls(
            id=str(data["id"]),
            repo_id=data["repo_id"],
            revision=str(data["revision"]),
            variant=str(data["variant"]),
            quant=data.get("quant"),
            kind=str(data.get("kind", "gguf")),
            files=files,
            dest=Path(data["dest"]),
            status=DownloadStatus(data["status"]),
            bytes_done=int(data.get("bytes_done", 0)),
            bytes_total=int(data.get("bytes_total", 0)),
            error=data.get("error"),
            verified=tuple(str(v) for v in data.get("verified", ())),
        )


def job_id_for(repo_id: str, revision: str, variant: str) -> str:
    return hashlib.sha1(f"{repo_id}@{revision}#{variant}".encode()).hexdigest()[:12]


class _Job:
    """Mutable state of one job; ``info`` is replaced (never mutated) under the manager lock."""

    def __init__(self, info: DownloadInfo) -> None:
        self.info = info
        self.guard = threading.Lock()
        self.stop = threading.Event()
        self.stop_reason = "pause"
        self.thread: threading.Thread | None = None
        self.response: httpx2.Response | None = None  # the one being read, to interrupt it
        self.samples: deque[tuple[float, int]] = deque(maxlen=64)
        self.last_report = 0.0
        self.unfolded = 0  # bytes written by the worker, not yet in ``info`` (worker-only)
        self.last_fold = 0.0

    def snapshot(self) -> DownloadInfo:
        """``info`` with the bytes the worker has not folded in yet (call under the lock)."""
        pending = self.unfolded
        return (
            replace(self.info, bytes_done=self.info.bytes_done + pending) if pending else self.info
        )

    def set_response(self, response: httpx2.Response | None) -> None:
        with self.guard:
            self.response = response

    def interrupt(self, reason: str) -> None:
        """Ask the worker to stop, and close its response so that a stalled read ends now."""
        self.stop_reason = reason
        self.stop.set()
        with self.guard:
            response = self.response
        if response is None:
            return
        # Closing alone does not wake a read blocked in another thread; shutting the socket does.
        with contextlib.suppress(Exception):
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            response.close()


class DownloadManager:
    """Downloads model variants from the hub, at most ``max_concurrent`` at a time.

    Args:
        max_concurrent: jobs running at once.
        on_progress: called with a DownloadInfo from worker threads (never under a lock).
        root: the models folder (default ``models_dir()``).
        progress_interval: the least time between two progress calls for one job.
    """

    def __init__(
        self,
        *,
        max_concurrent: int = 2,
        on_progress: Callable[[DownloadInfo], None] | None = None,
        root: Path | None = None,
        progress_interval: float = 0.2,
    ) -> None:
        self.root = (root or models_dir()).resolve()
        self.work = self.root / ".downloads"
        self.max_concurrent = max(1, max_concurrent)
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._load()

    # --- persistence ------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.work / "state.json"

    def _load(self) -> None:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            entries = data.get("jobs", []) if data.get("version") == STATE_VERSION else []
        except (OSError, ValueError, AttributeError):
            return
        for entry in entries:
            try:
                info = DownloadInfo.from_json(entry)
            except (KeyError, TypeError, ValueError, LibraryError):
                continue
            if info.status in (DownloadStatus.QUEUED, DownloadStatus.RUNNING):
                info = replace(info, status=DownloadStatus.PAUSED)
            info = replace(info, bytes_done=self._bytes_on_disk(info))
            self._jobs[info.id] = _Job(info)

    def _save_locked(self) -> None:
        """Write the queue (best effort: without it, partial files are still resumed by a new
        pull of the same variant, only the list of paused downloads is lost)."""
        jobs = [j.info.to_json() for j in self._jobs.values()]
        tmp = self.state_path.with_name(f"state.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.work.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": STATE_VERSION, "jobs": jobs}, indent=1), "utf-8")
            os.replace(tmp, self.state_path)
        except OSError:
            tmp.unlink(missing_ok=True)

    # --- paths ------------------------------------------------------------------------------

    def _job_dir(self, info: DownloadInfo) -> Path:
        return self.work / info.id

    def _part(self, info: DownloadInfo, f: RemoteFile) -> Path:
        return self._job_dir(info) / (f.path + ".part")

    def _verified_path(self, info: DownloadInfo, f: RemoteFile) -> Path:
        return self._job_dir(info) / f.path

    def _final(self, repo_id: str, rel: str) -> Path:
        publisher, name = check_repo_id(repo_id)
        target = (self.root / publisher / name / safe_relative_path(rel)).resolve()
        if self.root not in target.parents:
            raise LibraryError(f"refused: {rel} would land outside the models folder")
        return target

    def _bytes_on_disk(self, info: DownloadInfo) -> int:
        total = 0
        for f in info.files:
            for p in (self._verified_path(info, f), self._part(info, f)):
                if p.exists():
                    total += p.stat().st_size
                    break
        return total

    # --- public API -------------------------------------------------------------------------

    def enqueue(self, repo_id: str, revision: str, variant: QuantVariant) -> DownloadInfo:
        """Queue a variant (or return the existing job for it, resumed if paused/failed)."""
        check_repo_id(repo_id)
        if variant.error:
            raise LibraryError(f"{repo_id}: {variant.name}: {variant.error}")
        for f in variant.files:
            safe_relative_path(f.path)
        job_id = job_id_for(repo_id, revision, variant.name)
        publisher, name = check_repo_id(repo_id)
        if variant.kind == "mlx":
            dest = self.root / publisher / name
        else:
            dest = self._final(repo_id, variant.files[0].path)
        with self._lock:
            existing = self._jobs.get(job_id)
            if existing is not None and existing.info.status is not DownloadStatus.CANCELLED:
                if existing.info.status is DownloadStatus.COMPLETED and not dest.exists():
                    pass  # deleted since: download again
                else:
                    status = existing.info.status
                    if status in (DownloadStatus.PAUSED, DownloadStatus.FAILED):
                        self._set_locked(existing, status=DownloadStatus.QUEUED, error=None)
                        self._schedule_locked()
                    return existing.info
            info = DownloadInfo(
                id=job_id,
                repo_id=repo_id,
                revision=revision,
                variant=variant.name,
                quant=variant.quant,
                kind=variant.kind,
                files=variant.files,
                dest=dest,
                bytes_total=variant.size,
            )
            job = _Job(replace(info, bytes_done=self._bytes_on_disk(info)))
            self._jobs[job_id] = job
            self._save_locked()
            self._schedule_locked()
            return job.info

    def find(self, repo_id: str, variant: str) -> DownloadInfo | None:
        """The unfinished job for a repo's variant (any revision), if any."""
        with self._lock:
            for job in self._jobs.values():
                i = job.info
                if i.repo_id == repo_id and i.variant == variant and not i.status.finished:
                    return i
        return None

    def get(self, job_id: str) -> DownloadInfo:
        with self._lock:
            return self._job_locked(job_id).snapshot()

    def jobs(self) -> list[DownloadInfo]:
        with self._lock:
            return [j.snapshot() for j in self._jobs.values()]

    def pause(self, job_id: str) -> None:
        with self._lock:
            job = self._job_locked(job_id)
            if job.info.status is DownloadStatus.RUNNING:
                job.interrupt("pause")
            elif job.info.status is DownloadStatus.QUEUED:
                self._set_locked(job, status=DownloadStatus.PAUSED)

    def resume(self, job_id: str) -> None:
        with self._lock:
            job = self._job_locked(job_id)
            if job.info.status in (DownloadStatus.PAUSED, DownloadStatus.FAILED):
                self._set_locked(job, status=DownloadStatus.QUEUED, error=None)
                self._schedule_locked()

    def cancel(self, job_id: str) -> None:
        """Stop the job and delete its partial files."""
        with self._lock:
            job = self._job_locked(job_id)
            if job.info.status is DownloadStatus.RUNNING:
                job.interrupt("cancel")
                return
            if job.info.status is not DownloadStatus.COMPLETED:
                shutil.rmtree(self._job_dir(job.info), ignore_errors=True)
                self._set_locked(job, status=DownloadStatus.CANCELLED, bytes_done=0)

    def forget(self, job_id: str) -> None:
        """Drop a finished or cancelled job from the list."""
        with self._lock:
            job = self._job_locked(job_id)
            if job.info.status in (DownloadStatus.RUNNING, DownloadStatus.QUEUED):
                raise LibraryError("pause or cancel the download first")
            del self._jobs[job_id]
            self._save_locked()

    def wait(self, job_id: str, timeout: float | None = None) -> DownloadInfo:
        """Block until the job is no longer queued or running (or ``timeout`` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                info = self._job_locked(job_id).snapshot()
                if info.status not in (DownloadStatus.QUEUED, DownloadStatus.RUNNING):
                    return info
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return info
                self._changed.wait(left)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Pause every running job and wait for the workers to stop."""
        with self._lock:
            threads = []
            for job in self._jobs.values():
                if job.info.status is DownloadStatus.QUEUED:
                    self._set_locked(job, status=DownloadStatus.PAUSED)
                if job.thread is not None:
                    job.interrupt("pause")
                    threads.append(job.thread)
        for t in threads:
            t.join(timeout)

    # --- internals --------------------------------------------------------------------------

    def _job_locked(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise LibraryError(f"no download {job_id}")
        return job

    def _set_locked(self, job: _Job, **changes: Any) -> None:
        if "bytes_done" in changes:
            job.unfolded = 0
        job.info = replace(job.info, **changes)
        if "status" in changes:
            if job.info.status is not DownloadStatus.RUNNING:
                job.info = replace(job.info, speed=0.0, eta=None)
            self._save_locked()
            self._changed.notify_all()

    def _schedule_locked(self) -> None:
        running = sum(1 for j in self._jobs.values() if j.info.status is DownloadStatus.RUNNING)
        for job in self._jobs.values():
            if running >= self.max_concurrent:
                break
            if job.info.status is DownloadStatus.QUEUED and job.thread is None:
                job.stop = threading.Event()  # a fresh flag per run: an old stop never leaks
                job.stop_reason = "pause"
                job.samples.clear()
                job.unfolded, job.last_fold = 0, 0.0
                self._set_locked(job, status=DownloadStatus.RUNNING)
                job.thread = threading.Thread(
                    target=self._run, args=(job,), name=f"download-{job.info.id}", daemon=True
                )
                job.thread.start()
                running += 1

    def _emit(self, info: DownloadInfo) -> None:
        if self.on_progress is not None:
            self.on_progress(info)

    def _progress(self, job: _Job, n: int) -> None:
        """Called by the worker for every piece written: cheap unless a fold is due."""
        job.unfolded += n
        now = time.monotonic()
        if now - job.last_fold < FOLD_INTERVAL:
            return
        job.last_fold = now
        with self._lock:
            done = job.info.bytes_done + job.unfolded
            job.unfolded = 0
            job.samples.append((now, done))
            while len(job.samples) > 2 and now - job.samples[0][0] > 3.0:
                job.samples.popleft()
            t0, b0 = job.samples[0]
            speed = max(0.0, (done - b0) / (now - t0)) if now - t0 > 0.05 else job.info.speed
            left = job.info.bytes_total - done
            eta = left / speed if speed > 0 else None
            job.info = replace(job.info, bytes_done=done, speed=speed, eta=eta)
            report = now - job.last_report >= self.progress_interval
            if report:
                job.last_report = now
            info = job.info
        if report:
            self._emit(info)

    def _run(self, job: _Job) -> None:
        info = job.info
        self._emit(info)
        try:
            self._download_all(job)
            self._install(job)
            with self._lock:
                self._set_locked(
                    job,
                    status=DownloadStatus.COMPLETED,
                    current_file=None,
                    bytes_done=job.info.bytes_total,
                )
        except Stopped as stop:
            with self._lock:
                if stop.reason == "cancel":
                    shutil.rmtree(self._job_dir(job.info), ignore_errors=True)
                    self._set_locked(job, status=DownloadStatus.CANCELLED, bytes_done=0)
                else:
                    done = self._bytes_on_disk(job.info)
                    self._set_locked(job, status=DownloadStatus.PAUSED, bytes_done=done)
        except LibraryError as err:
            self._fail(job, str(err))
        except OSError as err:  # the local disk: full, read-only, a file in use
            self._fail(job, f"{job.info.variant}: {err.strerror or err}")
        except BaseException as err:  # a bug: show it as failed, then let the crash handler see it
            self._fail(job, f"{job.info.variant}: internal error ({type(err).__name__})")
            raise
        finally:
            with self._lock:
                job.thread = None
                info = job.info
                self._schedule_locked()
            self._emit(info)

    def _fail(self, job: _Job, message: str) -> None:
        with self._lock:
            done = self._bytes_on_disk(job.info)
            self._set_locked(job, status=DownloadStatus.FAILED, error=message, bytes_done=done)

    def _download_all(self, job: _Job) -> None:
        info = job.info
        check_online()
        remaining = max(0, info.bytes_total - self._bytes_on_disk(info))
        self.work.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.work).free
        if remaining + DISK_MARGIN > free:
            raise DiskSpaceError(
                f"not enough disk space for {info.variant}: {remaining / 1e9:.1f} GB needed, "
                f"{free / 1e9:.1f} GB free in {self.root}"
            )
        for f in info.files:
            if f.path in job.info.verified and self._verified_path(info, f).exists():
                continue
            with self._lock:
                self._set_locked(job, current_file=f.path)
            url = hf_hub_url(info.repo_id, f.path, revision=info.revision, endpoint=hub_endpoint())
            expected = expected_from_metadata(url, f.size, f.sha256, f.blob_id, f.path)
            part = self._part(info, f)
            done = self._verified_path(info, f)
            if done.exists() and not part.exists():  # verified before the state was lost
                os.replace(done, part)  # fetch_file re-hashes it without downloading
            fetch_file(
                url,
                part,
                expected,
                name=f.path,
                stop=job.stop,
                stop_reason=lambda: job.stop_reason,
                on_bytes=lambda n: self._progress(job, n),
                on_response=job.set_response,
            )
            os.replace(part, self._verified_path(info, f))
            with self._lock:
                self._set_locked(job, verified=(*job.info.verified, f.path))

    def _install(self, job: _Job) -> None:
        """Move every verified file into place (same filesystem: atomic renames)."""
        info = job.info
        for f in info.files:
            src = self._verified_path(info, f)
            dst = self._final(info.repo_id, f.path)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        shutil.rmtree(self._job_dir(info), ignore_errors=True)
