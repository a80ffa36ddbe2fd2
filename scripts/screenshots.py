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

    from app.events import Event, EventKind, FinishReason, ReasoningState, Stats
    from app.families import get_family
    from backends.base import ModelInfo
    from ui.message_view import MessageWidget
    from ui.theme import apply_theme
    from ui.warmup import warm_up
    from ui.window import MainWindow, _Active

    app = QApplication.instance() or QApplication([])
    apply_theme(app)  # type: ignore[arg-type]
    window = MainWindow()
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
        user.answer.set_markdown(text)
        window.view.append_widget(user)
    widget = window.view.append_widget(MessageWidget("assistant", 2))
    window._active = _Active(1, _Null(), widget, 1024)  # type: ignore[arg-type]
    words = REASONING.split(" ")
    for i in range(0, len(words), 3):
        window._on_bridge_events_arrived(
            1, [Event(EventKind.REASONING, 1, " ".join(words[i : i + 3]) + " ")]
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
    window.close()
    print(f"screenshots written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
