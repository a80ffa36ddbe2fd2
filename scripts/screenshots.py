"""Regenerate docs/screenshots/: the main window's states, light and dark, in one command.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [OUT_DIR]

writes both themes (each in its own process); ``PONDER_THEME=light|dark`` writes only one.
Two kinds of picture come out, and the README captions them as such:

- **A real run** (``streaming-trace``, ``answer-collapsed-trace``, ``answer-expanded-trace``):
  the real window loads the real test model, SmolLM2-135M-Instruct
  (``tests/support/test_model.py``), with the DeepSeek-R1-distill chat template so that it
  reasons; the prompt is typed into the composer and sent with Enter, as a user would, at
  temperature 0, seed 0, with an 80-token thinking budget and at most 240 tokens. The
  reasoning, the answer, the timings and the token counts are what that run produced on the
  machine that ran this script (the text is deterministic, the timings are not). The
  streaming shot is grabbed while the reasoning streams. ``empty`` is the window before any
  model is loaded: nothing in it is invented either.
- **Scripted illustrations** (``library-card``, ``library-local``, ``library-downloads``,
  ``library-remote``, ``compare``, ``welcome``): made-up hub data, model files, downloads,
  servers, and (in ``compare``) made-up model output and speeds, fed into the real widgets.
  Nothing in them was measured.

Everything the run writes (settings, history) goes to a temporary ``PONDER_HOME`` that is
removed at the end; the engine worker process is shut down with the window.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Which picture is which (each also as NAME-dark.png); the README captions them accordingly.
REAL_RUN = ("empty", "streaming-trace", "answer-collapsed-trace", "answer-expanded-trace")
SCRIPTED = (
    "library-card",
    "library-local",
    "library-downloads",
    "library-remote",
    "compare",
    "welcome",
)
TEMPLATE = ROOT / "tests" / "fixtures" / "chat_templates" / "deepseek-r1-distill.jinja"
PROMPT = "Write a Python function that checks if a number is even."
BUDGET = 80  # thinking tokens: the trace closes and an answer follows
MAX_TOKENS = 240
SEED = 0
N_CTX = 1024
STREAMING_AT = 40  # reasoning tokens on screen when the streaming shot is taken
LOAD_TIMEOUT_S = 300.0
ANSWER_TIMEOUT_S = 1200.0  # generous: a busy 2-core machine writes ~2 tokens/s


class ShotError(Exception):
    """The real run could not be shown (the model did not load, or took far too long)."""


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    theme = os.environ.get("PONDER_THEME")
    if theme not in ("light", "dark"):
        for each in ("light", "dark"):  # one process per theme: the palette is set at start
            env = {**os.environ, "PONDER_THEME": each}
            code = subprocess.run([sys.executable, __file__, str(out)], env=env).returncode
            if code:
                return code
        return 0
    home = tempfile.mkdtemp(prefix="ponder-shots-")
    os.environ["PONDER_HOME"] = home
    try:
        return shoot(out, "-dark" if theme == "dark" else "")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def shoot(out: Path, suffix: str) -> int:
    from PySide6.QtWidgets import QApplication

    from ui.answers.warmup import warm_up
    from ui.theme import apply_theme
    from ui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    apply_theme(app)  # type: ignore[arg-type]
    window = MainWindow(first_run=False)
    window.resize(1280, 860)
    window.show()
    warm_up()

    def settle(seconds: float = 0.6) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    try:
        settle()
        window.grab().save(str(out / f"empty{suffix}.png"))
        real_chat_screenshots(window, out, suffix, settle)
        library_screenshots(window, out, suffix, settle)
    except ShotError as err:
        print(f"screenshots: {err}", file=sys.stderr)
        return 1
    finally:
        window.close()  # shuts the engine worker down
    print(f"screenshots{suffix or ' (light)'} written to {out}")
    return 0


def wait_until(
    ready: Callable[[], bool], timeout_s: float, what: str, settle: Callable[[float], None]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise ShotError(f"gave up after {timeout_s:.0f} s waiting for {what}")
        settle(0.02)


def real_chat_screenshots(window, out: Path, suffix: str, settle) -> None:  # type: ignore[no-untyped-def]
    """A real run: SmolLM2 behind the R1-distill template, the prompt typed and sent."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from tests.support.test_model import smollm2_path

    window.settings.n_ctx = N_CTX
    panel = window.settings_panel
    panel.temperature.setValue(0.0)
    panel.seed.setValue(SEED)
    panel.max_tokens.setValue(MAX_TOKENS)
    panel.collapse.setChecked(True)
    window.composer.set_thinking("budget", BUDGET)
    loaded: list[object] = []
    window.bridge.model_loaded.connect(loaded.append)
    window.bridge.load_failed.connect(lambda message: loaded.append(RuntimeError(message)))
    window.load_model(str(smollm2_path()), chat_template=TEMPLATE.read_text(encoding="utf-8"))
    wait_until(lambda: bool(loaded), LOAD_TIMEOUT_S, "the model to load", settle)
    if isinstance(loaded[0], RuntimeError):
        raise ShotError(f"the model did not load: {loaded[0]}")

    edit = window.composer.edit
    edit.setFocus()
    QTest.keyClicks(edit, PROMPT)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    wait_until(lambda: window.chat.stream.active, 60, "the answer to start", settle)
    widget = window.chat.stream.widget

    def streamed_enough() -> bool:
        trace = widget.trace
        return trace is not None and (trace.tokens >= STREAMING_AT or not trace.live)

    wait_until(streamed_enough, ANSWER_TIMEOUT_S, "the reasoning to stream", settle)
    window.grab().save(str(out / f"streaming-trace{suffix}.png"))
    wait_until(lambda: not window.chat.stream.active, ANSWER_TIMEOUT_S, "the answer to end", settle)
    settle(2.5)  # the finished answer is re-rendered in the background
    window.grab().save(str(out / f"answer-collapsed-trace{suffix}.png"))
    widget.trace.set_collapsed(False)
    settle()
    window.grab().save(str(out / f"answer-expanded-trace{suffix}.png"))


def library_screenshots(window, out: Path, suffix: str, settle) -> None:  # type: ignore[no-untyped-def]
    """The library (catalog + model card with fit badges, this machine, downloads) and the
    first-run welcome, with a fixed 16 GB machine with an 8 GB GPU and made-up hub data."""
    from app.library.catalog import load_catalog
    from app.library.downloads import DownloadInfo, DownloadStatus
    from app.library.fit import GIB, GpuMemory, MachineMemory
    from app.library.hub import QuantVariant, RemoteFile, RepoDetails
    from app.library.local import LocalModel, ModelKind, ModelSource
    from app.library.metadata import ModelMetadata

    machine = MachineMemory(16 * GIB, 12 * GIB, (GpuMemory("GeForce RTX 4060", 8 * GIB, 8 * GIB),))
    window.library._machine = machine
    view = window.library.library_view()
    window.library.show_library()
    settle(1.0)
    entry = load_catalog().get("deepseek-r1-distill-qwen-7b")
    repo = entry.gguf_repos[0]
    sizes = {
        "Q3_K_M": 3.81,
        "Q4_K_M": 4.68,
        "Q5_K_M": 5.44,
        "Q6_K": 6.25,
        "Q8_0": 8.10,
        "F16": 15.2,
    }
    variants = tuple(
        QuantVariant(
            f"DeepSeek-R1-Distill-Qwen-7B-{q}",
            q,
            "gguf",
            (RemoteFile(f"DeepSeek-R1-Distill-Qwen-7B-{q}.gguf", int(gb * 1e9), None, None),),
        )
        for q, gb in sizes.items()
    )
    details = RepoDetails(
        repo,
        "0" * 40,
        "mit",
        False,
        (entry.source_repo,),
        "quantized",
        182_000,
        240,
        ("gguf",),
        variants,
    )
    rows = view.catalog_view.model()
    for r in range(rows.rowCount()):
        if rows.index(r, 0).data() == entry.name:
            view.catalog_view.selectRow(r)
    view.card.show()
    view.card.entry = entry
    view.card.title.setText(f"{entry.name} · {entry.params}")
    view.card.repo_combo.clear()
    view.card.repo_combo.addItems(list(entry.gguf_repos))
    view.card._request += 1
    view.card._on_fetch_done(view.card._request, (details, entry.shape))
    settle()
    window.grab().save(str(out / f"library-card{suffix}.png"))

    def local(
        name: str, source: ModelSource, size: float, quant: str | None, error: str | None = None
    ) -> LocalModel:
        path = Path(f"/models/{name}.gguf")
        meta = (
            None
            if error
            else ModelMetadata(
                architecture="qwen2",
                name=name,
                quant=quant,
                context_length=131072,
                shape=None,
                chat_template=None,
                family_id="deepseek-r1",
                family_name="DeepSeek-R1",
            )
        )
        return LocalModel(
            f"x/{name}",
            "0",
            source,
            ModelKind.GGUF,
            path,
            (path,),
            int(size * 1e9),
            quant,
            meta,
            error,
        )

    view.local_model.set_items(
        [
            local("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M", ModelSource.PONDER, 4.68, "Q4_K_M"),
            local("DeepSeek-R1-Distill-Qwen-1.5B-Q8_0", ModelSource.HF_CACHE, 1.89, "Q8_0"),
            local("QwQ-32B-Q4_K_M", ModelSource.LMSTUDIO, 19.9, "Q4_K_M"),
            local(
                "Qwen3-8B-Q4_K_M-00001-of-00002",
                ModelSource.USER,
                2.5,
                "Q4_K_M",
                "split model is missing part(s) 2 of 2",
            ),
        ]
    )
    view.local_status.setText(
        "3 model(s) ready, 1 file(s) that cannot be used (hover for the reason)."
    )
    view.tabs.setCurrentIndex(2)
    view.card.hide()
    settle()
    window.grab().save(str(out / f"library-local{suffix}.png"))

    def job(
        repo: str, variant: str, status: DownloadStatus, done: float, total: float, **kw: object
    ) -> DownloadInfo:
        return DownloadInfo(
            id=variant,
            repo_id=repo,
            revision="0" * 40,
            variant=variant,
            quant=None,
            kind="gguf",
            files=(),
            dest=Path(f"/models/{variant}.gguf"),
            status=status,
            bytes_done=int(done * GIB),
            bytes_total=int(total * GIB),
            **kw,  # type: ignore[arg-type]
        )

    rows_view = view.downloads
    for info in (
        job(
            repo,
            "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M",
            DownloadStatus.RUNNING,
            1.9,
            4.4,
            speed=23.5 * 2**20,
            eta=107.0,
        ),
        job(
            "bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
            "DeepSeek-R1-Distill-Qwen-1.5B-Q8_0",
            DownloadStatus.COMPLETED,
            1.8,
            1.8,
            verified=("a",),
        ),
        job(
            "Qwen/QwQ-32B-GGUF",
            "QwQ-32B-Q4_K_M",
            DownloadStatus.FAILED,
            3.2,
            18.5,
            error="QwQ-32B-Q4_K_M: not enough disk space: 16.4 GB needed, 9.8 GB free",
        ),
        job(
            "meta-llama/Llama-3.1-8B-Instruct-GGUF",
            "Llama-3.1-8B-Instruct-Q4_K_M",
            DownloadStatus.FAILED,
            0,
            4.9,
            error="Hugging Face refused access (401): the repository is private or gated",
        ),
    ):
        row = rows_view._row_for(info)
        row.update_info(info)
    view.tabs.setCurrentIndex(3)
    settle()
    window.grab().save(str(out / f"library-downloads{suffix}.png"))

    remote_screenshot(window, view, out, suffix, settle)

    from ui.compare.view import compare_message

    compare = window.library.show_compare()
    settle(0.5)
    compare.set_models(
        [
            local("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M", ModelSource.PONDER, 4.68, "Q4_K_M"),
            local("DeepSeek-R1-Distill-Qwen-1.5B-Q8_0", ModelSource.HF_CACHE, 1.89, "Q8_0"),
        ]
    )
    compare.prompt.setPlainText("Is 221 a prime number?")
    sides = (
        (
            compare.left,
            "221 is odd, not divisible by 3 (digit sum 5) or 5. Try 7: 7 × 31 = 217, no. "
            "11: 11 × 20 = 220, no. 13: 13 × 17 = 221. So it is composite.",
            "No. **221 = 13 × 17**, so it is not prime.",
            "first token 0.21 s · thinking 4.8 s · 21.4 tok/s",
            4.8,
        ),
        (
            compare.right,
            "Check small primes: 2 no, 3 no, 5 no, 7 gives 31.57, 11 gives 20.09, "
            "13 gives 17 exactly. So 221 = 13 × 17.",
            "221 is **not** prime: it factors as 13 × 17.",
            "first token 0.09 s · thinking 2.1 s · 58.9 tok/s",
            2.1,
        ),
    )
    for column, thought, answer, status, seconds in sides:
        w = compare_message(0, column.holder)
        model = column.model()
        w.set_model_name(model.name if model else "")
        column._holder_layout.insertWidget(0, w)
        trace = w.ensure_trace()
        trace.append(thought, tokens=60)
        trace.finish(None, seconds, 60, collapse=False)
        w.answer.set_markdown(answer)
        column.status.setText(status)
    settle(1.0)
    window.grab().save(str(out / f"compare{suffix}.png"))

    welcome = window.library.show_welcome()
    settle()
    window.grab().save(str(out / f"welcome{suffix}.png"))
    welcome.status.clear()
    window.library.show_chat()


def remote_screenshot(window, view, out: Path, suffix: str, settle) -> None:  # type: ignore[no-untyped-def]
    """The library's remote servers, with test results fed in (no network, no keyring)."""
    import json

    from app.remote_sources import sources_path
    from backends.remote_api import RemoteModel, ServerKind
    from ui.library.view import REMOTE_TAB

    sources = [
        {"name": "workstation", "url": "http://192.168.1.20:8642", "keyring": True},
        {"name": "ollama", "url": "http://127.0.0.1:11434/v1", "api_key_env": None},
        {"name": "lab-vllm", "url": "https://vllm.lab.example/v1", "api_key_env": "LAB_KEY"},
    ]
    sources_path().write_text(json.dumps({"sources": sources}), encoding="utf-8")
    panel = view.remote
    panel._tested_on_show = True  # the results below stand for the connection tests
    panel.refresh()
    results = {
        "workstation": (
            ServerKind.PONDER,
            [
                RemoteModel("DeepSeek-R1-Distill-Qwen-32B-Q4_K_M", "ponder", 16384),
                RemoteModel("QwQ-32B-Q4_K_M", "ponder", 32768),
            ],
        ),
        "ollama": (ServerKind.OLLAMA, [RemoteModel("qwen3:8b", "library")]),
        "lab-vllm": "https://vllm.lab.example/v1 refused the request (401 Unauthorized): "
        "check the API key: Invalid API key",
    }
    for name, result in results.items():
        panel._tests[name] = 1
        panel._on_test_done(name, 1, result)
    item = panel.source_item("workstation")
    if item is not None:
        panel.tree.setCurrentItem(item.child(0))
    view.tabs.setCurrentIndex(REMOTE_TAB)
    settle()
    window.grab().save(str(out / f"library-remote{suffix}.png"))


if __name__ == "__main__":
    raise SystemExit(main())
