"""A live index: the project's index kept in step with its tree while a session lasts.

Two threads, both owned by the session and both ended by its stop token:

  writer   takes the writer lock (or, while another process holds it, serves nothing and
           retries later), brings the whole index up to date once, then applies file
           changes as they come. Lexical work always goes first so an edit is searchable
           within moments; vectors are filled in afterwards and that embedding pass
           steps aside (between batches, after committing) whenever new changes arrive.
  watcher  watchfiles events -> debounced batches of project-relative paths, filtered by
           the walker's own ignore rules, handed to the writer.

Used by the MCP server and by the `watch` command, so both see the same freshness.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import walker
from .cancel import StopToken
from .errors import (
    IndexLockedError,
    Interrupted,
    ModelMismatchError,
    MVSError,
    SchemaError,
)
from .indexer import Indexer, IndexReport, Progress
from .lifecycle import Session
from .status import write_progress

log = logging.getLogger("mcp_vector_search.watch")

# watchfiles yields once the tree has been quiet for STEP ms, or after MAX ms of a
# continuous stream of events; a save is applied well inside the 2 s promise.
DEBOUNCE_STEP_MS = 50
DEBOUNCE_MAX_MS = 500
LOCK_RETRY_SECONDS = 5.0
ERROR_BACKOFF_SECONDS = 5.0
ERROR_BACKOFF_MAX_SECONDS = 120.0
PROGRESS_WRITE_SECONDS = 0.5
EXPAND_MAX_FILES = 2_000  # files under a new directory handled one by one
AFTER_MAX_SECONDS = 10.0  # the longest the first pass waits for the server to warm up
# Changing these changes which files count at all: re-walk the tree instead of
# guessing which paths the new rules touch.
RULE_FILES = frozenset({".gitignore", walker.MVS_IGNORE_NAME, ".mcp-vector-search.toml"})


@dataclass(eq=False)
class Job:
    """A requested lexical pass; `done` is set once its changes are searchable."""

    paths: tuple[str, ...] | None  # None: the whole tree
    force: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    report: IndexReport | None = None
    error: MVSError | None = None


class _YieldToken(StopToken):
    """Stops the indexer when the session stops, or when asked to step aside."""

    def __init__(self, outer: StopToken) -> None:
        super().__init__()
        self._outer = outer

    @property
    def requested(self) -> bool:
        return self.event.is_set() or self._outer.requested


@dataclass(frozen=True, slots=True)
class Activity:
    """What the writer is doing now, for status answers."""

    phase: str  # waiting_for_lock | scan | lexical | embed | optimize | idle | failed
    percent: float | None = None
    detail: str = ""


class LiveIndex:
    def __init__(
        self,
        session: Session,
        *,
        watch: bool = True,
        command: str = "watch",
        lock_retry_seconds: float = LOCK_RETRY_SECONDS,
        on_report: Callable[[str, IndexReport], None] | None = None,
    ) -> None:
        self._session = session
        self._watch_enabled = watch
        self._command = command
        self._lock_retry = lock_retry_seconds
        self._on_report = on_report or (lambda kind, report: None)
        self._cond = threading.Condition()
        self._jobs: list[Job] = []
        self._paths: dict[str, None] = {}  # changed paths, in arrival order
        self._full_pending = True  # one whole-tree pass once we are the writer
        self._embed_pending = True
        self._busy = False
        self._yield: _YieldToken | None = None
        self._progress: Progress | None = None
        self._progress_written = 0.0
        self._fatal: MVSError | None = None
        self.writer = False
        self.watching = threading.Event()
        self.last_error: str | None = None
        self.last_report: IndexReport | None = None
        self.holder: str | None = None  # who holds the lock while we wait for it
        self._after: threading.Event | None = None

    # ------------------------------------------------------------------ control
    def start(self, *, after: threading.Event | None = None) -> None:
        """Start the threads; the writer's first pass waits (a little) for `after`.

        The server passes its warm-up event: the first answer comes before a pass over
        the whole tree competes with it for the CPU.
        """
        self._after = after
        self._session.start_thread(self._writer_loop, "mvs-writer")
        if self._watch_enabled:
            self._session.start_thread(self._watch_loop, "mvs-watch")

    def submit(self, paths: Sequence[str] | None = None, *, force: bool = False) -> Job:
        """Queue a lexical pass over `paths` (project-relative) or the whole tree."""
        job = Job(tuple(paths) if paths is not None else None, force)
        with self._cond:
            self._jobs.append(job)
            self._step_aside()
            self._cond.notify_all()
        return job

    def notify(self, paths: Iterable[str], *, full: bool = False) -> None:
        """File changes seen on disk (the watcher's entry point)."""
        with self._cond:
            for rel in paths:
                self._paths[rel] = None
            self._full_pending = self._full_pending or full
            self._step_aside()
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until nothing is queued or running, vectors included (for tests and benches)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._has_work() or self._busy or not self.writer:
                if self._fatal is not None or self._session.stop.requested:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
            return True

    def activity(self) -> Activity:
        if self._fatal is not None:
            return Activity("failed", detail=str(self._fatal))
        if not self.writer:
            return Activity("waiting_for_lock", detail=self.holder or "")
        p = self._progress
        if p is None or p.phase == "done":
            return Activity("idle")
        if p.phase == "lexical" and p.files_total:
            pct = 100.0 * p.files_done / p.files_total
            return Activity("lexical", round(pct, 1), f"{p.files_done}/{p.files_total} files")
        if p.phase == "embed" and p.embed_total:
            pct = 100.0 * p.embed_done / p.embed_total
            eta = f", about {p.eta_seconds:.0f}s left" if p.eta_seconds else ""
            detail = f"{p.embed_done}/{p.embed_total} chunks embedded{eta}"
            return Activity("embed", round(pct, 1), detail)
        return Activity(p.phase)

    # ------------------------------------------------------------------ writer
    def _has_work(self) -> bool:
        return bool(self._jobs or self._paths or self._full_pending or self._embed_pending)

    def _step_aside(self) -> None:
        # Called with the condition held: a running embedding pass commits what it has
        # and lets the lexical work through; it resumes right after.
        if self._yield is not None:
            self._yield.request()

    def _ensure_writer(self) -> bool:
        if self.writer:
            return True
        try:
            self._session.acquire_writer(wait=False, command=self._command)
        except IndexLockedError:
            self.holder = self._session.writer_lock.describe_holder()
            return False
        try:
            self._session.store(writable=True)
        except MVSError:
            self._session.release_writer()
            raise
        with self._cond:
            self.writer = True
            self.holder = None
            self._full_pending = True
            self._embed_pending = True
            self._cond.notify_all()
        return True

    def _writer_loop(self) -> None:
        stop = self._session.stop
        if self._after is not None:
            deadline = time.monotonic() + AFTER_MAX_SECONDS
            while not (stop.requested or self._after.is_set()) and time.monotonic() < deadline:
                self._after.wait(0.1)
        backoff = ERROR_BACKOFF_SECONDS
        while not stop.requested:
            try:
                if not self._ensure_writer():
                    stop.wait(self._lock_retry)
                    continue
                self._step()
                backoff = ERROR_BACKOFF_SECONDS
            except Interrupted:
                if stop.requested:
                    break
            except (ModelMismatchError, SchemaError) as exc:
                # A server never rebuilds an index on its own: say why and stop writing.
                self._fail(exc)
                break
            except MVSError as exc:
                if stop.requested:
                    break  # the session closed under the work (ClosedError): just stop
                self.last_error = str(exc)
                log.warning("indexing failed, retrying in %.0fs: %s", backoff, exc)
                with self._cond:
                    self._full_pending = True  # the failed work is found again by a walk
                stop.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX_SECONDS)
        self._publish_progress(None)
        with self._cond:
            for job in self._jobs:
                job.error = job.error or stop.interrupted("stopped before this update ran")
                job.done.set()
            self._jobs.clear()
            self._cond.notify_all()

    def _fail(self, exc: MVSError) -> None:
        self._fatal = exc
        self.last_error = str(exc)
        log.error("%s%s", exc, f" ({exc.hint})" if exc.hint else "")
        self._session.release_writer()
        with self._cond:
            self.writer = False
            for job in self._jobs:
                job.error = exc
                job.done.set()
            self._jobs.clear()
            self._cond.notify_all()

    def _step(self) -> None:
        """Run the most urgent piece of work, or wait a little for some."""
        with self._cond:
            job = self._take_job()
            embed = job is None and self._embed_pending
            if job is None and not embed:
                self._cond.wait(0.5)
                return
            self._busy = True
            if embed:
                self._yield = _YieldToken(self._session.stop)
        try:
            if job is not None:
                self._run_lexical(job)
            else:
                self._run_embedding()
        finally:
            with self._cond:
                self._busy = False
                self._yield = None
                self._cond.notify_all()

    def _take_job(self) -> Job | None:
        """Explicit requests first, then the whole-tree pass, then watched changes."""
        if self._jobs:
            job = self._jobs.pop(0)
        elif self._full_pending:
            job = Job(None)
        elif self._paths:
            job = Job(tuple(self._paths))
            self._paths.clear()
            return job
        else:
            return None
        if job.paths is None:
            # The walk about to start sees every change queued so far.
            self._full_pending = False
            self._paths.clear()
        return job

    def _indexer(self, stop: StopToken) -> Indexer:
        session = self._session
        return Indexer(
            session.root,
            session.config,
            session.store(writable=True),
            session.embedder,
            stop=stop,
            progress=self._record_progress,
        )

    def _run_lexical(self, job: Job) -> None:
        try:
            indexer = self._indexer(self._session.stop)
            if job.paths is None:
                report = indexer.run(force=job.force, embed=False)
            else:
                paths = self._expand(job.paths)
                if paths is None:  # a big directory appeared: one walk beats many checks
                    report = indexer.run(embed=False)
                else:
                    report = indexer.update_paths(paths, embed=False)
            job.report = report
        except MVSError as exc:
            job.error = exc
            raise
        finally:
            job.done.set()  # after the report (or error) is in place
        log.info(
            "lexical pass done: %d changed, %d removed, %.2fs",
            report.files_changed,
            report.files_deleted,
            report.seconds,
        )
        self.last_report = report
        self.last_error = None
        with self._cond:
            self._embed_pending = True
        self._on_report("full" if job.paths is None else "update", report)

    def _run_embedding(self) -> None:
        token = self._yield
        assert token is not None
        try:
            report = self._indexer(token).embed_pending()
        except Interrupted:
            if self._session.stop.requested:
                raise
            return  # stepped aside for new changes; resumes on a later step
        with self._cond:
            # Work queued meanwhile sets it again when its lexical pass runs.
            self._embed_pending = False
        self._progress = None
        self._publish_progress(None)
        if report.vectors_added:
            self._on_report("embed", report)

    def _expand(self, paths: Sequence[str]) -> list[str] | None:
        """Paths the indexer can take one by one; None when a whole-tree pass is needed."""
        root = self._session.root
        known: dict[str, Any] | None = None
        out: list[str] = []
        for rel in paths:
            if os.path.isdir(root / rel):
                # A directory created or moved in: its files may predate the watch on it.
                if not self._files_under(rel, out):
                    return None
                continue
            out.append(rel)
            if not (root / rel).exists():
                # A removed directory reports only itself: drop what was indexed under it.
                if known is None:
                    known = self._session.store(writable=True).file_states()
                if rel not in known:
                    prefix = rel + "/"
                    out.extend(p for p in known if p.startswith(prefix))
        return out

    def _files_under(self, rel_dir: str, out: list[str]) -> bool:
        """Add the files under a directory, pruning ignored ones; False if too many."""
        root, config = self._session.root, self._session.config
        for dirpath, dirnames, filenames in os.walk(root / rel_dir):
            here = os.path.relpath(dirpath, root).replace(os.sep, "/")
            dirnames[:] = [
                d for d in dirnames if not walker.is_ignored(root, f"{here}/{d}", config)
            ]
            out.extend(f"{here}/{name}" for name in filenames)
            if len(out) > EXPAND_MAX_FILES:
                return False  # one walk of the tree is cheaper than path-by-path checks
        return True

    def _record_progress(self, progress: Progress) -> None:
        self._progress = progress
        now = time.monotonic()
        if progress.phase == "done" or now - self._progress_written >= PROGRESS_WRITE_SECONDS:
            self._progress_written = now
            self._publish_progress(progress)

    def _publish_progress(self, progress: Progress | None) -> None:
        """progress.json, so `status` and other servers see what this writer is doing."""
        if not self.writer:
            return
        activity = self.activity() if progress is not None else Activity("idle")
        write_progress(
            self._session.index_dir,
            {
                "phase": activity.phase,
                "percent": activity.percent,
                "detail": activity.detail,
                "pid": os.getpid(),
                "command": self._command,
                "updated": time.time(),
            },
        )

    # ------------------------------------------------------------------ watcher
    def _watch_loop(self) -> None:
        import watchfiles

        session = self._session
        root = session.root
        prefix = str(root).rstrip(os.sep) + os.sep
        index_dir = str(session.index_dir)

        def relevant(change: watchfiles.Change, path: str) -> bool:
            # Called for every raw event: the watches are in place.
            self.watching.set()
            if path.startswith(index_dir) or not path.startswith(prefix):
                return False
            rel = path[len(prefix) :]
            if rel == ".git" or rel.startswith(".git/") or "/.git/" in rel:
                return False
            if os.path.basename(rel) in RULE_FILES:
                return True
            return not walker.is_ignored(root, rel, session.config)

        polling = False
        while not session.stop.requested:
            try:
                for changes in watchfiles.watch(
                    root,
                    watch_filter=relevant,
                    debounce=DEBOUNCE_MAX_MS,
                    step=DEBOUNCE_STEP_MS,
                    stop_event=session.stop.event,
                    # Short timeouts only tell us the watches are in place (watching).
                    rust_timeout=200,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                    force_polling=polling or None,
                ):
                    self.watching.set()
                    if changes:
                        self._dispatch(changes, prefix)
                return
            except (OSError, RuntimeError) as exc:
                # inotify watch limits on huge trees: polling is slower but still works.
                if polling:
                    log.error("file watching stopped: %s", exc)
                    return
                log.warning("file watching failed (%s); falling back to polling", exc)
                polling = True

    def _dispatch(self, changes: set[tuple[Any, str]], prefix: str) -> None:
        rels = sorted({path[len(prefix) :] for _change, path in changes})
        full = any(os.path.basename(rel) in RULE_FILES for rel in rels)
        self.notify(rels, full=full)
