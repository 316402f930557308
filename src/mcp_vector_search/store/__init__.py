"""The storage seam: one `Store` protocol, and `open_store` choosing the engine from config.

Backends live in `store/<engine>.py`; only they import their engine, and nothing outside
`store/` imports a backend: every caller goes through the functions here. What both
engines share (chunk ids, embed hashes, the meta checks, the project's identity in a
shared database) lives here and in `meta.py`, not in a backend.

Write methods are called only by the holder of the writer lock. Every write leaves the
index before or after it, never between, so an interrupted run loses at most the batch
in flight and the next run converges to what a clean run would build.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..records import Chunk, FileState, text_hash

if TYPE_CHECKING:
    import numpy as np

    from ..config import Config
    from ..lock import Lock
    from . import sidecar

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as a search candidate: metadata without the embedded text."""

    id: str
    path: str
    start_line: int
    end_line: int
    symbol: str | None
    kind: str
    language: str
    embed_hash: str
    # The engine's row address when known: a fast path for reading contents, only valid
    # for the table version it was read from (callers verify ids, see contents()).
    row_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class LexicalHit:
    chunk: StoredChunk
    score: float


@dataclass(frozen=True, slots=True)
class VectorHit:
    chunk: StoredChunk
    score: float  # cosine similarity of unit vectors, not rescaled


def embed_hash(model_id: str, embed_text: str) -> str:
    """The vector's identity: one model, one text, one vector, in every project."""
    return text_hash(model_id + "\x00" + embed_text)


def chunk_id(chunk: Chunk) -> str:
    return text_hash(
        f"{chunk.path}\x00{chunk.start_line}\x00{chunk.end_line}\x00{chunk.content_hash}"
    )


class Store(Protocol):
    model_id: str
    dimensions: int
    location: str  # where the index lives, for messages (never with a password)

    # -- reads (any process) --
    def file_states(self) -> dict[str, FileState]: ...
    def counts(self) -> tuple[int, int, int]:
        """(files indexed, chunks, chunks with a vector)."""
        ...

    def lexical_search(
        self, terms: Sequence[str], limit: int, language: str | None = None
    ) -> list[LexicalHit]: ...
    def vector_search(
        self, query: np.ndarray, limit: int, language: str | None = None
    ) -> list[VectorHit]:
        """Up to `limit` chunks nearest to the unit vector `query`, best first.

        Chunks sharing one vector (identical texts) all appear, with the same score.
        """
        ...

    def chunk_catalog(self) -> list[StoredChunk]:
        """Every chunk; one list object per index version (callers cache by identity)."""
        ...

    def contents(self, ids: Sequence[str]) -> dict[str, str]: ...
    def contents_of(self, chunks: Sequence[StoredChunk]) -> dict[str, str]:
        """contents() for known candidates; may use their row ids (much faster)."""
        ...

    def version(self) -> tuple[int, ...]:
        """Changes whenever the index changes; readers use it to refresh caches."""
        ...

    def meta(self) -> dict[str, object]: ...
    def size_bytes(self) -> int: ...

    # -- writes (writer lock held) --
    def replace_files(self, states: Sequence[FileState], chunks: Sequence[Chunk]) -> None:
        """Atomically make `chunks` the only chunks of the files in `states`, then record them."""
        ...

    def record_files(self, states: Sequence[FileState]) -> None: ...
    def delete_files(self, paths: Sequence[str]) -> None: ...
    def missing_vector_hashes(self) -> list[str]:
        """Embed hashes of chunks that have no vector yet, each once."""
        ...

    def embed_texts(self, hashes: Sequence[str]) -> dict[str, str]: ...
    def delete_orphan_chunks(self, known_paths: set[str]) -> int: ...
    def skipped_counts(self) -> dict[str, int]: ...
    def add_vectors(self, hashes: Sequence[str], matrix: np.ndarray) -> None: ...
    def set_meta(self, **values: object) -> None: ...
    def optimize(self) -> None: ...
    def reset(self, *, keep_vectors: bool = True) -> None: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------- choosing the engine


def project_identity(config: Config, root: Path) -> tuple[str, str]:
    """(project, branch): this checkout's key in a shared database.

    The project is `config.project`, else the root's directory name; the branch is git's
    current branch ("" outside git, "(detached)" on a detached HEAD), so two branches of
    one project keep their own chunks while sharing every identical vector.
    """
    project = config.project.strip() or Path(root).resolve().name
    return project, _git_branch(Path(root))


def _git_branch(root: Path) -> str:
    git = root / ".git"
    try:
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            line = git.read_text(encoding="utf-8").strip()
            if not line.startswith("gitdir:"):
                return ""
            git = (root / line.split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    if head.startswith("ref:"):
        ref = head.split(":", 1)[1].strip()
        return ref.removeprefix("refs/heads/")
    return "(detached)"


def _missing_driver(exc: ImportError, store: str = "postgres") -> Exception:
    from ..errors import StoreError

    if store == "chroma":
        return StoreError(
            f'store = "chroma" needs the Chroma client ({exc.name} is missing)',
            hint="pip install 'mcp-vector-search[chroma]'",
        )
    return StoreError(
        f'store = "postgres" needs the PostgreSQL driver ({exc.name} is missing)',
        hint="pip install 'mcp-vector-search[postgres]'",
    )


def index_is_local(config: Config) -> bool:
    """True when the whole index lives in this checkout's index dir (no one else writes
    it), so a snapshot of the tree can vouch for it without opening the engine."""
    return config.store == "lancedb"


def open_store(
    config: Config,
    root: Path,
    *,
    model_id: str,
    dimensions: int,
    writable: bool,
    rebuild: bool = False,
) -> Store:
    """The configured engine's store for the project at `root`."""
    if config.store == "chroma":
        try:
            from . import chroma
        except ImportError as exc:
            raise _missing_driver(exc, "chroma") from None
        return chroma.open_store(
            config,
            root,
            model_id=model_id,
            dimensions=dimensions,
            writable=writable,
            rebuild=rebuild,
        )
    if config.store == "postgres":
        try:
            from . import postgres
        except ImportError as exc:
            raise _missing_driver(exc) from None
        return postgres.open_store(
            config,
            root,
            model_id=model_id,
            dimensions=dimensions,
            writable=writable,
            rebuild=rebuild,
        )
    from . import lancedb

    return lancedb.open_store(
        config.index_path(root),
        model_id=model_id,
        dimensions=dimensions,
        writable=writable,
        rebuild=rebuild,
    )


def open_snapshot_reader(
    config: Config, root: Path, *, model_id: str, dimensions: int, stale_ok: bool = False
) -> Store | None:
    """A read-only store over the writer's engine-free copy of the index (sidecar.py),
    when there is one that matches the index on disk now (or any, with `stale_ok`: what
    `status` shows while a writer runs); else None.

    For one-shot reads (a CLI search, symbol, status): the copy never changes once
    open, so a long-lived reader that must see new commits opens the engine instead.
    """
    if not index_is_local(config):
        return None
    from . import sidecar
    from .meta import check_meta, read_meta

    index_dir = config.index_path(root)
    meta = read_meta(index_dir)
    if meta is None:
        return None
    # The engine's own checks, so a wrong model is the same error on both paths.
    check_meta(
        meta, model_id=model_id, dimensions=dimensions, where=str(index_dir), newest=SCHEMA_VERSION
    )
    return sidecar.open_current(
        index_dir, model_id=model_id, dimensions=dimensions, stale_ok=stale_ok
    )


def snapshot_token(config: Config, root: Path) -> tuple[object, ...] | None:
    """What decides whether a copy from open_snapshot_reader is still the one to answer
    from: the copy's file and the chunk and file tables' versions. Equal tokens (taken
    before the open) mean the copy on disk is the same file and still matches the store;
    the vector table may move on (the copy's vectors lag while a run embeds). Costs two
    stats and three directory listings, no file read: a long-lived reader checks it on
    every request. None when there is no copy (or none can exist: a shared engine).
    """
    if not index_is_local(config):
        return None
    from . import sidecar

    index_dir = config.index_path(root)
    try:
        st = os.stat(index_dir / sidecar.NAME)
    except OSError:
        return None
    versions = sidecar.table_versions(index_dir)
    return (st.st_ino, st.st_mtime_ns, st.st_size, versions[:2], *sidecar.table_identity(index_dir))


def engine_loaded() -> bool:
    """Whether this process imported a storage engine (which no later step can unload)."""
    return any(name in sys.modules for name in ("lancedb", "chromadb", "psycopg"))


def snapshot_summary(
    config: Config, root: Path, *, model_id: str, dimensions: int, stale_ok: bool = False
) -> sidecar.SidecarSummary | None:
    """Counts and file states from the writer's copy (as open_snapshot_reader, but
    without loading the copy's arrays: `status` needs only these)."""
    if not index_is_local(config):
        return None
    from . import sidecar

    return sidecar.open_summary(
        config.index_path(root), model_id=model_id, dimensions=dimensions, stale_ok=stale_ok
    )


def index_meta(config: Config, root: Path) -> dict[str, object] | None:
    """The index's meta (schema, model, dimensions, last run), None when there is none.

    Cheap: for the embedded engine it reads meta.json without importing the engine.
    """
    if config.store == "chroma":
        from .chroma_side import read_meta as read_side_meta

        return read_side_meta(config.index_path(root))
    if config.store == "postgres":
        try:
            from . import postgres
        except ImportError as exc:
            raise _missing_driver(exc) from None
        return postgres.read_meta(config, root)
    from .meta import read_meta

    return read_meta(config.index_path(root))


def writer_lock(config: Config, root: Path) -> Lock:
    """The one-writer-per-index lock for this engine (see lock.py)."""
    if config.store == "postgres":
        try:
            from . import postgres
        except ImportError as exc:
            raise _missing_driver(exc) from None
        return postgres.AdvisoryLock(config, root)
    from ..lock import WriterLock

    return WriterLock(config.index_path(root))


def delete_index(config: Config, root: Path) -> str:
    """Remove this project's index (the caller holds the writer lock); returns what went.

    On a shared database only this project and branch go: vectors stay for the others.
    """
    if config.store == "chroma":
        try:
            from . import chroma
        except ImportError as exc:
            raise _missing_driver(exc, "chroma") from None
        return chroma.delete_project(config, root)
    if config.store == "postgres":
        try:
            from . import postgres
        except ImportError as exc:
            raise _missing_driver(exc) from None
        return postgres.delete_project(config, root)
    return str(config.index_path(root))
