"""mcp, watch, setup, context: serving agents, keeping the index live, reading spans."""

from __future__ import annotations

from pathlib import Path

import click

from .common import load, resolve_root


def register(cli: click.Group) -> None:
    cli.add_command(mcp_cmd)
    cli.add_command(watch_cmd)
    cli.add_command(setup_cmd)
    cli.add_command(context_cmd)


@click.command("mcp")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-watch", is_flag=True, help="Update the index once at start, then not again.")
@click.option("--read-only", is_flag=True, help="Never write the index; serve what is there.")
@click.option("--model", default=None, help="Embedding model (minilm, fake).")
@click.pass_context
def mcp_cmd(
    ctx: click.Context, path: Path | None, no_watch: bool, read_only: bool, model: str | None
) -> None:
    """Serve the MCP tools over stdio for PATH (default: this project).

    The index is brought up to date in the background and kept fresh as files change;
    other servers and CLI runs on the same project share it (one writer at a time).
    """
    from ..serve import serve_stdio

    root = resolve_root(ctx, path, must_exist=False)
    config = load(root, model=model)
    serve_stdio(root, config, index=not read_only, watch=not (no_watch or read_only))


@click.command("watch")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--model", default=None, help="Embedding model (minilm, fake).")
@click.pass_context
def watch_cmd(ctx: click.Context, path: Path | None, quiet: bool, model: str | None) -> None:
    """Keep the index of PATH up to date as files change, until Ctrl+C."""
    from ..indexer import IndexReport
    from ..lifecycle import Session, signals_to
    from ..live import LiveIndex

    root = resolve_root(ctx, path, must_exist=False)
    config = load(root, model=model)

    def say(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    def on_report(kind: str, r: IndexReport) -> None:
        if kind == "embed":
            say(f"embedded {r.vectors_added} chunks")
        elif kind == "full":
            say(
                f"index up to date: {r.files_total} files, {r.chunks_total} chunks"
                f" ({r.files_changed} changed, {r.files_deleted} removed)"
            )
        elif r.files_changed or r.files_deleted:
            say(
                f"updated {r.files_changed} files, removed {r.files_deleted}"
                f" ({r.chunks_written} chunks) in {r.seconds:.2f}s"
            )

    with Session(root, config) as session, signals_to(session.stop):
        live = LiveIndex(session, command="watch", on_report=on_report)
        live.start()
        said_waiting = said_watching = False
        while not session.stop.wait(0.25):
            if not live.writer and live.holder and not said_waiting:
                say(f"waiting: the index is being written by {live.holder}")
                said_waiting = True
            # Who writes is said first: "waiting" or nothing, then "watching".
            ready = live.writer or said_waiting
            if ready and live.watching.is_set() and not said_watching:
                say(f"watching {root} (Ctrl+C to stop)")
                said_watching = True
            if live.activity().phase == "failed":
                break
    if live.activity().phase == "failed":
        raise click.ClickException(live.last_error or "indexing failed")
    raise session.stop.interrupted("Stopped watching; the index is consistent.")


@click.command("setup")
@click.argument(
    "client",
    required=False,
    default="claude-code",
    type=click.Choice(["claude-code", "cursor", "vscode", "claude-desktop", "all"]),
)
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.pass_context
def setup_cmd(ctx: click.Context, client: str, path: Path | None, dry_run: bool) -> None:
    """Register the MCP server for PATH with CLIENT (default: claude-code).

    Writes or merges the client's MCP config (.mcp.json, .cursor/mcp.json,
    .vscode/mcp.json, or Claude Desktop's config), keeping other servers. Running it
    again changes nothing.
    """
    from ..client_setup import apply, expand, plan

    root = resolve_root(ctx, path, must_exist=False)
    changes = plan(expand(client), root)
    if not dry_run:
        apply(changes)
    for change in changes:
        if change.action == "unchanged":
            click.echo(f"{change.client}: {change.path} already up to date")
            continue
        verb = {"create": "would create", "update": "would update"}[change.action]
        if dry_run:
            click.echo(f"{change.client}: {verb} {change.path}")
            click.echo(change.diff().rstrip("\n"))
        else:
            click.echo(f"{change.client}: {change.action}d {change.path}")


@click.command("context")
@click.argument("path")
@click.argument("start_line", type=click.IntRange(min=1))
@click.argument("end_line", required=False, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="The get_context tool's answer, as JSON.")
@click.pass_context
def context_cmd(
    ctx: click.Context, path: str, start_line: int, end_line: int | None, as_json: bool
) -> None:
    """Print lines START_LINE..END_LINE (default: 40 lines) of PATH, relative to the project.

    The twin of the get_context MCP tool: the same bounds, and the same refusals for
    paths outside the project, ignored files and likely secrets.
    """
    from ..agent_tools import read_span
    from ..wire import to_json

    root = resolve_root(ctx, must_exist=False)
    answer = read_span(root, load(root), path, start_line, end_line or start_line + 39)
    if as_json:
        click.echo(to_json(answer))
        return
    width = len(str(answer.end_line))
    for number, text in enumerate(answer.code.split("\n"), start=answer.start_line):
        click.echo(f"{number:>{width}}  {text}")
    if answer.truncated:
        click.echo(f"(truncated; continue at line {answer.next_start_line})", err=True)
