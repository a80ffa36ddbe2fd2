"""``ponder models``: search the hub, pull models, list and inspect the local library.

Actions: ``search QUERY``, ``files REPO``, ``pull REPO|CATALOG-ID [--quant Q | --file NAME]``, ``list``,
``info ID|PATH [--ctx N]``, ``add PATH``, ``rm ID``, ``catalog``, ``add-remote NAME URL
[--api-key-env VAR | --api-key-stdin]``, ``rm-remote NAME`` — each with ``--json``.
Exit codes: 0 success, 1 failure (one clear line on stderr), 130 when a pull is interrupted
(its partial file is kept; the same command resumes it).

Names and text from the hub, the catalogue or a model file are untrusted: everything printed
goes through :func:`app.terminal.safe_text` (``--json`` is ASCII: JSON escapes the rest).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.errors import PonderError
from app.terminal import run_cli, safe_stdout, safe_text

if TYPE_CHECKING:
    from app.library.downloads import DownloadInfo
    from app.library.hub import QuantVariant, RepoDetails

PROG = "ponder models"


def add_models_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``models`` and its actions on the ``ponder`` subcommand parser."""
    p = sub.add_parser("models", help="find, download and manage models")
    p.set_defaults(handler=run_models)
    actions = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_)
        a.add_argument("--json", action="store_true", help="print JSON")
        return a

    a = action("search", "search Hugging Face for GGUF models")
    a.add_argument("query", help="words in the repository name")
    a.add_argument(
        "--sort",
        choices=["downloads", "likes", "trending", "updated", "created"],
        default="downloads",
        help="order of the results (default downloads)",
    )
    a.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")
    a.add_argument("--mlx", action="store_true", help="include MLX repositories")
    a = action("files", "a repository's quantizations with sizes and fit")
    a.add_argument("repo", help="a Hugging Face repository, e.g. bartowski/QwQ-32B-GGUF")
    a.add_argument("--revision", help="a branch, tag or commit (default main)")
    a.add_argument("--ctx", type=int, default=8192, help="context for the fit estimate")
    a = action("pull", "download a model (resumes an interrupted pull)")
    a.add_argument(
        "repo",
        metavar="REPO|CATALOG-ID",
        help="a Hugging Face repository (e.g. bartowski/QwQ-32B-GGUF) or a catalog id or name",
    )
    which = a.add_mutually_exclusive_group()
    which.add_argument("--quant", help="quantization, e.g. Q4_K_M")
    which.add_argument("--file", help="a file name in the repository")
    a.add_argument("--revision", help="a branch, tag or commit (default main)")
    action("list", "models on this computer")
    a = action("info", "details of a local model, with its fit estimate")
    a.add_argument("model", metavar="ID|PATH", help="a model id (ponder models list) or file")
    a.add_argument("--ctx", type=int, help="context for the fit estimate")
    a = action("add", "add a folder (searched for models) or a model file")
    a.add_argument("path", help="a folder or a .gguf file")
    a = action("rm", "delete a downloaded model, or forget an added one")
    a.add_argument("model", metavar="ID|PATH", help="a model id (ponder models list) or file")
    action("catalog", "the curated reasoning models, with a quant for this machine")
    a = action("add-remote", "add an OpenAI-compatible server (its connection is tested)")
    a.add_argument("name", help="what to call it: ponder chat --endpoint NAME")
    a.add_argument("url", help="its base URL, e.g. http://127.0.0.1:8080")
    key = a.add_mutually_exclusive_group()
    key.add_argument("--api-key-env", metavar="VAR", help="environment variable with its API key")
    key.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="read its API key from stdin (prompted on a terminal); kept in the system keyring",
    )
    a.add_argument("--no-check", action="store_true", help="add it without connecting")
    a = action("rm-remote", "forget a remote source")
    a.add_argument("name", help="the name given to ponder models add-remote")


def run_models(args: argparse.Namespace) -> int:
    """Run one ``ponder models`` action; 0 ok, 1 failure (message on stderr)."""
    handlers = {
        "search": _search,
        "files": _files,
        "pull": _pull,
        "list": _list,
        "info": _info,
        "add": _add,
        "rm": _rm,
        "catalog": _catalog,
        "add-remote": _add_remote,
        "rm-remote": _rm_remote,
    }
    try:
        with safe_stdout():
            return handlers[args.models_command](args)
    except PonderError as err:
        print(f"{PROG}: {safe_text(str(err))}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app.cli.models ACTION ...`` (the same as ``ponder models ACTION ...``)."""
    parser = argparse.ArgumentParser(prog="ponder")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", *(argv if argv is not None else sys.argv[1:])])
    return run_cli(lambda: run_models(args))


# --- output helpers -----------------------------------------------------------------------


def _emit_json(data: Any) -> int:
    print(json.dumps(data, indent=2, default=str))  # ASCII only: every control escaped
    return 0


def size_text(n: int | None) -> str:
    if n is None:
        return "?"
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    return f"{n / 1e6:.1f} MB"


def _table(rows: list[list[str]], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)


# --- actions ------------------------------------------------------------------------------


def _search(args: argparse.Namespace) -> int:
    from app.library.hub import SearchSort, search_models

    results = search_models(
        args.query, sort=SearchSort(args.sort), limit=args.limit, include_mlx=args.mlx or None
    )
    if args.json:
        return _emit_json([r.to_json() for r in results])
    if not results:
        print(f"no GGUF models match {args.query!r}")
        return 0
    rows = [["REPO", "KIND", "DOWNLOADS", "LIKES", "UPDATED"]]
    for r in results:
        updated = r.last_modified.date().isoformat() if r.last_modified else "-"
        rows.append([r.repo_id, r.kind, str(r.downloads), str(r.likes), updated])
    _table(rows)
    return 0


def _files(args: argparse.Namespace) -> int:
    from app.library.fit import detect_machine_memory
    from app.library.hub import repo_details
    from app.library.remote import fit_variants

    details = repo_details(args.repo, args.revision)
    fits = fit_variants(details, args.ctx, detect_machine_memory())
    if args.json:
        data = details.to_json()
        for v, (_, fit) in zip(data["variants"], fits, strict=True):
            v["fit"] = fit.to_json()
        return _emit_json(data)
    print(f"{details.repo_id} @ {details.revision[:12]}")
    print(f"license: {details.license or 'unknown'}")
    if details.base_models:
        print(f"base model: {', '.join(details.base_models)}")
    rows = [["QUANT", "SIZE", "FILES", f"FIT AT {args.ctx} TOKENS", "SHA256"]]
    for v, fit in fits:
        parts = f"{len(v.files)} parts" if v.split else v.first_file.path
        note = f"unavailable: {v.error}" if v.error else fit.label
        sha = (v.first_file.sha256 or "-")[:12]
        rows.append([v.quant or v.name, size_text(v.size), parts, note, sha])
    _table(rows)
    for name, reason in details.refused:
        print(f"refused: {name!r}: {safe_text(reason)}", file=sys.stderr)
    return 0


def _progress_line(info: Any) -> str:
    width = 28
    filled = int(width * info.fraction)
    bar = "#" * filled + "-" * (width - filled)
    speed = f"{info.speed / 1e6:.1f} MB/s" if info.speed else "-"
    eta = "-"
    if info.eta is not None:
        m, s = divmod(int(info.eta), 60)
        eta = f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
    return (
        f"\r[{bar}] {info.fraction * 100:5.1f}% {size_text(info.bytes_done)}/{size_text(info.bytes_total)}"
        f" {speed} ETA {eta} "
    )


def _pull(args: argparse.Namespace) -> int:
    details, variant = _pull_target(args)
    code, info = download(details, variant, pinned=args.revision is not None, quiet=args.json)
    if info is None:
        return code
    if args.json:
        return _emit_json({"path": str(info.dest), "download": info.to_json()})
    print(info.dest)
    return 0


def _pull_target(args: argparse.Namespace) -> tuple[RepoDetails, QuantVariant]:
    """The repository and variant to pull: a hub repository, or a catalog id or model name
    (its preferred GGUF repository, at the quantization recommended for this machine)."""
    from app.library.first_run import catalog_entry_named, lookup_variant
    from app.library.hub import pick_variant, repo_details
    from app.library.names import check_repo_id

    entry = catalog_entry_named(args.repo) if args.revision is None else None
    if entry is not None:
        quant = args.quant
        if quant is None and args.file is None:
            from app.library.fit import detect_machine_memory

            quant = entry.recommended_for(detect_machine_memory())
            if quant is None:
                raise PonderError(
                    f"{entry.name} is too big for this machine; to pull it all the same, "
                    f"name a quantization: {PROG} pull {entry.id} --quant Q4_K_M"
                )
        return lookup_variant(entry, quant=quant, file=args.file)
    try:
        check_repo_id(args.repo)
    except PonderError as err:
        raise PonderError(f"{err}, nor a catalog model (`{PROG} catalog` lists them)") from None
    details = repo_details(args.repo, args.revision)
    return details, pick_variant(details, quant=args.quant, file=args.file)


def download(
    details: RepoDetails,
    variant: QuantVariant,
    *,
    pinned: bool = False,
    quiet: bool = False,
    prog: str = PROG,
) -> tuple[int, DownloadInfo | None]:
    """Download (or resume) ``variant`` with a progress line on a terminal's stderr.

    Returns:
        ``(0, DownloadInfo)`` once the files are complete and verified; ``(1, None)`` when the
        download failed, ``(130, None)`` when Ctrl+C paused it (a message is printed for both).
    """
    from app.library.downloads import DownloadManager, DownloadStatus

    manager = DownloadManager(max_concurrent=1)
    existing = manager.find(details.repo_id, variant.name)
    if (
        existing is not None
        and existing.revision != details.revision
        and (pinned or existing.status is DownloadStatus.FAILED)
    ):
        manager.cancel(existing.id)  # another revision asked for, or the old one is gone
        existing = None
    if existing is not None:
        info = existing
        manager.resume(info.id)
        if info.bytes_done and sys.stderr.isatty():
            print(f"resuming from {size_text(info.bytes_done)}", file=sys.stderr)
    else:
        info = manager.enqueue(details.repo_id, details.revision, variant)
    tty = sys.stderr.isatty() and not quiet
    try:
        while True:
            info = manager.wait(info.id, timeout=0.25)
            if info.status not in (DownloadStatus.QUEUED, DownloadStatus.RUNNING):
                if tty and info.status is DownloadStatus.COMPLETED:
                    sys.stderr.write(_progress_line(info))  # the line ends at 100%
                break
            if tty:
                sys.stderr.write(_progress_line(info))
                sys.stderr.flush()
    except KeyboardInterrupt:
        manager.pause(info.id)
        manager.wait(info.id, timeout=30)
        manager.shutdown()
        if tty:
            sys.stderr.write("\n")
        print(
            f"{prog}: paused; run the same command again to resume "
            f"({size_text(info.bytes_done)} kept)",
            file=sys.stderr,
        )
        return 130, None
    finally:
        if tty:
            sys.stderr.write("\n")
    manager.shutdown()
    if info.status is not DownloadStatus.COMPLETED:
        print(f"{prog}: {safe_text(info.error or info.status.value)}", file=sys.stderr)
        return 1, None
    return 0, info


def _list(args: argparse.Namespace) -> int:
    from app.library.local import list_local_models
    from app.remote_sources import load_sources

    models = list_local_models()
    remotes = load_sources()
    if args.json:
        return _emit_json(
            [m.to_json() for m in models]
            + [{"id": r.name, "source": "remote", **r.to_json()} for r in remotes]
        )
    if not models and not remotes:
        print("no models yet: `ponder models pull REPO|CATALOG-ID` downloads one")
        return 0
    if models:
        rows = [["ID", "QUANT", "SIZE", "SOURCE", "FAMILY / STATUS"]]
        for m in models:
            status = m.metadata.family_name if m.metadata else "-"
            if m.error:
                status = f"unusable: {m.error}"
            rows.append([m.id, m.quant or "-", size_text(m.size), m.source.value, status])
        _table(rows)
    if remotes:
        if models:
            print()
        rows = [["REMOTE SOURCE", "URL", "API KEY"]]
        for r in remotes:
            key = r.key_label() if r.api_key_env or r.keyring else "-"
            if r.api_key_env and r.api_key() is None:
                key += " (not set)"
            rows.append([r.name, r.url, key])
        _table(rows)
    return 0


def _info(args: argparse.Namespace) -> int:
    from app.library.fit import detect_machine_memory, estimate_fit
    from app.library.local import LocalModel, find_model
    from app.library.metadata import read_metadata

    target = args.model
    path = Path(target).expanduser()
    model: LocalModel | None = None
    try:
        model = find_model(target)
    except PonderError:
        if not path.is_file():
            raise
    if model is not None and model.error:
        raise PonderError(f"{model.id}: {model.error}")
    meta = model.metadata if model else read_metadata(path)
    size = model.size if model else path.stat().st_size
    if meta is None:
        raise PonderError(f"{target}: no metadata")
    ctx = args.ctx or min(meta.context_length or 8192, 8192)
    fit = estimate_fit(size, meta.shape, ctx, detect_machine_memory())
    if args.json:
        data = model.to_json() if model else {"path": str(path), "size": size}
        data.update(metadata=meta.to_json(), fit=fit.to_json())
        return _emit_json(data)
    lines = [
        ("id", model.id if model else "-"),
        ("path", str(model.path if model else path)),
        ("name", meta.name),
        ("architecture", meta.architecture),
        ("size", f"{meta.size_label or '?'} parameters, {size_text(size)} on disk"),
        ("quantization", meta.quant or "?"),
        ("trained context", f"{meta.context_length or '?'} tokens"),
        ("family", f"{meta.family_name} ({meta.family_id})"),
        ("license", meta.license or "unknown"),
    ]
    if meta.shape:
        s = meta.shape
        lines.append(
            (
                "shape",
                f"{s.n_layer} layers, {s.n_head or '?'} heads, {s.n_head_kv} KV heads, "
                f"head size {s.head_dim}",
            )
        )
    for b in meta.base_models:
        lines.append(("base model", " / ".join(x for x in (b.organization, b.name) if x)))
    lines.append((f"fit at {ctx}", fit.summary))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        print(f"{k.ljust(width)}  {v}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from app.library.local import ModelRoot, ModelSource, add_user_path, list_local_models

    path = add_user_path(args.path)
    found = list_local_models([ModelRoot(path, ModelSource.USER)])
    if args.json:
        return _emit_json({"added": str(path), "models": [m.to_json() for m in found]})
    usable = sum(1 for m in found if m.usable)
    print(f"added {path}: {usable} usable model(s), {len(found) - usable} unusable")
    return 0


def _rm(args: argparse.Namespace) -> int:
    from app.library.local import remove_model

    message = remove_model(args.model)
    if args.json:
        return _emit_json({"result": message})
    print(message)
    return 0


def _read_api_key() -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("API key (kept in the system keyring): ")
    return sys.stdin.readline().strip()


def _add_remote(args: argparse.Namespace) -> int:
    from app.remote_keys import keyring_available
    from app.remote_sources import RemoteSource, add_source
    from backends.remote_api import check_connection

    api_key: str | None = None
    if args.api_key_stdin:
        if not keyring_available():
            from app.remote_keys import NO_KEYRING

            raise PonderError(f"{NO_KEYRING} (--api-key-env VAR)")
        api_key = _read_api_key()
    source = RemoteSource(args.name, args.url, args.api_key_env)
    served: list[str] | None = None
    if not args.no_check:
        try:
            kind, models = check_connection(source, api_key)
        except PonderError as err:
            raise PonderError(f"{err} (or use --no-check)") from None
        served = [m.id for m in models]
    source = add_source(args.name, args.url, args.api_key_env, api_key=api_key)
    if args.json:
        return _emit_json({**source.to_json(), "models": served})
    print(f"added {source.name}: {source.url}")
    if served is not None:
        print(f"it serves {len(served)} model(s) ({kind.value}): {', '.join(served[:20])}")
        print(
            f"chat: ponder chat --endpoint {source.name} --model {served[0] if served else 'NAME'}"
        )
    return 0


def _rm_remote(args: argparse.Namespace) -> int:
    from app.remote_sources import remove_source

    source = remove_source(args.name)
    if args.json:
        return _emit_json({"removed": source.to_json()})
    print(f"removed {source.name} ({source.url})")
    return 0


def _catalog(args: argparse.Namespace) -> int:
    from app.library.catalog import load_catalog
    from app.library.fit import detect_machine_memory

    catalog = load_catalog()
    machine = detect_machine_memory()
    if args.json:
        return _emit_json(
            {
                "version": catalog.version,
                "updated": catalog.updated,
                "models": [
                    {**e.to_json(), "recommended_here": e.recommended_for(machine)}
                    for e in catalog.entries
                ],
            }
        )
    rows = [["MODEL", "FAMILY", "LICENSE", "FOR THIS MACHINE", "GGUF REPO"]]
    for e in catalog.entries:
        quant = e.recommended_for(machine) or "too big"
        rows.append([e.name, e.family, e.license_name, quant, e.gguf_repos[0]])
    _table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
