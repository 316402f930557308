"""A live index: the project's index kept in step with its tree while a session lasts.

Two threads, both owned by the session and both ended by its stop token:

  writer   (here) takes the writer lock (or, while another process holds it, serves
           nothing and retries later), brings the whole index up to date once, then
           applies file changes as they come. Lexical work always goes first so an edit
           is searchable within moments; vectors are filled in afterwards and that
           embedding pass steps aside (between batches, after committing) whenever new
           changes arrive.
  watcher  (watch.py) file events -> debounced batches of project-relative paths,
           handed to `notify`.

Used by the MCP server and by the `watch` command, so both see the same freshness.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from . import watch
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
from .records import Activity
from .status import ProgressFile

log = logging.getLogger("mcp_vector_search.live")

LOCK_RETRY_SECONDS = 5.0
ERROR_BACKOFF_SECONDS = 5.0
ERROR_BACKOFF_MAX_SECONDS = 120.0
PROGRESS_WRITE_SECONDS = 0.5
AFTER_MAX_SECONDS = 10.0  # the longest the first pass waits for the server to warm up
# Quiet time after an edit before the engine-free read copy is rebuilt (its cost is in
# proportion to the index, so not once per save); until then cold readers use the engine.
COPY_IDLE_SECONDS = 30.0


@dataclass(eq=False)
class Job:
    """A requested lexical pass; `done` is set once its changes are searchable."""

    paths: tuple[str, ...] | None  # None: the whole tree
    force: bool = False
    explicit: bool = False  # asked for (reindex), not found by the watcher
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


class LiveIndex:
    def __init__(
        self,
        session: Session,
        *,
        watch: bool = True,
        command: str = "watch",
        lock_retry_seconds: float = LOCK_RETRY_SECONDS,
        on_report: Callable[[str, IndexReport], None] | None = None,
        copy_idle_seconds: float = COPY_IDLE_SECONDS,
    ) -> None:
        self._session = session
        self._copy_idle = copy_idle_seconds
        self._copy_due: float | None = None  # when to rebuild the read copy, once idle
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
        self._progress_file = ProgressFile(
            session.index_dir, command, interval=PROGRESS_WRITE_SECONDS
        )
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
            session = self._session
            self._session.start_thread(
                lambda: watch.watch_tree(session, self.notify, self.watching), "mvs-watch"
            )

    def submit(self, paths: Sequence[str] | None = None, *, force: bool = False) -> Job:
        """Queue a lexical pass over `paths` (project-relative) or the whole tree."""
        job = Job(tuple(paths) if paths is not None else None, force, explicit=True)
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
            copy = job is None and not embed and self._copy_is_due()
            if job is None and not embed and not copy:
                self._cond.wait(0.5)
                return
            self._busy = True
            if embed:
                self._yield = _YieldToken(self._session.stop)
        try:
            if job is not None:
                self._run_lexical(job)
            elif embed:
                self._run_embedding()
            else:
                self._indexer(self._session.stop).refresh_read_copy()
        finally:
            with self._cond:
                self._busy = False
                self._yield = None
                self._cond.notify_all()

    def _copy_is_due(self) -> bool:
        due = self._copy_due
        if due is None or time.monotonic() < due:
            return False
        self._copy_due = None
        return True

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
                # Totals cost full-table counts: only an explicit request reports them.
                report = indexer.update_paths(job.paths, embed=False, totals=job.explicit)
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
            if job.paths is not None and report.files_changed + report.files_deleted:
                self._copy_due = time.monotonic() + self._copy_idle  # a later edit defers it
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

    def _record_progress(self, progress: Progress) -> None:
        self._progress = progress
        if self.writer:
            self._progress_file.update(progress, force=progress.phase == "done")

    def _publish_progress(self, progress: Progress | None) -> None:
        """progress.json (status.py's one schema), so `status` and other servers see what
        this writer is doing."""
        if not self.writer:
            return
        if progress is None:
            self._progress_file.idle()
        else:
            self._progress_file.update(progress, force=True)
