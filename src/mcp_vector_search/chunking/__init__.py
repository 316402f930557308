"""Split a source file into searchable chunks.

    chunk_source(path, text, max_tokens=256, count_tokens=None) -> list[Chunk]

Code in a tree-sitter language becomes one chunk per definition (its own lines only:
methods are not repeated inside their class) plus "module" chunks for the top-level code
between definitions; Markdown becomes one chunk per heading section; anything else is cut
into overlapping line windows. Every chunk's embed_text fits `max_tokens` as measured by
`count_tokens` (or a conservative estimate): longer definitions are split into
overlapping pieces that keep their symbol, and a line longer than the window is cut by
characters (that piece's `content` is then the slice of the line, not the whole line).
Every non-blank line of the file is in at least one chunk.

Never raises on any text; an unparsable file still yields chunks. Errors of
`count_tokens` itself (a closed embedder, say) propagate unchanged. The counter is called
with batches: once per file, once more for the lines of what is too long, and a last
time only for lines cut by characters or a counter that is not additive over lines.
"""

from __future__ import annotations

import logging
import re

from ..languages import language_for
from ..records import Chunk
from ._budget import TokenCounter, estimate_tokens, materialize
from ._code import plan_code
from ._plan import Segment
from ._text import plan_markdown, plan_windows

__all__ = ["MIN_MAX_TOKENS", "TokenCounter", "chunk_source", "estimate_tokens"]

_log = logging.getLogger(__name__)

# Below this the context header and the model's special tokens leave no room for code.
MIN_MAX_TOKENS = 16

_CPP_HEADER = re.compile(
    r"^\s*(?:class\s+\w+[^;]*$|namespace\s+\w*\s*\{|template\s*<|(?:public|private|protected)\s*:)",
    re.M,
)


def _language(path: str, text: str) -> str | None:
    language = language_for(path)
    if language == "c" and path.lower().endswith(".h") and _CPP_HEADER.search(text):
        # The C grammar turns classes and namespaces into error nodes; a header that
        # plainly is C++ is parsed (and labelled) as C++.
        return "cpp"
    return language


def chunk_source(
    path: str,
    text: str,
    *,
    max_tokens: int = 256,
    count_tokens: TokenCounter | None = None,
) -> list[Chunk]:
    """Chunks of one file, in line order. `path` is the posix path relative to the root."""
    if max_tokens < MIN_MAX_TOKENS:
        raise ValueError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {max_tokens}")
    if not text or text.isspace():
        return []
    # Rows are split on "\n" only, as tree-sitter counts them; a CR of a CRLF file is
    # dropped so content holds the code, not line-ending noise.
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    language = _language(path, text)
    segments: list[Segment] | None = None
    if language is not None:
        try:
            src = text.encode("utf-8", "replace")
            segments = plan_code(language, lines, src)
        except Exception:
            # A grammar or tree oddity must not cost the file its chunks: fall back to
            # windows, which cover the same lines without structure.
            _log.debug("structured chunking failed for %s; using windows", path, exc_info=True)
            segments = None
    if segments is None:
        segments = plan_markdown(lines) if language == "markdown" else plan_windows(lines)
    counter = count_tokens if count_tokens is not None else estimate_tokens
    return materialize(path, language or "text", lines, segments, max_tokens, counter)
