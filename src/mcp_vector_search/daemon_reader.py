"""What the search daemon searches with, chosen per request, and what it lets go of idle.

A daemon lives on for minutes after a coding session's last search, so what it holds
while idle matters more than what a one-shot search peaks at. Two things are big: the
storage engine (importing LanceDB alone is ~190 MB, and an import can't be undone) and
the model (MiniLM's ONNX session, ~150 MB with its arenas). So:

- It answers from the writer's engine-free read copy (store/sidecar.py) while that
  matches the store, checked on every request (`snapshot_token`: two stats, three
  directory listings), so a re-index is seen at once; a newer copy is mapped when the
  writer publishes one. Only while the copy is behind the store (a writer mid-run) does
  it open the engine, as the in-process search would.
- After search_daemon.RELEASE_SECONDS without a request it drops the model's session
  and gives the freed heap back to the OS; the next request that embeds loads it again (~0.25 s),
  lexical requests never do.
- One that had to import the engine asks, when idle again with the copy current, to be
  started over (`wants_restart`): the new process image has none of it, and the
  election lock survives the exec (search_daemon.restart).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .embedding import Releasable
from .native import return_memory_to_os
from .search import Searcher, symbol_index
from .store import engine_loaded, index_is_local, open_snapshot_reader, open_store, snapshot_token

if TYPE_CHECKING:
    from .lifecycle import Session
    from .records import SearchResult
    from .store import Store


class DaemonReader:
    """Searches for the daemon over the copy or the engine; one request at a time."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._copy: tuple[tuple[object, ...], Store, Searcher] | None = None
        self._engine: tuple[Store, Searcher] | None = None
        self._behind: tuple[object, ...] | None = None  # token of a copy found stale
        self._prepared: Searcher | None = None
        self.source = ""  # what answered the last request: "copy" or "engine"

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        language: str | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
    ) -> SearchResult:
        searcher = self._pick()[1]
        return searcher.search(
            query, limit=limit, language=language, path_glob=path_glob, mode=mode
        )

    def counts(self) -> tuple[int, int, int]:
        return self._pick()[0].counts()

    def _pick(self) -> tuple[Store, Searcher]:
        """The copy while it matches the store, else the engine."""
        copy = self._current_copy()
        if copy is not None:
            self.source = "copy"
            return copy
        if self._engine is None:
            session = self._session
            embedder = session.embedder()
            engine = open_store(
                session.config,
                session.root,
                model_id=embedder.model_id,
                dimensions=embedder.dimensions,
                writable=False,
            )
            self._engine = (engine, Searcher(engine, session.embedder))
        self.source = "engine"
        return self._engine

    def _current_copy(self) -> tuple[Store, Searcher] | None:
        """The read copy and its searcher while the copy matches the store, else None."""
        session = self._session
        # Taken before the open: a copy replaced in between is seen as changed next time.
        token = snapshot_token(session.config, session.root)
        if token is None:
            self._drop_copy()
            return None
        if self._copy is not None and self._copy[0] == token:
            return self._copy[1:]
        if token == self._behind:
            return None  # still the copy found behind the store: no header to read again
        embedder = session.embedder()
        store = open_snapshot_reader(
            session.config,
            session.root,
            model_id=embedder.model_id,
            dimensions=embedder.dimensions,
        )
        self._drop_copy()
        if store is None:
            self._behind = token
            return None
        self._copy = (token, store, Searcher(store, session.embedder))
        return self._copy[1:]

    def _drop_copy(self) -> None:
        if self._copy is not None:
            self._copy[1].close()  # requests are sequential: no search still uses it
            self._copy = None

    def prepare(self) -> None:
        """Between requests: map a newer copy the writer published and build its catalog
        and symbol index now, rather than in the next request (Django's 85k chunks: ~0.9
        s, once every 30 s while a run embeds). The engine is never opened here."""
        copy = self._current_copy()
        if copy is not None and copy[1] is not self._prepared:
            symbol_index(copy[0].chunk_catalog())
            copy[1].search("warm up", limit=1, mode="lexical")  # the rest of its lazy state
            self._prepared = copy[1]

    def release(self) -> bool:
        """Let go of the model (and of the engine, while the copy answers); True when the
        process should start over to shed an engine it imported."""
        embedder = self._session.embedder()
        if isinstance(embedder, Releasable):
            embedder.release()
        copy_serves = index_is_local(self._session.config) and self._current_copy() is not None
        if self._engine is not None and copy_serves:
            self._engine[0].close()
            self._engine = None
        return_memory_to_os()
        return copy_serves and engine_loaded()

    def info(self) -> dict[str, Any]:
        """What the daemon holds now (for tests and benchmarks)."""
        embedder = self._session.embedder()
        return {
            "pid": os.getpid(),
            "source": self.source,
            "model_loaded": embedder.loaded if isinstance(embedder, Releasable) else None,
            "engine_open": self._engine is not None,
            "engine_imported": engine_loaded(),
        }
