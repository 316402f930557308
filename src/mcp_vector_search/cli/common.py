"""Project resolution and session opening shared by the commands."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..config import Config, find_project_root, load_config
from ..errors import IndexNotFoundError, UsageError


def app_of(ctx: click.Context) -> object:
    return ctx.find_root().obj


def resolve_root(ctx: click.Context, path: Path | None = None, *, must_exist: bool) -> Path:
    """The project root: explicit PATH, then --project, then walk up from the cwd."""
    app = ctx.find_root().obj
    explicit = path or getattr(app, "project", None)
    if explicit is not None:
        root = Path(os.path.expanduser(str(explicit))).resolve()
        if not root.exists():
            raise UsageError(f"no such directory: {explicit}")
        if not root.is_dir():
            raise UsageError(f"not a directory: {explicit}")
        return root
    found = find_project_root(Path.cwd())
    if found is not None:
        return found.resolve()
    if must_exist:
        raise IndexNotFoundError(f"no index found in {Path.cwd()} or any parent directory")
    return Path.cwd().resolve()


def load(root: Path, **overrides: object) -> Config:
    return load_config(root, overrides={k: v for k, v in overrides.items() if v is not None})


def require_index(config: Config, root: Path) -> None:
    from ..store import index_meta

    if index_meta(config, root) is None:
        raise IndexNotFoundError(f"no index for {root}")
