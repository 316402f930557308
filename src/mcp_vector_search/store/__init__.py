"""The storage protocol. Backends live in `store/<engine>.py`; only they import their engine.

Write methods are called only by the holder of the writer lock. Every write leaves the
index before or after it, never between, so an interrupted run loses at most the batch
in flight and the next run converges to what a clean run would build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..records import Chunk, FileState

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


class Store(Protocol):
    model_id: str
    dimensions: int

    # -- reads (any process) --
    def file_states(self) -> dict[str, FileState]: ...
    def counts(self) -> tuple[int, int, int]:
        """(files indexed, chunks, chunks with a vector)."""
        ...

    def lexical_search(
        self, terms: Sequence[str], limit: int, language: str | None = None
    ) -> list[LexicalHit]: ...
    def chunk_catalog(self) -> list[StoredChunk]: ...
    def vectors(self) -> tuple[list[str], np.ndarray]:
        """(embed hashes, float32 matrix of unit rows) of every stored vector."""
        ...

    def contents(self, ids: Sequence[str]) -> dict[str, str]: ...
    def contents_of(self, chunks: Sequence[StoredChunk]) -> dict[str, str]:
        """contents() for known candidates; may use their row ids (much faster)."""
        ...

    def version(self) -> tuple[int, ...]:
        """Changes whenever any table changes; readers use it to refresh caches."""
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
