"""The library screen and the first-run welcome, offscreen, against a loopback hub and the
real SmolLM2 engine."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.library.downloads import DownloadStatus
from app.library.fit import GIB, MachineMemory
from app.library.local import LocalModel
from tests.support.hub_server import HubServer, isolate_hf_client
from tests.support.window import open_window, window_open
from ui.library.models import ItemRole
from ui.library.view import CATALOG_TAB, DOWNLOADS_TAB, LOCAL_TAB, LibraryView
from ui.library.welcome import WelcomePage
from ui.window import MainWindow

pytestmark = pytest.mark.llama

REPO = "bartowski/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
WAIT = 120_000  # ms: generous, the test machine may be slow and busy
SMALL = MachineMemory(total_ram=8 * GIB, available_ram=6 * GIB)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real HF cache, LM Studio folder or token of this machine leaks into a test."""
    isolate_hf_client(monkeypatch, tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")  # unreachable


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
    )
    return hub


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    with window_open(qtbot, show=False) as w:
        w.settings.n_ctx = 512
        w.library._machine = SMALL
        w.show()
        yield w


def library(qtbot, w: MainWindow) -> LibraryView:  # type: ignore[no-untyped-def]
    """Open the library with its shortcut, Ctrl+Shift+L."""
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=WAIT)
    qtbot.keyClick(
        w, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    view = w.library.view
    assert view is not None and w.stack.currentWidget() is view
    qtbot.waitUntil(lambda: view.local_loaded, timeout=WAIT)
    return view


def local_paths(view: LibraryView) -> list[str]:
    return [str(m.path) for m in view.local_model.items()]


def test_catalog_works_offline_and_the_card_says_the_hub_is_unreachable(
    qtbot, window: MainWindow
) -> None:  # type: ignore[no-untyped-def]
    view = library(qtbot, window)
    assert view.tabs.currentIndex() == CATALOG_TAB
    proxy = view.catalog_view.model()
    assert proxy.rowCount() >= 10
    names = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    row = names.index("DeepSeek-R1-Distill-Qwen-7B")
    view.catalog_view.clicked.emit(proxy.index(row, 0))
    card = view.card
    assert card.isVisible()
    about = card.about.text()
    assert "deepseek-ai/DeepSeek-R1 → student" in about
    assert "Qwen/Qwen2.5-Math-7B" in about and "MIT" in about and "&lt;think&gt;" in about
    qtbot.waitUntil(lambda: "cannot reach" in card.status.text(), timeout=WAIT)
    assert "local models still work" in card.status.text()
    # The hub search says the same, inline.
    view.tabs.setCurrentIndex(1)
    view.search_box.setText("qwen")
    view.search()
    qtbot.waitUntil(lambda: "cannot reach" in view.search_status.text(), timeout=WAIT)


def test_a_folder_added_lists_its_models_and_load_loads_one(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, smollm2: Path, tmp_path: Path
) -> None:
    view = library(qtbot, window)
    folder = tmp_path / "my-models"
    folder.mkdir()
    (folder / smollm2.name).symlink_to(smollm2)
    (folder / "broken.gguf").write_bytes(b"not a model")
    view.add_folder(str(folder))
    assert view.tabs.currentIndex() == LOCAL_TAB
    qtbot.waitUntil(lambda: str(folder / smollm2.name) in local_paths(view), timeout=WAIT)
    broken = next(m for m in view.local_model.items() if m.path.name == "broken.gguf")
    assert not broken.usable
    row = view.local_model.row_of_path(str(folder / "broken.gguf"))
    assert view.local_model.index(row, 6).data().startswith("unusable:")
    assert view.select_local_path(str(folder / smollm2.name))
    assert view.local_load_button.isEnabled()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT):
        qtbot.mouseClick(view.local_load_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.chat_page
    assert window.bridge.info is not None


def test_search_card_download_appears_locally_and_loads(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, hub: HubServer, smollm2: Path
) -> None:
    view = library(qtbot, window)
    view.tabs.setCurrentIndex(1)
    view.search_box.setText("SmolLM2")
    qtbot.keyClick(view.search_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.hub_model.rowCount() == 1, timeout=WAIT)
    proxy = view.hub_view.model()
    assert proxy.index(0, 0).data(ItemRole).repo_id == REPO
    view.hub_view.clicked.emit(proxy.index(0, 0))
    card = view.card
    qtbot.waitUntil(lambda: card.variants.rowCount() == 1, timeout=WAIT)
    assert "HuggingFaceTB/SmolLM2-135M-Instruct (quantized)" in card.about.text()
    assert "apache-2.0" in card.about.text()
    variant = card.selected_variant()
    assert variant is not None and variant.quant == "Q4_1", "the only variant is preselected"
    assert card.variants.index(0, 3).data() in ("fits on GPU", "partial offload", "CPU only")
    assert card.variants.index(0, 3).data(Qt.ItemDataRole.ToolTipRole)
    assert card.download_button.isEnabled()
    qtbot.mouseClick(card.download_button, Qt.MouseButton.LeftButton)
    assert view.tabs.currentIndex() == DOWNLOADS_TAB
    manager = view.downloads.manager
    (job,) = manager.jobs()
    row = view.downloads.rows[job.id]
    qtbot.waitUntil(lambda: row.info.status is DownloadStatus.COMPLETED, timeout=WAIT)
    assert "verified" in row.status.text()
    assert row.load_button.isVisible()
    dest = str(job.dest)
    qtbot.waitUntil(lambda: dest in local_paths(view), timeout=WAIT)
    assert Path(dest).read_bytes()[:4] == b"GGUF"
    assert card.load_button.isVisible() and card.download_button.text() == "Downloaded"
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT):
        qtbot.mouseClick(row.load_button, Qt.MouseButton.LeftButton)
    assert window.bridge.info is not None and window.bridge.info.path == dest
    # Own files: Remove deletes them, after saying so.
    window.library.show_library()
    view.tabs.setCurrentIndex(LOCAL_TAB)
    assert view.select_local_path(dest)
    asked: list[str] = []
    view.confirm = lambda title, text: asked.append(text) or True  # type: ignore[method-assign]
    view.remove_selected()
    assert "deleted from disk" in asked[0]
    assert not Path(dest).exists()


def test_a_gated_repo_shows_how_to_add_a_token(
    qtbot, window: MainWindow, hub: HubServer, smollm2: Path
) -> None:  # type: ignore[no-untyped-def]
    hub.add_repo("private/Gated-GGUF", {FILE: smollm2}, token="hf_secret")
    view = library(qtbot, window)
    view.card.show()
    view.card.show_repo("private/Gated-GGUF")
    qtbot.waitUntil(lambda: "401" in view.card.status.text(), timeout=WAIT)
    assert "HF_TOKEN" in view.card.status.text()
    assert "huggingface-cli login" in view.card.status.text()


def test_forgetting_an_added_file_keeps_it(
    qtbot, window: MainWindow, smollm2: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    view = library(qtbot, window)
    link = tmp_path / "single" / "model.gguf"
    link.parent.mkdir()
    link.symlink_to(smollm2)
    view.add_file(str(link))
    qtbot.waitUntil(lambda: str(link.resolve()) in local_paths(view), timeout=WAIT)
    assert view.select_local_path(str(link.resolve()))
    asked: list[str] = []
    view.confirm = lambda title, text: asked.append(text) or True  # type: ignore[method-assign]
    view.remove_selected()
    assert "stays on disk" in asked[0]
    qtbot.waitUntil(lambda: str(link.resolve()) not in local_paths(view), timeout=WAIT)
    assert link.exists()


def test_first_run_welcome_offline_explains(qtbot) -> None:  # type: ignore[no-untyped-def]
    w = open_window(qtbot, first_run=True, show=False)
    w.library._machine = SMALL
    w.show()
    qtbot.waitUntil(lambda: isinstance(w.stack.currentWidget(), WelcomePage), timeout=WAIT)
    page = w.stack.currentWidget()
    assert isinstance(page, WelcomePage)
    assert "DeepSeek-R1-Distill-Qwen-1.5B" in page.recommendation.text()
    assert "Q4_K_M" in page.recommendation.text()
    qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cannot reach Hugging Face" in page.status.text(), timeout=WAIT)
    assert "Add a model file" in page.status.text()
    assert page.add_file_button.isVisible()
    w.close()


def test_first_run_one_click_download_loads_and_opens_a_chat(  # type: ignore[no-untyped-def]
    qtbot, hub: HubServer, smollm2: Path
) -> None:
    name = "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf"
    hub.add_repo("bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF", {name: smollm2})
    w = open_window(qtbot, first_run=True, show=False)
    w.settings.n_ctx = 512
    w.library._machine = SMALL
    w.show()
    qtbot.waitUntil(lambda: isinstance(w.stack.currentWidget(), WelcomePage), timeout=WAIT)
    page = w.stack.currentWidget()
    assert isinstance(page, WelcomePage)
    with qtbot.waitSignal(w.bridge.model_loaded, timeout=WAIT):
        qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.chat_page, timeout=WAIT)
    assert w.bridge.info is not None and w.bridge.info.path.endswith(name)
    view = w.library.view
    assert view is not None
    qtbot.waitUntil(
        lambda: any(
            isinstance(m, LocalModel) and m.path.name == name for m in view.local_model.items()
        ),
        timeout=WAIT,
    )
    w.close()


def test_pause_resume_and_resume_after_a_restart(  # type: ignore[no-untyped-def]
    qtbot, hub: HubServer, smollm2: Path
) -> None:
    hub.throttle = 8 * 1024 * 1024  # bytes/s: ~12 s for the whole file
    w = open_window(qtbot, show=False)
    w.library._machine = SMALL
    w.show()
    view = library(qtbot, w)
    view.card.show()
    view.card.show_repo(REPO)
    qtbot.waitUntil(lambda: view.card.download_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(view.card.download_button, Qt.MouseButton.LeftButton)
    (job,) = view.downloads.manager.jobs()
    row = view.downloads.rows[job.id]
    qtbot.waitUntil(lambda: row.info.bytes_done > 1024 * 1024, timeout=WAIT)
    assert row.info.status is DownloadStatus.RUNNING and "left" in row.status.text()
    qtbot.mouseClick(row.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row.info.status is DownloadStatus.PAUSED, timeout=WAIT)
    assert row.resume_button.isVisible() and not row.pause_button.isVisible()
    qtbot.mouseClick(row.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row.info.status is DownloadStatus.RUNNING, timeout=WAIT)
    w.close()  # the running download is paused and remembered

    hub.throttle = None
    again = open_window(qtbot)
    view2 = library(qtbot, again)
    view2.tabs.setCurrentIndex(DOWNLOADS_TAB)
    row2 = view2.downloads.rows[job.id]
    assert row2.info.status is DownloadStatus.PAUSED and row2.info.bytes_done > 0
    assert row2.resume_button.isVisible()
    qtbot.mouseClick(row2.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row2.info.status is DownloadStatus.COMPLETED, timeout=WAIT)
    qtbot.waitUntil(lambda: str(job.dest) in local_paths(view2), timeout=WAIT)
    again.close()


def test_compare_two_models_side_by_side(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, smollm2: Path, tmp_path: Path, r1_template: str
) -> None:
    folder = tmp_path / "pair"
    folder.mkdir()
    (folder / "smol-plain.gguf").symlink_to(smollm2)
    shutil.copyfile(smollm2, folder / "smol-r1.gguf")  # a second file: the same one is listed once
    from app.library.local import add_user_path

    add_user_path(folder)
    window.composer.thinking.setCurrentIndex(0)
    compare = window.library.show_compare()
    assert window.stack.currentWidget() is compare
    qtbot.waitUntil(lambda: compare.right.models.count() == 2, timeout=WAIT)
    assert compare.left.model() != compare.right.model()
    compare.prompt.setPlainText("Is 7 a prime number?")
    # Two models that would not fit together are refused, with the numbers.
    compare.machine = MachineMemory(total_ram=2 * GIB + 64 * 1024**2, available_ram=GIB)
    assert not compare.compare()
    assert "together" in compare.error.text()
    compare.machine = SMALL
    assert compare.compare(templates=(None, r1_template), max_tokens=24)
    assert compare.running and not compare.compare_button.isEnabled()
    with qtbot.waitSignal(compare.compared, timeout=WAIT * 2):
        pass
    for column in (compare.left, compare.right):
        w = column.widget
        assert w is not None
        assert (w.trace is not None and w.trace.text.strip()) or w.answer.text.strip()
        assert "tok/s" in column.status.text()
    assert compare.left.bridge is not compare.right.bridge
    assert compare.left.bridge.client.pid != compare.right.bridge.client.pid
    cid = compare.conversation_id
    assert cid is not None
    messages = window.store.messages(cid)
    user = next(m for m in messages if m.role.value == "user")
    answers = [m for m in messages if m.parent_id == user.id]
    assert len(answers) == 2, "saved as a linked pair: two answers to one question"
    assert {a.model.path for a in answers if a.model} == {
        str(folder / "smol-plain.gguf"),
        str(folder / "smol-r1.gguf"),
    }

    # Reopened from the history, the pair goes back side by side from the chat.
    window.library.show_chat()
    window.open_conversation(cid)
    qtbot.waitUntil(lambda: len(window.view.widgets) == 2, timeout=WAIT)
    shown = window.view.widgets[1]
    assert not shown.side_by_side_button.isHidden() and shown.sibling_label.text() == "2/2"
    compare.prompt.clear()
    qtbot.mouseClick(shown.side_by_side_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is compare
    qtbot.waitUntil(lambda: compare.prompt.toPlainText() == "Is 7 a prime number?", timeout=WAIT)
    by_id = {a.id: a for a in answers}
    left, right = compare.left.widget, compare.right.widget
    assert left is not None and right is not None
    assert left.message_id == shown.message_id and right.message_id != left.message_id
    for column, widget in ((compare.left, left), (compare.right, right)):
        saved = by_id[widget.message_id]
        assert widget.answer.text.strip() == saved.content.strip()
        assert saved.model is not None and widget.title.text() == saved.model.model_id
        assert "tok/s" in column.status.text()
        assert column.model() is not None and str(column.model().path) == saved.model.path
        assert (
            not widget.regenerate_button.isVisible() and not widget.side_by_side_button.isVisible()
        )


def test_a_truncated_file_is_marked_unusable_and_not_offered_to_compare(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, smollm2: Path, tmp_path: Path
) -> None:
    # Header and tensor records intact, weights cut short: an interrupted copy.
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "smol-whole.gguf").symlink_to(smollm2)
    with smollm2.open("rb") as fh:
        (folder / "smol-cut.gguf").write_bytes(fh.read(40_000_000))
    view = library(qtbot, window)
    view.add_folder(str(folder))
    qtbot.waitUntil(lambda: str(folder / "smol-cut.gguf") in local_paths(view), timeout=WAIT)
    row = view.local_model.row_of_path(str(folder / "smol-cut.gguf"))
    status = view.local_model.index(row, 6).data()
    assert status.startswith("unusable: smol-cut.gguf: not a usable GGUF file (the file is")
    assert "truncated" in status
    assert view.select_local_path(str(folder / "smol-cut.gguf"))
    assert not view.local_load_button.isEnabled()
    assert "cannot be used" in view.local_status.text()
    compare = window.library.show_compare()
    qtbot.waitUntil(lambda: compare.left.models.count() >= 1, timeout=WAIT)
    offered = [
        str(compare.left.models.itemData(i).path) for i in range(compare.left.models.count())
    ]
    assert str(folder / "smol-whole.gguf") in offered
    assert str(folder / "smol-cut.gguf") not in offered
