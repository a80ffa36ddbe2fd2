"""What issues 14 and 15 put on the user's path: rendering answers, and rendering templates.

1. Markdown (issue 14, defect 6): an answer shown by the real ``AnswerView``, streamed in
   40-character pieces and set at once (as a reopened answer is), for texts of 10–80 KB: the
   issue's repeated ``\\(`` (40 KB took 1.5 s and 80 KB 23 s before) and a realistic answer
   (paragraphs, a list, code, math). Linear means doubling the text about doubles the time.
2. Chat templates (issue 15, item 4): one render of a 10-turn conversation with real
   templates, in this process (Jinja's sandbox, as before the change) and through the limited
   renderer process (what Ponder does now), median of ``--renders``.

The two ways of each are measured in alternating rounds in one run. Prints a Markdown table
and writes it to ``bench/results/display.md``.

    QT_QPA_PLATFORM=offscreen python bench/display.py [--rounds 3] [--renders 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEMPLATES = ROOT / "tests" / "fixtures" / "chat_templates"
SIZES_KB = (10, 20, 40, 80)
PIECE = 40

REALISTIC = (
    "To solve this, consider the sum $S = \\sum_{k=1}^{n} k$.\n\n"
    "1. Pair the first and last terms.\n2. Each pair sums to $n + 1$.\n\n"
    "```python\nprint(sum(range(1, 101)))\n```\n\n"
    "So $S = \\frac{n(n+1)}{2}$, and for $n = 100$ that is **5050**.\n\n"
)


def _text(kind: str, kb: int) -> str:
    unit = "\\( x " if kind == "repeated \\(" else REALISTIC
    return (unit * (kb * 1024 // len(unit) + 1))[: kb * 1024]


def _markdown_seconds(app: object, text: str, streamed: bool) -> float:
    from ui.answers.answer_view import AnswerView

    view = AnswerView()
    start = time.perf_counter()
    if streamed:
        for i in range(0, len(text), PIECE):
            view.append(text[i : i + PIECE])
        view.finish()
    else:
        view.set_markdown(text)
    seconds = time.perf_counter() - start
    view.deleteLater()
    app.processEvents()  # type: ignore[attr-defined]
    return seconds


def markdown_rows(rounds: int) -> list[str]:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    best: dict[tuple[str, int, bool], float] = {}
    for _ in range(rounds):  # alternating: every case once per round
        for kind in ("repeated \\(", "realistic answer"):
            for kb in SIZES_KB:
                for streamed in (True, False):
                    s = _markdown_seconds(app, _text(kind, kb), streamed)
                    key = (kind, kb, streamed)
                    best[key] = min(best.get(key, s), s)
    rows = []
    for kind in ("repeated \\(", "realistic answer"):
        for kb in SIZES_KB:
            stream, once = best[(kind, kb, True)], best[(kind, kb, False)]
            rows.append(f"| {kind} | {kb} KB | {stream:.3f} s | {once:.3f} s |")
    return rows


def _conversation() -> list[dict[str, str]]:
    turns = []
    for i in range(10):
        turns.append({"role": "user", "content": f"Question {i}: is {91 + i} prime?"})
        turns.append({"role": "assistant", "content": f"{91 + i} is checked by trial division."})
    turns.append({"role": "user", "content": "And 97?"})
    return turns


def template_rows(rounds: int, renders: int) -> list[str]:
    from app.template_renderer import make_environment
    from app.template_sandbox import TemplateSandbox
    from app.templates import ChatTemplate

    messages = _conversation()
    names = ("deepseek-r1-distill", "qwen3", "gpt-oss")
    sandbox = TemplateSandbox()
    env = make_environment()
    try:
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            for name in names:
                source = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
                inline = env.from_string(source)
                limited = ChatTemplate(source, sandbox=sandbox)
                for way in ("in this process", "renderer process"):
                    for _ in range(renders):
                        start = time.perf_counter()
                        if way == "in this process":
                            inline.render(messages=messages, add_generation_prompt=True)
                        else:
                            limited.render(messages)
                        times.setdefault((name, way), []).append(time.perf_counter() - start)
        rows = []
        for name in names:
            inline_ms = statistics.median(times[(name, "in this process")]) * 1000
            limited_ms = statistics.median(times[(name, "renderer process")]) * 1000
            rows.append(f"| {name} | {inline_ms:.2f} ms | {limited_ms:.2f} ms |")
        start = time.perf_counter()
        cold = TemplateSandbox()
        ChatTemplate("{{ messages[0]['content'] }}", sandbox=cold)
        rows.append(
            f"| (starting the renderer once) | — | {(time.perf_counter() - start) * 1000:.0f} ms |"
        )
        cold.close()
        return rows
    finally:
        sandbox.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args(argv)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"Machine: {machine}. Best of {args.rounds} alternating rounds.",
        "",
        "| answer | size | streamed (40-char pieces) | set at once (reopened) |",
        "|---|---|---|---|",
        *markdown_rows(args.rounds),
        "",
        f"Median of {args.renders} renders × {args.rounds} rounds, 10-turn conversation:",
        "",
        "| template | in this process (before) | renderer process (now) |",
        "|---|---|---|",
        *template_rows(args.rounds, args.renders),
    ]
    out = "\n".join(lines) + "\n"
    print(out)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "display.md").write_text(out, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
