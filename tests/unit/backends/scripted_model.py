"""A scripted TokenModel for fast, deterministic driver tests.

Tokens are characters (id = code point) except a few special strings (the reasoning tags),
which are single tokens, as in real vocabularies. The "model" writes ``reasoning`` (inside
its own tags unless the prompt prefills the opening tag), then ``answer``, then EOG. After an
injected closing tag it goes straight to the answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from backends.driver import ResolvedSampling

EOG = 0x10FFFF + 1
SPECIALS = ["<think>", "</think>", "<|im_start|>", "<|im_end|>", "<｜Assistant｜>", "<｜User｜>"]
_SPECIAL_IDS = {s: EOG + 1 + i for i, s in enumerate(SPECIALS)}
_SPECIAL_TEXT = {v: k for k, v in _SPECIAL_IDS.items()}


class ScriptedModel:
    def __init__(
        self,
        reasoning: str,
        answer: str,
        *,
        n_ctx: int = 4096,
        open_tag: str = "<think>",
        close_tag: str = "</think>",
        close_early_at: int | None = None,
    ) -> None:
        self.reasoning = reasoning
        self.answer = answer
        self._n_ctx = n_ctx
        self.open_tag = open_tag
        self.close_tag = close_tag
        self.close_early_at = close_early_at
        self.generate_calls: list[int] = []  # prompt lengths of each generate() call
        self.cache: list[int] = []
        self.evaluated = 0  # tokens that had to be evaluated (not reused from the cache)
        self._base: str | None = None

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def tokenize(self, text: str) -> list[int]:
        out: list[int] = []
        i = 0
        while i < len(text):
            for s, tid in _SPECIAL_IDS.items():
                if text.startswith(s, i):
                    out.append(tid)
                    i += len(s)
                    break
            else:
                out.append(ord(text[i]))
                i += 1
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(self.piece(t).decode("utf-8") for t in tokens)

    def piece(self, token: int) -> bytes:
        if token == EOG:
            return b""
        return (_SPECIAL_TEXT.get(token) or chr(token)).encode("utf-8")

    def is_eog(self, token: int) -> bool:
        return token == EOG

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        n = 0
        for a, b in zip(self.cache, tokens, strict=False):
            if a != b:
                break
            n += 1
        return n

    def _plan(self, prompt: str) -> str:
        """The full text this model would write after the prompt."""
        if prompt.rstrip().endswith(self.close_tag):  # thinking turned off: an empty block
            return self.answer
        prompt_prefilled = prompt.rstrip().endswith(self.open_tag)
        reasoning = self.reasoning
        if self.close_early_at is not None:
            reasoning = reasoning[: self.close_early_at]
        head = "" if prompt_prefilled else self.open_tag
        return head + reasoning + self.close_tag + "\n\n" + self.answer

    def generate(
        self, tokens: Sequence[int], sampling: ResolvedSampling, seed: int
    ) -> Iterator[int]:
        self.generate_calls.append(len(tokens))
        reused = self.cached_prefix(tokens)
        self.evaluated += len(tokens) - reused
        self.cache = list(tokens)
        context = self.detokenize(tokens)
        if self._base is None:  # the first call's prompt: what follows it is the model's own
            self._base = context
        written = context[len(self._base) :]
        if self.close_tag in written:
            # After a close (ours or an injected one): the answer, continuing what is written.
            after = written.split(self.close_tag, 1)[1].lstrip("\n")
            # An injected cap message may stand before the close; the answer starts after it.
            remaining = self.answer[len(after) :] if self.answer.startswith(after) else self.answer
        else:
            plan = self._plan(self._base)
            if plan.startswith(written):
                remaining = plan[len(written) :]
            else:
                # Something was injected (e.g. "Wait"): keep reasoning, then close and answer.
                remaining = self.reasoning[:40] + self.close_tag + "\n\n" + self.answer
        for tok in self.tokenize(remaining):
            self.cache.append(tok)
            yield tok
        yield EOG
