"""The postgres store's vector tables: one per model (a vector(d) column has one
dimension), shared by every project; and their HNSW index, built in bulk."""

from __future__ import annotations

from psycopg import sql

from ..errors import StoreError
from .postgres_conn import LOCK_NAMESPACE, Connection, vectors_table


def ensure_vectors_table(conn: Connection, model_id: str, dimensions: int, where: str) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s::int, 0)", (LOCK_NAMESPACE,))
        conn.execute(
            "INSERT INTO mvs_models VALUES (%s, %s, %s) ON CONFLICT (model_id) DO NOTHING",
            (model_id, dimensions, vectors_table(model_id)),
        )
        row = conn.execute(
            "SELECT dimensions FROM mvs_models WHERE model_id = %s", (model_id,)
        ).fetchone()
        if row is None or int(row[0]) != dimensions:
            raise StoreError(
                f"model {model_id!r} has {row and row[0]} dims in {where}, this run {dimensions}"
            )
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (embed_hash text PRIMARY KEY,"
                " embedding vector({}) NOT NULL)"
            ).format(sql.Identifier(vectors_table(model_id)), sql.Literal(dimensions))
        )


def has_vectors_table(conn: Connection, model_id: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (vectors_table(model_id),)).fetchone()
    return bool(row and row[0])


def hnsw_ready(conn: Connection, model_id: str) -> bool:
    """Whether the model's HNSW index exists and is valid (a build killed half way leaves
    an invalid one, which the next build_hnsw replaces)."""
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = %s",
        (vectors_table(model_id) + "_hnsw",),
    ).fetchone()
    return bool(row and row[0])


def build_hnsw(conn: Connection, model_id: str, *, min_rows: int) -> None:
    """Build the model's HNSW index once its table holds `min_rows` vectors.

    Built in one go at the end of a run, not maintained row by row through the first bulk
    load: a bulk build is several times cheaper, and CONCURRENTLY lets other projects keep
    writing meanwhile. Later inserts maintain it as usual.
    """
    if hnsw_ready(conn, model_id):
        return
    table = sql.Identifier(vectors_table(model_id))
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    if not row or int(row[0]) < min_rows:
        return
    index = sql.Identifier(vectors_table(model_id) + "_hnsw")
    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index))
    # The graph of ~100k vectors of 384 dims needs ~250 MB to be built in memory.
    conn.execute("SET maintenance_work_mem = '512MB'")
    try:
        # Unit vectors: inner product is the cosine, and the cheapest operator.
        conn.execute(
            sql.SQL(
                "CREATE INDEX CONCURRENTLY {} ON {} USING hnsw (embedding vector_ip_ops)"
            ).format(index, table)
        )
    finally:
        conn.execute("RESET maintenance_work_mem")
