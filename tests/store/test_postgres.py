"""What only the PostgreSQL store promises: shared vectors, the index path of vector
search, clear one-line errors without secrets, and its real server's failure modes."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import psycopg
import pytest

from mcp_vector_search.config import Config, load_config
from mcp_vector_search.embedding.fake import FakeEmbedder
from mcp_vector_search.errors import StoreError
from mcp_vector_search.indexer import Indexer
from mcp_vector_search.records import Chunk, FileState
from mcp_vector_search.store import embed_hash, index_meta, open_store, writer_lock
from mcp_vector_search.store.postgres import PgStore
from mcp_vector_search.store.postgres_conn import mask_url, vectors_table

SECRET = "pa55-w0rd-never-shown"


def pg_config(root: Path, url: str, project: str | None = None) -> Config:
    config = load_config(root, env={}, user_config=root / "no-user-config.toml")
    return replace(
        config,
        store="postgres",
        database_url=url,
        project=project or f"t-{uuid.uuid4().hex[:12]}",
    )


def socket_dir(url: str) -> str:
    return parse_qs(urlsplit(url).query)["host"][0]


def index_with(root: Path, config: Config, embedder: FakeEmbedder) -> Indexer:
    store = open_store(
        config, root, model_id=embedder.model_id, dimensions=embedder.dimensions, writable=True
    )
    return Indexer(root, config, store, lambda: embedder)


def test_a_second_checkout_of_the_same_commit_embeds_nothing(
    sample_project: Path, tmp_path: Path, postgres_url: str
) -> None:
    embedder = FakeEmbedder()
    first = index_with(sample_project, pg_config(sample_project, postgres_url), embedder)
    report = first.run()
    assert report.vectors_added > 0 and report.embedded_total == report.chunks_total
    teammate = tmp_path / "teammate" / "proj"
    shutil.copytree(sample_project, teammate)
    second = index_with(teammate, pg_config(teammate, postgres_url), embedder)
    again = second.run()
    assert again.vectors_added == 0
    assert again.chunks_total == report.chunks_total == again.embedded_total
    for indexer in (first, second):
        indexer.store.close()


def test_the_index_path_of_vector_search_agrees_with_the_exact_scan(
    tmp_path: Path, postgres_url: str
) -> None:
    config = pg_config(tmp_path, postgres_url)
    store = open_store(config, tmp_path, model_id="ann", dimensions=16, writable=True)
    assert isinstance(store, PgStore)
    rng = np.random.default_rng(7)
    chunks = [
        Chunk(f"f{i}.py", 1, 1, "function", f"f{i}", "go" if i % 3 == 0 else "python", "x", f"t{i}")
        for i in range(3000)
    ]
    store.replace_files([FileState(c.path, "h", 1, 1, "indexed", 1) for c in chunks], chunks)
    vecs = rng.normal(size=(3000, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.add_vectors([embed_hash("ann", c.embed_text) for c in chunks], vecs)
    try:
        store.exact_below = 0
        store.optimize()  # builds the HNSW index: the table is past the (lowered) threshold
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = %s",
                (vectors_table("ann") + "_hnsw",),
            ).fetchone()
        assert row == (True,)
        paths = np.array([c.path for c in chunks])
        go = np.array([c.language == "go" for c in chunks])
        for q in rng.normal(size=(5, 16)).astype(np.float32):
            q /= np.linalg.norm(q)
            truth = paths[np.argsort(-(vecs @ q), kind="stable")]
            # Exact, with the index present: every distance, as numpy computes them.
            store.exact_below = 10**9
            assert [h.chunk.path for h in store.vector_search(q, 60)] == list(truth[:60])
            exact_go = [h.chunk.path for h in store.vector_search(q, 10, language="go")]
            assert exact_go == [p for p in truth if go[paths == p][0]][:10]
            store.exact_below = 0
            ann = store.vector_search(q, 10)
            assert len(set(truth[:10]) & {h.chunk.path for h in ann}) >= 8
            assert ann == sorted(ann, key=lambda h: -h.score)
            # A filter the nearest vectors can't fill falls back to the exact scan.
            assert [h.chunk.path for h in store.vector_search(q, 10, language="go")] == exact_go
    finally:
        store.close()


def test_a_refused_connection_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://alice:{SECRET}@127.0.0.1:1/db?password={SECRET}"
    config = pg_config(tmp_path, url)
    with pytest.raises(StoreError) as info:
        open_store(config, tmp_path, model_id="m", dimensions=4, writable=True)
    text = f"{info.value} {info.value.hint}"
    assert SECRET not in text and "alice:***@127.0.0.1:1" in text
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError) as info:
        writer_lock(config, tmp_path).acquire()
    assert SECRET not in str(info.value)
    assert SECRET not in repr(config)
    assert mask_url(url) == "postgresql://alice:***@127.0.0.1:1/db?password=***"


def test_a_server_without_pgvector_is_one_clear_line(tmp_path: Path, postgres_url: str) -> None:
    host = socket_dir(postgres_url)
    admin = f"postgresql://postgres@/postgres?host={host}"
    db, role = f"nv_{uuid.uuid4().hex[:8]}", f"r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
        conn.execute(f"CREATE ROLE {role} LOGIN")
    # A plain role in a database without the extension can't create it.
    config = pg_config(tmp_path, f"postgresql://{role}@/{db}?host={host}")
    assert index_meta(config, tmp_path) is None  # no tables yet: no index, not an error
    with pytest.raises(StoreError) as info:
        open_store(config, tmp_path, model_id="m", dimensions=4, writable=True)
    assert "no pgvector" in str(info.value) and "CREATE EXTENSION" in (info.value.hint or "")


def test_the_readme_roles_a_writer_and_a_read_only_searcher(
    tmp_path: Path, postgres_url: str
) -> None:
    """The README's SQL, as a team would run it: roles first, tables made by the writer."""
    host = socket_dir(postgres_url)
    tag = uuid.uuid4().hex[:8]
    writer_role, reader_role, db = f"w_{tag}", f"r_{tag}", f"mvs_{tag}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {writer_role} LOGIN")
        conn.execute(f"CREATE DATABASE {db} OWNER {writer_role}")
    with psycopg.connect(f"postgresql://postgres@/{db}?host={host}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f"CREATE ROLE {reader_role} LOGIN")
        conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {reader_role}")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {reader_role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader_role}")
        conn.execute(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {writer_role} IN SCHEMA public"
            f" GRANT SELECT ON TABLES TO {reader_role}"
        )
    config = pg_config(tmp_path, f"postgresql://{writer_role}@/{db}?host={host}")
    writer = open_store(config, tmp_path, model_id="m", dimensions=4, writable=True)
    chunk = Chunk("a.py", 1, 1, "function", "shared_fn", "python", "def shared_fn(): 1", "e")
    writer.replace_files([FileState("a.py", "h", 1, 1, "indexed", 1)], [chunk])
    writer.add_vectors([embed_hash("m", "e")], np.eye(4, dtype=np.float32)[:1])
    writer.close()
    ro = replace(config, database_url=f"postgresql://{reader_role}@/{db}?host={host}")
    reader = open_store(ro, tmp_path, model_id="m", dimensions=4, writable=False)
    try:
        assert [h.chunk.symbol for h in reader.lexical_search(["shared_fn"], 5)] == ["shared_fn"]
        assert reader.vector_search(np.eye(4, dtype=np.float32)[0], 5)[0].chunk.path == "a.py"
        assert reader.counts() == (1, 1, 1)
    finally:
        reader.close()
    with pytest.raises(StoreError) as info:
        open_store(ro, tmp_path, model_id="m", dimensions=4, writable=True)
    assert "refused" in str(info.value)
