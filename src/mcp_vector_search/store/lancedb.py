"""LanceDB backend: the embedded default store.

Three tables under the index dir:
  chunks   one row per chunk: metadata, code, embed_text, lexical tokens (FTS index)
  files    one row per file seen: hash, size, mtime, status (indexed or skip reason)
  vectors  embed_hash -> vector, append-only; a cache keyed by (model, embedded text),
           so unchanged chunks of an edited file, moved files and duplicates reuse vectors
plus meta.json (schema version, model id, dimensions, last run), replaced atomically.

Chunks and vectors live apart so that lexical search works the moment chunks are
written, and filling in vectors later is an append, not a rewrite of chunk rows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("LANCE_LOG", "error")  # lance logs warnings to stderr by default

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import lexical
from ..errors import DiskFullError, IndexNotFoundError, StoreError
from ..native import mapped_errors
from ..records import Chunk, FileState
from . import SCHEMA_VERSION, LexicalHit, StoredChunk, VectorHit, chunk_id, embed_hash, sidecar
from .meta import META_FILE, check_meta, read_meta

# Old table versions stay this long after compaction, so a reader that opened one just
# before can finish; readers never clean up themselves.
CLEANUP_GRACE = timedelta(minutes=15)
_LOW_DISK_BYTES = 1 << 20

_CATALOG_COLUMNS = [
    "id",
    "path",
    "start_line",
    "end_line",
    "symbol",
    "kind",
    "language",
    "embed_hash",
]
_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9_+#.\-]*$")


def _chunks_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False),
            pa.field("start_line", pa.int32(), nullable=False),
            pa.field("end_line", pa.int32(), nullable=False),
            pa.field("symbol", pa.string()),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("language", pa.string(), nullable=False),
            pa.field("content", pa.string(), nullable=False),
            pa.field("content_hash", pa.string(), nullable=False),
            pa.field("embed_text", pa.string(), nullable=False),
            pa.field("embed_hash", pa.string(), nullable=False),
            pa.field("tokens", pa.string(), nullable=False),
        ]
    )


def _files_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("file_hash", pa.string(), nullable=False),
            pa.field("size", pa.int64(), nullable=False),
            pa.field("mtime_ns", pa.int64(), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("chunks", pa.int32(), nullable=False),
        ]
    )


def _vectors_schema(dimensions: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("embed_hash", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimensions), nullable=False),
        ]
    )


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _column(table: Any, name: str) -> pa.ChunkedArray:
    return table.search().select([name]).limit(None).to_arrow().column(name)


# Numbered, append-only: migration N upgrades an index at schema N-1 to N.
MIGRATIONS: dict[int, Callable[[LanceStore], None]] = {}


class LanceStore:
    def __init__(
        self,
        index_dir: Path,
        *,
        model_id: str,
        dimensions: int,
        writable: bool,
        rebuild: bool = False,
    ) -> None:
        self.index_dir = index_dir
        self.location = str(index_dir)
        self.model_id = model_id
        self.dimensions = dimensions
        self.writable = writable
        self._closed = False
        self._catalog: tuple[int, list[StoredChunk]] | None = None
        self._vectors: tuple[int, list[str], np.ndarray] | None = None
        self._nearest: _NearestCache | None = None
        # meta.json is what makes a directory an index: it is written last when an index
        # is created, and removed first when one is rebuilt, so a reader (or a run
        # killed half way through creating one) never sees tables without it.
        meta_path = index_dir / META_FILE
        meta = self._read_meta() if meta_path.exists() else None
        if (
            meta is not None
            and writable
            and rebuild
            and (meta.get("model_id") != model_id or meta.get("dimensions") != dimensions)
        ):
            # An explicit rebuild with another model: the old tables can't be reused.
            self._remove_meta()
            meta = None
        fresh = meta is None
        if meta is None:
            if not writable:
                raise IndexNotFoundError(f"no index at {index_dir}")
            index_dir.mkdir(parents=True, exist_ok=True)
            self._wipe_tables()  # left by a run that died before writing meta.json
            meta = {
                "schema_version": SCHEMA_VERSION,
                "model_id": model_id,
                "dimensions": dimensions,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        self._meta = meta
        self._check_meta()
        with mapped_errors(StoreError, "opening the index"):
            # interval 0: every read sees the latest committed version of a table, so a
            # long-lived reader (the MCP server) stays fresh without reopening.
            self._db = lancedb.connect(str(index_dir), read_consistency_interval=timedelta(0))
            names = set(self._db.list_tables().tables)
        self._tables: dict[str, Any] = {}
        for name in ("chunks", "files", "vectors"):
            if name in names:
                with mapped_errors(StoreError, f"opening table {name}"):
                    self._tables[name] = self._db.open_table(name)
            elif writable:
                self._create_table(name)
        if writable:
            self._ensure_fts()
            if fresh:
                self._write_meta(self._meta)
            self._migrate()

    def _wipe_tables(self) -> None:
        sidecar.remove(self.index_dir)  # first: it must never vouch for new tables
        with mapped_errors(StoreError, "dropping the old index"):
            db = lancedb.connect(str(self.index_dir))
            for name in db.list_tables().tables:
                db.drop_table(name)

    def _ensure_fts(self) -> None:
        """Create the FTS index if a run died between creating the table and its index."""
        with mapped_errors(StoreError, "checking the text index"):
            indexed = any("tokens" in idx.columns for idx in self._tables["chunks"].list_indices())
        if not indexed:
            self._create_fts(self._tables["chunks"])

    def _create_fts(self, table: Any) -> None:
        from lancedb.index import FTS

        # Tokens are pre-split (lexical.py); the engine only lower-cases and stems.
        with self._writing("creating the text index"):
            table.create_index(
                "tokens",
                config=FTS(
                    base_tokenizer="whitespace",
                    lower_case=True,
                    stem=True,
                    remove_stop_words=False,
                    ascii_folding=False,
                    with_position=False,
                    max_token_length=64,
                ),
            )

    def _remove_meta(self) -> None:
        try:
            (self.index_dir / META_FILE).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot remove {self.index_dir / META_FILE}: {exc}") from exc

    # ---------------------------------------------------------------- meta
    def _read_meta(self) -> dict[str, Any]:
        path = self.index_dir / META_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"index metadata {path} is unreadable: {exc}",
                hint="run `mcp-vector-search reset --yes` then `mcp-vector-search index`",
            ) from exc
        if not isinstance(data, dict):
            raise StoreError(f"index metadata {path} is not a JSON object")
        return data

    def _write_meta(self, data: dict[str, Any]) -> None:
        path = self.index_dir / META_FILE
        tmp = path.with_suffix(f".tmp.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if self._low_disk():
                raise DiskFullError(f"disk full while writing {path}") from exc
            raise StoreError(f"cannot write {path}: {exc}") from exc

    def _check_meta(self) -> None:
        check_meta(
            self._meta,
            model_id=self.model_id,
            dimensions=self.dimensions,
            where=str(self.index_dir),
            newest=SCHEMA_VERSION,
        )

    def meta(self) -> dict[str, object]:
        return dict(self._meta)

    def set_meta(self, **values: object) -> None:
        self._meta.update(values)
        self._write_meta(self._meta)

    def _migrate(self) -> None:
        current = int(self._meta["schema_version"])
        for target in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](self)
            self.set_meta(schema_version=target)

    # ---------------------------------------------------------------- tables
    def _create_table(self, name: str) -> None:
        schema = {
            "chunks": _chunks_schema(),
            "files": _files_schema(),
            "vectors": _vectors_schema(self.dimensions),
        }[name]
        with self._writing(f"creating table {name}"):
            table = self._db.create_table(name, schema=schema, exist_ok=True)
        if name == "chunks":
            self._create_fts(table)
        self._tables[name] = table

    def _table(self, name: str) -> Any | None:
        if self._closed:
            from ..errors import ClosedError

            raise ClosedError("the index store is closed")
        return self._tables.get(name)

    def _wtable(self, name: str) -> Any:
        if not self.writable:
            raise StoreError("this store was opened read-only")
        table = self._table(name)
        assert table is not None
        return table

    def _low_disk(self) -> bool:
        try:
            return shutil.disk_usage(self.index_dir).free < _LOW_DISK_BYTES
        except OSError:
            return False

    def _writing(self, what: str) -> Any:
        store = self

        class _Ctx:
            def __enter__(self) -> None:
                self._inner = mapped_errors(StoreError, what, disk_full=True)
                self._inner.__enter__()

            def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
                try:
                    return bool(self._inner.__exit__(et, ev, tb))
                except StoreError as exc:
                    # Engines report a full disk as an opaque I/O error; the free space
                    # on the device tells us what happened without parsing messages.
                    if not isinstance(exc, DiskFullError) and store._low_disk():
                        raise DiskFullError(f"disk full while {what}") from exc
                    raise

        return _Ctx()

    def version(self) -> tuple[int, ...]:
        out = []
        with mapped_errors(StoreError, "reading table versions"):
            for name in ("chunks", "files", "vectors"):
                table = self._table(name)
                out.append(table.version if table is not None else -1)
        return tuple(out)

    # ---------------------------------------------------------------- reads
    def file_states(self) -> dict[str, FileState]:
        table = self._table("files")
        if table is None:
            return {}
        with mapped_errors(StoreError, "reading file states"):
            rows = table.to_arrow().to_pylist()
        return {r["path"]: FileState(**r) for r in rows}

    def counts(self) -> tuple[int, int, int]:
        files_t, chunks_t = self._table("files"), self._table("chunks")
        with mapped_errors(StoreError, "counting rows"):
            files = files_t.count_rows("status = 'indexed'") if files_t is not None else 0
            if chunks_t is None:
                return files, 0, 0
            hashes = _column(chunks_t, "embed_hash")
            chunks = len(hashes)
            have = self._vector_hash_set()
            embedded = int(pc.sum(pc.is_in(hashes, value_set=have)).as_py() or 0) if chunks else 0
        return files, chunks, embedded

    def skipped_counts(self) -> dict[str, int]:
        table = self._table("files")
        if table is None:
            return {}
        with mapped_errors(StoreError, "reading skip counts"):
            status = _column(table, "status")
        counts: dict[str, int] = {}
        for value in status.to_pylist():
            if value != "indexed":
                counts[value] = counts.get(value, 0) + 1
        return counts

    def _vector_hash_set(self) -> pa.Array:
        table = self._table("vectors")
        if table is None:
            return pa.array([], pa.string())
        col = _column(table, "embed_hash")
        return pc.unique(col.combine_chunks()) if len(col) else pa.array([], pa.string())

    def lexical_search(
        self, terms: Sequence[str], limit: int, language: str | None = None
    ) -> list[LexicalHit]:
        table = self._table("chunks")
        if table is None or not terms:
            return []
        query = " ".join(t for t in terms if _SAFE_LITERAL.match(t))
        if not query:
            return []
        with mapped_errors(StoreError, "lexical search"):
            q = table.search(query, query_type="fts").limit(limit)
            if language:
                if not _SAFE_LITERAL.match(language):
                    return []
                q = q.where(f"language = '{language}'", prefilter=True)
            rows = q.select([*_CATALOG_COLUMNS, "_score"]).with_row_id(True).to_arrow().to_pylist()
        return [
            LexicalHit(
                StoredChunk(**{k: r[k] for k in _CATALOG_COLUMNS}, row_id=r.get("_rowid")),
                float(r["_score"]),
            )
            for r in rows
        ]

    def chunk_catalog(self) -> list[StoredChunk]:
        table = self._table("chunks")
        if table is None:
            return []
        with mapped_errors(StoreError, "reading the chunk catalog"):
            version = table.version
            if self._catalog is not None and self._catalog[0] == version:
                return self._catalog[1]
            data = table.search().select(_CATALOG_COLUMNS).with_row_id(True).limit(None).to_arrow()
        cols = {name: data.column(name).to_pylist() for name in [*_CATALOG_COLUMNS, "_rowid"]}
        catalog = [
            StoredChunk(*values)
            for values in zip(*(cols[n] for n in [*_CATALOG_COLUMNS, "_rowid"]), strict=True)
        ]
        self._catalog = (version, catalog)
        return catalog

    def vectors(self) -> tuple[list[str], np.ndarray]:
        table = self._table("vectors")
        if table is None:
            return [], np.zeros((0, self.dimensions), np.float32)
        with mapped_errors(StoreError, "reading vectors"):
            version = table.version
            if self._vectors is not None and self._vectors[0] == version:
                return self._vectors[1], self._vectors[2]
            data = table.to_arrow()
        hashes = data.column("embed_hash").to_pylist()
        vec_col = data.column("vector").combine_chunks()
        flat = vec_col.values.to_numpy(zero_copy_only=False) if len(vec_col) else np.zeros(0)
        matrix = np.asarray(flat, dtype=np.float32).reshape(len(hashes), self.dimensions)
        self._vectors = (version, hashes, matrix)
        return hashes, matrix

    def vector_search(
        self, query: np.ndarray, limit: int, language: str | None = None
    ) -> list[VectorHit]:
        """Exact cosine top-k over the vectors in memory (a matrix product: at 100k
        chunks a few milliseconds, and exact, so no ANN index to build or tune)."""
        cache = self._nearest_cache()
        if not len(cache.hashes) or limit < 1:
            return []
        sims = cache.matrix @ np.asarray(query, dtype=np.float32)
        out: list[VectorHit] = []
        # Take a few more rows than asked when filtering; widen until filled or done.
        top = min(len(sims), limit)
        while True:
            idx = np.argpartition(-sims, top - 1)[:top] if top < len(sims) else np.arange(len(sims))
            out = []
            for i in idx[np.argsort(-sims[idx], kind="stable")]:
                for chunk in cache.by_hash[cache.hashes[i]]:
                    if language is None or chunk.language == language:
                        out.append(VectorHit(chunk, float(sims[i])))
            if len(out) >= limit or top >= len(sims):
                return out[:limit]
            top = min(len(sims), top * 4)

    def _nearest_cache(self) -> _NearestCache:
        version = self.version()
        if self._nearest is not None and self._nearest.version == version:
            return self._nearest
        by_hash: dict[str, list[StoredChunk]] = {}
        for chunk in self.chunk_catalog():
            by_hash.setdefault(chunk.embed_hash, []).append(chunk)
        hashes, matrix = self.vectors()
        # Only vectors some chunk uses (and each once), so top-k never fills with orphans.
        seen: set[str] = set()
        keep = []
        for i, h in enumerate(hashes):
            if h in by_hash and h not in seen:
                seen.add(h)
                keep.append(i)
        self._nearest = _NearestCache(
            version,
            [hashes[i] for i in keep],
            matrix[keep] if len(keep) != len(hashes) else matrix,
            by_hash,
        )
        return self._nearest

    def sidecar_source(self) -> sidecar.Source:
        """Everything the read sidecar holds, at the current version (see sidecar.py)."""
        chunks_t = self._table("chunks")
        version = tuple(sidecar.table_versions(self.index_dir))
        if chunks_t is None:
            raise StoreError("no chunks table to publish")
        with mapped_errors(StoreError, "reading the index for the read sidecar"):
            data = (
                chunks_t.search()
                .select([*_CATALOG_COLUMNS, "content", "tokens"])
                .limit(None)
                .to_arrow()
            )
        cols = {name: data.column(name).to_pylist() for name in _CATALOG_COLUMNS}
        catalog = [
            StoredChunk(*values)
            for values in zip(*(cols[n] for n in _CATALOG_COLUMNS), strict=True)
        ]
        # Split and number the stored tokens in Arrow: millions of them on a large tree.
        split = pc.utf8_split_whitespace(data.column("tokens").combine_chunks())
        flat = pc.list_flatten(split)
        encoded = pc.dictionary_encode(flat) if len(flat) else None
        hashes, matrix = self.vectors()
        return sidecar.Source(
            version=version,
            model_id=self.model_id,
            dimensions=self.dimensions,
            catalog=catalog,
            contents=data.column("content").to_pylist(),
            token_doc=pc.list_parent_indices(split).to_numpy().astype(np.int32),
            token_word=(
                encoded.indices.to_numpy().astype(np.int32)
                if encoded is not None
                else np.zeros(0, np.int32)
            ),
            words=encoded.dictionary.to_pylist() if encoded is not None else [],
            vector_hashes=hashes,
            vectors=matrix,
            files=self.file_states(),
        )

    def sidecar_is_current(self) -> bool:
        """The read sidecar has every chunk and file row this store has (vectors may lag)."""
        header = sidecar.read_header(self.index_dir)
        return header is not None and sidecar.is_current(header, self.index_dir)

    def publish_sidecar(self) -> None:
        """Write the read sidecar for the current version (writer only)."""
        if not self.writable:
            raise StoreError("this store was opened read-only")
        header = sidecar.read_header(self.index_dir)
        if header is not None and tuple(header["version"]) == sidecar.table_versions(
            self.index_dir
        ):
            return  # a no-op run: the copy on disk is this very version
        sidecar.publish(self.index_dir, self.sidecar_source())

    def contents(self, ids: Sequence[str]) -> dict[str, str]:
        table = self._table("chunks")
        if table is None or not ids:
            return {}
        with mapped_errors(StoreError, "reading chunk contents"):
            rows = (
                table.search()
                .where(f"id IN ({_sql_list(ids)})")
                .select(["id", "content"])
                .limit(None)
                .to_arrow()
                .to_pylist()
            )
        return {r["id"]: r["content"] for r in rows}

    def contents_of(self, chunks: Sequence[StoredChunk]) -> dict[str, str]:
        table = self._table("chunks")
        if table is None or not chunks:
            return {}
        wanted = {c.id for c in chunks}
        row_ids = [c.row_id for c in chunks if c.row_id is not None]
        if len(row_ids) == len(chunks):
            try:
                with mapped_errors(StoreError, "reading chunk contents"):
                    data = table.take_row_ids(row_ids).select(["id", "content"]).to_arrow()
                found = dict(
                    zip(
                        data.column("id").to_pylist(),
                        data.column("content").to_pylist(),
                        strict=True,
                    )
                )
                # Row ids move when a writer compacts; then the ids won't match and the
                # slower lookup by id answers instead.
                if wanted <= found.keys():
                    return {k: found[k] for k in wanted}
            except StoreError:
                pass
        return self.contents(list(wanted))

    def size_bytes(self) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.index_dir):
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
        return total

    # ---------------------------------------------------------------- writes
    def _chunk_rows(self, chunks: Sequence[Chunk]) -> pa.Table:
        rows = {name: [] for name in _chunks_schema().names}  # type: dict[str, list[Any]]
        for c in chunks:
            rows["id"].append(chunk_id(c))
            rows["path"].append(c.path)
            rows["start_line"].append(c.start_line)
            rows["end_line"].append(c.end_line)
            rows["symbol"].append(c.symbol)
            rows["kind"].append(c.kind)
            rows["language"].append(c.language)
            rows["content"].append(c.content)
            rows["content_hash"].append(c.content_hash)
            rows["embed_text"].append(c.embed_text)
            rows["embed_hash"].append(embed_hash(self.model_id, c.embed_text))
            rows["tokens"].append(lexical.document_text(c.content, c.symbol, c.path))
        return pa.Table.from_pydict(rows, schema=_chunks_schema())

    def replace_files(self, states: Sequence[FileState], chunks: Sequence[Chunk]) -> None:
        if not states:
            return
        chunks_t = self._wtable("chunks")
        paths = [s.path for s in states]
        # Dedupe by id: two identical chunks at one span can't both be stored.
        data = self._chunk_rows(chunks)
        if data.num_rows:
            ids = data.column("id")
            _, first = np.unique(np.asarray(ids.to_pylist(), dtype=object), return_index=True)
            if len(first) != data.num_rows:
                data = data.take(pa.array(sorted(first.tolist())))
        with self._writing("writing chunks"):
            if data.num_rows:
                # One commit: insert new rows and delete every other row of these files.
                (
                    chunks_t.merge_insert("id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .when_not_matched_by_source_delete(f"path IN ({_sql_list(paths)})")
                    .execute(data)
                )
            else:
                chunks_t.delete(f"path IN ({_sql_list(paths)})")
        self.record_files(states)

    def record_files(self, states: Sequence[FileState]) -> None:
        if not states:
            return
        files_t = self._wtable("files")
        data = pa.Table.from_pylist(
            [
                {
                    "path": s.path,
                    "file_hash": s.file_hash,
                    "size": s.size,
                    "mtime_ns": s.mtime_ns,
                    "status": s.status,
                    "chunks": s.chunks,
                }
                for s in states
            ],
            schema=_files_schema(),
        )
        with self._writing("recording file states"):
            files_t.merge_insert(
                "path"
            ).when_matched_update_all().when_not_matched_insert_all().execute(data)

    def delete_files(self, paths: Sequence[str]) -> None:
        if not paths:
            return
        where = f"path IN ({_sql_list(paths)})"
        with self._writing("deleting files"):
            # Chunks first: a crash in between leaves a file row without chunks, which
            # the next run sees as deleted again, never chunks without a file row.
            self._wtable("chunks").delete(where)
            self._wtable("files").delete(where)

    def delete_orphan_chunks(self, known_paths: set[str]) -> int:
        table = self._wtable("chunks")
        with mapped_errors(StoreError, "checking for orphan chunks"):
            paths = set(_column(table, "path").to_pylist())
        orphans = sorted(paths - known_paths)
        for i in range(0, len(orphans), 500):
            with self._writing("deleting orphan chunks"):
                table.delete(f"path IN ({_sql_list(orphans[i : i + 500])})")
        return len(orphans)

    def missing_vector_hashes(self) -> list[str]:
        table = self._table("chunks")
        if table is None:
            return []
        with mapped_errors(StoreError, "finding chunks without vectors"):
            hashes = _column(table, "embed_hash")
            if not len(hashes):
                return []
            missing: list[str] = pc.unique(
                pc.filter(hashes, pc.invert(pc.is_in(hashes, value_set=self._vector_hash_set())))
            ).to_pylist()
            return missing

    def embed_texts(self, hashes: Sequence[str]) -> dict[str, str]:
        table = self._table("chunks")
        if table is None or not hashes:
            return {}
        with mapped_errors(StoreError, "reading texts to embed"):
            rows = (
                table.search()
                .where(f"embed_hash IN ({_sql_list(hashes)})")
                .select(["embed_hash", "embed_text"])
                .limit(None)
                .to_arrow()
                .to_pylist()
            )
        return {r["embed_hash"]: r["embed_text"] for r in rows}

    def add_vectors(self, hashes: Sequence[str], matrix: np.ndarray) -> None:
        if not len(hashes):
            return
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.shape != (len(hashes), self.dimensions):
            expected = (len(hashes), self.dimensions)
            raise StoreError(f"vector batch has shape {matrix.shape}, expected {expected}")
        vec = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), self.dimensions)
        data = pa.Table.from_arrays(
            [pa.array(list(hashes), pa.string()), vec], schema=_vectors_schema(self.dimensions)
        )
        with self._writing("writing vectors"):
            self._wtable("vectors").add(data)

    def optimize(self) -> None:
        """Compact fragments, fold new rows into the FTS index, drop old versions.

        Writer-only. Versions younger than CLEANUP_GRACE survive for readers.
        """
        for name in ("chunks", "files", "vectors"):
            table = self._wtable(name)
            with self._writing(f"optimizing table {name}"):
                table.optimize(cleanup_older_than=CLEANUP_GRACE)
        self._dedupe_vectors()

    def _dedupe_vectors(self) -> None:
        """Remove vectors no chunk refers to (after deletions) and duplicate hashes."""
        chunks_t, vectors_t = self._wtable("chunks"), self._wtable("vectors")
        with mapped_errors(StoreError, "collecting unused vectors"):
            used_col = _column(chunks_t, "embed_hash")
            used = (
                pc.unique(used_col.combine_chunks()) if len(used_col) else pa.array([], pa.string())
            )
            have = _column(vectors_t, "embed_hash")
        if not len(have):
            return
        unused = pc.unique(pc.filter(have, pc.invert(pc.is_in(have, value_set=used)))).to_pylist()
        # Keep the cache of unused vectors bounded but useful for branch switches.
        if len(unused) > max(1000, len(used) // 2):
            for i in range(0, len(unused), 500):
                with self._writing("deleting unused vectors"):
                    vectors_t.delete(f"embed_hash IN ({_sql_list(unused[i : i + 500])})")

    def reset(self, *, keep_vectors: bool = True) -> None:
        names = ["chunks", "files"] + ([] if keep_vectors else ["vectors"])
        sidecar.remove(self.index_dir)
        with self._writing("resetting the index"):
            for name in names:
                if name in self._tables:
                    self._db.drop_table(name)
                    del self._tables[name]
        for name in names:
            self._create_table(name)
        self._catalog = None
        self._vectors = None
        self._nearest = None

    def close(self) -> None:
        self._closed = True
        self._tables.clear()
        self._catalog = None
        self._vectors = None
        self._nearest = None


@dataclass(frozen=True, slots=True)
class _NearestCache:
    version: tuple[int, ...]
    hashes: list[str]
    matrix: np.ndarray
    by_hash: dict[str, list[StoredChunk]]


def open_store(
    index_dir: Path, *, model_id: str, dimensions: int, writable: bool, rebuild: bool = False
) -> LanceStore:
    return LanceStore(
        index_dir, model_id=model_id, dimensions=dimensions, writable=writable, rebuild=rebuild
    )


__all__ = ["LanceStore", "chunk_id", "embed_hash", "open_store", "read_meta"]
