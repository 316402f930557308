"""Chroma backend: vectors in Chroma, embedded (PersistentClient) or on a `chroma run`
server (HttpClient); chunks, file states, meta and BM25 in a local SQLite sidecar
(chroma_side.py says why: no Search API or sparse index in open-source Chroma 1.5, and no
multi-record transactions).

One Chroma collection per (project, branch, model) named `mvs-<hash>`: id = embed hash,
the vector, nothing else. Our own vectors always (`embedding_function=None`): Chroma's
default embedding function downloads a model and must never run. Inner-product space:
our vectors are unit length, so 1 - distance is the cosine.

The order of writes makes a kill at any point converge: vectors go to Chroma first, then
into the sidecar's mirror of which hashes Chroma has; a vector in Chroma that the mirror
lacks is embedded again (an idempotent upsert), and on every writable open the mirror is
checked against the collection's count and rebuilt from it when they differ (a crash in
between, or a server that lost data).

The writer lock is the embedded engine's file lock on the index dir for both modes: the
sidecar it guards is local. Vectors on a server are content-addressed upserts, so two
checkouts writing the same collection cannot corrupt it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.client import Client
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings
from chromadb.errors import NotFoundError

from ..errors import ClosedError, IndexNotFoundError, MVSError, StoreError
from ..native import is_native_panic
from ..records import Chunk, FileState
from . import SCHEMA_VERSION, LexicalHit, StoredChunk, VectorHit, project_identity
from .chroma_side import Side, side_path
from .meta import check_meta

if TYPE_CHECKING:
    from ..config import Config

T = TypeVar("T")

_DOWN_HINT = "start it (`chroma run --path DIR --port PORT`) or fix MVS_CHROMA_URL (chroma_url)"
_PAGE = 5000  # ids per page when reading a whole collection


def chroma_dir(config: Config, root: Path) -> Path:
    path = Path(config.chroma_path).expanduser() if config.chroma_path else None
    if path is None:
        return config.index_path(root) / "chroma"
    return (path if path.is_absolute() else Path(root) / path).resolve()


def collection_name(project: str, branch: str, model_id: str) -> str:
    digest = hashlib.blake2b(f"{project}\x00{branch}\x00{model_id}".encode(), digest_size=12)
    return "mvs-" + digest.hexdigest()


def _settings() -> Settings:
    # Telemetry would try the network (there is none, and users did not ask for it).
    return Settings(anonymized_telemetry=False)


def _is_down(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionError | httpx.TransportError):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def connect(url: str, path: Path | None) -> ClientAPI:
    if path is not None:
        return chromadb.PersistentClient(path=str(path), settings=_settings())
    parts = urlsplit(url)
    ssl = parts.scheme == "https"
    return chromadb.HttpClient(
        host=parts.hostname or "localhost",
        port=parts.port or (443 if ssl else 8000),
        ssl=ssl,
        settings=_settings(),
    )


def close_client(client: ClientAPI) -> None:
    """Close the client and the HTTP sessions it opened. chromadb 1.5 stops a server
    client's systems on close but leaves their httpx sessions (and sockets) open: one for
    the client, one for the admin client it makes; a store would leak both."""
    sessions = [
        getattr(getattr(owner, "_server", None), "_session", None)
        for owner in (client, getattr(client, "_admin_client", None))
    ]
    try:
        if isinstance(client, Client):
            client.close()
    except Exception:
        pass  # best effort: nothing is left to write
    for session in sessions:
        # Only HTTP clients have one; each HttpClient has systems of its own (chromadb
        # keys them by a fresh uuid), so no other client shares these sessions.
        if isinstance(session, httpx.Client):
            session.close()


def call(url: str, doing: str, fn: Callable[[], T]) -> T:
    """fn against Chroma, its failures as one StoreError line (native panics too)."""
    try:
        return fn()
    except MVSError:
        raise
    except Exception as exc:
        if url and _is_down(exc):
            raise StoreError(
                f"cannot reach the Chroma server at {url} while {doing}",
                hint=_DOWN_HINT + "; the index keeps its last committed state",
            ) from None
        text = " ".join(str(exc).split())[:300]
        raise StoreError(f"Chroma failed while {doing}: {type(exc).__name__}: {text}") from exc
    except BaseException as exc:
        # PyO3's PanicException derives from BaseException: caught by its type.
        if is_native_panic(exc):
            raise StoreError(
                f"Chroma failed while {doing}: native panic in {type(exc).__module__}"
            ) from exc
        raise


class ChromaStore:
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
        self.index_dir = config.index_path(root)
        self.url = config.chroma_url
        self.path = None if self.url else chroma_dir(config, root)
        self.project, self.branch = project_identity(config, root)
        self.name = collection_name(self.project, self.branch, model_id)
        where = f"Chroma at {self.url}" if self.url else f"{self.path}"
        self.location = f"{where} (collection {self.name}) + {side_path(self.index_dir)}"
        self._closed = False
        self._client: ClientAPI | None = None
        self._col: Collection | None = None
        self._catalog: tuple[int, list[StoredChunk]] | None = None
        self._seen_vectors = (-1, -1)
        # Held around every use of the client: a reader's refresh replaces it, and no
        # other thread may be half way through a query on the old one then.
        self._mutex = threading.RLock()
        if not writable and not side_path(self.index_dir).exists():
            raise IndexNotFoundError(f"no index at {self.index_dir}")
        self._side = Side(self.index_dir, writable=writable)
        try:
            self._open(rebuild)
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- opening
    def _open(self, rebuild: bool) -> None:
        meta = self._side.meta()
        other_model = meta and (
            meta.get("model_id") != self.model_id or meta.get("dimensions") != self.dimensions
        )
        if self.writable and rebuild and other_model:
            # An explicit rebuild with another model: the chunks go (their embed hashes
            # name the old model); the old model's collection is left for pruning.
            self._side.reset(keep_meta=False, keep_vectors=False)
            meta = {}
        fresh = not meta
        if fresh:
            if not self.writable:
                raise IndexNotFoundError(f"no index at {self.index_dir}")
            meta = {
                "schema_version": SCHEMA_VERSION,
                "model_id": self.model_id,
                "dimensions": self.dimensions,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        self._meta = meta
        check_meta(
            meta,
            model_id=self.model_id,
            dimensions=self.dimensions,
            where=str(self.index_dir),
            newest=SCHEMA_VERSION,
        )
        self._client = self._chroma("connecting", self._connect)
        if self.writable:
            self._col = self._chroma("opening the collection", self._create_collection)
            self._reconcile()
            if fresh:
                # Last: the meta is what makes the sidecar an index (a run killed before
                # this point left no index, and the next run starts it again).
                self._side.set_meta(self._meta)
        else:
            self._seen_vectors = self._side.mirror_stamp()
            self._col = self._chroma("opening the collection", self._get_collection)

    def _connect(self) -> ClientAPI:
        return connect(self.url, self.path)

    def _create_collection(self) -> Collection:
        client = self._live_client()
        return client.get_or_create_collection(
            self.name,
            embedding_function=None,
            # ef_search 1000: measured on 20k random unit vectors of 384 dims (a graph
            # index's worst case), recall@100 against the exact scan was 0.52 at 200 and
            # 0.93 at 1000 (about 14 ms a query on a loaded machine). The other engines
            # answer exactly at this size; a test holds recall against numpy.
            configuration={"hnsw": {"space": "ip", "ef_search": 1000, "ef_construction": 200}},
            metadata={
                "project": self.project,
                "branch": self.branch or "-",
                "model": self.model_id,
            },
        )

    def _get_collection(self) -> Collection | None:
        try:
            return self._live_client().get_collection(self.name, embedding_function=None)
        except NotFoundError:
            return None  # no vectors written yet

    def _live_client(self) -> ClientAPI:
        if self._client is None:
            raise ClosedError("the index store is closed")
        return self._client

    def _refresh(self, seen: tuple[int, int]) -> None:
        """Open the embedded client again: a PersistentClient keeps the vectors it loaded
        and never sees another process's later writes (measured: a reader opened before a
        writer process added a vector kept answering without it), so a reader that sees
        the mirror change reopens. A writer in this process shares the client's system,
        which is current, so then the reopen is cheap and changes nothing."""
        client, self._client, self._col = self._client, None, None
        if client is not None:
            close_client(client)
        self._client = self._chroma("connecting", self._connect)
        self._col = self._chroma("opening the collection", self._get_collection)
        self._seen_vectors = seen

    def _reconcile(self) -> None:
        """Make the sidecar's mirror equal to the collection when their counts differ."""
        col = self._wcol()
        mirrored = self._side.mirrored_hashes()
        if self._chroma("counting vectors", col.count) == len(mirrored):
            return
        have: set[str] = set()
        offset = 0
        while True:
            page = self._chroma(
                "reading vector ids",
                lambda off=offset: col.get(include=[], limit=_PAGE, offset=off),  # type: ignore[misc]
            )
            have.update(page["ids"])
            if len(page["ids"]) < _PAGE:
                break
            offset += _PAGE
        self._side.set_mirror(have)

    # ---------------------------------------------------------------- plumbing
    def _chroma(self, doing: str, fn: Callable[[], T]) -> T:
        with self._mutex:
            if self._closed:
                raise ClosedError("the index store is closed")
            return call(self.url, doing, fn)

    def _wcol(self) -> Collection:
        if not self.writable:
            raise StoreError("this store was opened read-only")
        if self._closed or self._col is None:
            raise ClosedError("the index store is closed")
        return self._col

    def _rcol(self) -> Collection | None:
        if self._closed:
            raise ClosedError("the index store is closed")
        if not self.writable and self.path is not None:
            seen = self._side.mirror_stamp()
            if seen != self._seen_vectors:
                self._refresh(seen)
        if self._col is None and not self.writable:
            # A reader opened before the first vector was written: look again.
            self._col = self._chroma("opening the collection", self._get_collection)
        return self._col

    # ---------------------------------------------------------------- meta
    def meta(self) -> dict[str, object]:
        self._meta = self._side.meta() or self._meta
        return dict(self._meta)

    def set_meta(self, **values: object) -> None:
        self._meta.update(values)
        self._side.set_meta(values)

    def version(self) -> tuple[int, ...]:
        return (self._side.generation(),)

    # ---------------------------------------------------------------- reads
    def file_states(self) -> dict[str, FileState]:
        return self._side.file_states()

    def counts(self) -> tuple[int, int, int]:
        return self._side.counts()

    def skipped_counts(self) -> dict[str, int]:
        return self._side.skipped_counts()

    def lexical_search(
        self, terms: Sequence[str], limit: int, language: str | None = None
    ) -> list[LexicalHit]:
        return self._side.lexical_search(terms, limit, language)

    def vector_search(
        self, query: np.ndarray, limit: int, language: str | None = None
    ) -> list[VectorHit]:
        with self._mutex:
            return self._vector_search(query, limit, language)

    def _vector_search(
        self, query: np.ndarray, limit: int, language: str | None
    ) -> list[VectorHit]:
        col = self._rcol()
        if col is None or limit < 1:
            return []
        qvec = np.asarray(query, dtype=np.float32).reshape(1, -1)
        total = self._chroma("counting vectors", col.count)
        # The nearest vectors first; widen when a filter, or vectors no chunk uses any
        # more (pruned by optimize), leave fewer hits than asked.
        top = min(total, limit)
        while top > 0:
            res = self._chroma(
                "vector search",
                lambda n=top: col.query(  # type: ignore[misc]
                    query_embeddings=qvec, n_results=n, include=["distances"]
                ),
            )
            ids = res["ids"][0]
            dists = (res["distances"] or [[]])[0]
            by_hash = self._side.chunks_with_hashes(ids)
            out = [
                VectorHit(chunk, 1.0 - float(d))
                for h, d in zip(ids, dists, strict=True)
                for chunk in by_hash.get(h, [])
                if language is None or chunk.language == language
            ]
            if len(out) >= limit or top >= total:
                return out[:limit]
            top = min(total, top * 4)
        return []

    def chunk_catalog(self) -> list[StoredChunk]:
        generation = self._side.generation()
        if self._catalog is not None and self._catalog[0] == generation:
            return self._catalog[1]
        catalog = self._side.catalog()
        self._catalog = (generation, catalog)
        return catalog

    def contents(self, ids: Sequence[str]) -> dict[str, str]:
        return self._side.contents(ids) if ids else {}

    def contents_of(self, chunks: Sequence[StoredChunk]) -> dict[str, str]:
        return self.contents([c.id for c in chunks])

    def size_bytes(self) -> int:
        total = 0
        dirs = [self.index_dir] + ([self.path] if self.path is not None else [])
        seen: set[str] = set()
        for top in dirs:
            for dirpath, _dirs, files in os.walk(top):
                for name in files:
                    full = os.path.join(dirpath, name)
                    if full in seen:
                        continue
                    seen.add(full)
                    try:
                        total += os.lstat(full).st_size
                    except OSError:
                        pass
        return total

    # ---------------------------------------------------------------- writes
    def replace_files(self, states: Sequence[FileState], chunks: Sequence[Chunk]) -> None:
        if states:
            self._side.replace_files(self.model_id, states, chunks)

    def record_files(self, states: Sequence[FileState]) -> None:
        if states:
            self._side.record_files(states)

    def delete_files(self, paths: Sequence[str]) -> None:
        if paths:
            self._side.delete_files(paths)

    def delete_orphan_chunks(self, known_paths: set[str]) -> int:
        return self._side.delete_orphan_chunks(known_paths)

    def missing_vector_hashes(self) -> list[str]:
        return self._side.missing_vector_hashes()

    def embed_texts(self, hashes: Sequence[str]) -> dict[str, str]:
        return self._side.embed_texts(hashes) if hashes else {}

    def add_vectors(self, hashes: Sequence[str], matrix: np.ndarray) -> None:
        if not len(hashes):
            return
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.shape != (len(hashes), self.dimensions):
            expected = (len(hashes), self.dimensions)
            raise StoreError(f"vector batch has shape {matrix.shape}, expected {expected}")
        col = self._wcol()
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)  # Chroma refuses repeated ids in one call
        ids = list(first)
        rows = matrix[list(first.values())]
        step = self._chroma("reading the batch limit", self._live_client().get_max_batch_size)
        for i in range(0, len(ids), step):
            part, vecs = ids[i : i + step], rows[i : i + step]
            self._chroma("writing vectors", lambda p=part, v=vecs: col.upsert(ids=p, embeddings=v))  # type: ignore[misc]
        # After Chroma has them: a kill in between only costs embedding them again.
        self._side.mirror_vectors(ids)

    def optimize(self) -> None:
        """Prune vectors no chunk uses once they outnumber the used ones (kept a while
        for branch switches, as on the embedded engine). Chroma compacts on its own."""
        col = self._wcol()
        used = self._side.used_hashes()
        unused = sorted(self._side.mirrored_hashes() - used)
        if len(unused) <= max(1000, len(used) // 2):
            return
        for i in range(0, len(unused), 500):
            part = unused[i : i + 500]
            self._chroma("deleting unused vectors", lambda p=part: col.delete(ids=p))  # type: ignore[misc]
            self._side.unmirror(part)

    def reset(self, *, keep_vectors: bool = True) -> None:
        if not keep_vectors:
            client = self._live_client()
            self._wcol()
            self._chroma("dropping the vectors", lambda: client.delete_collection(self.name))
            self._col = self._chroma("opening the collection", self._create_collection)
        self._side.reset(keep_meta=True, keep_vectors=keep_vectors)
        self._catalog = None

    def close(self) -> None:
        with self._mutex:
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._col = None
        client, self._client = self._client, None
        self._catalog = None
        if client is not None:
            close_client(client)
        self._side.close()


def open_store(
    config: Config,
    root: Path,
    *,
    model_id: str,
    dimensions: int,
    writable: bool,
    rebuild: bool = False,
) -> ChromaStore:
    return ChromaStore(
        config, root, model_id=model_id, dimensions=dimensions, writable=writable, rebuild=rebuild
    )


def delete_project(config: Config, root: Path) -> str:
    """Drop this project's collections (every model's, found by their metadata) on a
    server or in an embedded Chroma outside the index dir; the local sidecar, and an
    embedded Chroma under the index dir, go with the index dir."""
    project, branch = project_identity(config, root)
    url = config.chroma_url
    path = None if url else chroma_dir(config, root)
    index_dir = config.index_path(root)
    if path is not None and (path == index_dir or index_dir in path.parents):
        return str(index_dir)
    if path is not None and not path.exists():
        return str(index_dir)
    client = call(url, "connecting", lambda: connect(url, path))
    try:
        for col in call(url, "listing collections", client.list_collections):
            meta = col.metadata or {}
            if meta.get("project") == project and meta.get("branch") == (branch or "-"):
                call(url, "deleting the index", lambda n=col.name: client.delete_collection(n))  # type: ignore[misc]
    finally:
        close_client(client)
    where = f"Chroma at {url}" if url else str(path)
    return f"project {project!r} (branch {branch or '-'!r}) in {where} and {index_dir}"


__all__ = ["ChromaStore", "chroma_dir", "delete_project", "open_store"]
