"""Lexical search on the postgres store (impact-ordered postings) against a brute-force
BM25 over the same chunks, postings that follow their chunks on every write path, and
the upgrade of a schema-1 database."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mcp_vector_search.errors import SchemaError
from mcp_vector_search.records import Chunk, FileState
from mcp_vector_search.store import open_store
from mcp_vector_search.store.postgres import PgStore
from mcp_vector_search.store.postgres_conn import SCHEMA, delete_project
from mcp_vector_search.store.postgres_lexical import DF_CAP, K1, REFERENCE_LENGTH, B
from mcp_vector_search.store.postgres_search import document
from tests.store.test_postgres import pg_config, socket_dir

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "ledger",
    "archive",
    "upload",
    "retry",
    "token",
    "cache",
]


def chunks_of(seed: int, files: int = 12) -> list[Chunk]:
    rng = random.Random(seed)
    out = []
    for f in range(files):
        for g in range(3):
            # Lengths and repeats vary so that impacts differ (few exact ties).
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 40)))
            lang = "go" if (f + g) % 4 == 0 else "python"
            sym = f"{rng.choice(WORDS)}_{f}_{g}"
            out.append(Chunk(f"m{f}.py", 1 + 10 * g, 5 + 10 * g, "function", sym, lang, body, body))
    return out


def states(chunks: list[Chunk]) -> list[FileState]:
    paths = sorted({c.path for c in chunks})
    return [FileState(p, "h" + p, 1, 1, "indexed", 3) for p in paths]


def lexemes(conn: psycopg.Connection, text: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT lexeme, array_length(positions, 1) FROM unnest(to_tsvector('mvs_code', %s))",
        (text,),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def brute_force(
    conn: psycopg.Connection,
    chunks: list[Chunk],
    terms: list[str],
    limit: int,
    language: str | None = None,
    cap: int = DF_CAP,
) -> list[tuple[str, int, float]]:
    """BM25 from first principles: every chunk, every query term, the server's stems."""
    docs = [(c, lexemes(conn, document(c))) for c in chunks]
    query = [t for term in terms for t in lexemes(conn, term)]
    n = len(chunks)
    idf = {}
    for t in query:
        df = min(cap, sum(1 for _, d in docs if t in d))
        idf[t] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    scored = []
    for c, d in docs:
        dl = sum(d.values())
        s = 0.0
        for t in query:
            tf = d.get(t, 0)
            if tf:
                s += idf[t] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / REFERENCE_LENGTH))
        if s > 0 and (language is None or c.language == language):
            scored.append((c.path, c.start_line, s))
    scored.sort(key=lambda x: (-x[2], x[0], x[1]))
    return scored[:limit]


@pytest.fixture
def conn(postgres_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_url, autocommit=True) as c:
        yield c


def open_pg(root: Path, url: str, project: str | None = None) -> PgStore:
    store = open_store(
        pg_config(root, url, project), root, model_id="m", dimensions=4, writable=True
    )
    assert isinstance(store, PgStore)
    return store


def assert_same(got: list[tuple[str, int, float]], want: list[tuple[str, int, float]]) -> None:
    """The same scores in the same order; ties may come in any order (and at the cut,
    any of the tied chunks)."""
    assert [g[2] for g in got] == pytest.approx([w[2] for w in want], rel=1e-5)
    found = {g[:2] for g in got}
    assert all(w[:2] in found for w in want if w[2] > want[-1][2] * (1 + 1e-5))


def hits(store: PgStore, terms: list[str], limit: int, language: str | None = None) -> list:
    return [
        (h.chunk.path, h.chunk.start_line, h.score)
        for h in store.lexical_search(terms, limit, language)
    ]


QUERIES = [["ledger"], ["archive", "upload"], ["retry", "token", "cache"], ["alpha", "ledger"]]


def test_lexical_search_is_bm25_over_the_same_chunks(
    tmp_path: Path, postgres_url: str, conn: psycopg.Connection
) -> None:
    chunks = chunks_of(1)
    store = open_pg(tmp_path, postgres_url)
    # Another project in the same tables, with the same words: neither its postings nor
    # its document frequencies may reach this project's scores.
    other = open_pg(tmp_path, postgres_url)
    try:
        other.replace_files(states(chunks_of(2, files=30)), chunks_of(2, files=30))
        store.replace_files(states(chunks), chunks)
        for terms in QUERIES:
            assert_same(hits(store, terms, 20), brute_force(conn, chunks, terms, 20))
            want = brute_force(conn, chunks, terms, 5, language="go")
            assert_same(hits(store, terms, 5, "go"), want)
            assert {p for p, _, _ in hits(store, terms, 100)} <= {c.path for c in chunks}
    finally:
        store.close()
        other.close()


def test_a_filter_finds_its_hits_past_the_top_postings(
    tmp_path: Path, postgres_url: str, conn: psycopg.Connection
) -> None:
    """With each term read only to its 3 best postings, a language whose chunks rank
    below them still gets `limit` hits, as the full scoring orders them."""
    chunks = chunks_of(3)
    store = open_pg(tmp_path, postgres_url)
    try:
        store.replace_files(states(chunks), chunks)
        store.top_postings = 3
        for terms in QUERIES:
            want = brute_force(conn, chunks, terms, 6, language="go", cap=3)
            assert len(want) == 6
            assert_same(hits(store, terms, 6, "go"), want)
            unfiltered = hits(store, terms, 6)
            assert len(unfiltered) == 6
            assert [s for _, _, s in unfiltered] == sorted(
                (s for _, _, s in unfiltered), reverse=True
            )
    finally:
        store.close()


def postings(conn: psycopg.Connection, project_id: int) -> tuple[int, int]:
    """(this project's postings, postings of any project whose chunk is gone)."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM mvs_postings WHERE project_id = %s),"
        " (SELECT count(*) FROM mvs_postings p"
        "  WHERE NOT EXISTS (SELECT 1 FROM mvs_chunks c WHERE c.seq = p.chunk))",
        (project_id,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def expected(conn: psycopg.Connection, chunks: list[Chunk]) -> int:
    return sum(len(lexemes(conn, document(c))) for c in chunks)


def test_postings_follow_their_chunks_on_every_write(
    tmp_path: Path, postgres_url: str, conn: psycopg.Connection
) -> None:
    chunks = chunks_of(4, files=4)
    store = open_pg(tmp_path, postgres_url)
    pid = store._id
    try:
        store.replace_files(states(chunks), chunks)
        assert postings(conn, pid) == (expected(conn, chunks), 0)
        # A file's replace: its old postings go, in the same transaction as its chunks.
        new = [Chunk("m0.py", 1, 2, "function", "fresh", "python", "zebra zebra", "z")]
        store.replace_files(states(new), new)
        now = [c for c in chunks if c.path != "m0.py"] + new
        assert postings(conn, pid) == (expected(conn, now), 0)
        assert [h.chunk.symbol for h in store.lexical_search(["zebra"], 5)] == ["fresh"]
        store.delete_files(["m1.py"])
        now = [c for c in now if c.path != "m1.py"]
        assert postings(conn, pid) == (expected(conn, now), 0)
        assert store.delete_orphan_chunks({"m0.py", "m2.py"}) == 1
        now = [c for c in now if c.path in {"m0.py", "m2.py"}]
        assert postings(conn, pid) == (expected(conn, now), 0)
        store.reset()
        assert postings(conn, pid) == (0, 0)
        store.replace_files(states(chunks), chunks)
        assert postings(conn, pid)[0] == expected(conn, chunks)
    finally:
        store.close()
    # Dropping the project (its chunks go by the foreign key's cascade) takes them too.
    delete_project(pg_config(tmp_path, postgres_url, store.project), tmp_path)
    assert postings(conn, pid) == (0, 0)


V1_CHUNKS = """CREATE TABLE mvs_chunks (
    project_id bigint NOT NULL REFERENCES mvs_projects (id) ON DELETE CASCADE,
    id text NOT NULL, path text NOT NULL, start_line int NOT NULL, end_line int NOT NULL,
    symbol text, kind text NOT NULL, language text NOT NULL, content text NOT NULL,
    embed_text text NOT NULL, embed_hash text NOT NULL, tokens tsvector NOT NULL,
    PRIMARY KEY (project_id, id))"""


def test_a_schema_1_database_is_upgraded_by_its_next_writer(
    tmp_path: Path, postgres_url: str
) -> None:
    host = socket_dir(postgres_url)
    db = f"v1_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://postgres@/postgres?host={host}", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {db}")
    url = f"postgresql://postgres@/{db}?host={host}"
    chunks = chunks_of(5, files=5)
    project = f"t-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as c:
        # Schema 1 as its clients made it: the unchanged tables, and a tsvector per chunk.
        c.execute("CREATE EXTENSION vector")
        for statement in SCHEMA:
            if "mvs_chunks" in statement or "mvs_postings" in statement:
                continue
            c.execute(statement)
        c.execute(V1_CHUNKS)
        c.execute("CREATE INDEX mvs_chunks_tokens ON mvs_chunks USING gin (tokens)")
        c.execute("INSERT INTO mvs_schema VALUES (1)")
        meta = '{"schema_version": 1, "model_id": "m", "dimensions": 4}'
        pid = c.execute(
            "INSERT INTO mvs_projects (project, branch, meta) VALUES (%s, '', %s) RETURNING id",
            (project, meta),
        ).fetchone()
        for i, ch in enumerate(chunks):
            c.execute(
                "INSERT INTO mvs_chunks VALUES (%s, %s, %s, %s, %s, %s, 'function', %s, %s,"
                " %s, %s, to_tsvector('mvs_code', %s))",
                (
                    pid[0] if pid else 0,
                    f"id{i}",
                    ch.path,
                    ch.start_line,
                    ch.end_line,
                    ch.symbol,
                    ch.language,
                    ch.content,
                    ch.embed_text,
                    f"h{i}",
                    document(ch),
                ),
            )
    config = pg_config(tmp_path, url, project)
    with pytest.raises(SchemaError) as info:
        open_store(config, tmp_path, model_id="m", dimensions=4, writable=False)
    assert "mcp-vector-search index" in (info.value.hint or "")
    writer = open_pg(tmp_path, url, project)
    try:
        assert writer.meta()["schema_version"] == 2
        reference = open_pg(tmp_path, url)  # the same chunks written by this version
        reference.replace_files(states(chunks), chunks)
        for terms in QUERIES:
            assert hits(writer, terms, 20) == hits(reference, terms, 20)
            assert hits(writer, terms, 20)
        reference.close()
    finally:
        writer.close()
    with psycopg.connect(url, autocommit=True) as c:
        cols = c.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'mvs_chunks'"
        ).fetchall()
        assert ("tokens",) not in cols
        assert c.execute("SELECT version FROM mvs_schema").fetchall() == [(2,)]
