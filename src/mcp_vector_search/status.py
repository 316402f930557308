"""Index status without loading a model: counts, skips, size, staleness, live progress."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from . import walker
from .config import Config
from .errors import IndexNotFoundError
from .lock import Lock, WriterLock
from .records import FileState, IndexStatus
from .store import Store

PROGRESS_FILE = "progress.json"


def collect_status(
    root: Path, config: Config, *, stale: bool = True, store: Store | None = None
) -> IndexStatus:
    from .store import index_meta, open_store, writer_lock

    index_dir = config.index_path(root)
    meta = index_meta(config, root)
    if meta is None:
        raise IndexNotFoundError(f"no index for {root}")
    dims, last_run, schema = (meta.get(k) for k in ("dimensions", "last_run", "schema_version"))
    dimensions = dims if isinstance(dims, int) else 0
    own = store is None
    if store is None:
        store = open_store(
            config,
            root,
            model_id=str(meta.get("model_id")),
            dimensions=dimensions,
            writable=False,
        )
    try:
        files, chunks, embedded = store.counts()
        skipped = store.skipped_counts()
        stale_files = count_stale(root, config, store.file_states()) if stale else None
        size = store.size_bytes()
        location = store.location  # the index dir, or the database for a shared store
    finally:
        if own:
            store.close()
    return IndexStatus(
        root=str(root),
        index_dir=location,
        files=files,
        chunks=chunks,
        embedded=embedded,
        skipped=skipped,
        model_id=str(meta.get("model_id")),
        dimensions=dimensions,
        size_bytes=size,
        last_run=last_run if isinstance(last_run, str) else None,
        stale_files=stale_files,
        schema_version=schema if isinstance(schema, int) else None,
        indexing=live_progress(index_dir, writer_lock(config, root)),
    )


def count_stale(root: Path, config: Config, states: Mapping[str, FileState]) -> int:
    """Files the next `index` would touch: added, changed, newly skipped or removed."""
    return walker.diff(states, walker.walk(root, config)).count


def write_progress(index_dir: Path, data: dict[str, object]) -> None:
    """Written by the writer so other processes (status, MCP) can show live progress."""
    tmp = index_dir / f"{PROGRESS_FILE}.tmp"
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(index_dir / PROGRESS_FILE)
    except OSError:
        pass  # progress is informative only


def live_progress(index_dir: Path, lock: Lock | None = None) -> dict[str, object] | None:
    """The writer's last progress, only while a writer holds the lock."""
    lock = lock if lock is not None else WriterLock(index_dir)
    if lock.holder() is None:
        return None
    try:
        data = json.loads((index_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"holder": lock.describe_holder()}
    if isinstance(data, dict):
        data["holder"] = lock.describe_holder()
        return data
    return None
