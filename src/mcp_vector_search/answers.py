"""The answers the agent tools give: plain dataclasses, and the opaque search cursor.

The MCP SDK derives each tool's output schema from these types, so a field added here
is a field every client sees; keep them small and stable.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .records import Activity, Hit, RunCounts, Span, VectorCoverage
from .search import MODES
from .store import StoredChunk
from .wire import to_json

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass
class Coverage:
    """How much of the project the answer could see."""

    chunks: int
    embedded: int | None
    complete: bool  # nothing being indexed and (where it matters) every chunk has a vector
    indexing: str | None = None  # what the writer is doing now, e.g. "embed 40%: ..."


@dataclass
class SearchAnswer:
    query: str
    mode: str  # the mode actually used (hybrid falls back to lexical without vectors)
    results: list[Hit]
    index: Coverage
    next_cursor: str | None = None  # pass as `cursor` (same query) for the next page
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SymbolMatch(Span):
    match: str  # exact, qualified, case, prefix or fuzzy


def symbol_matches(matches: Sequence[tuple[StoredChunk, str]]) -> list[SymbolMatch]:
    """find_symbol's (chunk, how it matched) pairs as answers."""
    return [
        SymbolMatch(c.path, c.start_line, c.end_line, c.symbol, c.kind, c.language, how)
        for c, how in matches
    ]


@dataclass
class SymbolAnswer:
    name: str
    results: list[SymbolMatch]
    index: Coverage


@dataclass
class SimilarAnswer:
    results: list[Hit]
    index: Coverage
    notes: list[str] = field(default_factory=list)


@dataclass
class ContextAnswer:
    path: str
    start_line: int
    end_line: int
    total_lines: int
    code: str
    truncated: bool = False
    next_start_line: int | None = None  # where to continue when truncated


@dataclass(frozen=True, slots=True)
class Indexing(Activity):
    writer: str = "this server"  # or who else holds the writer lock


@dataclass
class StatusAnswer:
    root: str
    files: int
    chunks: int
    embedded: int
    percent_embedded: float
    stale_files: int | None
    skipped: dict[str, int]
    model: str | None
    last_run: str | None
    size_bytes: int
    watching: bool
    indexing: Indexing | None = None
    last_error: str | None = None
    # Per model and precision: chunks with vectors, lexical-only ones and why.
    vectors: VectorCoverage | None = None


@dataclass
class ReindexAnswer(RunCounts):
    done: bool = False  # False: still running in the background (see index_status)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- cursors
def encode_cursor(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError):
        raise UsageError("invalid cursor; pass next_cursor exactly as returned") from None
    if not isinstance(state, dict) or not _valid_cursor(state):
        raise UsageError("invalid cursor; pass next_cursor exactly as returned")
    return {str(k): v for k, v in state.items()}


def _valid_cursor(state: dict[Any, Any]) -> bool:
    offset, limit = state.get("o"), state.get("n")
    return (
        isinstance(state.get("q"), str)
        and isinstance(offset, int)
        and offset >= 0
        and isinstance(limit, int)
        and limit >= 1
        and state.get("m") in MODES
        and all(state.get(k) is None or isinstance(state.get(k), str) for k in ("l", "g"))
    )


def json_size(item: DataclassInstance) -> int:
    """Characters of the compact JSON the client receives for `item`."""
    return len(to_json(item))
