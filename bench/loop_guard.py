"""Loop guard cost: the guard alone, and the driver's per-token path with the guard on and off.

1. The guard alone: a ~30,000-token legitimate reasoning trace (so it never fires and does all
   its work to the end), cut into the pieces a real tokenizer makes (SmolLM2's vocabulary when
   the test model is at hand, else ~4-character pieces), fed one by one. Reports tokens/s and
   µs per token (best of ``--runs``). Goal: well under 20 µs per token.
2. In the driver: :class:`backends.driver.Generation` over a model that replays those tokens
   instantly, with ``on_loop=off`` and ``on_loop=warn``; the difference is what the guard adds
   to each token on the engine's path (the model's own decode time excluded).

Prints a Markdown table and writes it to ``bench/results/loop_guard.md``.

    python bench/loop_guard.py [--tokens 30000] [--runs 5] [--model PATH]
"""

from __future__ import annotations

import argparse
import codecs
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.engine import Control  # noqa: E402
from app.events import EventKind  # noqa: E402
from app.families import get_family  # noqa: E402
from app.loop_guard import LoopGuard  # noqa: E402
from app.request import (  # noqa: E402
    ChatMessage,
    GenerationRequest,
    LoopPolicy,
    ThinkingControl,
)
from app.templates import ChatTemplate  # noqa: E402
from backends.driver import Generation, ResolvedSampling  # noqa: E402
from tests.support import reasoning_traces as traces  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "loop_guard.md"
R1 = ROOT / "tests" / "fixtures" / "chat_templates" / "deepseek-r1-distill.jinja"


def legit_trace(tokens: int) -> str:
    """Legitimate reasoning of every kind in the test corpus, about ``tokens`` tokens long."""
    parts: list[str] = []
    seed = 0
    while sum(len(p) for p in parts) < tokens * 4.2:  # ~4.2 characters per token in English
        for text in traces.legit_corpus().values():
            parts.append(text)
        parts.append(traces.prose(3000, seed=1000 + seed))
        seed += 1
    return "\n\n".join(parts)


def real_pieces(model: str, text: str, limit: int) -> list[str] | None:
    """The text as SmolLM2's tokenizer cuts it (None when llama_cpp or the model is missing)."""
    try:
        import llama_cpp
    except ImportError:
        return None
    if not Path(model).exists():
        return None
    llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)[:limit]
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return [decoder.decode(llm.detokenize([t])) for t in ids]


def time_guard(pieces: list[str], runs: int) -> float:
    """Best seconds to feed every piece to a fresh guard."""
    best = float("inf")
    for _ in range(runs):
        guard = LoopGuard()
        t0 = time.perf_counter()
        for piece in pieces:
            guard.feed(piece)
        best = min(best, time.perf_counter() - t0)
        assert guard.hit is None, "the legitimate trace must not trigger the guard"
    return best


class ReplayModel:
    """A TokenModel that writes a fixed list of pieces (inside <think>) at once."""

    def __init__(self, pieces: list[str]) -> None:
        self.vocab = ["<eog>", "</think>", *dict.fromkeys(pieces)]
        self.ids = {p: i for i, p in enumerate(self.vocab)}
        self.script = [self.ids[p] for p in pieces] + [1, self.ids.get("ok", 1), 0]
        self.encoded = [p.encode() for p in self.vocab]

    @property
    def n_ctx(self) -> int:
        return 1 << 20

    def tokenize(self, text: str) -> list[int]:
        return [2] * max(1, len(text) // 4)

    def piece(self, token: int) -> bytes:
        return self.encoded[token]

    def is_eog(self, token: int) -> bool:
        return token == 0

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        return 0

    def generate(
        self, tokens: Sequence[int], sampling: ResolvedSampling, seed: int
    ) -> Iterator[int]:
        yield from self.script


def time_driver(pieces: list[str], runs: int) -> dict[LoopPolicy, float]:
    """Best seconds for the driver to turn the replayed tokens into events, per policy.

    The policies take turns run by run, so a busy machine slows them alike.
    """
    model = ReplayModel(pieces)
    family = get_family("deepseek-r1")
    template = ChatTemplate(R1.read_text(encoding="utf-8"))
    best = {LoopPolicy.OFF: float("inf"), LoopPolicy.WARN: float("inf")}
    for _, policy in ((r, p) for r in range(runs) for p in best):
        request = GenerationRequest(
            messages=(ChatMessage("user", "Think."),),
            thinking=ThinkingControl(on_loop=policy),
            seed=1,
        )
        gen = Generation(
            model,
            family,
            template,
            request,
            1,
            Control(cancelled=lambda: False),
            bos_token="<s>",
            eos_token="</s>",
        )
        t0 = time.perf_counter()
        loops = sum(e.kind is EventKind.REASONING_LOOP for e in gen.events())
        best[policy] = min(best[policy], time.perf_counter() - t0)
        assert loops == 0
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", help="GGUF whose tokenizer cuts the trace (default: SmolLM2)")
    args = parser.parse_args()
    if args.model is None:
        from tests.support.test_model import cache_dir

        args.model = str(cache_dir() / "SmolLM2-135M-Instruct.Q4_1.gguf")

    text = legit_trace(args.tokens)
    pieces = real_pieces(args.model, text, args.tokens)
    how = "SmolLM2 tokens"
    if pieces is None:
        pieces = [text[i : i + 4] for i in range(0, args.tokens * 4, 4)]
        how = "4-character pieces"
    n = len(pieces)
    words = sum(len(p.split()) for p in pieces)

    guard_s = time_guard(pieces, args.runs)
    driver = time_driver(pieces, args.runs)
    off_s, warn_s = driver[LoopPolicy.OFF], driver[LoopPolicy.WARN]
    added_us = (warn_s - off_s) / n * 1e6
    rows = [
        ("guard alone", f"{n / guard_s:,.0f} tok/s", f"{guard_s / n * 1e6:.2f} µs"),
        ("driver, on_loop=off", f"{n / off_s:,.0f} tok/s", f"{off_s / n * 1e6:.2f} µs"),
        ("driver, on_loop=warn", f"{n / warn_s:,.0f} tok/s", f"{warn_s / n * 1e6:.2f} µs"),
        ("added by the guard in the driver", "", f"{added_us:.2f} µs"),
    ]
    lines = [
        f"Loop guard cost on a {n:,}-token legitimate trace ({how}, ~{words:,} words); "
        f"best of {args.runs}; Python {platform.python_version()} on {platform.machine()}.",
        "",
        "| path | throughput | per token |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        f"Goal: the guard well under 20 µs per token → {'met' if guard_s / n < 20e-6 else 'MISSED'}. "
        "For scale: at 100 tok/s a token takes 10,000 µs to decode.",
    ]
    report = "\n".join(lines)
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("# Loop guard benchmark\n\n" + report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
