"""Fixtures for the walker tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.walker.helpers import build_rich_tree, git


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def rich_repo(tmp_path: Path, home: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(tmp_path, home, "init", "-q", str(repo))
    build_rich_tree(repo)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("info-excluded.txt\n")
    return repo
