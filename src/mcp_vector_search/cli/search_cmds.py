"""search, symbol, similar: the read-only commands (twins of the MCP tools)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from .common import load, require_index, resolve_root

if TYPE_CHECKING:
    from .. import search_daemon
    from ..config import Config
    from ..records import SearchResult
    from ..search import Searcher
    from ..search_daemon import SearchRequest
    from ..store import Store


def register(cli: click.Group) -> None:
    cli.add_command(search_cmd)
    cli.add_command(symbol_cmd)
    cli.add_command(similar_cmd)
    cli.add_command(search_daemon_cmd)


def _searcher(ctx: click.Context) -> tuple[Path, Searcher, Store]:
    from ..lifecycle import Session
    from ..search import Searcher

    root = resolve_root(ctx, must_exist=True)
    config = load(root)
    require_index(config, root)
    session = Session(root, config)
    ctx.call_on_close(session.close)
    store = session.store(one_shot=True)  # no engine import while its copy is current
    return root, Searcher(store, session.embedder), store


def _config_model(ctx: click.Context) -> str:
    root = resolve_root(ctx, must_exist=True)
    return load(root).model


def _ask_daemon(ctx: click.Context, request: SearchRequest) -> SearchResult | None:
    """A running search daemon's answer, or None to search in-process."""
    from .. import search_daemon

    root = resolve_root(ctx, must_exist=True)
    config = load(root)
    require_index(config, root)
    return search_daemon.search(config.index_path(root), config.model, request)


@click.command("search-daemon", hidden=True)
@click.option("--lock-fd", type=int, default=None, hidden=True)
@click.option("--idle-seconds", type=float, default=None, hidden=True)
@click.pass_context
def search_daemon_cmd(ctx: click.Context, lock_fd: int | None, idle_seconds: float | None) -> None:
    """Serve searches for this index over a private socket until idle (started by search).

    `--lock-fd` is how a daemon that starts itself over hands on its election lock.
    """
    import contextlib
    import os

    from .. import search_daemon

    root = resolve_root(ctx, must_exist=True)
    config = load(root)
    require_index(config, root)
    index_dir, model = config.index_path(root), config.model
    # The election comes before any heavy import, so a loser costs only a bare start.
    if lock_fd is not None:
        claimed = search_daemon.adopt(index_dir, model, lock_fd)
    else:
        claimed = search_daemon.claim(index_dir, model)
    if claimed is None:
        return
    try:
        again = _serve_daemon(root, config, restarted=lock_fd is not None, idle=idle_seconds)
        if again is not None:
            # A failed exec leaves this daemon to exit; the next search starts another.
            with contextlib.suppress(OSError):
                search_daemon.restart(root, claimed, again.idle_left)
    finally:
        os.close(claimed)  # after serve() removed its socket: the next daemon may bind


def _serve_daemon(
    root: Path, config: Config, *, restarted: bool, idle: float | None
) -> search_daemon.Restart | None:
    import threading

    from .. import search_daemon
    from ..daemon_reader import DaemonReader
    from ..lifecycle import Session, signals_to

    with Session(root, config) as session, signals_to(session.stop):
        reader = DaemonReader(session)
        # Started by a cold search, it warms the model for the next one; started over to
        # shed the engine, it has been idle and stays small until asked.
        if not restarted and reader.counts()[2]:
            reader.search("warm up the model")
        handle = search_daemon.search_handler(reader)
        stop: threading.Event = session.stop.event
        return session.run_in_worker(
            lambda: search_daemon.serve(
                config.index_path(root),
                config.model,
                handle,
                stop,
                release=reader.release,
                tick=reader.prepare,
                idle_seconds=idle or search_daemon.IDLE_SECONDS,
            ),
            name="mvs-search-daemon",
        )


@click.command("search")
@click.argument("query", required=False)
@click.option("-n", "--limit", default=10, show_default=True, type=click.IntRange(1, 500))
@click.option("--language", default=None, help="Only this language (python, go, ...).")
@click.option("--path", "path_glob", default=None, help="Only paths matching this glob.")
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "semantic", "lexical"]),
    default="hybrid",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object (stable interface).")
@click.option("-l", "--files-only", is_flag=True, help="Print matching file paths only.")
@click.option(
    "--queries-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Run many queries: JSON lines with 'id' and 'query' (or plain lines); prints one"
    " JSON object per line with the id added. Loads the model once.",
)
@click.pass_context
def search_cmd(
    ctx: click.Context,
    query: str,
    limit: int,
    language: str | None,
    path_glob: str | None,
    mode: str,
    as_json: bool,
    files_only: bool,
    queries_file: TextIO | None,
) -> None:
    """Search the index for QUERY (words, a question, or identifiers)."""
    from ..errors import UsageError
    from ..render import search_text
    from ..search_daemon import SearchRequest
    from ..wire import dumps, to_data, to_json

    if (query is None) == (queries_file is None):
        raise UsageError("give a QUERY or --queries-file, not both or neither")
    if query is not None:
        answered = _ask_daemon(ctx, SearchRequest(query, limit, language, path_glob, mode))
        if answered is not None:
            if as_json:
                click.echo(to_json(answered))
            else:
                click.echo(search_text(answered, files_only=files_only, color=sys.stdout.isatty()))
            return
    _root, searcher, _store = _searcher(ctx)
    if queries_file is not None:
        for n, line in enumerate(queries_file):
            line = line.strip()
            if not line:
                continue
            item = json.loads(line) if line.startswith("{") else {"id": n, "query": line}
            result = searcher.search(
                str(item["query"]), limit=limit, language=language, path_glob=path_glob, mode=mode
            )
            click.echo(dumps({"id": item.get("id", n), **to_data(result)}))
        return
    assert query is not None
    result = searcher.search(query, limit=limit, language=language, path_glob=path_glob, mode=mode)
    if as_json:
        click.echo(to_json(result))
    else:
        click.echo(search_text(result, files_only=files_only, color=sys.stdout.isatty()))
    from .. import search_daemon

    search_daemon.spawn(_root, load(_root).index_path(_root), _config_model(ctx))


@click.command("symbol")
@click.argument("name")
@click.option("--kind", default=None, help="Only this kind (function, class, method, ...).")
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def symbol_cmd(ctx: click.Context, name: str, kind: str | None, limit: int, as_json: bool) -> None:
    """Find definitions named NAME: exact matches first, then close ones."""
    from ..answers import symbol_matches
    from ..search import find_symbol
    from ..wire import dumps, to_data

    _root, _searcher_obj, store = _searcher(ctx)
    matches = symbol_matches(find_symbol(store.chunk_catalog(), name, kind=kind, limit=limit))
    if as_json:
        click.echo(dumps({"name": name, "results": [to_data(m) for m in matches]}))
        return
    if not matches:
        click.echo("no definitions found")
    for m in matches:
        click.echo(f"{m.path}:{m.start_line}-{m.end_line}  {m.symbol}  ({m.kind}, {m.match})")


@click.command("similar")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--line", type=int, default=None, help="A line inside the code to compare.")
@click.option("-n", "--limit", default=10, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def similar_cmd(
    ctx: click.Context, path: Path, line: int | None, limit: int, as_json: bool
) -> None:
    """Find code similar to PATH (or to the definition at PATH --line N)."""
    from ..render import search_text
    from ..similar import similar_to_location
    from ..wire import to_json

    root, searcher, store = _searcher(ctx)
    result = similar_to_location(root, store, searcher, str(path), line=line, limit=limit)
    click.echo(to_json(result) if as_json else search_text(result))
