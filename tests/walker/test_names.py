"""The name tables and constants."""

from __future__ import annotations

from mcp_vector_search.config import INDEX_DIR_NAME
from mcp_vector_search.walker import (
    SKIP_REASONS,
    hash_bytes,
)


def test_skip_reason_constants() -> None:
    assert set(SKIP_REASONS) == {
        "binary",
        "too_large",
        "unreadable",
        "minified",
        "generated",
        "vanished",
        "symlink_outside",
        "symlink_loop",
        "undecodable",
    }
    assert hash_bytes(b"abc") == hash_bytes(b"abc") != hash_bytes(b"abd")
    assert len(hash_bytes(b"")) == 32
    assert INDEX_DIR_NAME == ".mcp-vector-search"
