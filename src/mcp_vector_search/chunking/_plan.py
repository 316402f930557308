"""The plan a chunker produces before token budgeting: contiguous row ranges with a label."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Segment:
    """Rows start..end (0-based, inclusive) that become one chunk, or several if too long.

    `head` is context added to the first piece's embed_text (e.g. a class's member list);
    `cont` replaces it on later pieces, which no longer show the signature themselves.
    """

    start: int
    end: int
    kind: str
    symbol: str | None
    head: str = ""
    cont: str = ""
    # Plain-text windows also cap the lines per piece, so a piece stays a readable excerpt.
    max_lines: int | None = None
