"""The postgres store's nearest-vector query (exact scan, or the HNSW index) over one
project's chunks, and what both queries share: the lexical document, the row shape.
Lexical search itself is postgres_lexical.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from psycopg import sql

from .. import lexical
from ..records import Chunk
from . import StoredChunk, VectorHit

if TYPE_CHECKING:
    from .postgres_conn import Connection

EF_SEARCH_MAX = 1000  # pgvector's ceiling for hnsw.ef_search

COLUMNS = "c.id, c.path, c.start_line, c.end_line, c.symbol, c.kind, c.language, c.embed_hash"


def pg_token(token: str) -> str:
    # The server's text parser splits at underscores; ours keeps parse_http_response
    # whole beside its parts, so the underscores go (on both sides, alike).
    return token.replace("_", "")


def document(chunk: Chunk) -> str:
    """The text the chunk's postings are made of: our tokens, as pg_token spells them."""
    text = lexical.document_text(chunk.content, chunk.symbol, chunk.path)
    return " ".join(pg_token(t) for t in text.split())


def stored_chunk(row: Sequence[object]) -> StoredChunk:
    return StoredChunk(
        str(row[0]),
        str(row[1]),
        int(row[2]),  # type: ignore[call-overload]
        int(row[3]),  # type: ignore[call-overload]
        None if row[4] is None else str(row[4]),
        str(row[5]),
        str(row[6]),
        str(row[7]),
    )


def nearest(
    conn: Connection,
    vectors: sql.Identifier,
    project_id: int,
    qvec: list[float],
    limit: int,
    language: str | None,
    *,
    use_index: bool,
) -> list[VectorHit]:
    """This project's `limit` chunks nearest to qvec (inner product of unit vectors)."""
    where_lang = sql.SQL(" AND c.language = %(lang)s") if language else sql.SQL("")
    params: dict[str, object] = {"q": qvec, "p": project_id, "lang": language, "limit": limit}
    if use_index:
        # The nearest vectors of the whole table by the index, then this project's
        # chunks among them; the exact scan below answers when that leaves too few
        # (a filter, or many projects sharing the table).
        near = min(EF_SEARCH_MAX, max(limit * 2, 100))
        params["near"] = near
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(near)))
            rows = conn.execute(
                sql.SQL(
                    "WITH near AS (SELECT embed_hash,"
                    " embedding <#> %(q)s::float4[]::vector AS d FROM {vt}"
                    " ORDER BY embedding <#> %(q)s::float4[]::vector LIMIT %(near)s)"
                    " SELECT " + COLUMNS + ", -near.d FROM near JOIN mvs_chunks c"
                    " ON c.embed_hash = near.embed_hash AND c.project_id = %(p)s{lang}"
                    " ORDER BY near.d, c.path, c.start_line LIMIT %(limit)s"
                ).format(vt=vectors, lang=where_lang),
                params,
            ).fetchall()
        if len(rows) >= limit:
            return [VectorHit(stored_chunk(r), float(r[8])) for r in rows]
    # Every distance of the project's chunks, then the top k. MATERIALIZED keeps the
    # planner from answering the ORDER BY with the HNSW index (which would make this
    # approximate, and return at most hnsw.ef_search rows).
    rows = conn.execute(
        sql.SQL(
            "WITH scored AS MATERIALIZED (SELECT " + COLUMNS + ","
            " v.embedding <#> %(q)s::float4[]::vector AS d"
            " FROM mvs_chunks c JOIN {vt} v ON v.embed_hash = c.embed_hash"
            " WHERE c.project_id = %(p)s{lang})"
            " SELECT id, path, start_line, end_line, symbol, kind, language, embed_hash, -d"
            " FROM scored ORDER BY d, path, start_line LIMIT %(limit)s"
        ).format(vt=vectors, lang=where_lang),
        params,
    ).fetchall()
    return [VectorHit(stored_chunk(r), float(r[8])) for r in rows]
