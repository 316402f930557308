"""Code similar to a location or a snippet; paths are confined to the project root."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError
from .records import SearchResult
from .search import Searcher
from .store import Store


def project_path(root: Path, path: str) -> str:
    """A project-relative posix path for `path`, refusing anything outside the root.

    `..`, absolute paths elsewhere and symlinks that resolve outside are all refused.
    """
    if not path or "\x00" in path:
        raise UsageError("empty or invalid path")
    candidate = Path(path)
    full = candidate if candidate.is_absolute() else (root / candidate)
    real_root = root.resolve()
    resolved = Path(os.path.realpath(full))
    try:
        rel = resolved.relative_to(real_root)
    except ValueError:
        raise UsageError(f"path is outside the project: {path}") from None
    return rel.as_posix()


def similar_to_location(
    root: Path,
    store: Store,
    searcher: Searcher,
    path: str,
    *,
    line: int | None = None,
    limit: int = 10,
) -> SearchResult:
    rel = project_path(root, path)
    catalog = [c for c in store.chunk_catalog() if c.path == rel]
    if not catalog:
        raise UsageError(f"{rel} is not in the index")
    if line is not None:
        inside = [c for c in catalog if c.start_line <= line <= c.end_line]
        if not inside:
            raise UsageError(f"no indexed code at {rel}:{line}")
        # The innermost definition around the line.
        target = min(inside, key=lambda c: c.end_line - c.start_line)
        chosen = [target]
    else:
        chosen = catalog
    contents = store.contents([c.id for c in chosen[:20]])
    text = "\n".join(contents.get(c.id, "") for c in chosen[:20])
    span = (chosen[0].start_line, chosen[-1].end_line) if line is not None else (1, 10**9)
    return searcher.similar_to_text(text, limit=limit, exclude_path=rel, exclude_span=span)
