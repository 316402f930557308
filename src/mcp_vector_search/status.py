"""Index status without loading a model, and without the engine where the side files say
enough: meta.json, the read sidecar (store/sidecar.py), progress.json and the lock.

progress.json has one schema, whoever writes it (`index`, `watch`, an MCP server):
`progress_record` builds it. A record whose phase is not done or idle, with no writer
holding the lock, is a run that was interrupted or killed in that phase.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import walker
from .config import Config
from .errors import IndexNotFoundError
from .lock import Lock, WriterLock
from .lock import indexing as is_indexing
from .records import FileState, IndexStatus, VectorCoverage
from .store import Store

if TYPE_CHECKING:
    from .indexer import Progress

PROGRESS_FILE = "progress.json"


class _Counts(Protocol):
    """What status reads from a store (or from the writer's copy of it)."""

    location: str

    def counts(self) -> tuple[int, int, int]: ...
    def skipped_counts(self) -> dict[str, int]: ...
    def file_states(self) -> dict[str, FileState]: ...
    def size_bytes(self) -> int: ...
    def close(self) -> None: ...


FINISHED_PHASES = frozenset({"done", "idle"})
WRITING_PHASES = frozenset({"scan", "lexical", "embed"})  # a run that embeds after these
INDEX_HINT = "run `mcp-vector-search index`"


def collect_status(
    root: Path, config: Config, *, stale: bool = True, store: Store | None = None
) -> IndexStatus:
    from .store import index_meta, open_store, snapshot_summary, writer_lock

    index_dir = config.index_path(root)
    meta = index_meta(config, root)
    if meta is None:
        raise IndexNotFoundError(f"no index for {root}")
    dims, last_run, schema = (meta.get(k) for k in ("dimensions", "last_run", "schema_version"))
    dimensions = dims if isinstance(dims, int) else 0
    model_id = str(meta.get("model_id"))
    lock = writer_lock(config, root)
    holder = lock.holder()
    progress = read_progress(index_dir)
    source: _Counts | None = store
    if source is None:
        # The writer's copy answers the counts; while a writer runs, a slightly older
        # copy is still the right answer to "how far is it" (the job line says the rest).
        source = snapshot_summary(
            config, root, model_id=model_id, dimensions=dimensions, stale_ok=holder is not None
        )
    if source is None:
        source = open_store(config, root, model_id=model_id, dimensions=dimensions, writable=False)
    try:
        files, chunks, embedded = source.counts()
        skipped = source.skipped_counts()
        stale_files = count_stale(root, config, source.file_states()) if stale else None
        size = source.size_bytes()
        location = source.location  # the index dir, or the database for a shared store
    finally:
        if store is None:
            source.close()
    indexing = None
    outcome = "complete" if isinstance(last_run, str) else None
    if progress is not None:
        if is_indexing(holder):
            indexing = {**progress, "holder": lock.describe_holder()}
        elif progress.get("phase") not in FINISHED_PHASES:
            outcome = "interrupted"
    writing = indexing is not None and indexing.get("phase") in WRITING_PHASES
    return IndexStatus(
        root=str(root),
        index_dir=location,
        files=files,
        chunks=chunks,
        embedded=embedded,
        skipped=skipped,
        model_id=model_id,
        dimensions=dimensions,
        size_bytes=size,
        last_run=last_run if isinstance(last_run, str) else None,
        stale_files=stale_files,
        schema_version=schema if isinstance(schema, int) else None,
        indexing=indexing,
        last_outcome=outcome,
        interrupted=progress if outcome == "interrupted" else None,
        vectors=vector_coverage(model_id, chunks, embedded, writing=writing),
    )


def vector_coverage(model_id: str, chunks: int, embedded: int, *, writing: bool) -> VectorCoverage:
    """How many chunks have vectors of the index's model, and why the rest have none.

    The cause is looked up now, not recorded by the run: weights installed since the last
    run make those chunks merely pending (the next run embeds them), and removed weights
    are reported even for an index that was complete.
    """
    from .embedding import INSTALL_WEIGHTS, model_label, needs_weights, weights_installed

    missing = chunks - embedded
    reason = hint = None
    if needs_weights(model_id) and not weights_installed():
        reason, hint = "weights not installed", INSTALL_WEIGHTS
    elif missing > 0:
        reason, hint = (
            ("embedding in progress", None) if writing else ("embedding pending", INDEX_HINT)
        )
    return VectorCoverage(model_label(model_id), model_id, embedded, missing, reason, hint)


def count_stale(root: Path, config: Config, states: Mapping[str, FileState]) -> int:
    """Files added, changed or removed since the last run (by size and mtime)."""
    walked = walker.walk(root, config)
    seen: set[str] = set()
    stale = 0
    for cand in walked.files:
        seen.add(cand.path)
        prev = states.get(cand.path)
        if prev is None or prev.size != cand.size or prev.mtime_ns != cand.mtime_ns:
            stale += 1
    seen.update(s.path for s in walked.skipped)
    stale += sum(1 for p in states if p not in seen)
    return stale


# ---------------------------------------------------------------- progress.json
class ProgressFile:
    """The writer's side of progress.json: one schema, at most every `interval` seconds
    (a new phase at once, so readers see each stage begin)."""

    def __init__(self, index_dir: Path, command: str, *, interval: float = 1.0) -> None:
        self.index_dir = index_dir
        self.command = command
        self.interval = interval
        self._written = 0.0
        self._phase = ""
        self._phase_started = time.time()
        self._started = time.time()

    def update(self, p: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        if p.phase != self._phase:
            self._phase, self._phase_started = p.phase, time.time()
        elif not force and now - self._written < self.interval:
            return
        self._written = now
        write_progress(self.index_dir, self.record(p))

    def idle(self) -> None:
        """Written when a long-lived writer (watch, MCP) has nothing left to do."""
        self._phase = "idle"
        write_progress(self.index_dir, {**self._base("idle"), "detail": "up to date"})

    def _base(self, phase: str) -> dict[str, object]:
        return {
            "phase": phase,
            "pid": os.getpid(),
            "command": self.command,
            "started": round(self._started, 3),
            "updated": round(time.time(), 3),
        }

    def record(self, p: Progress) -> dict[str, object]:
        lexical, embed = p.phase == "lexical", p.phase == "embed"
        done = p.files_done if lexical else p.embed_done if embed else None
        total = p.files_total if lexical else p.embed_total if embed else None
        rate: float | None = p.rate if embed else None
        eta = p.eta_seconds if embed else None
        if lexical and done:
            elapsed = time.time() - self._phase_started
            rate = done / elapsed if elapsed > 0 else None
            eta = (p.files_total - done) / rate if rate else None
        rec = self._base(p.phase)
        rec.update(
            {
                "unit": "files" if lexical else "chunks" if embed else None,
                "done": done,
                "total": total,
                "percent": round(100.0 * done / total, 1) if done is not None and total else None,
                "rate": round(rate, 2) if rate is not None else None,
                "eta_seconds": round(eta, 1) if eta is not None else None,
                # The indexer's own counters, under their own names (tests and tools).
                "files_total": p.files_total,
                "files_done": p.files_done,
                "chunks_written": p.chunks_written,
                "embed_total": p.embed_total,
                "embed_done": p.embed_done,
            }
        )
        rec["detail"] = f"{done}/{total} {rec['unit']}" if done is not None and total else ""
        return rec


def write_progress(index_dir: Path, data: Mapping[str, object]) -> None:
    """Replace progress.json atomically (readers never see half a record)."""
    tmp = index_dir / f"{PROGRESS_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(dict(data)), encoding="utf-8")
        tmp.replace(index_dir / PROGRESS_FILE)
    except OSError:
        tmp.unlink(missing_ok=True)  # progress is informative only


def read_progress(index_dir: Path) -> dict[str, object] | None:
    try:
        data = json.loads((index_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def live_progress(index_dir: Path, lock: Lock | None = None) -> dict[str, object] | None:
    """The writer's last progress, only while a writer holds the lock."""
    lock = lock if lock is not None else WriterLock(index_dir)
    if not is_indexing(lock.holder()):
        return None  # an interrupted run's catch-up has no progress of its own
    data = read_progress(index_dir)
    return {**(data or {}), "holder": lock.describe_holder()}
