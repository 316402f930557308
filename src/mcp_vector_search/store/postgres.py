"""PostgreSQL + pgvector backend: one database serves many projects, branches and people.

Tables (created by the first writer, see postgres_conn.SCHEMA):
  mvs_projects  one row per (project, branch): its meta (model, schema, last run) and a
                generation counter that every write bumps (readers refresh on it)
  mvs_files     file states per project
  mvs_chunks    chunks per project
  mvs_postings  the lexical index: (project, term, BM25 impact, chunk), impact-ordered
                (postgres_lexical.py)
  mvs_vectors_* one table per model: embed_hash -> vector(d), with an HNSW index. Shared
                by every project: the embed hash names the model and the text, so a
                teammate indexing the same commit finds every vector already there.

Every write method is one transaction. Readers reconnect on their own after a server
restart; a writer does not (its advisory lock died with the old connection, so another
writer may have started): it stops with a clear error and the next run converges.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import psycopg
from psycopg import sql

from ..errors import ClosedError, IndexNotFoundError, SchemaError, StoreError
from ..records import Chunk, FileState
from . import (
    LexicalHit,
    StoredChunk,
    VectorHit,
    chunk_id,
    project_identity,
)
from .meta import check_meta
from .postgres_conn import (
    LOCK_NAMESPACE,
    SCHEMA_VERSION,
    AdvisoryLock,
    Connection,
    connect,
    database_url,
    db_version,
    delete_project,
    ensure_schema,
    held_locks,
    lock_key,
    map_error,
    mask_url,
    read_meta,
    schema_exists,
    vectors_table,
)
from .postgres_lexical import TOP_POSTINGS, insert_chunks, lexical_hits
from .postgres_search import COLUMNS, nearest, pg_token, stored_chunk
from .postgres_vectors import build_hnsw, ensure_vectors_table, has_vectors_table, hnsw_ready

if TYPE_CHECKING:
    from ..config import Config

T = TypeVar("T")

# Below this many embedded chunks in a project an exact scan answers (every distance,
# like the embedded engine); above it the HNSW index does. Measured (p50, 100 candidates,
# random unit vectors of 384 dims, a loaded 2-core machine): exact 103 ms at 20k vectors
# and 1.3 s at 60k; HNSW (ef_search 200) about 40 ms at both.
EXACT_BELOW = 10_000


class PgStore:
    def __init__(
        self,
        config: Config,
        root: Path,
        *,
        model_id: str,
        dimensions: int,
        writable: bool,
        rebuild: bool = False,
    ) -> None:
        self.model_id = model_id
        self.dimensions = dimensions
        self.writable = writable
        self._url = database_url(config)
        self.project, self.branch = project_identity(config, root)
        self.location = (
            f"{mask_url(self._url)} (project {self.project!r}, branch {self.branch or '-'!r})"
        )
        self._lock_key = lock_key(self.project, self.branch)
        self._vt = sql.Identifier(vectors_table(model_id))
        self._hnsw_name = vectors_table(model_id) + "_hnsw"
        self._mutex = threading.RLock()
        self._closed = False
        self._conn: Connection | None = None
        self._catalog: tuple[int, list[StoredChunk]] | None = None
        self._counts: tuple[int, tuple[int, int, int]] | None = None
        self._meta: dict[str, object] = {}
        self.exact_below = EXACT_BELOW
        self.top_postings = TOP_POSTINGS
        try:
            self._id = self._open(rebuild)
        except BaseException:
            self.close()  # a store that failed to open holds no connection
            raise

    # ---------------------------------------------------------------- connection
    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url)
        return self._conn

    def _run(self, doing: str, fn: Callable[[Connection], T]) -> T:
        """fn on a live connection; a reader reconnects once if the server went away."""
        with self._mutex:
            if self._closed:
                raise ClosedError("the index store is closed")
            for attempt in (0, 1):
                conn = self._connection()
                try:
                    return fn(conn)
                except psycopg.OperationalError as exc:
                    broken = conn.broken or conn.closed
                    if broken:
                        conn.close()
                        self._conn = None
                    if broken and attempt == 0 and not self.writable:
                        continue
                    raise map_error(exc, self._url, doing) from None
                except psycopg.Error as exc:
                    raise map_error(exc, self._url, doing) from None
            raise AssertionError("unreachable")

    def _write(self, doing: str, fn: Callable[[Connection], None]) -> None:
        """fn in one transaction that also bumps the project's generation."""
        if not self.writable:
            raise StoreError("this store was opened read-only")

        def txn(conn: Connection) -> None:
            with conn.transaction():
                self._check_lock(conn)
                fn(conn)
                conn.execute(
                    "UPDATE mvs_projects SET generation = generation + 1 WHERE id = %s",
                    (self._id,),
                )

        self._run(doing, txn)

    def _check_lock(self, conn: Connection) -> None:
        backend = held_locks.get((self._url, self._lock_key))
        if backend is None:
            return  # opened without the lock (tests of the store alone)
        row = conn.execute(
            """SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 2
               AND pid = %s""",
            (LOCK_NAMESPACE, self._lock_key, backend),
        ).fetchone()
        if row is None:
            raise StoreError(
                f"lost the writer lock on {self.location} (the server restarted or dropped"
                " the connection); nothing more was written",
                hint="run `mcp-vector-search index` again to continue",
            )

    # ---------------------------------------------------------------- opening
    def _open(self, rebuild: bool) -> int:
        def reader(conn: Connection) -> int:
            if not schema_exists(conn):
                raise IndexNotFoundError(f"no index for {self.project!r} in {self.location}")
            version = db_version(conn) or 1
            if version < SCHEMA_VERSION:
                raise SchemaError(
                    f"the tables at {self.location} have schema {version}; this version"
                    f" searches schema {SCHEMA_VERSION}",
                    hint="run `mcp-vector-search index` once (a writer upgrades the tables"
                    " in place, for every project)",
                )
            row = conn.execute(
                "SELECT id, meta FROM mvs_projects WHERE project = %s AND branch = %s",
                (self.project, self.branch),
            ).fetchone()
            if row is None:
                raise IndexNotFoundError(f"no index for {self.project!r} in {self.location}")
            self._meta = dict(row[1])
            self._check_meta()
            return int(row[0])

        def writer(conn: Connection) -> int:
            ensure_schema(conn, self._url)
            fresh = {
                "schema_version": SCHEMA_VERSION,
                "model_id": self.model_id,
                "dimensions": self.dimensions,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            with conn.transaction():
                conn.execute(
                    """INSERT INTO mvs_projects (project, branch, meta) VALUES (%s, %s, %s)
                       ON CONFLICT (project, branch) DO NOTHING""",
                    (self.project, self.branch, json.dumps(fresh)),
                )
                row = conn.execute(
                    "SELECT id, meta FROM mvs_projects WHERE project = %s AND branch = %s"
                    " FOR UPDATE",
                    (self.project, self.branch),
                ).fetchone()
                assert row is not None
                pid, meta = int(row[0]), dict(row[1])
                other_model = (
                    meta.get("model_id") != self.model_id
                    or meta.get("dimensions") != self.dimensions
                )
                if rebuild and other_model:
                    # An explicit rebuild with another model: this project's rows can't be
                    # reused (other projects and their vectors are untouched).
                    conn.execute("DELETE FROM mvs_chunks WHERE project_id = %s", (pid,))
                    conn.execute("DELETE FROM mvs_files WHERE project_id = %s", (pid,))
                    meta = fresh
                    conn.execute(
                        "UPDATE mvs_projects SET meta = %s, generation = generation + 1"
                        " WHERE id = %s",
                        (json.dumps(meta), pid),
                    )
                self._meta = meta
                self._check_meta()
            self._ensure_vectors_table(conn)
            return pid

        return self._run("opening the index", writer if self.writable else reader)

    def _check_meta(self) -> None:
        check_meta(
            self._meta,
            model_id=self.model_id,
            dimensions=self.dimensions,
            where=self.location,
            newest=SCHEMA_VERSION,
        )

    def _ensure_vectors_table(self, conn: Connection) -> None:
        ensure_vectors_table(conn, self.model_id, self.dimensions, self.location)

    def _hnsw_ready(self, conn: Connection) -> bool:
        return hnsw_ready(conn, self.model_id)

    def _has_vectors_table(self, conn: Connection) -> bool:
        return has_vectors_table(conn, self.model_id)

    # ---------------------------------------------------------------- meta
    def meta(self) -> dict[str, object]:
        def read(conn: Connection) -> dict[str, object]:
            row = conn.execute(
                "SELECT meta FROM mvs_projects WHERE id = %s", (self._id,)
            ).fetchone()
            return dict(row[0]) if row else dict(self._meta)

        self._meta = self._run("reading the index meta", read)
        return dict(self._meta)

    def set_meta(self, **values: object) -> None:
        if not self.writable:
            raise StoreError("this store was opened read-only")
        self._meta.update(values)
        self._run(
            "writing the index meta",
            lambda conn: conn.execute(
                "UPDATE mvs_projects SET meta = meta || %s::jsonb WHERE id = %s",
                (json.dumps(values), self._id),
            ),
        )

    def version(self) -> tuple[int, ...]:
        def read(conn: Connection) -> tuple[int, ...]:
            row = conn.execute(
                "SELECT generation FROM mvs_projects WHERE id = %s", (self._id,)
            ).fetchone()
            return (int(row[0]),) if row else (-1,)  # -1: the project was reset away

        return self._run("reading the index version", read)

    # ---------------------------------------------------------------- reads
    def file_states(self) -> dict[str, FileState]:
        rows = self._run(
            "reading file states",
            lambda conn: conn.execute(
                "SELECT path, file_hash, size, mtime_ns, status, chunks FROM mvs_files"
                " WHERE project_id = %s",
                (self._id,),
            ).fetchall(),
        )
        return {str(r[0]): FileState(*r) for r in rows}

    def counts(self) -> tuple[int, int, int]:
        generation = self.version()[0]
        if self._counts is not None and self._counts[0] == generation:
            return self._counts[1]

        def read(conn: Connection) -> tuple[int, int, int]:
            files = conn.execute(
                "SELECT count(*) FROM mvs_files WHERE project_id = %s AND status = 'indexed'",
                (self._id,),
            ).fetchone()
            chunks = conn.execute(
                "SELECT count(*) FROM mvs_chunks WHERE project_id = %s", (self._id,)
            ).fetchone()
            embedded: tuple[int] | None = (0,)
            if self._has_vectors_table(conn):
                embedded = conn.execute(
                    sql.SQL(
                        "SELECT count(*) FROM mvs_chunks c WHERE c.project_id = %s AND EXISTS"
                        " (SELECT 1 FROM {} v WHERE v.embed_hash = c.embed_hash)"
                    ).format(self._vt),
                    (self._id,),
                ).fetchone()
            return (
                int(files[0]) if files else 0,
                int(chunks[0]) if chunks else 0,
                int(embedded[0]) if embedded else 0,
            )

        result = self._run("counting rows", read)
        self._counts = (generation, result)
        return result

    def skipped_counts(self) -> dict[str, int]:
        rows = self._run(
            "reading skip counts",
            lambda conn: conn.execute(
                "SELECT status, count(*) FROM mvs_files WHERE project_id = %s"
                " AND status <> 'indexed' GROUP BY status",
                (self._id,),
            ).fetchall(),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def lexical_search(
        self, terms: Sequence[str], limit: int, language: str | None = None
    ) -> list[LexicalHit]:
        tokens = list(dict.fromkeys(t for t in (pg_token(x) for x in terms) if t.isalnum()))
        if not tokens or limit < 1:
            return []
        total = self.counts()[1]
        return self._run(
            "lexical search",
            lambda conn: lexical_hits(
                conn, self._id, tokens, total, limit, language, top_postings=self.top_postings
            ),
        )

    def vector_search(
        self, query: np.ndarray, limit: int, language: str | None = None
    ) -> list[VectorHit]:
        if limit < 1:
            return []
        qvec = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        exact = self.counts()[2] < self.exact_below

        def read(conn: Connection) -> list[VectorHit]:
            if not self._has_vectors_table(conn):
                return []
            use_index = not exact and self._hnsw_ready(conn)
            return nearest(conn, self._vt, self._id, qvec, limit, language, use_index=use_index)

        return self._run("vector search", read)

    def chunk_catalog(self) -> list[StoredChunk]:
        generation = self.version()[0]
        if self._catalog is not None and self._catalog[0] == generation:
            return self._catalog[1]
        rows = self._run(
            "reading the chunk catalog",
            lambda conn: conn.execute(
                "SELECT " + COLUMNS + " FROM mvs_chunks c WHERE c.project_id = %s",
                (self._id,),
            ).fetchall(),
        )
        catalog = [stored_chunk(r) for r in rows]
        self._catalog = (generation, catalog)
        return catalog

    def contents(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = self._run(
            "reading chunk contents",
            lambda conn: conn.execute(
                "SELECT id, content FROM mvs_chunks WHERE project_id = %s AND id = ANY(%s)",
                (self._id, list(ids)),
            ).fetchall(),
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def contents_of(self, chunks: Sequence[StoredChunk]) -> dict[str, str]:
        return self.contents(list(dict.fromkeys(c.id for c in chunks)))

    def size_bytes(self) -> int:
        parts = " + ".join(
            f"(SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t"
            " WHERE t.project_id = %(p)s)"
            for table in ("mvs_chunks", "mvs_files", "mvs_postings")
        )
        row = self._run(
            "measuring the index",
            lambda conn: conn.execute("SELECT " + parts, {"p": self._id}).fetchone(),
        )
        return int(row[0]) if row else 0

    # ---------------------------------------------------------------- writes
    def replace_files(self, states: Sequence[FileState], chunks: Sequence[Chunk]) -> None:
        if not states:
            return
        unique: dict[str, Chunk] = {}
        for c in chunks:
            unique.setdefault(chunk_id(c), c)  # two identical chunks at one span: one row
        rows = list(unique.items())

        def write(conn: Connection) -> None:
            conn.execute(
                "DELETE FROM mvs_chunks WHERE project_id = %s AND path = ANY(%s)",
                (self._id, [s.path for s in states]),
            )
            if rows:
                insert_chunks(conn, self._id, self.model_id, rows)
            self._upsert_files(conn, states)

        self._write("writing chunks", write)

    def _upsert_files(self, conn: Connection, states: Sequence[FileState]) -> None:
        conn.execute(
            """INSERT INTO mvs_files (project_id, path, file_hash, size, mtime_ns, status, chunks)
               SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[],
                   %s::text[], %s::int[])
               ON CONFLICT (project_id, path) DO UPDATE SET file_hash = excluded.file_hash,
                   size = excluded.size, mtime_ns = excluded.mtime_ns,
                   status = excluded.status, chunks = excluded.chunks""",
            (
                self._id,
                [s.path for s in states],
                [s.file_hash for s in states],
                [s.size for s in states],
                [s.mtime_ns for s in states],
                [s.status for s in states],
                [s.chunks for s in states],
            ),
        )

    def record_files(self, states: Sequence[FileState]) -> None:
        if states:
            self._write("recording file states", lambda conn: self._upsert_files(conn, states))

    def delete_files(self, paths: Sequence[str]) -> None:
        if not paths:
            return

        def write(conn: Connection) -> None:
            for table in ("mvs_chunks", "mvs_files"):
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE project_id = %s AND path = ANY(%s)").format(
                        sql.Identifier(table)
                    ),
                    (self._id, list(paths)),
                )

        self._write("deleting files", write)

    def delete_orphan_chunks(self, known_paths: set[str]) -> int:
        box: dict[str, int] = {}

        def write(conn: Connection) -> None:
            row = conn.execute(
                """WITH gone AS (DELETE FROM mvs_chunks WHERE project_id = %s
                       AND NOT (path = ANY(%s)) RETURNING path)
                   SELECT count(DISTINCT path) FROM gone""",
                (self._id, sorted(known_paths)),
            ).fetchone()
            box["n"] = int(row[0]) if row else 0

        self._write("deleting orphan chunks", write)
        return box.get("n", 0)

    def missing_vector_hashes(self) -> list[str]:
        rows = self._run(
            "finding chunks without vectors",
            lambda conn: conn.execute(
                sql.SQL(
                    "SELECT DISTINCT c.embed_hash FROM mvs_chunks c WHERE c.project_id = %s"
                    " AND NOT EXISTS (SELECT 1 FROM {} v WHERE v.embed_hash = c.embed_hash)"
                ).format(self._vt),
                (self._id,),
            ).fetchall(),
        )
        return [str(r[0]) for r in rows]

    def embed_texts(self, hashes: Sequence[str]) -> dict[str, str]:
        if not hashes:
            return {}
        rows = self._run(
            "reading texts to embed",
            lambda conn: conn.execute(
                "SELECT DISTINCT ON (embed_hash) embed_hash, embed_text FROM mvs_chunks"
                " WHERE project_id = %s AND embed_hash = ANY(%s)",
                (self._id, list(hashes)),
            ).fetchall(),
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def add_vectors(self, hashes: Sequence[str], matrix: np.ndarray) -> None:
        if not len(hashes):
            return
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.shape != (len(hashes), self.dimensions):
            expected = (len(hashes), self.dimensions)
            raise StoreError(f"vector batch has shape {matrix.shape}, expected {expected}")
        d = self.dimensions

        def write(conn: Connection) -> None:
            # One flat array and server-side slices: no per-row round trips. The cast is
            # made once (MATERIALIZED): once psycopg prepares the statement, the server's
            # generic plan cast the whole array again for every row (measured: 2,000
            # vectors 0.8 s, then 9 s from the sixth batch on).
            conn.execute(
                sql.SQL(
                    "WITH m AS MATERIALIZED (SELECT %s::float4[] AS a)"
                    " INSERT INTO {} (embed_hash, embedding)"
                    " SELECT h, (m.a[(i - 1) * {d} + 1 : i * {d}])::vector"
                    " FROM m, unnest(%s::text[]) WITH ORDINALITY AS u(h, i)"
                    " ON CONFLICT (embed_hash) DO NOTHING"
                ).format(self._vt, d=sql.Literal(d)),
                (matrix.reshape(-1).tolist(), list(hashes)),
            )

        self._write("writing vectors", write)

    def optimize(self) -> None:
        """Refresh the planner's statistics after bulk writes, and build the HNSW index
        when the vectors outgrow the exact scan. Vectors are never deleted by a client:
        other projects may use them (see docs/scale.md for pruning)."""
        if not self.writable:
            raise StoreError("this store was opened read-only")

        def run(conn: Connection) -> None:
            tables = ("mvs_chunks", "mvs_postings", "mvs_files")
            for table in (*(sql.Identifier(t) for t in tables), self._vt):
                try:
                    conn.execute(sql.SQL("ANALYZE {}").format(table))
                except psycopg.errors.InsufficientPrivilege:
                    pass  # statistics are the owner's business
            build_hnsw(conn, self.model_id, min_rows=self.exact_below)

        self._run("optimizing", run)

    def reset(self, *, keep_vectors: bool = True) -> None:
        """Empty this project; vectors stay whatever `keep_vectors` says (they are shared)."""

        def write(conn: Connection) -> None:
            conn.execute("DELETE FROM mvs_chunks WHERE project_id = %s", (self._id,))
            conn.execute("DELETE FROM mvs_files WHERE project_id = %s", (self._id,))

        self._write("resetting the index", write)
        self._catalog = None
        self._counts = None

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            conn, self._conn = self._conn, None
            self._catalog = None
            self._counts = None
        if conn is not None:
            conn.close()


def open_store(
    config: Config,
    root: Path,
    *,
    model_id: str,
    dimensions: int,
    writable: bool,
    rebuild: bool = False,
) -> PgStore:
    return PgStore(
        config, root, model_id=model_id, dimensions=dimensions, writable=writable, rebuild=rebuild
    )


__all__ = ["AdvisoryLock", "PgStore", "delete_project", "open_store", "read_meta"]
