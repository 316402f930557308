"""The read sidecar: the engine's answers, from a file a cold process maps without the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mcp_vector_search import lexical
from mcp_vector_search.embedding.fake import FakeEmbedder
from mcp_vector_search.records import FileState
from mcp_vector_search.search import Searcher
from mcp_vector_search.store import sidecar
from mcp_vector_search.store.lancedb import LanceStore, open_store
from tests.test_indexer import make

QUERIES = [
    "retry a failed upload with backoff",
    "parse_http_response",
    "total price cart",
    "upload uploads uploaded uploading",
    "Uploader",
    "nothing matches this zzzqqq",
]


@pytest.fixture
def indexed(sample_project: Path) -> tuple[Path, LanceStore]:
    indexer, store = make(sample_project)
    indexer.run()
    assert isinstance(store, LanceStore)
    return store.index_dir, store


def reader(index_dir: Path, store: LanceStore) -> sidecar.SidecarStore:
    side = sidecar.open_current(index_dir, model_id=store.model_id, dimensions=store.dimensions)
    assert side is not None
    return side


def test_the_writer_publishes_a_copy_that_matches_the_engine(
    indexed: tuple[Path, LanceStore],
) -> None:
    index_dir, store = indexed
    side = reader(index_dir, store)
    assert side.version() == store.version() == sidecar.table_versions(index_dir)
    assert side.counts() == store.counts()
    assert side.skipped_counts() == store.skipped_counts()
    assert {p: (s.size, s.mtime_ns, s.status) for p, s in side.file_states().items()} == {
        p: (s.size, s.mtime_ns, s.status) for p, s in store.file_states().items()
    }
    assert [c.id for c in side.chunk_catalog()] == [c.id for c in store.chunk_catalog()]
    for query in QUERIES:
        terms = lexical.query_terms(query)
        for language in (None, "python", "cobol"):
            ours = side.lexical_search(terms, 50, language)
            theirs = store.lexical_search(terms, 50, language)
            assert [h.chunk.id for h in ours] == [h.chunk.id for h in theirs], (query, language)
            assert np.allclose([h.score for h in ours], [h.score for h in theirs], rtol=1e-5)
    rng = np.random.default_rng(7)
    for _ in range(5):
        q = rng.normal(size=store.dimensions).astype(np.float32)
        q /= np.linalg.norm(q)
        assert [h.chunk.id for h in side.vector_search(q, 20)] == [
            h.chunk.id for h in store.vector_search(q, 20)
        ]
    sample = store.chunk_catalog()[:7]
    assert side.contents([c.id for c in sample]) == store.contents([c.id for c in sample])
    # Row ids from another copy (the engine's) are checked, never trusted.
    assert side.contents_of(sample) == store.contents([c.id for c in sample])


def test_searches_over_the_copy_equal_the_engines(indexed: tuple[Path, LanceStore]) -> None:
    index_dir, store = indexed
    side = reader(index_dir, store)
    emb = FakeEmbedder()
    for query in QUERIES[:5]:
        for mode in ("hybrid", "lexical", "semantic"):
            a = Searcher(side, lambda: emb).search(query, mode=mode)
            b = Searcher(store, lambda: emb).search(query, mode=mode)
            assert [(h.path, h.start_line, h.snippet) for h in a.results] == [
                (h.path, h.start_line, h.snippet) for h in b.results
            ]
            assert np.allclose(
                [h.score for h in a.results], [h.score for h in b.results], rtol=1e-5
            )


def test_a_commit_after_the_copy_makes_it_stale_until_republished(
    indexed: tuple[Path, LanceStore],
) -> None:
    index_dir, store = indexed
    reader(index_dir, store)
    store.record_files([FileState("new.py", "h", 1, 1, "binary")])
    args = {"model_id": store.model_id, "dimensions": store.dimensions}
    assert sidecar.open_current(index_dir, **args) is None
    store.publish_sidecar()
    assert reader(index_dir, store).skipped_counts() == store.skipped_counts()
    # Another model's reader does not take it.
    assert sidecar.open_current(index_dir, model_id="other", dimensions=store.dimensions) is None


def test_vectors_may_lag_behind_the_copy(indexed: tuple[Path, LanceStore]) -> None:
    index_dir, store = indexed
    before = reader(index_dir, store).counts()
    vec = np.zeros((1, store.dimensions), np.float32)
    vec[0, 0] = 1.0
    store.add_vectors(["not-a-chunk-hash"], vec)  # the embedding pass commits more vectors
    side = reader(index_dir, store)
    assert side.counts() == before and side.version() != store.version()


def test_a_torn_or_foreign_file_is_never_read(indexed: tuple[Path, LanceStore]) -> None:
    index_dir, store = indexed
    path = index_dir / sidecar.NAME
    data = path.read_bytes()
    args = {"model_id": store.model_id, "dimensions": store.dimensions}
    path.write_bytes(data[: len(data) // 2])
    assert sidecar.open_current(index_dir, **args) is None
    path.write_bytes(b"not a sidecar at all")
    assert sidecar.open_current(index_dir, **args) is None
    path.unlink()
    assert sidecar.open_current(index_dir, **args) is None


def test_a_cold_cli_search_answers_without_the_engine(sample_project: Path) -> None:
    env = {**os.environ, "MVS_MODEL": "fake", "MVS_SEARCH_DAEMON": "0"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=sample_project, env=env, capture_output=True, text=True
        )

    assert run("-m", "mcp_vector_search", "index", ".", "-q").returncode == 0
    queries = [("retry failed upload", "hybrid"), ("parse_http_response", "lexical")]
    cold = []
    for query, mode in queries:
        proc = run(
            "-X", "importtime", "-m", "mcp_vector_search", "search", query, "--mode", mode, "--json"
        )
        assert proc.returncode == 0, proc.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
        assert "lancedb" not in imported and "pyarrow" not in imported
        cold.append(json.loads(proc.stdout))
    (sample_project / ".mcp-vector-search" / sidecar.NAME).unlink()
    for (query, mode), fast in zip(queries, cold, strict=True):
        proc = run(
            "-X", "importtime", "-m", "mcp_vector_search", "search", query, "--mode", mode, "--json"
        )
        assert "lancedb" in proc.stderr  # without the copy: the engine answers
        engine = json.loads(proc.stdout)
        assert [(r["path"], r["start_line"]) for r in fast["results"]] == [
            (r["path"], r["start_line"]) for r in engine["results"]
        ]
        assert fast["results"] and fast["index"] == engine["index"]


def test_reopening_for_write_keeps_readers_safe(indexed: tuple[Path, LanceStore]) -> None:
    index_dir, store = indexed
    side = reader(index_dir, store)
    store.close()
    again = open_store(index_dir, model_id=side.model_id, dimensions=side.dimensions, writable=True)
    again.publish_sidecar()  # replaced under an open reader: it keeps its own mapping
    assert side.counts()[1] == again.counts()[1]
    assert side.contents_of(side.chunk_catalog()[:3])
    again.close()


def test_a_rebuilt_table_never_passes_for_the_old_one(indexed: tuple[Path, LanceStore]) -> None:
    index_dir, store = indexed
    header = sidecar.read_header(index_dir)
    assert header is not None and sidecar.is_current(header, index_dir)
    # Versions restart at 1 in a table made again: its directory is what tells them apart.
    assert not sidecar.is_current({**header, "tables": [-5, -5, -5]}, index_dir)
    store.reset()
    assert sidecar.read_header(index_dir) is None  # the writer removes it before it drops


def test_the_live_writer_rebuilds_the_copy_once_edits_settle(
    sample_project: Path, fake_env: None
) -> None:
    from mcp_vector_search.config import load_config
    from mcp_vector_search.lifecycle import Session
    from mcp_vector_search.live import LiveIndex

    session = Session(sample_project, load_config(sample_project))
    live = LiveIndex(session, copy_idle_seconds=0.2)
    live.start()
    emb = FakeEmbedder()
    args = {"model_id": emb.model_id, "dimensions": emb.dimensions}

    def symbols() -> set[str | None]:
        side = sidecar.open_current(session.index_dir, **args)
        return {c.symbol for c in side.chunk_catalog()} if side is not None else set()

    try:
        assert live.wait_idle(60) and live.watching.wait(20)
        assert "Uploader.upload_with_retry" in symbols()  # the first pass published it
        target = sample_project / "src/app/config.py"
        target.write_text(target.read_text() + "\n\ndef narwhal_checksum():\n    return 1\n")
        deadline = time.monotonic() + 30
        while "narwhal_checksum" not in symbols():
            assert time.monotonic() < deadline, "the copy was never rebuilt after the edit"
            time.sleep(0.05)  # bounded: the watcher's debounce, the update, the quiet time
    finally:
        session.close()
