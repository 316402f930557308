"""Backends for the contract suite: every test in tests/store runs on each engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from mcp_vector_search.config import Config, load_config
from mcp_vector_search.lock import Lock
from mcp_vector_search.store import Store, open_store, writer_lock

BACKENDS = ["lancedb", "postgres", "chroma-embedded", "chroma-server"]


@dataclass
class Backend:
    name: str
    config: Config
    root: Path
    opened: list[Store]

    def open(
        self,
        *,
        model_id: str = "m",
        dimensions: int = 4,
        writable: bool = True,
        rebuild: bool = False,
    ) -> Store:
        store = open_store(
            self.config,
            self.root,
            model_id=model_id,
            dimensions=dimensions,
            writable=writable,
            rebuild=rebuild,
        )
        self.opened.append(store)
        return store

    def lock(self) -> Lock:
        return writer_lock(self.config, self.root)

    def other_project(self, name: str) -> Backend:
        """The same engine (and database), another project."""
        root = self.root.parent / name
        root.mkdir(exist_ok=True)
        config = replace(self.config, project=f"{self.config.project}-{name}")
        return Backend(self.name, config, root, self.opened)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    root = tmp_path / "proj"
    root.mkdir()
    config = load_config(root, env={}, user_config=root / "no-user-config.toml")
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        # A project of its own per test: the database is shared by the whole session.
        config = replace(
            config, store="postgres", database_url=url, project=f"t-{uuid.uuid4().hex[:12]}"
        )
    elif request.param == "chroma-embedded":
        config = replace(config, store="chroma")
    elif request.param == "chroma-server":
        chroma: str = request.getfixturevalue("chroma_url")
        # A project of its own per test: the server is shared by the whole session.
        config = replace(
            config, store="chroma", chroma_url=chroma, project=f"t-{uuid.uuid4().hex[:12]}"
        )
    b = Backend(request.param, config, root, [])
    yield b
    for store in b.opened:
        store.close()
