"""Engine overhead: Ponder's end-to-end path against a raw llama-cpp-python loop.

In one run, alternate (A) Ponder — the worker process, the driver, the reasoning splitter and
the event queue, timed on the client side as an app sees it — with (B) a plain
``Llama.generate`` loop in this process, on the same model, prompt, seed, sampling and threads.
Each round starts with a fresh prompt (a round number in front) so neither side gets a
cached prompt. Reports decode tokens/s for both (goal: Ponder/raw ≥ 0.98) and the time to
first token Ponder adds (goal ≤ 15 ms).

    python bench/engine.py [--model PATH] [--rounds 5] [--tokens 256] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.answer import Answer  # noqa: E402
from app.engine import LoadParams  # noqa: E402
from app.events import TEXT_KINDS  # noqa: E402
from app.request import ChatMessage, GenerationRequest, Sampling  # noqa: E402
from app.templates import ChatTemplate  # noqa: E402
from backends.client import EngineClient  # noqa: E402
from backends.llama import physical_cores  # noqa: E402

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a map. Round {n}."
SAMPLING = Sampling(temperature=0.7, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.0)


def ponder_round(client: EngineClient, n: int, tokens: int, seed: int) -> tuple[float, float, int]:
    request = GenerationRequest(
        messages=(ChatMessage("user", PROMPT.format(n=n)),),
        sampling=SAMPLING,
        max_tokens=tokens,
        seed=seed,
    )
    t0 = time.perf_counter()
    first = last = 0.0
    answer = Answer()
    for event in client.generate(request):
        if event.kind in TEXT_KINDS:
            now = time.perf_counter()
            if not first:
                first = now
            last = now
        answer.add(event)
    if answer.error is not None:
        raise SystemExit(f"ponder failed: {answer.error}")
    count = answer.stats.completion_tokens if answer.stats is not None else 0
    return (first - t0) * 1000.0, (count - 1) / (last - first), count


def raw_round(
    llm: object, template: ChatTemplate, n: int, tokens: int, seed: int
) -> tuple[float, float, int]:
    prompt = template.render(
        [{"role": "user", "content": PROMPT.format(n=n)}], add_generation_prompt=True
    )
    t0 = time.perf_counter()
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)  # type: ignore[attr-defined]
    llm.set_seed(seed)  # type: ignore[attr-defined]
    first = last = 0.0
    count = 0
    for tok in llm.generate(  # type: ignore[attr-defined]
        ids, top_k=40, top_p=0.95, min_p=0.05, temp=0.7, repeat_penalty=1.0
    ):
        if llm.token_eos() == tok or count >= tokens:  # type: ignore[attr-defined]
            break
        llm.detokenize([tok], special=True)  # type: ignore[attr-defined]
        now = time.perf_counter()
        if not first:
            first = now
        last = now
        count += 1
    return (first - t0) * 1000.0, (count - 1) / (last - first), count


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="GGUF file (default: the SmolLM2 test model)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--gpu-layers", type=int, default=None)
    args = parser.parse_args()
    if args.model is None:
        from tests.support.test_model import smollm2_path

        args.model = str(smollm2_path())

    import llama_cpp

    client = EngineClient()
    info = client.load_blocking(
        LoadParams(args.model, n_ctx=args.ctx, n_threads=args.threads, n_gpu_layers=args.gpu_layers)
    )
    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=args.ctx,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=info.n_gpu_layers,
        flash_attn=info.flash_attn,
        verbose=False,
    )
    template = ChatTemplate(info.chat_template)
    rows = []
    try:
        ponder_round(client, 0, 16, 1)  # warm both up
        raw_round(llm, template, 0, 16, 1)
        for n in range(1, args.rounds + 1):
            # Alternate which side goes first, so neither always runs on a warmer machine.
            if n % 2:
                p = ponder_round(client, n, args.tokens, 1000 + n)
                r = raw_round(llm, template, n, args.tokens, 1000 + n)
            else:
                r = raw_round(llm, template, n, args.tokens, 1000 + n)
                p = ponder_round(client, n, args.tokens, 1000 + n)
            rows.append((p, r))
            print(
                f"round {n}: ponder {p[1]:6.1f} tok/s ttft {p[0]:6.1f} ms ({p[2]} tok) | "
                f"raw {r[1]:6.1f} tok/s ttft {r[0]:6.1f} ms ({r[2]} tok)",
                flush=True,
            )
    finally:
        client.close()
    p_tps = statistics.median(p[1] for p, _ in rows)
    r_tps = statistics.median(r[1] for _, r in rows)
    added = statistics.median(p[0] - r[0] for p, r in rows)
    ratio = p_tps / r_tps
    round_ratio = statistics.median(p[1] / r[1] for p, r in rows)
    print()
    print(
        f"model: {Path(args.model).name}, threads {args.threads}, {args.rounds} rounds × {args.tokens} tokens"
    )
    print("| measure | Ponder | raw llama-cpp-python | goal | result |")
    print("|---|---|---|---|---|")
    print(
        f"| decode tokens/s (median) | {p_tps:.1f} | {r_tps:.1f} | ratio ≥ 0.98 | {ratio:.3f} {'✅' if ratio >= 0.98 else '❌'} |"
    )
    print(
        f"| decode ratio, median of per-round ratios | | | ≥ 0.98 | {round_ratio:.3f} "
        f"{'✅' if round_ratio >= 0.98 else '❌'} |"
    )
    print(
        f"| time to first token (median) | {statistics.median(p[0] for p, _ in rows):.1f} ms | "
        f"{statistics.median(r[0] for _, r in rows):.1f} ms | added ≤ 15 ms | "
        f"{added:+.1f} ms {'✅' if added <= 15 else '❌'} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
