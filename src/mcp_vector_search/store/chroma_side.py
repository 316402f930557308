"""The chroma store's local half: chunks, file states, meta and the lexical index in one
SQLite file under the index dir (`chroma.sqlite`), beside the vectors in Chroma.

Why a sidecar: at the pinned chromadb (1.5) neither the embedded client nor the
open-source `chroma run` server implements the `Search` API or sparse-vector indexes
("Search is not implemented for Local Chroma"; "Sparse vector indexing is not enabled in
local"), so BM25 over our identifier-aware tokens is SQLite FTS5 here. And Chroma has no
multi-record transactions: keeping chunks and file states in SQLite makes every
replace_files one transaction, as on the other engines. Chroma holds only what it is good
at, the vectors (see chroma.py); `vectors` here mirrors which hashes it has, so counts
and missing-vector lookups cost no round trips.

Nothing here imports chromadb: `index_meta` reads the meta without the engine.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from .. import lexical
from ..errors import ClosedError, DiskFullError, StoreError
from ..records import Chunk, FileState
from . import LexicalHit, StoredChunk, chunk_id, embed_hash

SIDE_FILE = "chroma.sqlite"
T = TypeVar("T")

# Terms the FTS5 query may carry: anything else is dropped, never quoted into a query.
_SAFE_TERM = re.compile(r"^[A-Za-z0-9_+#.\-]+$")
_CATALOG = "id, path, start_line, end_line, symbol, kind, language, embed_hash"

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS generation (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER)",
    "INSERT OR IGNORE INTO generation VALUES (0, 0)",
    """CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, file_hash TEXT NOT NULL,
        size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, status TEXT NOT NULL,
        chunks INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS chunks (rid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
        path TEXT NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
        symbol TEXT, kind TEXT NOT NULL, language TEXT NOT NULL, content TEXT NOT NULL,
        embed_text TEXT NOT NULL, embed_hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS chunks_path ON chunks (path)",
    "CREATE INDEX IF NOT EXISTS chunks_hash ON chunks (embed_hash)",
    # Our tokens are pre-split (lexical.py); FTS5 only lower-cases and stems (porter), and
    # keeps `_` inside a token so parse_http_response stays whole beside its parts.
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(tokens,
        tokenize = "porter unicode61 tokenchars '_'")""",
    "CREATE TABLE IF NOT EXISTS vectors (embed_hash TEXT PRIMARY KEY)",
]


def side_path(index_dir: Path) -> Path:
    return index_dir / SIDE_FILE


def read_meta(index_dir: Path) -> dict[str, object] | None:
    """The meta, read-only and without the engine; None when there is no index."""
    path = side_path(index_dir)
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("SELECT key, value FROM meta").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return {str(k): json.loads(v) for k, v in rows} or None


def _fts_query(terms: Sequence[str]) -> str:
    safe = dict.fromkeys(t.lower() for t in terms if _SAFE_TERM.match(t))
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in safe)


class Side:
    """One SQLite connection (autocommit; writes in explicit transactions), shared by the
    store's threads under a lock. WAL: readers in other processes never wait for a writer
    and see each commit whole."""

    def __init__(self, index_dir: Path, *, writable: bool) -> None:
        self.path = side_path(index_dir)
        self.writable = writable
        self._mutex = threading.RLock()
        self._closed = False
        try:
            if writable:
                index_dir.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                with self.transaction() as conn:
                    for statement in _SCHEMA:
                        conn.execute(statement)
            else:
                self._conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro",
                    uri=True,
                    timeout=30,
                    isolation_level=None,
                    check_same_thread=False,
                )
        except sqlite3.Error as exc:
            raise self._error(exc, "opening the chunk index") from None

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        if "full" in str(exc).lower() and isinstance(exc, sqlite3.OperationalError):
            return DiskFullError(f"disk full while {doing} ({self.path})")
        return StoreError(f"{doing} failed in {self.path}: {type(exc).__name__}: {exc}")

    def run(self, doing: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._mutex:
            if self._closed:
                raise ClosedError("the index store is closed")
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise self._error(exc, doing) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write: all of it commits, with the generation bumped, or none of it."""
        with self._mutex:
            if self._closed:
                raise ClosedError("the index store is closed")
            if not self.writable:
                raise StoreError("this store was opened read-only")
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("UPDATE generation SET n = n + 1 WHERE id = 0")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def write(self, doing: str, fn: Callable[[sqlite3.Connection], object]) -> None:
        try:
            with self.transaction() as conn:
                fn(conn)
        except sqlite3.Error as exc:
            raise self._error(exc, doing) from None

    def close(self) -> None:
        with self._mutex:
            if not self._closed:
                self._closed = True
                self._conn.close()

    # ---------------------------------------------------------------- meta
    def meta(self) -> dict[str, object]:
        rows = self.run(
            "reading the index meta", lambda c: c.execute("SELECT * FROM meta").fetchall()
        )
        return {str(k): json.loads(v) for k, v in rows}

    def set_meta(self, values: dict[str, object]) -> None:
        self.write(
            "writing the index meta",
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            ),
        )

    def generation(self) -> int:
        row = self.run(
            "reading the index version",
            lambda c: c.execute("SELECT n FROM generation WHERE id = 0").fetchone(),
        )
        return int(row[0]) if row else -1

    # ---------------------------------------------------------------- reads
    def file_states(self) -> dict[str, FileState]:
        rows = self.run(
            "reading file states",
            lambda c: c.execute(
                "SELECT path, file_hash, size, mtime_ns, status, chunks FROM files"
            ).fetchall(),
        )
        return {str(r[0]): FileState(*r) for r in rows}

    def counts(self) -> tuple[int, int, int]:
        def read(c: sqlite3.Connection) -> tuple[int, int, int]:
            files = c.execute("SELECT count(*) FROM files WHERE status = 'indexed'").fetchone()
            chunks = c.execute("SELECT count(*) FROM chunks").fetchone()
            embedded = c.execute(
                "SELECT count(*) FROM chunks WHERE embed_hash IN (SELECT embed_hash FROM vectors)"
            ).fetchone()
            return int(files[0]), int(chunks[0]), int(embedded[0])

        return self.run("counting rows", read)

    def skipped_counts(self) -> dict[str, int]:
        rows = self.run(
            "reading skip counts",
            lambda c: c.execute(
                "SELECT status, count(*) FROM files WHERE status <> 'indexed' GROUP BY status"
            ).fetchall(),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def lexical_search(
        self, terms: Sequence[str], limit: int, language: str | None
    ) -> list[LexicalHit]:
        query = _fts_query(terms)
        if not query or limit < 1:
            return []
        lang = " AND c.language = ?" if language else ""
        params: list[object] = [query, *([language] if language else []), limit]
        rows = self.run(
            "lexical search",
            lambda c: c.execute(
                # bm25() is lower-is-better; scores go out higher-is-better, not rescaled.
                f"SELECT {_CATALOG}, -bm25(chunk_fts) AS score FROM chunk_fts"
                f" JOIN chunks c ON c.rid = chunk_fts.rowid WHERE chunk_fts MATCH ?{lang}"
                " ORDER BY score DESC, c.path, c.start_line LIMIT ?",
                params,
            ).fetchall(),
        )
        return [LexicalHit(_stored(r), float(r[8])) for r in rows]

    def catalog(self) -> list[StoredChunk]:
        rows = self.run(
            "reading the chunk catalog",
            lambda c: c.execute(f"SELECT {_CATALOG} FROM chunks ORDER BY rid").fetchall(),
        )
        return [_stored(r) for r in rows]

    def chunks_with_hashes(self, hashes: Sequence[str]) -> dict[str, list[StoredChunk]]:
        out: dict[str, list[StoredChunk]] = {}
        for part in _parts(list(hashes)):
            rows = self.run(
                "reading chunks of vectors",
                lambda c, part=part: c.execute(  # type: ignore[misc]
                    f"SELECT {_CATALOG} FROM chunks WHERE embed_hash IN"
                    f" ({','.join('?' * len(part))}) ORDER BY path, start_line",
                    part,
                ).fetchall(),
            )
            for r in rows:
                out.setdefault(str(r[7]), []).append(_stored(r))
        return out

    def contents(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in _parts(list(dict.fromkeys(ids))):
            rows = self.run(
                "reading chunk contents",
                lambda c, part=part: c.execute(  # type: ignore[misc]
                    f"SELECT id, content FROM chunks WHERE id IN ({','.join('?' * len(part))})",
                    part,
                ).fetchall(),
            )
            out.update({str(r[0]): str(r[1]) for r in rows})
        return out

    def missing_vector_hashes(self) -> list[str]:
        rows = self.run(
            "finding chunks without vectors",
            lambda c: c.execute(
                "SELECT DISTINCT embed_hash FROM chunks"
                " WHERE embed_hash NOT IN (SELECT embed_hash FROM vectors) ORDER BY embed_hash"
            ).fetchall(),
        )
        return [str(r[0]) for r in rows]

    def embed_texts(self, hashes: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in _parts(list(hashes)):
            rows = self.run(
                "reading texts to embed",
                lambda c, part=part: c.execute(  # type: ignore[misc]
                    "SELECT embed_hash, embed_text FROM chunks WHERE embed_hash IN"
                    f" ({','.join('?' * len(part))})",
                    part,
                ).fetchall(),
            )
            out.update({str(r[0]): str(r[1]) for r in rows})
        return out

    def used_hashes(self) -> set[str]:
        rows = self.run(
            "reading vector hashes",
            lambda c: c.execute("SELECT DISTINCT embed_hash FROM chunks").fetchall(),
        )
        return {str(r[0]) for r in rows}

    def mirror_stamp(self) -> tuple[int, int]:
        """Changes whenever a vector is mirrored or forgotten (count, newest rowid)."""
        row = self.run(
            "counting vectors",
            lambda c: c.execute("SELECT count(*), coalesce(max(rowid), 0) FROM vectors").fetchone(),
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def mirrored_hashes(self) -> set[str]:
        rows = self.run(
            "reading vector hashes",
            lambda c: c.execute("SELECT embed_hash FROM vectors").fetchall(),
        )
        return {str(r[0]) for r in rows}

    # ---------------------------------------------------------------- writes
    def replace_files(
        self, model_id: str, states: Sequence[FileState], chunks: Sequence[Chunk]
    ) -> None:
        unique: dict[str, Chunk] = {}
        for ch in chunks:
            unique.setdefault(chunk_id(ch), ch)  # two identical chunks at one span: one row
        paths = [s.path for s in states]

        def write(c: sqlite3.Connection) -> None:
            _delete_chunks(c, paths)
            for cid, ch in unique.items():
                cur = c.execute(
                    "INSERT INTO chunks (id, path, start_line, end_line, symbol, kind, language,"
                    " content, embed_text, embed_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        cid,
                        ch.path,
                        ch.start_line,
                        ch.end_line,
                        ch.symbol,
                        ch.kind,
                        ch.language,
                        ch.content,
                        ch.embed_text,
                        embed_hash(model_id, ch.embed_text),
                    ),
                )
                c.execute(
                    "INSERT INTO chunk_fts (rowid, tokens) VALUES (?, ?)",
                    (cur.lastrowid, lexical.document_text(ch.content, ch.symbol, ch.path)),
                )
            _upsert_files(c, states)

        self.write("writing chunks", write)

    def record_files(self, states: Sequence[FileState]) -> None:
        self.write("recording file states", lambda c: _upsert_files(c, states))

    def delete_files(self, paths: Sequence[str]) -> None:
        def write(c: sqlite3.Connection) -> None:
            _delete_chunks(c, list(paths))
            for part in _parts(list(paths)):
                c.execute(f"DELETE FROM files WHERE path IN ({','.join('?' * len(part))})", part)

        self.write("deleting files", write)

    def delete_orphan_chunks(self, known_paths: set[str]) -> int:
        box: dict[str, int] = {}

        def write(c: sqlite3.Connection) -> None:
            paths = {str(r[0]) for r in c.execute("SELECT DISTINCT path FROM chunks")}
            orphans = sorted(paths - known_paths)
            _delete_chunks(c, orphans)
            box["n"] = len(orphans)

        self.write("deleting orphan chunks", write)
        return box.get("n", 0)

    def mirror_vectors(self, hashes: Sequence[str]) -> None:
        self.write(
            "recording vectors",
            lambda c: c.executemany(
                "INSERT OR IGNORE INTO vectors VALUES (?)", [(h,) for h in hashes]
            ),
        )

    def set_mirror(self, hashes: set[str]) -> None:
        """The mirror made equal to what Chroma holds (after a crash or a lost server)."""

        def write(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM vectors")
            c.executemany("INSERT INTO vectors VALUES (?)", [(h,) for h in sorted(hashes)])

        self.write("recording vectors", write)

    def unmirror(self, hashes: Sequence[str]) -> None:
        def write(c: sqlite3.Connection) -> None:
            for part in _parts(list(hashes)):
                c.execute(
                    f"DELETE FROM vectors WHERE embed_hash IN ({','.join('?' * len(part))})", part
                )

        self.write("forgetting vectors", write)

    def reset(self, *, keep_meta: bool, keep_vectors: bool) -> None:
        def write(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM chunks")
            c.execute("DELETE FROM chunk_fts")
            c.execute("DELETE FROM files")
            if not keep_vectors:
                c.execute("DELETE FROM vectors")
            if not keep_meta:
                c.execute("DELETE FROM meta")

        self.write("resetting the index", write)


def _stored(r: Sequence[object]) -> StoredChunk:
    return StoredChunk(
        str(r[0]),
        str(r[1]),
        int(r[2]),  # type: ignore[call-overload]
        int(r[3]),  # type: ignore[call-overload]
        None if r[4] is None else str(r[4]),
        str(r[5]),
        str(r[6]),
        str(r[7]),
    )


def _parts(values: list[str], size: int = 500) -> Iterator[list[str]]:
    # SQLite caps bound parameters per statement; 500 stays far below any build's cap.
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _delete_chunks(c: sqlite3.Connection, paths: list[str]) -> None:
    for part in _parts(paths):
        marks = ",".join("?" * len(part))
        c.execute(
            "DELETE FROM chunk_fts WHERE rowid IN"
            f" (SELECT rid FROM chunks WHERE path IN ({marks}))",
            part,
        )
        c.execute(f"DELETE FROM chunks WHERE path IN ({marks})", part)


def _upsert_files(c: sqlite3.Connection, states: Sequence[FileState]) -> None:
    c.executemany(
        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
        [(s.path, s.file_hash, s.size, s.mtime_ns, s.status, s.chunks) for s in states],
    )
