#!/usr/bin/env python3
"""Indexing and search speed on the Django 5.0.6 sdist (from PyPI).

Measures, each with the real CLI in a subprocess:
  lexical   time until the whole tree is lexically searchable (`index --no-embed`, fresh)
  full      fresh full index wall time and peak RSS (`index`), unless --skip-full
  rate      end-to-end embedding rate vs the bare model on the same chunks
  noop      re-index with nothing changed
  edit      re-index after editing one file
  cold      `search` from the CLI: a cold process with no daemon, and with the search
            daemon the first search starts (median of 5 each)
  warm      in-process search p50/p95 over 40 queries
  size      index size on disk
  cold-start (bench/cold.py) search/lexical/status in a fresh process (median, own peak
            RSS), MCP spawn -> initialize -> tools/list -> first search_code, and the
            -X importtime breakdown of search, status and mcp
and appends the figures to docs/benchmarks.md.

    python bench/speed.py [--skip-full] [--reuse] [--cold-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from cold import cold_figures
from report import append_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLI = [sys.executable, "-m", "mcp_vector_search"]
QUERIES = [
    "how are database migrations applied in order",
    "validate an email address field",
    "render a template with context",
    "csrf token check on post requests",
    "QuerySet.select_related",
    "cache backend that stores entries in memcached",
    "parse the accept-language header",
    "password hashing with pbkdf2",
    "send_mail",
    "paginate a list of objects",
]


def fetch_django(cache: Path) -> Path:
    root = cache / "django" / "Django-5.0.6"
    if root.exists():
        return root
    dl = cache / "django" / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "django==5.0.6",
            "-d",
            str(dl),
            "-q",
        ],
        check=True,
    )
    sdist = next(dl.glob("*.tar.gz"))
    with tarfile.open(sdist) as tf:
        tf.extractall(cache / "django", filter="data")
    extracted = next(
        p for p in (cache / "django").iterdir() if p.name.lower().startswith("django-")
    )
    extracted.rename(root)
    return root


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB) of the child, stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far: only exact when it grew.
    return wall, max(after, before) // 1024, proc.stdout


def model_alone_rate(texts: list[str]) -> float:
    from mcp_vector_search.embedding import create_embedder

    emb = create_embedder("minilm")
    emb.embed_batch(texts[:8])  # warm up: session creation is not embedding
    t0 = time.monotonic()
    texts = sorted(texts, key=len)
    for i in range(0, len(texts), 32):
        emb.embed_batch(texts[i : i + 32])
    rate = len(texts) / (time.monotonic() - t0)
    emb.close()
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--skip-full", action="store_true", help="skip the fresh full index")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep the existing index: skip the fresh lexical and full passes",
    )
    ap.add_argument(
        "--cold-only",
        action="store_true",
        help="only the cold-start figures, on the existing index (bench/cold.py)",
    )
    args = ap.parse_args()

    root = fetch_django(args.cache)
    index_dir = args.cache / "indexes" / "django"
    env = {**os.environ, "MVS_INDEX_DIR": str(index_dir)}
    figures: dict[str, object] = {}

    partial = args.cache / "speed-partial.json"
    if args.cold_only:
        figures = cold_figures(root, env, 5, QUERIES[0])
        print(json.dumps(figures, indent=2))
        if not args.no_write:
            append_section("Cold start — Django 5.0.6 sdist", figures=figures)
        return 0

    def note(key: str, value: object) -> None:
        # Saved after every step: a run stopped half way still leaves its figures.
        figures[key] = value
        partial.write_text(json.dumps(figures, indent=2))

    def reindex_figures(suffix: str, *extra: str) -> None:
        wall, _, _ = timed([*CLI, "index", str(root), "--quiet", *extra], env)
        note(f"noop_reindex{suffix}_s", round(wall, 2))
        victim = root / "django" / "utils" / "text.py"
        original = victim.read_text()
        try:
            victim.write_text(original + "\n\ndef _bench_added_helper():\n    return 'edited'\n")
            wall, _, _ = timed([*CLI, "index", str(root), "--quiet", *extra], env)
            note(f"edit_one_file_reindex{suffix}_s", round(wall, 2))
        finally:
            victim.write_text(original)
            timed([*CLI, "index", str(root), "--quiet", *extra], env)

    if args.reuse:
        args.skip_full = True
        wall, rss, out = timed([*CLI, "index", str(root), "--no-embed", "--quiet", "--json"], env)
    else:
        shutil.rmtree(index_dir, ignore_errors=True)
        wall, rss, out = timed([*CLI, "index", str(root), "--no-embed", "--quiet", "--json"], env)
        note("lexical_searchable_s", round(wall, 1))
    rep = json.loads(out)
    note("files", rep["files_total"])
    note("chunks", rep["chunks_total"])
    note("embedded_at_search_time", rep["embedded_total"])
    lexical_wall = wall
    # Re-index figures on the lexical index first: they hold even if the (long) embedding
    # pass below does not finish.
    reindex_figures("_lexical_only", "--no-embed")

    if not args.skip_full:
        # The full index = the lexical pass above + this run, which embeds every chunk.
        wall, rss, out = timed([*CLI, "index", str(root), "--quiet", "--json"], env)
        rep = json.loads(out)
        note("full_index_s", round(lexical_wall + wall, 1))
        note("full_index_peak_rss_mib", rss)
        note("embedded", rep["embedded_total"])
        note(
            "e2e_embed_rate_per_s", round(rep["vectors_added"] / max(rep["embed_seconds"], 1e-9), 1)
        )
        # The model alone on the same kind of chunks (a sample of what was embedded).
        from mcp_vector_search.store.lancedb import open_store
        from mcp_vector_search.store.meta import read_meta

        meta = read_meta(index_dir) or {}
        store = open_store(
            index_dir,
            model_id=str(meta["model_id"]),
            dimensions=int(meta["dimensions"]),
            writable=False,
        )
        step = max(1, rep["chunks_total"] // 640)
        sample = [c.embed_hash for c in store.chunk_catalog()[::step]][:640]
        texts = list(store.embed_texts(sample).values())
        store.close()
        alone = model_alone_rate(texts)
        note("model_alone_rate_per_s", round(alone, 1))
        note("e2e_vs_model_pct", round(100 * float(figures["e2e_embed_rate_per_s"]) / alone, 1))  # type: ignore[arg-type]

    if not args.skip_full:
        reindex_figures("")
    from mcp_vector_search import search_daemon

    no_daemon = {**env, "MVS_SEARCH_DAEMON": "0"}
    colds = [
        timed([*CLI, "--project", str(root), "search", q, "--json"], no_daemon)[0]
        for q in QUERIES[:5]
    ]
    note("cold_cli_search_no_daemon_median_s", round(statistics.median(colds), 3))
    run_dir = Path(tempfile.mkdtemp(prefix="mvs-bench-run-"))
    with_daemon = {**env, "MVS_SEARCH_DAEMON": "1", "XDG_RUNTIME_DIR": str(run_dir)}
    os.environ.update({"XDG_RUNTIME_DIR": str(run_dir), "MVS_SEARCH_DAEMON": "1"})
    timed([*CLI, "--project", str(root), "search", QUERIES[0], "--json"], with_daemon)  # spawns it
    sock = search_daemon.socket_path(index_dir, "minilm")
    deadline = time.monotonic() + 120
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # let the daemon finish warming its model before timing
    warm_cli = [
        timed([*CLI, "--project", str(root), "search", q, "--json"], with_daemon)[0]
        for q in QUERIES[5:10]
    ]
    search_daemon.query(index_dir, "minilm", {"op": "shutdown"})
    note("cli_search_with_daemon_median_s", round(statistics.median(warm_cli), 3))

    from mcp_vector_search.config import load_config
    from mcp_vector_search.lifecycle import Session
    from mcp_vector_search.search import Searcher

    os.environ["MVS_INDEX_DIR"] = str(index_dir)
    with Session(root, load_config(root)) as session:
        searcher = Searcher(session.store(), session.embedder)
        searcher.search("warm up")
        lat = []
        for q in QUERIES * 4:
            t0 = time.perf_counter()
            searcher.search(q)
            lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    figures["warm_search_p50_ms"] = round(lat[len(lat) // 2], 1)
    figures["warm_search_p95_ms"] = round(lat[int(len(lat) * 0.95) - 1], 1)
    figures.update(cold_figures(root, env, 5, QUERIES[0]))
    figures["index_size_mib"] = round(
        sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20, 1
    )
    print(json.dumps(figures, indent=2))

    if not args.no_write:
        append_section("Speed — Django 5.0.6 sdist", figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
