"""A record of the last complete run, so a no-op `index` needs no storage engine.

Opening the engine costs seconds (its Python package imports hundreds of modules); a
re-index with nothing to do only has to walk the tree and compare sizes and mtimes. The
snapshot is written at the end of a run that left every chunk embedded, and removed at
the start of every writing run, so it never vouches for a half-written index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import walker
from .config import Config
from .records import FileState

NAME = "clean-run.json"
VERSION = 1


def invalidate(index_dir: Path) -> None:
    try:
        (index_dir / NAME).unlink()
    except FileNotFoundError:
        pass


def write(
    index_dir: Path, config: Config, states: Mapping[str, FileState], summary: dict[str, Any]
) -> None:
    data = {
        "version": VERSION,
        "model": config.model,
        "summary": summary,
        "files": {p: [s.size, s.mtime_ns, s.status] for p, s in states.items()},
    }
    tmp = index_dir / f"{NAME}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, index_dir / NAME)
    except OSError:
        tmp.unlink(missing_ok=True)  # only an optimisation


def unchanged(root: Path, config: Config) -> dict[str, Any] | None:
    """The last run's summary when the tree still matches it, else None."""
    try:
        data = json.loads((config.index_path(root) / NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    if data.get("model") != config.model:
        return None
    files: dict[str, list[Any]] = data.get("files", {})
    try:
        states = {
            p: FileState(p, "", size, mtime, status) for p, (size, mtime, status) in files.items()
        }
    except (TypeError, ValueError):
        return None
    if walker.diff(states, walker.walk(root, config)).count:
        return None
    summary = data.get("summary")
    return summary if isinstance(summary, dict) else None
