"""Lexical search on the postgres store: impact-ordered postings, BM25 without scoring
every match.

mvs_postings holds one row per (chunk, term) with the term's BM25 term-frequency part
(saturated, length-normalised) precomputed as `impact`, under a btree on
(project_id, term, impact DESC). A query reads each term's TOP_POSTINGS highest impacts
from that index, weighs them by the term's idf and sums per chunk: a few thousand index
tuples per query whatever the corpus size, where scoring every chunk that matches a
common term read and ranked tens of thousands of rows.

That is exact for every term with fewer than TOP_POSTINGS postings. TOP_POSTINGS equals
the document-frequency cap, so the terms it truncates are the ones whose idf is already
the smallest (df at the cap); a chunk loses only those terms' contributions, and only
where they rank below the term's TOP_POSTINGS best. A language filter that leaves fewer
than `limit` hits among the candidates falls back to scoring every posting.

Postings are written in the statement that inserts their chunks (one transaction with
the rest of a file's replace), and a statement trigger on mvs_chunks deletes them with
their chunks on every path: per-file replace, delete, orphans, reset, a dropped project.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from psycopg import sql

from ..records import Chunk
from . import LexicalHit, embed_hash
from .postgres_search import COLUMNS, document, stored_chunk

if TYPE_CHECKING:
    from .postgres_conn import Connection

DF_CAP = 2000  # document frequencies are counted up to this (enough to tell rare terms)
TOP_POSTINGS = DF_CAP  # postings read per query term (see the module docstring)

# BM25's usual constants. Lengths are normalised against a fixed reference, not the
# project's mean: an impact is written once with its chunk, and a mean that moves with
# every write would leave older impacts scaled to an older mean (or make each file's
# replace rewrite the project). The reference only sets where `b` pivots: 64 words is
# about the mean document (symbol, path and code tokens) of the benchmark corpora,
# 57 to 73 per corpus, and 61 in bench/store_bench.py's synthetic one.
K1 = 1.2
B = 0.75
REFERENCE_LENGTH = 64.0


def impact_sql(tf: str, dl: str) -> str:
    """BM25's term-frequency part for SQL expressions tf and dl (words in the document)."""
    return (
        f"(({tf}) * {K1 + 1!r} / (({tf}) + {K1!r} * ({1 - B!r} + {B!r} * ({dl}) /"
        f" {REFERENCE_LENGTH!r})))::real"
    )


# The server's parser and stemmer (the mvs_code configuration) make the terms, for
# documents and queries alike; tf is a lexeme's positions, dl the document's.
_TERMS_OF = (
    " CROSS JOIN LATERAL (SELECT sum(array_length(l.positions, 1)) AS dl"
    " FROM unnest({tv}) AS l) AS d CROSS JOIN LATERAL unnest({tv}) AS v"
)
_IMPACT = impact_sql("array_length(v.positions, 1)", "d.dl")

POSTINGS_TABLE = """CREATE TABLE IF NOT EXISTS mvs_postings (
    project_id bigint NOT NULL,
    term text NOT NULL,
    impact real NOT NULL,
    chunk bigint NOT NULL)"""

# No foreign keys on mvs_postings: a per-row check on ~30 postings per chunk would cost
# more than the whole lexical write did; the trigger below keeps them consistent.
SCHEMA = [
    POSTINGS_TABLE,
    "CREATE UNIQUE INDEX IF NOT EXISTS mvs_chunks_seq ON mvs_chunks (seq)",
    "CREATE INDEX IF NOT EXISTS mvs_postings_top ON mvs_postings"
    " (project_id, term, impact DESC) INCLUDE (chunk)",
    "CREATE INDEX IF NOT EXISTS mvs_postings_chunk ON mvs_postings (chunk)",
    # ANY(ARRAY(...)): the transition table has no statistics, and a hash join guessed
    # from them would scan every posting to delete one file's.
    """CREATE OR REPLACE FUNCTION mvs_drop_postings() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM mvs_postings WHERE chunk = ANY (ARRAY(SELECT seq FROM mvs_gone));
        RETURN NULL;
    END $$""",
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'mvs_chunks_postings') THEN
            CREATE TRIGGER mvs_chunks_postings AFTER DELETE ON mvs_chunks
                REFERENCING OLD TABLE AS mvs_gone
                FOR EACH STATEMENT EXECUTE FUNCTION mvs_drop_postings();
        END IF;
    END $$""",
]

INSERT_CHUNKS = (
    """WITH u AS (SELECT * FROM unnest(%(id)s::text[], %(path)s::text[], %(sl)s::int[],
           %(el)s::int[], %(sym)s::text[], %(kind)s::text[], %(lang)s::text[],
           %(content)s::text[], %(et)s::text[], %(eh)s::text[], %(doc)s::text[])
           AS u(id, path, sl, el, sym, kind, lang, content, et, eh, doc)),
       ins AS (INSERT INTO mvs_chunks (project_id, id, path, start_line, end_line, symbol,
           kind, language, content, embed_text, embed_hash)
           SELECT %(p)s, u.id, u.path, u.sl, u.el, u.sym, u.kind, u.lang, u.content, u.et,
               u.eh FROM u
           RETURNING id, seq)
   INSERT INTO mvs_postings (project_id, term, impact, chunk)
   SELECT %(p)s, v.lexeme, """
    + _IMPACT
    + """, ins.seq FROM ins JOIN u ON u.id = ins.id
   CROSS JOIN LATERAL (SELECT to_tsvector('mvs_code', u.doc) AS tv) AS t"""
    + _TERMS_OF.format(tv="t.tv")
)


def insert_chunks(
    conn: Connection, project_id: int, model_id: str, rows: Sequence[tuple[str, Chunk]]
) -> None:
    """Insert (id, chunk) rows and their postings, in one statement."""
    conn.execute(
        INSERT_CHUNKS,
        {
            "p": project_id,
            "id": [i for i, _ in rows],
            "path": [c.path for _, c in rows],
            "sl": [c.start_line for _, c in rows],
            "el": [c.end_line for _, c in rows],
            "sym": [c.symbol for _, c in rows],
            "kind": [c.kind for _, c in rows],
            "lang": [c.language for _, c in rows],
            "content": [c.content for _, c in rows],
            "et": [c.embed_text for _, c in rows],
            "eh": [embed_hash(model_id, c.embed_text) for _, c in rows],
            "doc": [document(c) for _, c in rows],
        },
    )


def migrate_from_v1(conn: Connection) -> None:
    """Schema 1 kept a tsvector per chunk (GIN); its lexemes and positions are exactly
    what postings are made of, so the upgrade needs no client-side text."""
    conn.execute("ALTER TABLE mvs_chunks ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY")
    conn.execute(POSTINGS_TABLE)
    conn.execute(
        "INSERT INTO mvs_postings (project_id, term, impact, chunk)"
        " SELECT c.project_id, v.lexeme, "
        + _IMPACT
        + ", c.seq FROM mvs_chunks c"
        + _TERMS_OF.format(tv="c.tokens")
    )
    conn.execute("DROP INDEX IF EXISTS mvs_chunks_tokens")
    conn.execute("ALTER TABLE mvs_chunks DROP COLUMN tokens")


# Per term: its best postings, how many there were (its df, up to the cap) and so its
# idf, in one index scan; then one sum per chunk. The idf is float8 arithmetic: with
# the integer count and a numeric 0.5 it was numeric, and its ln() took most of the
# query (13 of 19 ms over 3,336 postings, measured).
_QUERY = """WITH q AS (SELECT v.lexeme AS t
        FROM unnest(%(terms)s::text[]) AS u(x)
        CROSS JOIN LATERAL unnest(to_tsvector('mvs_code', u.x)) AS v),
    hits AS MATERIALIZED (SELECT p.chunk, p.seen,
            p.impact * ln(1 + (%(total)s::float8 - p.df + 0.5) / (p.df + 0.5)) AS s
        FROM q CROSS JOIN LATERAL (SELECT chunk, impact, count(*) OVER () AS seen,
            least(count(*) OVER (), %(cap)s) AS df
            FROM (SELECT chunk, impact FROM mvs_postings
                WHERE project_id = %(p)s AND term = q.t
                ORDER BY impact DESC LIMIT %(n)s) AS top) AS p),
    scored AS (SELECT chunk, sum(s) AS s FROM hits GROUP BY chunk{top})
    SELECT {columns}, scored.s, {seen} FROM scored
    JOIN mvs_chunks c ON c.seq = scored.chunk{lang}
    ORDER BY scored.s DESC, c.seq LIMIT %(limit)s"""


def lexical_hits(
    conn: Connection,
    project_id: int,
    tokens: list[str],
    total: int,
    limit: int,
    language: str | None,
    *,
    top_postings: int = TOP_POSTINGS,
) -> list[LexicalHit]:
    """BM25 (idf from document frequencies counted up to DF_CAP) summed over the query's
    tokens, from each token's `top_postings` best postings; every posting when a
    language filter leaves too few."""
    per_term = max(top_postings, limit)  # so that one term alone can fill the answer
    params: dict[str, object] = {
        "terms": tokens,
        "p": project_id,
        "n": per_term,
        "cap": min(DF_CAP, top_postings),
        "total": max(1, total),
        "lang": language,
        "limit": limit,
    }
    if language:
        # Every candidate may be needed: the filter is on the chunk rows.
        parts = {
            "top": "",
            "lang": " AND c.language = %(lang)s",
            "seen": "(SELECT max(seen) FROM hits)",
        }
    else:
        # Only the best `limit` sums need their chunk rows. Ties go to the chunk written
        # first (seq), not to the path: both are arbitrary, and sorting on the path
        # would need every tied chunk's row (hundreds, on synthetic code).
        parts = {"top": " ORDER BY s DESC, chunk LIMIT %(limit)s", "lang": "", "seen": "NULL"}
    query = sql.SQL(_QUERY).format(
        columns=sql.SQL(COLUMNS),
        **{k: sql.SQL(v) for k, v in parts.items()},
    )
    rows = conn.execute(query, params).fetchall()
    truncated = bool(rows) and int(rows[0][9] or 0) >= per_term
    if language and len(rows) < limit and (truncated or not rows):
        # Too few in this language among the candidates; every posting may hold more.
        # (No rows at all also lands here: the candidates can't tell "none" from "cut".)
        params["n"] = None
        rows = conn.execute(query, params).fetchall()
    return [LexicalHit(stored_chunk(r), float(r[8])) for r in rows]
