"""``ponder serve``: the loaded model as a local OpenAI-compatible API.

    ponder serve --model model.gguf                   # http://127.0.0.1:8642/v1
    ponder serve --model qwen3-1.7b-q4_k_m --save-history   # a library id; keep the chats
    PONDER_API_KEY=secret ponder serve --model model.gguf --host 0.0.0.0

Exit codes: 0 after Ctrl+C, 1 when the model or the address cannot be used, 2 for a usage
error (including a non-loopback address without an API key).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.args import local_load_params, non_negative_int, positive_int
from app.errors import ContextSizeError, PonderError
from app.terminal import safe_text

if TYPE_CHECKING:
    from app.server.history import ApiHistory
    from app.server.service import EngineService

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642
API_KEY_ENV = "PONDER_API_KEY"


_positive_int = positive_int
_non_negative_int = non_negative_int


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), not {text}")
    return value


def add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from app.server.app import DEFAULT_QUEUE_LIMIT

    p = sub.add_parser(
        "serve",
        help="serve a model as a local OpenAI-compatible API",
        description=(
            "Serve a model at /v1/chat/completions, with the reasoning in "
            "reasoning_content. Binds 127.0.0.1 unless --host says otherwise; any other "
            "address needs an API key."
        ),
    )
    p.add_argument(
        "--model",
        "-m",
        required=True,
        metavar="ID|PATH",
        help="a model id from `ponder models list`, or the path of a GGUF file (or MLX folder)",
    )
    p.add_argument("--model-name", help="the model id clients see (default: the file name)")
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument(
        "--api-key",
        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}; the variable "
        "keeps the key out of the process list)",
    )
    p.add_argument("--ctx", type=_positive_int, help="context size in tokens")
    p.add_argument("--gpu-layers", type=int, help="layers on the GPU (-1: all)")
    p.add_argument(
        "--threads", type=_positive_int, help="CPU threads for generation (default: automatic)"
    )
    p.add_argument(
        "--chat-template", metavar="FILE", help="a Jinja chat template overriding the model's"
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="allow browser pages from ORIGIN (e.g. http://localhost:3000); repeatable. "
        "Default: no cross-origin access",
    )
    p.add_argument(
        "--queue-limit",
        type=_non_negative_int,
        default=DEFAULT_QUEUE_LIMIT,
        help="requests that may wait for the model; more get HTTP 429 "
        f"(default {DEFAULT_QUEUE_LIMIT})",
    )
    p.add_argument(
        "--save-history",
        action="store_true",
        help="save the API's conversations in Ponder's history (off by default); a client "
        "that sends a conversation back continues the same one",
    )
    p.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from app.server.security import LOOPBACK_HOSTS, check_bind, is_loopback

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    refusal = check_bind(args.host, api_key)
    if refusal is not None:
        print(f"ponder: {refusal}", file=sys.stderr)
        return 2

    from app.server.app import DEFAULT_MAX_BODY_BYTES, create_app
    from app.server.runner import bind_socket, make_server, url_for
    from app.server.service import EngineService

    service: EngineService | None = None
    history: ApiHistory | None = None
    typed = args.model  # a library id or path: requests may name the model so, too
    try:
        params = local_load_params(args)
        sock = bind_socket(args.host, args.port)  # before loading: a busy port fails fast
        service = EngineService(params, model_id=args.model_name)
        _load(service)
        if args.save_history:
            history = _history(service)  # None when the history cannot be used (warned)
        app = create_app(
            service,
            api_key=api_key,
            cors_origins=args.cors_origin,
            model_aliases=[typed],
            queue_limit=args.queue_limit,
            max_body_bytes=DEFAULT_MAX_BODY_BYTES,
            trusted_hosts=LOOPBACK_HOSTS if is_loopback(args.host) else None,
            save_history=history is not None,
            on_completion=history,
        )
        server = make_server(app, log_level="info", access_log=True, own_logging=True)
        url = url_for(args.host, int(sock.getsockname()[1]))
        shown = safe_text(service.model_id)
        print(f"Serving {shown} at {url}/v1 (Ctrl+C to stop)", file=sys.stderr)
        if api_key:
            print("Clients must send 'Authorization: Bearer <your API key>'.", file=sys.stderr)
        if history is not None:
            print(
                "Conversations are saved in the history (`ponder history list`).", file=sys.stderr
            )
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn re-raises the Ctrl+C it handled: a normal stop
        finally:
            sock.close()
        return 0
    except PonderError as err:
        print(f"ponder: {safe_text(str(err))}", file=sys.stderr)
        return 2 if isinstance(err, ContextSizeError) else 1
    finally:
        if service is not None:
            service.close()
        if history is not None:
            history.close()


def _history(service: EngineService) -> ApiHistory | None:
    """The saver, with the store opened now, so that a problem is reported before serving.

    A history that cannot be used (read-only, unwritable, not a database) never keeps the
    server from answering: history is off for the run, with one warning.
    """
    from app.errors import StorageError
    from app.server.history import ApiHistory
    from app.store import ModelRef, open_store

    path = service.params.model_path
    try:
        size: int | None = Path(path).stat().st_size
    except OSError:
        size = None
    model = ModelRef(service.model_id, None, size, path)
    history = ApiHistory(open_store, model=model)
    try:
        with open_store(read_only_ok=True) as probe:
            if probe.read_only:
                raise StorageError(f"the history database {probe.path} is read-only")
        history.open()
    except StorageError as err:
        history.close()
        print(f"ponder: history is off for this run: {safe_text(str(err))}", file=sys.stderr)
        return None
    return history


def _load(service: EngineService) -> None:
    show = sys.stderr.isatty()
    if show:
        sys.stderr.write(f"loading {service.params.model_path} …")
        sys.stderr.flush()
    try:
        info = service.load()
    finally:
        if show:
            sys.stderr.write("\r\x1b[K")
    name = info.name or service.model_id
    print(
        f"loaded {safe_text(name)} ({safe_text(info.architecture)}, context {info.n_ctx} tokens)",
        file=sys.stderr,
    )
