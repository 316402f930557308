"""Query -> lexical and vector candidates -> ranking -> hits."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from . import lexical, ranking
from .embedding import Embedder
from .errors import UsageError
from .records import Hit, IndexCounts, SearchResult
from .snippets import make_snippet, signature
from .store import LexicalHit, Store, StoredChunk

MODES = ("hybrid", "semantic", "lexical")
MAX_QUERY_CHARS = 2000  # the model reads ~256 tokens; more only slows lexical search
MAX_QUERY_TERMS = 48
SIGNAL_CHARS = 20_000  # a pasted bug report with its traceback: scanned for signal terms
CANDIDATES = 100


def path_matches(path: str, pattern: str) -> bool:
    """Glob on the project-relative path; a bare directory matches everything under it."""
    pattern = pattern.strip().lstrip("./") if pattern.startswith("./") else pattern.strip()
    if fnmatch.fnmatchcase(path, pattern):
        return True
    if "/" not in pattern and fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern):
        return True
    prefix = pattern.rstrip("/")
    return bool(prefix) and not any(ch in prefix for ch in "*?[") and path.startswith(prefix + "/")


class Searcher:
    """Answers queries over one store. Thread-safe; caches follow the store's version."""

    def __init__(self, store: Store, embedder: Callable[[], Embedder] | None) -> None:
        self._store = store
        self._embedder_factory = embedder
        self._lock = threading.Lock()
        self._version: tuple[int, ...] | None = None
        self._chunk_count = 0
        self._embedded = 0

    def _refresh(self) -> None:
        version = self._store.version()
        if version == self._version:
            return
        _files, self._chunk_count, self._embedded = self._store.counts()
        self._version = version

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        language: str | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
    ) -> SearchResult:
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if not query or not query.strip():
            raise UsageError("the query is empty", hint='try a phrase like "parse config file"')
        if limit < 1:
            raise UsageError("limit must be at least 1")
        notes: list[str] = []
        full_query = query
        if len(query) > MAX_QUERY_CHARS:
            notes.append(f"query truncated to its first {MAX_QUERY_CHARS} of {len(query)} chars")
            query = query[:MAX_QUERY_CHARS]
        with self._lock:
            self._refresh()
            chunk_count, embedded = self._chunk_count, self._embedded
        all_terms = lexical.query_terms(query)
        use_signal_list = mode == "hybrid" and ranking.DEFAULT.signal_weight > 0
        # Only a query past the term budget (or the signal list, when weighted) needs them.
        signal = (
            lexical.signal_terms(full_query[:SIGNAL_CHARS])
            if use_signal_list or len(all_terms) > MAX_QUERY_TERMS
            else []
        )
        if len(all_terms) > MAX_QUERY_TERMS:
            # A long query keeps what carries signal (identifiers, errors, options, quotes,
            # from all of its text) when cut to the term budget, not just its first words.
            all_terms = lexical.unique([*signal, *all_terms])
        terms = all_terms[:MAX_QUERY_TERMS]
        filtered = bool(language or path_glob)
        pool = CANDIDATES * (10 if filtered else 1)

        def keep(c: StoredChunk) -> bool:
            if language and c.language != language:
                return False
            return not (path_glob and not path_matches(c.path, path_glob))

        want_vectors = mode != "lexical" and embedded > 0 and self._embedder_factory is not None
        # The query embedding (ONNX Runtime) and the lexical query (the engine's own
        # threads) both release the GIL: run them side by side. The helper thread is
        # joined before this call returns, so no thread outlives a search.
        qvecs: list[np.ndarray] = []
        qerrors: list[BaseException] = []
        embed_thread = None
        if want_vectors:
            assert self._embedder_factory is not None
            embed = self._embedder_factory()

            def embed_query() -> None:
                try:
                    qvecs.append(embed.embed_batch([query])[0])
                except BaseException as exc:  # re-raised on the calling thread
                    qerrors.append(exc)

            embed_thread = threading.Thread(target=embed_query, name="mvs-query-embed")
            embed_thread.start()
        lex_hits: list[LexicalHit] = []
        sig_hits: list[LexicalHit] = []
        if not use_signal_list:
            signal = []
        try:
            # Semantic mode with no vectors yet answers lexically (and says so) rather
            # than with nothing.
            if mode != "semantic" or not want_vectors:
                lex_hits = [
                    h for h in self._store.lexical_search(terms, pool, language) if keep(h.chunk)
                ][:CANDIDATES]
            if signal:
                sig_hits = [
                    h for h in self._store.lexical_search(signal, pool, language) if keep(h.chunk)
                ][:CANDIDATES]
        finally:
            if embed_thread is not None:
                embed_thread.join()
        if qerrors:
            raise qerrors[0]
        vec_hits: list[tuple[StoredChunk, float]] = []
        used_mode = mode
        if mode != "lexical":
            if want_vectors:
                qvec = qvecs[0]
                vec_hits = [
                    (h.chunk, h.score)
                    for h in self._store.vector_search(qvec, pool, language)
                    if keep(h.chunk)
                ]
                vec_hits = vec_hits[:CANDIDATES]
            else:
                used_mode = "lexical"
                notes.append("no vectors yet: lexical results only (run `index` to embed)")
        if used_mode == "semantic":
            scored = [
                ranking.Scored(c, cos, vector_rank=r, cosine=cos)
                for r, (c, cos) in enumerate(vec_hits)
            ]
            scored = ranking.dedupe(scored)
        elif used_mode == "lexical":
            scored = ranking.dedupe(
                ranking.apply_boosts(
                    [
                        ranking.Scored(h.chunk, h.score, lexical_rank=r)
                        for r, h in enumerate(lex_hits)
                    ],
                    query,
                    terms,
                )
            )
        else:
            scored = ranking.rank(
                lex_hits,
                vec_hits,
                query=query,
                terms=terms,
                identifier_weight=lexical.identifier_weight(query),
                signal=sig_hits,
            )
        top_hits = scored[:limit]
        contents = self._store.contents_of([s.chunk for s in top_hits])
        heads = self._heads_of([s.chunk for s in top_hits], contents)
        hits = [
            Hit(
                path=s.chunk.path,
                start_line=s.chunk.start_line,
                end_line=s.chunk.end_line,
                symbol=s.chunk.symbol,
                kind=s.chunk.kind,
                language=s.chunk.language,
                score=round(float(s.score), 6),
                snippet=make_snippet(
                    contents.get(s.chunk.id, ""),
                    terms,
                    head=heads.get(s.chunk.id),
                ),
            )
            for s in top_hits
        ]
        return SearchResult(query, hits, IndexCounts(chunk_count, embedded), used_mode, notes)

    def _heads_of(self, chunks: Sequence[StoredChunk], contents: dict[str, str]) -> dict[str, str]:
        """chunk id -> content of its definition's first piece, for later pieces of split
        definitions (shown under the definition's signature).

        A chunk whose first lines name its symbol is a first piece; only when some hit
        is not is the catalog read (cached per store version) to find the first pieces.
        """
        pieces = [
            c
            for c in chunks
            if c.symbol
            and c.kind not in _NOT_DEFINITIONS
            and _last_name(c.symbol) not in "\n".join(signature(contents.get(c.id, "")))
        ]
        if not pieces:
            return {}
        index = symbol_index(self._store.chunk_catalog())
        head_of = {
            c.id: head
            for c in pieces
            if (head := index.heads.get((c.path, c.symbol or "", c.kind))) and head.id != c.id
        }
        head_contents = self._store.contents_of(list({h.id: h for h in head_of.values()}.values()))
        return {cid: head_contents[h.id] for cid, h in head_of.items() if h.id in head_contents}

    def similar_to_text(
        self,
        text: str,
        *,
        limit: int = 10,
        exclude_path: str | None = None,
        exclude_span: tuple[int, int] | None = None,
    ) -> SearchResult:
        """Chunks whose vectors are nearest to `text` (for find_similar)."""
        result = self.search(text, limit=limit + 5, mode="semantic")
        hits = [
            h
            for h in result.results
            if not (
                exclude_path == h.path
                and exclude_span is not None
                and h.start_line <= exclude_span[1]
                and h.end_line >= exclude_span[0]
            )
        ][:limit]
        return replace(result, results=hits)


def _last_name(symbol: str) -> str:
    return symbol.replace("::", ".").replace("#", ".").rsplit(".", 1)[-1]


_NOT_DEFINITIONS = ("module", "section", "window")


class SymbolIndex:
    """Definitions of one catalog, deduplicated, sorted, and keyed by lower-cased name."""

    def __init__(self, catalog: list[StoredChunk]) -> None:
        self.catalog = catalog
        seen: set[tuple[str, str, str]] = set()
        self.defs: list[StoredChunk] = []
        self.lowered: list[tuple[str, str]] = []  # (last name, whole symbol), lower-cased
        self.by_name: dict[str, list[StoredChunk]] = {}
        # (path, symbol, kind) -> the first piece of that definition
        self.heads: dict[tuple[str, str, str], StoredChunk] = {}
        for c in sorted(catalog, key=lambda c: (c.path, c.start_line)):
            if not c.symbol or c.kind in _NOT_DEFINITIONS:
                continue
            key = (c.path, c.symbol, c.kind)
            if key in seen:
                continue  # a split definition appears once, as its first piece
            seen.add(key)
            self.heads[key] = c
            self.defs.append(c)
            last = _last_name(c.symbol).lower()
            self.lowered.append((last, c.symbol.lower()))
            self.by_name.setdefault(last, []).append(c)


_index_lock = threading.Lock()
_index_cache: SymbolIndex | None = None


def symbol_index(catalog: list[StoredChunk]) -> SymbolIndex:
    """The index of this catalog object (stores hand out one list per table version)."""
    global _index_cache
    with _index_lock:
        if _index_cache is None or _index_cache.catalog is not catalog:
            _index_cache = SymbolIndex(catalog)
        return _index_cache


def find_symbol(
    catalog: list[StoredChunk], name: str, *, kind: str | None = None, limit: int = 20
) -> list[tuple[StoredChunk, str]]:
    """Definitions named `name`: exact first, then qualified, case-insensitive, prefix or
    substring matches, then close spellings. Returns (chunk, match) pairs.
    """
    import difflib

    name = name.strip()
    if not name:
        raise UsageError("the symbol name is empty")
    index = symbol_index(catalog)
    want_last = _last_name(name)
    lowered = name.lower()
    tiers: dict[str, list[StoredChunk]] = {k: [] for k in ("exact", "qualified", "case")}
    taken: set[str] = set()
    for c in index.by_name.get(want_last.lower(), []):
        if kind and c.kind != kind:
            continue
        symbol = c.symbol or ""
        last = _last_name(symbol)
        if symbol == name or (last == name and "." not in name):
            tiers["exact"].append(c)
        elif symbol.endswith("." + name) or (last == want_last and name.endswith(symbol)):
            tiers["qualified"].append(c)
        elif symbol.lower() == lowered or last.lower() == lowered:
            tiers["case"].append(c)
        else:
            continue
        taken.add(c.id)
    out: list[tuple[StoredChunk, str]] = [(c, t) for t, cs in tiers.items() for c in cs]
    if len(out) < limit:
        out.extend(
            (c, "prefix")
            for c, (last, whole) in zip(index.defs, index.lowered, strict=True)
            if (last.startswith(lowered) or lowered in whole)
            and c.id not in taken
            and (not kind or c.kind == kind)
        )
        taken.update(c.id for c, _ in out)
    if len(out) < limit:
        # Only names of about the right length can be close spellings; comparing all of
        # a large catalog's names costs hundreds of milliseconds.
        names = [n for n in index.by_name if abs(len(n) - len(want_last)) <= 3]
        close = difflib.get_close_matches(want_last.lower(), names, n=limit, cutoff=0.75)
        for n in close:
            out.extend(
                (c, "fuzzy")
                for c in index.by_name[n]
                if c.id not in taken and (not kind or c.kind == kind)
            )
    return out[:limit]
