#!/usr/bin/env python3
"""Render the README's command reference from the CLI's own --help (and the MCP tool
list from the server's schemas), so the docs cannot drift. `--check` fails when the
README is stale (the test suite runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def cli_reference() -> str:
    from mcp_vector_search.cli import cli

    parts = ["### Commands\n"]
    root_ctx = click.Context(
        cli, info_name="mcp-vector-search", terminal_width=100, max_content_width=100
    )
    parts.append("```text\n" + cli.get_help(root_ctx).rstrip() + "\n```\n")
    for name in sorted(cli.list_commands(root_ctx)):
        cmd = cli.get_command(root_ctx, name)
        if cmd is None or cmd.hidden:
            continue
        ctx = click.Context(
            cmd, info_name=name, parent=root_ctx, terminal_width=100, max_content_width=100
        )
        parts.append(f"#### `{name}`\n\n```text\n" + cmd.get_help(ctx).rstrip() + "\n```\n")
    return "\n".join(parts)


def mcp_reference() -> str:
    try:
        from mcp_vector_search.mcp_server import tool_reference
    except ImportError:
        return ""
    return tool_reference()


def render() -> str:
    return "\n".join(p for p in (cli_reference(), mcp_reference()) if p)


def main() -> int:
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README.md lacks the {START} / {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n\n{render().strip()}\n\n{END}{tail}"
    if "--check" in sys.argv:
        if new != text:
            print("README.md reference is stale: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
