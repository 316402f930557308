"""Shared fixtures: a small multi-language sample project and fast (fake-model) sessions."""

from __future__ import annotations

import shutil
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
