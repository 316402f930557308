"""What the agent tools answer, computed over a session and its live index; no MCP here.

`mcp_server.py` exposes these methods as MCP tools. Answers are plain dataclasses (the
SDK derives the output schemas from them) and failures are our own errors, mapped to
tool errors at the MCP boundary. Every answer is bounded and says how complete the
index was when it was given: a tool call never waits for indexing to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import walker
from .answers import (
    ContextAnswer,
    Coverage,
    Indexing,
    ReindexAnswer,
    SearchAnswer,
    SimilarAnswer,
    StatusAnswer,
    SymbolAnswer,
    decode_cursor,
    encode_cursor,
    json_size,
    symbol_matches,
)
from .config import Config
from .embedding import Embedder
from .errors import ClosedError, IndexLockedError, IndexNotFoundError, UsageError
from .lifecycle import Session, State
from .live import LOCK_RETRY_SECONDS, LiveIndex
from .records import Hit
from .search import CANDIDATES, Searcher, find_symbol
from .similar import project_path, similar_to_location
from .status import WRITING_PHASES, collect_status, live_progress, vector_coverage
from .store import Store
from .wire import to_data

log = logging.getLogger("mcp_vector_search.tools")

DEFAULT_MAX_CHARS = 8_000
MAX_PAGE = 50
MAX_DEPTH = CANDIDATES  # the searcher ranks this many candidates; nothing lies beyond
MAX_CONTEXT_LINES = 400
MAX_CONTEXT_CHARS = 20_000
MAX_SNIPPET_QUERY_CHARS = 4_000
REINDEX_WAIT_SECONDS = 120.0
MODEL_WAIT_SECONDS = 1.0  # a fresh server's first hybrid search waits this long for the model


# ---------------------------------------------------------------------------- tools
class ProjectTools:
    """The tools over one project; thread-safe (the SDK runs each call in a worker)."""

    def __init__(self, session: Session, live: LiveIndex | None) -> None:
        self.session = session
        self.live = live
        self.root = session.root
        self._mutex = threading.Lock()
        self._reader: Store | None = None  # the session's reader behind _searcher
        self._searcher: Searcher | None = None
        self._early = False  # the reader is the writer's copy, until the engine is open
        self._engine_lock = threading.Lock()
        self._embedder: Embedder | None = None  # set by the warm-up as soon as it exists
        self.warmed = threading.Event()
        self.model_ready = threading.Event()
        self._model_failed = False

    # ------------------------------------------------------------ plumbing
    def start(self) -> None:
        self.session.start_thread(self._warm, "mvs-warm")
        if self.live is not None:
            self.live.start(after=self.warmed)

    def close(self) -> None:
        # Stops and joins the writer, watcher and warm-up first, then closes every store.
        self.session.close()
        with self._mutex:
            self._reader, self._searcher = None, None

    def _warm(self) -> None:
        """Load the model and the search caches now, so the first question is quick."""
        try:
            self._warm_up()
        finally:
            self.warmed.set()

    def _warm_up(self) -> None:
        # Warming is only an optimisation: real calls report their own errors. The model
        # first: until the engine is open (seconds: its import alone), searches are
        # answered from the writer's engine-free copy, which needs only the model.
        try:
            embedder = self._embedder = self.session.embedder()
            warm = getattr(embedder, "warm", None)
            if warm is not None:
                warm()
            self.model_ready.set()
            log.info("model ready: %s", embedder.model_id)
        except Exception as exc:
            self._model_failed = True
            log.info("model not ready: %s", exc)
        try:
            opened = self._open_engine()
            if opened is not None and not self.session.stop.requested:
                result = opened[0].search("warm up", limit=1, mode="lexical")
                index = result.index
                log.info("index open: %d chunks, %d embedded", index.chunks, index.embedded)
        except Exception as exc:
            log.info("index not open yet: %s", exc)

    def _open(self) -> tuple[Searcher, Store] | None:
        """The searcher over the session's reader, and that reader; None while no index
        exists yet."""
        with self._mutex:
            if self.session.state is State.CLOSED:
                raise ClosedError("the server is shutting down")
            if self._searcher is not None and self._reader is not None:
                if self._early:
                    if not self.warmed.is_set():
                        return self._searcher, self._reader
                elif -1 not in self._reader.version():
                    return self._searcher, self._reader
            early = None if self.warmed.is_set() else self._open_early()
            if early is not None:
                return early
        return self._open_engine()

    def _open_early(self) -> tuple[Searcher, Store] | None:
        """While the warm-up opens the engine: the writer's read copy, when it matches the
        store. The writer starts only once the warm-up is done, so the copy is exact.

        Nothing here waits on the session (which is busy opening the engine): the model
        is the one the warm-up made, and the copy needs no engine.
        """
        from .store import open_snapshot_reader

        deadline = time.monotonic() + MODEL_WAIT_SECONDS
        while self._embedder is None and not self.warmed.is_set():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)  # the warm-up makes it first thing (construction is cheap)
        embedder = self._embedder
        if embedder is None:
            return None
        early = open_snapshot_reader(
            self.session.config,
            self.root,
            model_id=embedder.model_id,
            dimensions=embedder.dimensions,
        )
        if early is None:
            return None
        self._reader, self._early = early, True
        self._searcher = Searcher(early, lambda: embedder)
        log.info("answering from the read copy while the engine opens")
        return self._searcher, early

    def _open_engine(self) -> tuple[Searcher, Store] | None:
        """Open the engine's reader without holding the mutex: early answers go on."""
        with self._engine_lock:
            with self._mutex:
                renew = False
                if self._searcher is not None and self._reader is not None and not self._early:
                    if -1 not in self._reader.version():
                        return self._searcher, self._reader
                    renew = True  # opened while the writer was still creating tables
            try:
                reader = self.session.reader(renew=renew)
            except IndexNotFoundError:
                return None
            with self._mutex:
                if self.session.state is State.CLOSED:
                    raise ClosedError("the server is shutting down")
                self._reader, self._early = reader, False
                self._searcher = Searcher(reader, self.session.embedder)
                return self._searcher, reader

    def _model_usable(self) -> bool:
        """False while the model is still loading after a short wait (a fresh server)."""
        if self._model_failed:
            return True  # let the search raise the model's own error
        return self.model_ready.wait(MODEL_WAIT_SECONDS)

    def _activity(self) -> Indexing | None:
        live = self.live
        if live is not None and live.writer:
            act = live.activity()
            if act.phase == "idle":
                return None
            return Indexing(act.phase, act.percent, act.detail, "this server")
        if live is not None and live.activity().phase == "failed":
            act = live.activity()
            return Indexing(act.phase, None, act.detail, "none")
        other = live_progress(self.session.index_dir, self.session.writer_lock)
        if other is None:
            return None
        phase = str(other.get("phase") or "unknown")
        if phase == "idle":
            return None
        percent = other.get("percent")
        return Indexing(
            phase,
            float(percent) if isinstance(percent, int | float) else None,
            str(other.get("detail") or ""),
            str(other.get("holder") or "another process"),
        )

    def _coverage(self, chunks: int, embedded: int | None) -> Coverage:
        act = self._activity()
        text = None
        if act is not None:
            pct = f" {act.percent:.0f}%" if act.percent is not None else ""
            text = f"{act.phase}{pct}: {act.detail}".rstrip(": ")
            if act.writer != "this server":
                text += f" (by {act.writer})"
        complete = act is None and (embedded is None or embedded >= chunks)
        return Coverage(chunks, embedded, complete, text)

    def _not_indexed(self) -> Coverage:
        cov = self._coverage(0, 0)
        if cov.indexing is None:
            cov.indexing = "no index yet: building it" if self.live else "no index yet"
        cov.complete = False
        return cov

    # ------------------------------------------------------------ tools
    def search_code(
        self,
        query: str,
        *,
        limit: int = 10,
        language: str | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
        cursor: str | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> SearchAnswer:
        offset = 0
        if cursor:
            state = decode_cursor(cursor)
            if query and query.strip() != state["q"].strip():
                raise UsageError("this cursor belongs to another query; repeat its query")
            query, offset, limit, mode = state["q"], state["o"], state["n"], state["m"]
            language, path_glob = state.get("l"), state.get("g")
        if not 1 <= limit <= MAX_PAGE:
            raise UsageError(f"limit must be between 1 and {MAX_PAGE}")
        opened = self._open()
        if opened is None:
            if not query.strip():
                raise UsageError("the query is empty")
            return SearchAnswer(query, mode, [], self._not_indexed())
        searcher = opened[0]
        depth = min(offset + limit + 1, MAX_DEPTH)
        used_mode = mode
        if mode == "hybrid" and not self._model_usable():
            used_mode = "lexical"  # this answer now beats a better one in a few seconds
        result = searcher.search(
            query, limit=depth, language=language, path_glob=path_glob, mode=used_mode
        )
        coverage = self._coverage(result.index.chunks, result.index.embedded)
        notes = list(result.notes)
        if used_mode != mode:
            notes.append("the model is still loading: lexical results only for now")
        state = {"q": query, "o": MAX_DEPTH, "n": limit, "m": mode, "l": language, "g": path_glob}
        cut_note = f"cut to {MAX_PAGE} results by the {max_chars}-character budget"
        # What the answer costs without hits, with the longest cursor and note it may get.
        envelope = json_size(
            SearchAnswer(
                result.query, result.mode, [], coverage, encode_cursor(state), [*notes, cut_note]
            )
        )
        budget = max_chars - envelope
        page: list[Hit] = []
        used = 0
        window = result.results[offset : offset + limit]
        for hit in window:
            cost = json_size(hit) + 1  # and its comma
            if page and used + cost > budget:
                break
            page.append(hit)
            used += cost
        shown = offset + len(page)
        next_cursor = None
        if len(page) < len(window) or (len(result.results) > shown and shown < MAX_DEPTH):
            next_cursor = encode_cursor({**state, "o": shown})
            if len(page) < len(window):
                notes.append(f"cut to {len(page)} results by the {max_chars}-character budget")
        return SearchAnswer(result.query, result.mode, page, coverage, next_cursor, notes)

    def find_symbol(self, name: str, *, kind: str | None = None, limit: int = 20) -> SymbolAnswer:
        if not 1 <= limit <= 100:
            raise UsageError("limit must be between 1 and 100")
        opened = self._open()
        if opened is None:
            if not name.strip():
                raise UsageError("the symbol name is empty")
            return SymbolAnswer(name, [], self._not_indexed())
        catalog = opened[1].chunk_catalog()
        matches = find_symbol(catalog, name, kind=kind, limit=limit)
        results = symbol_matches(matches)
        return SymbolAnswer(name, results, self._coverage(len(catalog), None))

    def find_similar(
        self,
        path: str | None = None,
        *,
        line: int | None = None,
        code: str | None = None,
        limit: int = 10,
    ) -> SimilarAnswer:
        if (path is None) == (code is None):
            raise UsageError("give either path (optionally with line) or code, not both")
        if code is not None and line is not None:
            raise UsageError("line goes with path, not with code")
        if not 1 <= limit <= MAX_PAGE:
            raise UsageError(f"limit must be between 1 and {MAX_PAGE}")
        if path is not None:
            project_path(self.root, path)  # refuse escapes before anything else
        opened = self._open()
        if opened is None:
            raise IndexNotFoundError("the index is still being built; try again shortly")
        searcher, store = opened
        if code is not None:
            if not code.strip():
                raise UsageError("code is empty")
            result = searcher.similar_to_text(code[:MAX_SNIPPET_QUERY_CHARS], limit=limit)
        else:
            assert path is not None
            result = similar_to_location(self.root, store, searcher, path, line=line, limit=limit)
        coverage = self._coverage(result.index.chunks, result.index.embedded)
        return SimilarAnswer(result.results, coverage, result.notes)

    def get_context(self, path: str, start_line: int, end_line: int) -> ContextAnswer:
        return read_span(self.root, self.session.config, path, start_line, end_line)

    def index_status(self) -> StatusAnswer:
        opened = self._open()
        activity = self._activity()
        watching = self.live is not None and self.live.watching.is_set()
        last_error = self.live.last_error if self.live is not None else None
        if opened is None:
            return StatusAnswer(
                root=str(self.root),
                files=0,
                chunks=0,
                embedded=0,
                percent_embedded=0.0,
                stale_files=None,
                skipped={},
                model=None,
                last_run=None,
                size_bytes=0,
                watching=watching,
                indexing=activity or Indexing("waiting", None, "no index yet", "none"),
                last_error=last_error,
            )
        st = collect_status(self.root, self.session.config, store=opened[1])
        pct = round(100.0 * st.embedded / st.chunks, 1) if st.chunks else 100.0
        # This server's own writer (or another's) is the fresher word on "in progress".
        writing = activity is not None and activity.phase in WRITING_PHASES
        vectors = vector_coverage(str(st.model_id), st.chunks, st.embedded, writing=writing)
        return StatusAnswer(
            root=st.root,
            files=st.files,
            chunks=st.chunks,
            embedded=st.embedded,
            percent_embedded=pct,
            stale_files=st.stale_files,
            skipped=dict(st.skipped),
            model=st.model_id,
            last_run=st.last_run,
            size_bytes=st.size_bytes,
            watching=watching,
            indexing=activity,
            last_error=last_error,
            vectors=vectors,
        )

    def reindex(self, paths: list[str] | None = None, *, force: bool = False) -> ReindexAnswer:
        live = self.live
        if live is None:
            raise UsageError("this server was started without indexing (read-only)")
        if paths is not None and not paths:
            raise UsageError("paths is empty; leave it out to update the whole project")
        if paths and force:
            raise UsageError("force rebuilds the whole project; give it without paths")
        rels = [project_path(self.root, p) for p in paths] if paths else None
        if not live.writer:
            act = live.activity()
            if act.phase == "failed":
                raise UsageError(f"indexing is stopped: {act.detail}")
            raise IndexLockedError(
                f"the index is being written by {live.holder or 'another process'};"
                " that process keeps it up to date",
                hint="this server takes over when it exits",
            )
        job = live.submit(rels, force=force)
        stop = self.session.stop
        deadline = time.monotonic() + REINDEX_WAIT_SECONDS
        while not job.done.wait(0.1):
            if stop.requested or time.monotonic() >= deadline:
                return ReindexAnswer(
                    done=False, notes=["still running in the background; see index_status"]
                )
        if job.error is not None:
            raise job.error
        r = job.report
        assert r is not None
        notes = []
        if live.activity().phase == "embed" or r.chunks_written:
            notes.append("lexical index updated; vectors for new chunks follow in the background")
        counts = r.counts()
        counts.seconds = round(counts.seconds, 3)
        return ReindexAnswer(**to_data(counts), done=True, notes=notes)


def open_tools(
    root: Path,
    config: Config,
    *,
    embedder_factory: Callable[[], Embedder] | None = None,
    index: bool = True,
    watch: bool = True,
    start: bool = True,
    lock_retry_seconds: float = LOCK_RETRY_SECONDS,
) -> ProjectTools:
    """ProjectTools over a new session, indexing and watching in the background if asked."""
    session = Session(root, config, embedder_factory=embedder_factory)
    live = (
        LiveIndex(session, watch=watch, command="mcp", lock_retry_seconds=lock_retry_seconds)
        if index
        else None
    )
    tools = ProjectTools(session, live)
    if start:
        tools.start()
    return tools


def read_span(
    root: Path, config: Config, path: str, start_line: int, end_line: int
) -> ContextAnswer:
    """Lines start_line..end_line of a project file, bounded; what the walker would skip
    (ignored, secret, binary, outside the root) is refused."""
    if start_line < 1 or end_line < start_line:
        raise UsageError("need 1 <= start_line <= end_line")
    rel = project_path(root, path)
    if walker.is_ignored(root, rel, config):
        raise UsageError(f"{rel} is excluded from the index (ignore rules or a likely secret)")
    abs_path = root / rel
    try:
        st = abs_path.stat()
    except OSError:
        raise UsageError(f"no such file: {rel}") from None
    if not abs_path.is_file():
        raise UsageError(f"not a file: {rel}")
    source = walker.read_source(walker.Candidate(rel, abs_path, st.st_size, st.st_mtime_ns), config)
    if isinstance(source, walker.Skipped):
        raise UsageError(f"{rel} is not served ({source.reason.replace('_', ' ')})")
    lines = source.text.splitlines()
    if start_line > max(len(lines), 1):
        raise UsageError(f"{rel} has only {len(lines)} lines")
    last = min(end_line, len(lines), start_line + MAX_CONTEXT_LINES - 1)
    out: list[str] = []
    used = 0
    for number in range(start_line, last + 1):
        text = lines[number - 1]
        if out and used + len(text) + 1 > MAX_CONTEXT_CHARS:
            break
        out.append(text[:MAX_CONTEXT_CHARS])
        used += len(text) + 1
    shown_end = start_line + len(out) - 1
    wanted_end = min(end_line, len(lines))
    truncated = shown_end < wanted_end
    return ContextAnswer(
        rel,
        start_line,
        shown_end,
        len(lines),
        "\n".join(out),
        truncated,
        shown_end + 1 if truncated else None,
    )
