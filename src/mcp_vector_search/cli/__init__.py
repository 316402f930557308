"""The command line. Heavy modules are imported inside commands so `--help` and
`status` stay light; one error handler turns our errors into one line and an exit code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import MVSError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class App:
    """Per-invocation options shared by the commands."""

    def __init__(self, project: Path | None, debug: bool) -> None:
        self.project = project
        self.debug = debug


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="mcp-vector-search")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MVS_PROJECT",
    help="Project root (default: found by walking up from the current directory).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, project: Path | None, debug: bool) -> None:
    """Fast, local semantic code search for people and AI coding agents."""
    ctx.obj = App(project, debug)


def _register() -> None:
    from . import index_cmds, search_cmds

    index_cmds.register(cli)
    search_cmds.register(cli)
    try:
        from . import agent_cmds
    except ImportError:  # the MCP commands ship in their own module
        return
    agent_cmds.register(cli)


_register()


def run(args: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (no process exit; used by tests)."""
    debug = "--debug" in (args if args is not None else sys.argv[1:])
    try:
        cli.main(args=args, prog_name="mcp-vector-search", standalone_mode=False)
        return 0
    except MVSError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        message = str(exc)
        hint = getattr(exc, "hint", None)
        click.echo(
            f"error: {message}" if exc.exit_code != 130 and exc.exit_code != 143 else message,
            err=True,
        )
        if hint and exc.exit_code not in (130, 143):
            click.echo(f"hint: {hint}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except BrokenPipeError:
        # `search ... | head`: the reader left; say nothing.
        return 0


def main() -> None:
    """Console-script entry point."""
    code = run()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    try:
        sys.stderr.flush()
    except OSError:
        pass
    # Every resource was closed and every worker joined by now; leaving without
    # interpreter finalization means no library thread can wake into a dying
    # interpreter (the PyO3 "interpreter is not initialized" panic).
    os._exit(code)
