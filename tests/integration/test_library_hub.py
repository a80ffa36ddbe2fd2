"""The library against a loopback hub that the real huggingface_hub client talks to."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from app.library import downloads as downloads_module
from app.library.downloads import DownloadInfo, DownloadManager, DownloadStatus
from app.library.errors import (
    HubAuthError,
    HubNotFoundError,
    HubOfflineError,
    HubUnreachableError,
    UnsafeFileNameError,
)
from app.library.fetch import CHUNK
from app.library.fit import GIB, FitVerdict, MachineMemory
from app.library.hub import (
    QuantVariant,
    RemoteFile,
    SearchSort,
    hub_lineage,
    pick_variant,
    repo_details,
    search_models,
)
from app.library.local import list_local_models, resolve_model
from app.library.metadata import read_metadata
from app.library.remote import fit_variants, remote_metadata
from app.paths import models_dir
from tests.support.hub_server import (
    HubServer,
    days_ago,
    file_sha256,
    isolate_hf_client,
    make_split_parts,
    serving_hub,
)

REPO = "bartowski/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
WAIT = 60


@pytest.fixture
def hub(hub: HubServer, smollm2: Path) -> HubServer:
    hub.add_repo(
        REPO,
        {FILE: smollm2, "README.md": b"# SmolLM2 GGUF\n"},
        card_data={
            "license": "apache-2.0",
            "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "base_model_relation": "quantized",
        },
        downloads=500,
        likes=3,
    )
    return hub


def pull(manager: DownloadManager, repo: str = REPO, quant: str = "Q4_1") -> DownloadInfo:
    details = repo_details(repo)
    info = manager.enqueue(repo, details.revision, pick_variant(details, quant=quant))
    return manager.wait(info.id, WAIT)


def wait_for(predicate, timeout: float = WAIT) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


# --- search and repository files ------------------------------------------------------------


def test_search_filters_and_sorts(hub: HubServer, smollm2: Path) -> None:
    hub.add_repo(
        "unsloth/Qwen3-8B-GGUF",
        {"a.gguf": b"x"},
        downloads=900,
        likes=1,
        trending=5,
        last_modified=days_ago(30),
        created_at=days_ago(60),
    )
    hub.add_repo(
        "Qwen/Qwen3-8B-GGUF",
        {"a.gguf": b"x"},
        downloads=100,
        likes=50,
        trending=9,
        last_modified=days_ago(1),
        created_at=days_ago(90),
    )
    hub.add_repo(
        "Qwen/Qwen3-8B", {"model.safetensors": b"x"}, downloads=10**6, tags=("safetensors",)
    )
    hub.add_repo(
        "mlx-community/Qwen3-8B-4bit", {"model.safetensors": b"x"}, downloads=5, tags=("mlx",)
    )

    def ids(sort: SearchSort, **kw: object) -> list[str]:
        return [m.repo_id for m in search_models("qwen3", sort=sort, **kw)]  # type: ignore[arg-type]

    assert ids(SearchSort.DOWNLOADS, include_mlx=False) == [
        "unsloth/Qwen3-8B-GGUF",
        "Qwen/Qwen3-8B-GGUF",
    ]
    assert ids(SearchSort.LIKES, include_mlx=False)[0] == "Qwen/Qwen3-8B-GGUF"
    assert ids(SearchSort.TRENDING, include_mlx=False)[0] == "Qwen/Qwen3-8B-GGUF"
    assert ids(SearchSort.UPDATED, include_mlx=False)[0] == "Qwen/Qwen3-8B-GGUF"
    assert ids(SearchSort.CREATED, include_mlx=False)[0] == "unsloth/Qwen3-8B-GGUF"
    with_mlx = search_models("qwen3", include_mlx=True)
    assert {m.kind for m in with_mlx} == {"gguf", "mlx"}
    first = search_models("smollm2", include_mlx=False)[0]
    assert (first.repo_id, first.downloads, first.likes) == (REPO, 500, 3)
    assert first.last_modified is not None


def test_repo_files_sizes_sha256_split_groups_and_refused_names(
    hub: HubServer, smollm2: Path, tmp_path: Path
) -> None:
    parts = make_split_parts(smollm2, tmp_path / "parts", "SmolLM2-135M-Instruct-Q8_0", 3)
    files: dict[str, bytes | Path] = {
        FILE: smollm2,
        **{f"Q8_0/{p.name}": p for p in parts},
        "Broken-Q2_K-00001-of-00002.gguf": b"GGUF",
        "mmproj-SmolLM2-f16.gguf": b"GGUF",
        "README.md": b"hi",
        "../evil.gguf": b"x",
        "sub/../../evil-Q4_0.gguf": b"x",
        "C:\\evil.gguf": b"x",
    }
    hub.add_repo("org/Many-GGUF", files, card_data={"license": "mit", "base_model": ["a/b", "c/d"]})
    details = repo_details("org/Many-GGUF")
    by_quant = {v.quant: v for v in details.variants}
    assert set(by_quant) == {"Q4_1", "Q8_0", "Q2_K"}
    q4 = by_quant["Q4_1"]
    assert q4.size == smollm2.stat().st_size
    assert q4.first_file.sha256 == file_sha256(smollm2)
    q8 = by_quant["Q8_0"]
    assert q8.split and [f.path for f in q8.files] == [f"Q8_0/{p.name}" for p in parts]
    assert q8.size == sum(p.stat().st_size for p in parts)
    assert by_quant["Q2_K"].error is not None and "missing" in by_quant["Q2_K"].error
    assert {n for n, _ in details.refused} == {
        "../evil.gguf",
        "sub/../../evil-Q4_0.gguf",
        "C:\\evil.gguf",
    }
    assert details.license == "mit"
    assert details.base_models == ("a/b", "c/d")
    assert len(details.revision) == 40


def test_lineage_follows_base_models(hub: HubServer) -> None:
    hub.add_repo(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        {"x": b"x"},
        card_data={
            "base_model": "HuggingFaceTB/SmolLM2-135M",
            "base_model_relation": "finetune",
            "license": "apache-2.0",
        },
    )
    hub.add_repo("HuggingFaceTB/SmolLM2-135M", {"x": b"x"}, card_data={"license": "apache-2.0"})
    steps = hub_lineage(REPO)
    assert [s.repo_id for s in steps] == [
        REPO,
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "HuggingFaceTB/SmolLM2-135M",
    ]
    assert steps[0].relation == "quantized" and steps[1].relation == "finetune"


def test_remote_header_gives_the_shape_without_downloading(hub: HubServer, smollm2: Path) -> None:
    meta = remote_metadata(REPO, FILE)
    assert meta.shape is not None
    assert (meta.shape.n_layer, meta.shape.n_head_kv, meta.shape.head_dim) == (30, 3, 64)
    assert hub.body_bytes_sent(FILE) < smollm2.stat().st_size // 4
    assert remote_metadata(REPO, FILE) == meta  # cached: no second request
    assert len(hub.downloads_of(FILE)) == 1
    machine = MachineMemory(16 * GIB, 8 * GIB)
    ((variant, fit),) = fit_variants(repo_details(REPO), 4096, machine)
    assert variant.quant == "Q4_1"
    assert fit.verdict is FitVerdict.CPU_ONLY and not fit.kv_estimated


# --- downloads --------------------------------------------------------------------------------


def test_download_real_bytes_then_read_the_header(hub: HubServer, smollm2: Path) -> None:
    seen: list[DownloadInfo] = []
    manager = DownloadManager(on_progress=seen.append, progress_interval=0.0)
    info = pull(manager)
    assert info.status is DownloadStatus.COMPLETED, info.error
    assert info.dest == models_dir().resolve() / REPO / FILE
    assert info.dest.read_bytes() == smollm2.read_bytes()
    assert read_metadata(info.dest).architecture == "llama"
    (model,) = list_local_models()
    assert model.id == f"{REPO}/SmolLM2-135M-Instruct-Q4_1"
    assert resolve_model(model.id) == info.dest
    assert not any((models_dir() / ".downloads").glob(f"{info.id}*"))
    statuses = [i.status for i in seen]
    assert statuses[0] is DownloadStatus.RUNNING and statuses[-1] is DownloadStatus.COMPLETED
    done = [i.bytes_done for i in seen]
    assert done == sorted(done) and done[-1] == info.bytes_total
    assert any(i.speed > 0 and i.eta is not None for i in seen)
    # Pulling again does nothing.
    again = pull(manager)
    assert again.status is DownloadStatus.COMPLETED
    assert len(hub.downloads_of(FILE)) == 1


def test_resume_after_the_server_drops_the_connection(hub: HubServer, smollm2: Path) -> None:
    size = smollm2.stat().st_size
    hub.drop_after[FILE] = 30_000_000 + 12345
    info = pull(DownloadManager())
    assert info.status is DownloadStatus.COMPLETED, info.error
    gets = hub.downloads_of(FILE)
    assert len(gets) == 2
    assert gets[0].range is None and gets[1].range is not None
    resumed_at = int(gets[1].range.removeprefix("bytes=").rstrip("-"))
    assert 30_000_000 + 12345 - CHUNK <= resumed_at <= 30_000_000 + 12345
    redownloaded = hub.body_bytes_sent(FILE) - size
    assert 0 <= redownloaded <= CHUNK
    assert info.dest.read_bytes() == smollm2.read_bytes()


def test_corrupted_bytes_are_caught_by_the_hash(hub: HubServer) -> None:
    hub.corrupt.add(FILE)
    manager = DownloadManager()
    info = pull(manager)
    assert info.status is DownloadStatus.FAILED
    assert info.error is not None and "corrupt" in info.error
    assert not info.dest.exists()
    assert list_local_models() == []
    assert not list((models_dir() / ".downloads").rglob("*.part"))
    # The hub serves good bytes again: resuming downloads the file afresh.
    hub.corrupt.clear()
    manager.resume(info.id)
    assert manager.wait(info.id, WAIT).status is DownloadStatus.COMPLETED


def test_401_asks_for_a_token_and_the_token_works(
    hub: HubServer, smollm2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("private/Gated-GGUF", {FILE: smollm2}, token="hf_secret")
    with pytest.raises(HubAuthError, match="HF_TOKEN"):
        repo_details("private/Gated-GGUF")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    info = pull(DownloadManager(), "private/Gated-GGUF")
    assert info.status is DownloadStatus.COMPLETED, info.error
    assert {r.authorization for r in hub.downloads_of(FILE)} == {"Bearer hf_secret"}


def test_401_during_download_is_a_clear_failure(
    hub: HubServer, smollm2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("private/Gated-GGUF", {FILE: smollm2}, token="hf_secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    details = repo_details("private/Gated-GGUF")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    manager = DownloadManager()
    info = manager.enqueue(details.repo_id, details.revision, details.variants[0])
    info = manager.wait(info.id, WAIT)
    assert info.status is DownloadStatus.FAILED
    assert info.error is not None and "401" in info.error and "HF_TOKEN" in info.error


def test_403_gated_says_to_accept_the_terms(hub: HubServer) -> None:
    hub.gated.add(FILE)
    info = pull(DownloadManager())
    assert info.status is DownloadStatus.FAILED
    assert info.error is not None and "gated" in info.error and "accept its terms" in info.error


def test_404s(hub: HubServer) -> None:
    with pytest.raises(HubNotFoundError, match="404"):
        repo_details("nobody/nothing")
    with pytest.raises(HubNotFoundError, match=r"has no Q8_0 variant .*Q4_1"):
        pick_variant(repo_details(REPO), quant="Q8_0")
    with pytest.raises(HubNotFoundError, match="no GGUF file"):
        pick_variant(repo_details(REPO), file="other.gguf")


def test_traversal_names_are_refused_before_any_request(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("org/Evil-GGUF", {"../../evil-Q4_0.gguf": b"GGUF", "ok-Q4_0.gguf": b"GGUF"})
    details = repo_details("org/Evil-GGUF")
    with pytest.raises(UnsafeFileNameError):
        pick_variant(details, file="../../evil-Q4_0.gguf")
    evil = QuantVariant(
        "evil", "Q4_0", "gguf", (RemoteFile("../../evil-Q4_0.gguf", 4, "0" * 64, None),)
    )
    with pytest.raises(UnsafeFileNameError):
        DownloadManager().enqueue("org/Evil-GGUF", details.revision, evil)
    with pytest.raises(UnsafeFileNameError):
        DownloadManager().enqueue("../org", details.revision, details.variants[0])
    assert not any("evil" in r.path for r in hub.log)
    assert not (tmp_path / "evil-Q4_0.gguf").exists()


def test_split_model_downloads_every_part(hub: HubServer, smollm2: Path, tmp_path: Path) -> None:
    parts = make_split_parts(smollm2, tmp_path / "parts", "SmolLM2-Q8_0", 3)
    hub.add_repo("org/Split-GGUF", {f"Q8_0/{p.name}": p for p in parts})
    info = pull(DownloadManager(), "org/Split-GGUF", "Q8_0")
    assert info.status is DownloadStatus.COMPLETED, info.error
    assert info.dest.name == "SmolLM2-Q8_0-00001-of-00003.gguf"
    for p in parts:
        assert (info.dest.parent / p.name).read_bytes() == p.read_bytes()
    (model,) = list_local_models()
    assert len(model.files) == 3 and model.size == smollm2.stat().st_size
    assert model.usable  # the first part holds the whole header


def test_pause_and_resume_across_a_restart(hub: HubServer, smollm2: Path) -> None:
    hub.stall_after[FILE] = 20 * CHUNK
    manager = DownloadManager()
    details = repo_details(REPO)
    info = manager.enqueue(REPO, details.revision, details.variants[0])
    wait_for(lambda: manager.get(info.id).bytes_done >= 20 * CHUNK)
    started = time.monotonic()
    manager.pause(info.id)
    paused = manager.wait(info.id, 10)
    assert paused.status is DownloadStatus.PAUSED
    assert time.monotonic() - started < 3  # a stalled read is interrupted, not waited out
    manager.shutdown()
    hub.stall_release.set()

    restarted = DownloadManager()  # as after an app restart: the state file is read back
    (again,) = restarted.jobs()
    assert again.id == info.id and again.status is DownloadStatus.PAUSED
    assert again.bytes_done == 20 * CHUNK
    restarted.resume(info.id)
    done = restarted.wait(info.id, WAIT)
    assert done.status is DownloadStatus.COMPLETED, done.error
    assert hub.downloads_of(FILE)[-1].range == f"bytes={20 * CHUNK}-"
    assert hub.body_bytes_sent(FILE) == smollm2.stat().st_size  # nothing fetched twice
    assert done.dest.read_bytes() == smollm2.read_bytes()


def test_a_partial_is_resumed_even_if_the_state_file_is_lost(hub: HubServer, smollm2: Path) -> None:
    hub.stall_after[FILE] = 7 * CHUNK
    manager = DownloadManager()
    details = repo_details(REPO)
    info = manager.enqueue(REPO, details.revision, details.variants[0])
    wait_for(lambda: manager.get(info.id).bytes_done >= 7 * CHUNK)
    manager.shutdown()
    hub.stall_release.set()
    (models_dir() / ".downloads" / "state.json").unlink()
    fresh = DownloadManager()
    assert fresh.jobs() == []
    again = fresh.enqueue(REPO, details.revision, details.variants[0])
    assert again.bytes_done == 7 * CHUNK
    assert fresh.wait(again.id, WAIT).status is DownloadStatus.COMPLETED
    assert hub.downloads_of(FILE)[-1].range == f"bytes={7 * CHUNK}-"
    assert hub.body_bytes_sent(FILE) == smollm2.stat().st_size


def test_cancel_removes_the_partial(hub: HubServer) -> None:
    hub.stall_after[FILE] = 5 * CHUNK
    manager = DownloadManager()
    details = repo_details(REPO)
    info = manager.enqueue(REPO, details.revision, details.variants[0])
    wait_for(lambda: manager.get(info.id).bytes_done >= 5 * CHUNK)
    manager.cancel(info.id)
    info = manager.wait(info.id, 10)
    assert info.status is DownloadStatus.CANCELLED
    assert not (models_dir() / ".downloads" / info.id).exists()
    assert not info.dest.exists()
    hub.stall_release.set()


def test_queue_runs_one_at_a_time(hub: HubServer, smollm2: Path) -> None:
    hub.add_repo("org/Other-GGUF", {FILE: smollm2})
    hub.throttle = 400e6
    manager = DownloadManager(max_concurrent=1)
    a = repo_details(REPO)
    b = repo_details("org/Other-GGUF")
    first = manager.enqueue(REPO, a.revision, a.variants[0])
    second = manager.enqueue("org/Other-GGUF", b.revision, b.variants[0])
    assert manager.get(second.id).status is DownloadStatus.QUEUED
    assert manager.wait(first.id, WAIT).status is DownloadStatus.COMPLETED
    assert manager.wait(second.id, WAIT).status is DownloadStatus.COMPLETED


def test_free_disk_space_is_checked_first(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    class Usage:
        free = 10_000_000

    monkeypatch.setattr(downloads_module.shutil, "disk_usage", lambda p: Usage())
    info = pull(DownloadManager())
    assert info.status is DownloadStatus.FAILED
    assert info.error is not None and "not enough disk space" in info.error
    assert hub.downloads_of(FILE) == []


def test_offline_mode(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    details = repo_details(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError, match="HF_HUB_OFFLINE"):
        repo_details(REPO)
    with pytest.raises(HubOfflineError):
        search_models("smol")
    manager = DownloadManager()
    info = manager.wait(manager.enqueue(REPO, details.revision, details.variants[0]).id, WAIT)
    assert info.status is DownloadStatus.FAILED and "HF_HUB_OFFLINE" in (info.error or "")
    assert list_local_models() == []  # local models keep working


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(HubUnreachableError, match="cannot reach Hugging Face"):
        search_models("qwen")
    with pytest.raises(HubUnreachableError, match="local models still work"):
        repo_details(REPO)
    assert time.monotonic() - started < 5


def test_lfs_redirects_are_followed(
    monkeypatch: pytest.MonkeyPatch, smollm2: Path, tmp_path: Path
) -> None:
    isolate_hf_client(monkeypatch, tmp_path)
    with serving_hub(monkeypatch, redirect_lfs=True) as server:
        server.add_repo(REPO, {FILE: smollm2})
        server.drop_after[FILE] = 10_000_000
        info = pull(DownloadManager())
        assert info.status is DownloadStatus.COMPLETED, info.error
        cdn = [r for r in server.log if r.path.startswith("/cdn-lfs/") and r.method == "GET"]
        assert len(cdn) == 2 and cdn[1].range is not None
