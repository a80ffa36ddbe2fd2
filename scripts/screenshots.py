"""Regenerate docs/screenshots/: the main window's states, light and dark.

Feeds scripted engine events through the window's real event path (the slot the engine
bridge calls), so the pictures show exactly what a user sees, without needing a large model.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REASONING = (
    "The user asks for the sum of the first 100 positive integers. "
    "I recall Gauss's trick: pair the numbers 1 + 100, 2 + 99, and so on. "
    "Each pair sums to 101 and there are 50 pairs, so the total is 50 × 101 = 5050.\n\n"
    "Let me double-check with the formula n(n+1)/2 for n = 100: 100 × 101 / 2 = 5050. "
    "Both agree. I should present the formula and a short program that verifies it."
)
ANSWER = (
    "The sum of the first $n$ positive integers is\n\n"
    "$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$\n\n"
    "For $n = 100$ this gives $\\frac{100 \\cdot 101}{2} = 5050$, so the answer is \\boxed{5050}.\n\n"
    "A quick check in Python:\n\n"
    "```python\nprint(sum(range(1, 101)))  # 5050\n```\n\n"
    "| n | sum |\n|---|---|\n| 10 | 55 |\n| 100 | 5050 |\n"
)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    os.environ["PONDER_HOME"] = tempfile.mkdtemp(prefix="ponder-shots-")
    dark = os.environ.get("PONDER_THEME") == "dark"

    from PySide6.QtWidgets import QApplication

    from app.display_names import path_display_name
    from app.events import Event, EventKind, FinishReason, ReasoningState, Stats
    from app.families import get_family
    from backends.base import ModelInfo
    from ui.message_view import MessageWidget
    from ui.theme import apply_theme
    from ui.warmup import warm_up
    from ui.window import MainWindow, _Active

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

    suffix = "-dark" if dark else ""
    settle()
    window.grab().save(str(out / f"empty{suffix}.png"))

    info = ModelInfo(
        path="/models/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf",
        architecture="qwen2",
        name="DeepSeek R1 Distill Qwen 7B",
        size_bytes=4_683_000_000,
        n_params=7_600_000_000,
        trained_context=131072,
        n_ctx=8192,
        n_gpu_layers=0,
        n_threads=8,
        flash_attn=False,
        kv_cache_type="f16",
        chat_template="",
        template_source="model",
        family_id="deepseek-r1",
        bos_token="",
        eos_token="",
    )
    window.model_bar.set_loaded(info)
    window.settings_panel.show_family(get_family("deepseek-r1"))

    class _Null:
        message_id = 0
        write_error = None

    for text in ("What is the sum of the first 100 positive integers?",):
        user = MessageWidget("user", 1)
        user.set_content(text)
        window.view.append_widget(user)
    widget = window.view.append_widget(MessageWidget("assistant", 2))
    widget.set_model_name(path_display_name(info.path))  # as the window titles a live answer
    window._active = _Active(1, _Null(), widget, 1024)  # type: ignore[arg-type]
    words = REASONING.split(" ")
    for i in range(0, len(words), 3):
        window._on_bridge_events_arrived(
            1, [Event(EventKind.REASONING, 1, " ".join(words[i : i + 3]) + " ", tokens=4)]
        )
    widget.trace.elapsed_s = 6.4  # type: ignore[union-attr]
    widget.trace._update_header()  # type: ignore[union-attr]
    settle()
    window.grab().save(str(out / f"streaming-trace{suffix}.png"))

    pieces = [ANSWER[i : i + 12] for i in range(0, len(ANSWER), 12)]
    for piece in pieces:
        window._on_bridge_events_arrived(1, [Event(EventKind.CONTENT, 1, piece)])
    stats = Stats(
        prompt_tokens=38,
        prompt_eval_ms=210,
        time_to_first_token_ms=230,
        time_to_first_content_ms=6900,
        reasoning_tokens=96,
        content_tokens=142,
        decode_tokens_per_s=21.7,
        thinking_ms=6400,
        total_ms=13000,
        finish_reason=FinishReason.STOP,
        reasoning_state=ReasoningState.COMPLETE,
    )
    window._on_bridge_events_arrived(
        1,
        [
            Event(EventKind.STATS, 1, stats=stats),
            Event(EventKind.DONE, 1, data={"finish_reason": "stop"}),
        ],
    )
    settle(2.5)  # formulas are typeset in the background
    window.grab().save(str(out / f"answer-collapsed-trace{suffix}.png"))
    widget.trace.set_collapsed(False)  # type: ignore[union-attr]
    settle()
    window.grab().save(str(out / f"answer-expanded-trace{suffix}.png"))
    library_screenshots(window, out, suffix, settle)
    window.close()
    print(f"screenshots written to {out}")
    return 0


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

    from ui.library_compare import compare_message

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
    from ui.library_view import REMOTE_TAB

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
