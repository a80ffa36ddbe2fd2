"""``ponder chat``: talk to a model from the terminal (one shot, piped, or a REPL)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from app.answer import Answer
from app.cli.args import non_negative_int, positive_int
from app.cli.chat_load import load_model, load_params
from app.engine import Backend
from app.errors import ContextSizeError, PonderError
from app.events import TEXT_KINDS, Event, EventKind, FinishReason, LoopReport, Stats
from app.request import (
    ChatMessage,
    Effort,
    GenerationRequest,
    LoopPolicy,
    Role,
    Sampling,
    ThinkingControl,
    ThinkMode,
)
from app.terminal import safe_json, safe_text

DIM = "\x1b[2m"
ITALIC = "\x1b[3m"
RESET = "\x1b[0m"


_positive_int = positive_int
_non_negative_int = non_negative_int


def add_chat_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("chat", help="chat with a model in the terminal")
    p.add_argument(
        "--model",
        "-m",
        help="a GGUF file, MLX folder, library id or catalog id (default: the library's "
        "model, or an offer to download one); with --endpoint, the remote model's name",
    )
    p.add_argument(
        "--endpoint",
        metavar="URL|NAME",
        help="an OpenAI-compatible server (or a source added with `ponder models add-remote`)",
    )
    p.add_argument("--api-key", metavar="KEY", help="the --endpoint server's API key")
    p.add_argument(
        "--prompt", "-p", help="the message (default: read stdin, or a REPL on a terminal)"
    )
    p.add_argument(
        "--system", help="system prompt (folded into the message for families that want none)"
    )
    p.add_argument("--json", action="store_true", help="one JSON event per line on stdout")
    p.add_argument("--budget", type=_positive_int, help="cap on reasoning tokens")
    p.add_argument(
        "--think-longer", type=_positive_int, metavar="N", help="reason at least N tokens"
    )
    p.add_argument(
        "--think",
        choices=[m.value for m in ThinkMode],
        default=ThinkMode.AUTO.value,
        help="reasoning on or off for models that can switch it (default auto: the model's own)",
    )
    p.add_argument(
        "--effort",
        choices=[e.value for e in Effort],
        help="reasoning effort, for models that take one (gpt-oss)",
    )
    p.add_argument(
        "--on-loop",
        choices=[m.value for m in LoopPolicy],
        default=LoopPolicy.WARN.value,
        help="when the reasoning goes in circles: warn (default), answer at once, or off",
    )
    p.add_argument(
        "--max-tokens",
        type=_positive_int,
        metavar="N",
        help="cap on the reply, reasoning included (default: what the context leaves)",
    )
    sampling = "default: the model family's recommended value"
    p.add_argument("--temperature", type=float, help=f"sampling temperature ({sampling})")
    p.add_argument("--top-p", type=float, help=f"nucleus sampling cut-off ({sampling})")
    p.add_argument(
        "--top-k",
        type=_non_negative_int,
        help=f"sample from the K likeliest tokens; 0: off ({sampling})",
    )
    p.add_argument(
        "--min-p", type=float, help=f"drop tokens below this share of the likeliest ({sampling})"
    )
    p.add_argument("--seed", type=int, help="random seed, for a repeatable answer")
    p.add_argument("--ctx", type=_positive_int, help="context size in tokens")
    p.add_argument("--gpu-layers", type=int, help="layers on the GPU (-1: all)")
    p.add_argument(
        "--threads", type=_positive_int, help="CPU threads for generation (default: automatic)"
    )
    p.add_argument(
        "--chat-template", metavar="FILE", help="a Jinja chat template overriding the model's"
    )
    p.add_argument("--no-save", action="store_true", help="do not keep this chat in the history")
    p.add_argument(
        "--continue",
        dest="continue_id",
        metavar="ID",
        help="go on with a saved conversation (with the model it used, unless --model is given)",
    )
    p.set_defaults(handler=run_chat)


def request_from_args(args: argparse.Namespace, messages: list[ChatMessage]) -> GenerationRequest:
    for name in ("temperature", "top_p", "min_p"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise PonderError(f"--{name.replace('_', '-')} must not be negative")
    return GenerationRequest(
        messages=tuple(messages),
        system_prompt=args.system,
        sampling=Sampling(
            temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, min_p=args.min_p
        ),
        thinking=ThinkingControl(
            mode=ThinkMode(args.think),
            budget=args.budget,
            min_tokens=args.think_longer,
            effort=Effort(args.effort) if args.effort else None,
            on_loop=LoopPolicy(args.on_loop),
        ),
        max_tokens=args.max_tokens,
        seed=args.seed,
    )


@dataclass
class TurnResult:
    """One answer in the terminal: the events as they came, and what they fold into.

    Attributes:
        answer: the answer folded from the events.
        events: every event, in order.
        terminated: SIGTERM arrived: the answer was stopped, then ponder exits.
    """

    answer: Answer = field(default_factory=Answer)
    events: list[Event] = field(default_factory=list)
    terminated: bool = False

    @property
    def reasoning(self) -> str:
        return self.answer.reasoning

    @property
    def content(self) -> str:
        return self.answer.content

    @property
    def stats(self) -> Stats | None:
        return self.answer.stats

    @property
    def error(self) -> str | None:
        return self.answer.error


class HumanPrinter:
    """Reasoning dimmed under a "Thinking…" header, then the answer, then one stats line.

    On a terminal, the model's text is shown with its control characters escaped
    (:func:`app.terminal.safe_text`): a model cannot clear the screen or write the clipboard.
    Piped to another program, the answer is written as the model gave it (the user asked for
    its bytes; ``--json`` escapes them as JSON does).
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.color = out.isatty()
        self._in_reasoning = False

    def _style(self, text: str, style: str) -> str:
        return f"{style}{safe_text(text)}{RESET}" if self.color else text

    def _shown(self, text: str) -> str:
        return safe_text(text) if self.color else text

    def __call__(self, event: Event) -> None:
        kind = event.kind
        if kind in TEXT_KINDS and not event.text:
            return  # only a token count (a closing tag): nothing to show
        if kind is EventKind.REASONING:
            if not self._in_reasoning:
                self.out.write(self._style("Thinking…", ITALIC) + "\n")
                self._in_reasoning = True
            self.out.write(self._style(event.text, DIM))
        elif kind is EventKind.INJECTED:
            reason = event.inject_reason
            label = reason.label if reason else ""
            self.out.write(self._style(f" [{label}]{event.text}", ITALIC))
        elif kind is EventKind.CONTENT:
            if self._in_reasoning:
                self.out.write("\n\n")
                self._in_reasoning = False
            self.out.write(self._shown(event.text))
        elif kind is EventKind.CONTEXT_TRUNCATED and event.truncation is not None:
            n = event.truncation.dropped_messages
            self.err.write(f"note: {n} earlier message(s) left out to fit the context window\n")
        elif kind is EventKind.REASONING_LOOP:
            if self.color and self._in_reasoning:  # on a terminal: not mid-line of the trace
                self.out.write("\n")
                self.out.flush()
            self.err.write(safe_text(loop_warning(event)) + "\n")
        elif kind is EventKind.WARNING:
            self.err.write(f"warning: {safe_text(event.text)}\n")
        elif kind is EventKind.STATS and event.stats is not None:
            self.out.write("\n" + self._style(format_stats(event.stats), DIM) + "\n")
        elif kind is EventKind.ERROR:
            self.out.write("\n")
        self.out.flush()


def loop_warning(event: Event) -> str:
    """One line about a REASONING_LOOP event: what repeats, and what the user can do."""
    passage = " ".join(event.text.split())
    if len(passage) > 100:
        passage = passage[:99] + "…"
    report = event.loop or LoopReport()
    times = report.repeats
    said = f" (said {times} times: \u201c{passage}\u201d)" if times else ""
    if report.policy is LoopPolicy.ANSWER:
        action = "asking it to answer now"
    else:
        action = "Ctrl+C = answer now" if sys.stdin.isatty() else "--on-loop answer ends it"
    return f"warning: the model seems to be going in circles{said}; {action}"


def format_stats(s: Stats) -> str:
    parts = []
    if s.reasoning_tokens:
        parts.append(f"thought {s.thinking_ms / 1000:.1f} s, {s.reasoning_tokens} tokens")
    parts.append(f"{s.content_tokens} answer tokens")
    parts.append(f"{s.decode_tokens_per_s:.1f} tok/s")
    parts.append(f"first token {s.time_to_first_token_ms:.0f} ms")
    parts.append(f"prompt {s.prompt_tokens} tokens")
    parts.append(s.finish_reason.value)
    return "── " + " · ".join(parts)


class JsonPrinter:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        if event.kind in (EventKind.LOAD_PROGRESS, EventKind.LOADED):
            return
        self.out.write(safe_json(event.to_json_dict()) + "\n")
        self.out.flush()


def exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside an answer: exit 143, through every ``finally`` (the worker is stopped)."""
    raise SystemExit(128 + signum)


class InterruptHandler:
    """Ctrl+C while thinking → answer now; a second Ctrl+C (or while answering) → stop.

    SIGTERM stops the answer (saved as cancelled) and marks the turn ``terminated``.
    """

    def __init__(self) -> None:
        self.stream: Any = None
        self.thinking = False
        self.presses = 0
        self.terminated = False
        self._previous: Any = None
        self._previous_term: Any = None

    def __enter__(self) -> InterruptHandler:
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        self._previous_term = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)
        signal.signal(signal.SIGTERM, self._previous_term)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.terminated = True
        if self.stream is None:
            exit_on_sigterm(signum, frame)
        self.stream.cancel()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self.stream is None:
            raise KeyboardInterrupt
        if self.thinking and self.presses == 1:
            self.stream.answer_now()
        else:
            self.stream.cancel()


def run_turn(
    client: Any,
    request: GenerationRequest,
    emit: Callable[[Event], None],
    answer: Answer | None = None,
) -> TurnResult:
    """Stream one answer: each event is folded into ``answer`` (a fresh one by default),
    then handed to ``emit``."""
    result = TurnResult(answer if answer is not None else Answer())
    with InterruptHandler() as interrupts:
        stream = client.generate(request)
        interrupts.stream = stream
        for event in stream:
            if event.kind is EventKind.REASONING:
                interrupts.thinking = True
            elif event.kind in (EventKind.CONTENT, EventKind.INJECTED):
                interrupts.thinking = False
            result.answer.add(event)
            result.events.append(event)
            emit(event)
    result.terminated = interrupts.terminated
    return result


class History:
    """Saves the chat as it streams (unless --no-save); a storage failure never loses the answer.

    A history that cannot be opened or written (a read-only database, an unwritable
    ``PONDER_HOME``, a file that is not a database) turns history off for the run, with one
    warning on stderr; the answer is given all the same. Only ``--continue`` needs the
    history: it fails when the conversation cannot be read.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.store: Any = None
        self.conversation_id: int | None = None
        self.recorder: Any = None
        self.system: str | None = args.system
        self.messages: list[ChatMessage] = []
        self.continued_model: Any = None  # the ModelRef the --continue conversation last used
        self._model: Any = None
        if args.no_save and not args.continue_id:
            return
        from app.errors import StorageError
        from app.store import open_store

        try:
            self.store = open_store(read_only_ok=True)
        except StorageError as err:
            if args.continue_id:
                raise
            self._disable(err)
            return
        if args.continue_id:
            from app.cli.chat_continue import conversation_model
            from app.cli.history import parse_id

            cid = parse_id(args.continue_id)
            conv = self.store.get_conversation(cid)
            self.conversation_id = cid
            self.continued_model = conversation_model(self.store, conv)
            if self.system is None:
                self.system = conv.system_prompt
            # Failed or empty answers are not part of the conversation the model should see.
            self.messages = [
                m
                for m in self.store.chat_history(cid)
                if m.role is not Role.ASSISTANT or m.content.strip()
            ]
            while (
                self.messages
                and self.messages[-1].role is Role.ASSISTANT
                and not self.messages[-1].content
            ):
                self.messages.pop()
        if args.no_save:
            self.store.close()
            self.store = None
        elif self.store.read_only:
            self._disable(StorageError(f"the history database {self.store.path} is read-only"))

    @property
    def saving(self) -> bool:
        """Whether this run's chat is being saved."""
        return self.store is not None

    def set_model(self, path: str, size: int, name: str | None = None) -> None:
        from app.store import ModelRef

        self._model = ModelRef(name or Path(path).stem, None, size or None, path)

    def new_conversation(self) -> None:
        """The next message starts a new conversation (the same system prompt)."""
        self.conversation_id = None
        self.messages = []

    def begin(self, text: str, settings: Any) -> None:
        if self.store is None:
            return
        from app.store import start_turn

        try:
            turn = start_turn(
                self.store,
                text,
                conversation_id=self.conversation_id,
                model=self._model,
                system_prompt=self.system,
                settings=settings,
            )
        except PonderError as err:
            self._disable(err)
            return
        self.conversation_id = turn.conversation_id
        self.recorder = turn.recorder

    def answer(self) -> Answer:
        """What the answer being saved folds into (a fresh one when nothing is saved)."""
        return self.recorder.answer if self.recorder is not None else Answer()

    def update(self, event: Event) -> None:
        """Save :meth:`answer` as it stands after ``event`` (when a write is due)."""
        if self.recorder is None:
            return
        try:
            self.recorder.update(event)
        except PonderError as err:
            self._disable(err)

    def end(self, cancelled: bool) -> None:
        if self.recorder is None:
            return
        from app.store import MessageStatus

        try:
            self.recorder.finish(MessageStatus.CANCELLED if cancelled else None)
        except PonderError as err:
            self._disable(err)
        self.recorder = None

    def _disable(self, err: PonderError) -> None:
        print(f"ponder: history is off for this run: {safe_text(str(err))}", file=sys.stderr)
        self.recorder = None
        if self.store is not None:
            self.store.close()
        self.store = None

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def record_model(client: Any, history: History) -> None:
    """The loaded model goes into the history with each answer."""
    info = client.info
    if info is not None and info.backend is Backend.REMOTE:
        history.set_model(info.endpoint, 0, name=info.name)
    elif info is not None:
        history.set_model(info.path, info.size_bytes)


def run_chat(args: argparse.Namespace) -> int:
    from app.cli.chat_notes import note_ignored_controls
    from backends.client import EngineClient

    if not args.model and not args.endpoint and not args.continue_id:
        from app.cli.onboarding import model_for_chat

        chosen = model_for_chat()  # the library's, or a first model offered on a terminal
        if isinstance(chosen, int):
            return chosen
        args.model = chosen
    emit: Callable[[Event], None] = (
        JsonPrinter(sys.stdout) if args.json else HumanPrinter(sys.stdout, sys.stderr)
    )
    client = EngineClient()
    history: History | None = None
    previous_term = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        history = History(args)
        if not args.model and not args.endpoint:
            from app.cli.chat_continue import use_conversation_model

            use_conversation_model(args, history.continued_model)
        load_model(client, load_params(args), args.json)
        record_model(client, history)
        note_ignored_controls(client.info, args)
        if args.prompt is None and sys.stdin.isatty():
            from app.cli.chat_repl import Repl

            return Repl(client, args, emit, history).run()
        prompt = args.prompt if args.prompt is not None else sys.stdin.read()
        if not prompt.strip():
            raise PonderError("the prompt is empty")
        result = chat_turn(client, args, emit, history, prompt)
        if result.error:
            if not args.json:
                print(f"ponder: {safe_text(result.error)}", file=sys.stderr)
            return 1
        return 0
    except PonderError as err:
        if args.json:
            print(json.dumps({"type": "error", "message": str(err)}, ensure_ascii=False))
        print(f"ponder: {safe_text(str(err))}", file=sys.stderr)
        return 2 if isinstance(err, ContextSizeError) else 1
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        client.close()
        if history is not None:
            history.close()


def chat_turn(
    client: Any,
    args: argparse.Namespace,
    emit: Callable[[Event], None],
    history: History,
    text: str,
) -> TurnResult:
    """One user message and its answer, saved as it streams."""
    from app.store import GenerationSettings

    messages = [*history.messages, ChatMessage(Role.USER, text)]
    request = request_from_args(args, messages)
    history.begin(
        text, GenerationSettings(request.sampling, request.thinking, args.max_tokens, args.seed)
    )
    cid = history.conversation_id if history.saving else None

    def emit_and_save(event: Event) -> None:
        history.update(event)
        if event.kind is EventKind.DONE and cid is not None:
            event = Event(
                event.kind, event.request_id, event.text, {**event.data, "conversation_id": cid}
            )
        emit(event)

    result = run_turn(client, request, emit_and_save, history.answer())
    history.end(cancelled=result.answer.finish_reason is FinishReason.CANCELLED)
    if not result.error:
        history.messages = [
            *messages,
            ChatMessage(Role.ASSISTANT, result.content, result.reasoning or None),
        ]
    if cid is not None and history.saving and not args.json:
        print(f"saved as conversation {cid} (ponder chat --continue {cid})", file=sys.stderr)
    if result.terminated:
        raise SystemExit(128 + signal.SIGTERM)
    return result
