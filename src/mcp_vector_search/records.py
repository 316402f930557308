"""Records every layer shares (frozen, but for RunCounts, which a run fills in). No I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields


def text_hash(text: str) -> str:
    """Stable short digest of a text (content identity for chunks and embeddings)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One searchable unit: a definition, a group of top-level statements, a doc section.

    `content` is the exact source of lines start_line..end_line (1-based, inclusive);
    `embed_text` is what the model sees (context header + code), never stored as a result.
    """

    path: str  # posix path relative to the project root
    start_line: int
    end_line: int
    kind: str  # function, method, class, struct, impl, interface, module, section, window ...
    symbol: str | None  # qualified name, e.g. "Client.send"; None for anonymous blocks
    language: str
    content: str
    embed_text: str

    @property
    def content_hash(self) -> str:
        return text_hash(self.content)


INDEXED = "indexed"  # FileState.status of a file whose chunks are in the index


@dataclass(frozen=True, slots=True)
class FileState:
    """What the index knows about one file on disk."""

    path: str
    file_hash: str  # digest of the raw bytes; "" for skipped files
    size: int
    mtime_ns: int
    status: str  # "indexed" or a skip reason (binary, too_large, unreadable, ...)
    chunks: int = 0


@dataclass(frozen=True, slots=True)
class Span:
    """Where a piece of code is: lines of a file, and what is defined there.

    Every answer that points at code is a Span with more fields (Hit, SymbolMatch), so a
    field added here is added to all of them.
    """

    path: str  # posix path relative to the project root
    start_line: int  # 1-based, inclusive
    end_line: int
    symbol: str | None
    kind: str
    language: str


@dataclass(frozen=True, slots=True)
class Hit(Span):
    """A search result: the span, its score (not rescaled) and the first lines of it."""

    score: float
    snippet: str


# Not slots: the MCP SDK reads a tool answer's defaults off its class, where slots would
# put descriptors instead (the reindex answer extends this record).
@dataclass
class RunCounts:
    """What an indexing run changed, and what the index holds after it.

    The indexer's report extends it; the reindex tool answers with exactly these.
    """

    files_changed: int = 0
    files_deleted: int = 0
    chunks_written: int = 0
    files_total: int = 0  # the totals are counted only when asked (not per watched edit)
    chunks_total: int = 0
    seconds: float = 0.0

    def counts(self) -> RunCounts:
        """Just these counts, of a report that has more."""
        return RunCounts(**{f.name: getattr(self, f.name) for f in fields(RunCounts)})


@dataclass(frozen=True, slots=True)
class Activity:
    """What a writer is doing now; the index_status answer adds who the writer is."""

    phase: str  # waiting_for_lock | scan | lexical | embed | optimize | idle | failed
    percent: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class IndexStatus:
    root: str
    index_dir: str
    files: int
    chunks: int
    embedded: int
    skipped: dict[str, int] = field(default_factory=dict)
    model_id: str | None = None
    dimensions: int | None = None
    size_bytes: int = 0
    last_run: str | None = None
    stale_files: int | None = None
    schema_version: int | None = None
    indexing: dict[str, object] | None = None  # the running writer's progress record
    last_outcome: str | None = None  # complete | interrupted (None: no run finished yet)
    interrupted: dict[str, object] | None = None  # the interrupted run's last progress
    vectors: VectorCoverage | None = None


@dataclass(frozen=True, slots=True)
class VectorCoverage:
    """Which vectors an index holds, and why any chunk has none (it is then found by its
    words alone). One model per index: its precision is part of `model_id`."""

    model: str  # the config name that runs it: minilm-int8, minilm-fp32, static, fake
    model_id: str
    with_vectors: int  # chunks with a vector
    lexical_only: int  # chunks without one
    # None when every chunk has a vector; else "weights not installed",
    # "embedding in progress" or "embedding pending" (the next run embeds them)
    reason: str | None = None
    hint: str | None = None  # what to run about it


@dataclass(frozen=True, slots=True)
class IndexCounts:
    chunks: int
    embedded: int  # chunks with a vector


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A search's answer; its JSON (wire.to_json) is `search --json`, a stable interface."""

    query: str
    results: list[Hit]
    index: IndexCounts
    mode: str  # the mode actually used (hybrid falls back to lexical without vectors)
    notes: list[str] = field(default_factory=list)
