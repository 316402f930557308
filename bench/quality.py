#!/usr/bin/env python3
"""Retrieval quality on the development benchmark (../shared/bench) and CoSQA.

Runs the real CLI: `index` on each corpus root, then `search --json --queries-file`
(one process per corpus, the model loaded once), and scores with the benchmark's own
score.py. Appends a dated section to docs/benchmarks.md unless --no-write.

    python bench/quality.py [--bench ../shared/bench] [--skip-cosqa]
        [--modes lexical,semantic,hybrid] [--store postgres [--database-url URL] | chroma]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import append_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLI = [sys.executable, "-m", "mcp_vector_search"]


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


# The engine's settings per index dir (`--store postgres`: MVS_STORE, MVS_DATABASE_URL).
STORE_ENV: dict[str, dict[str, str]] = {}


def index(root: Path, index_dir: Path, model: str) -> float:
    env = {**os.environ, "MVS_INDEX_DIR": str(index_dir), "MVS_MODEL": model}
    env.update(STORE_ENV.get(str(index_dir), {}))
    t0 = time.monotonic()
    run([*CLI, "index", str(root), "--quiet"], env=env)
    return time.monotonic() - t0


def search_all(
    root: Path, index_dir: Path, queries: list[dict], mode: str, model: str
) -> list[dict]:
    env = {**os.environ, "MVS_INDEX_DIR": str(index_dir), "MVS_MODEL": model}
    env.update(STORE_ENV.get(str(index_dir), {}))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        for q in queries:
            fh.write(json.dumps({"id": q["id"], "query": q["query"]}) + "\n")
        qpath = fh.name
    try:
        out = run(
            [
                *CLI,
                "--project",
                str(root),
                "search",
                "--json",
                "--limit",
                "10",
                "--mode",
                mode,
                "--queries-file",
                qpath,
            ],
            env=env,
        ).stdout
    finally:
        os.unlink(qpath)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def score(bench: Path, queries_file: Path, results: list[dict]) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        for r in results:
            fh.write(json.dumps({"id": r["id"], "results": r["results"]}) + "\n")
        rpath = fh.name
    try:
        return run([sys.executable, str(bench / "score.py"), str(queries_file), rpath]).stdout
    finally:
        os.unlink(rpath)


def _score_module(bench: Path) -> Any:
    spec = importlib.util.spec_from_file_location("bench_score", bench / "score.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def per_query(score_mod: Any, queries: list[dict], results: list[dict]) -> dict[str, dict]:
    """id -> {corpus, style, frank, srank} with the benchmark's own matching rules."""
    by_id = {str(r["id"]): r["results"] for r in results}
    out = {}
    for q in queries:
        res = by_id.get(str(q["id"]), [])
        out[str(q["id"])] = {
            "corpus": q["corpus"],
            "style": q.get("style", "?"),
            "frank": score_mod.first_hit(res, q["targets"], span=False),
            "srank": score_mod.first_hit(res, q["targets"], span=True),
        }
    return out


def summary(rows: list[dict]) -> dict[str, float]:
    n = max(1, len(rows))
    return {
        "n": len(rows),
        "mrr": sum(1 / r["frank"] for r in rows if r["frank"]) / n,
        "ndcg": sum(1 / math.log2(r["frank"] + 1) for r in rows if r["frank"]) / n,
        "span5": sum(1 for r in rows if r["srank"] and r["srank"] <= 5) / n,
    }


def table(runs: dict[str, dict[str, dict]]) -> str:
    """Rows: every corpus and every query style; columns: file_MRR@10 per run (nDCG@10
    for CoSQA), then span_R@5 per run."""
    names = list(runs)
    groups: dict[str, list[str]] = {}
    for qid, r in next(iter(runs.values())).items():
        groups.setdefault(r["corpus"], []).append(qid)
        if r["corpus"] != "cosqa":
            groups.setdefault("style " + r["style"], []).append(qid)
            groups.setdefault("dev (all 6)", []).append(qid)
    order = ["click", "httpx", "axios", "rich", "orjson", "tanstack-query", "dev (all 6)"]
    groups = dict(
        sorted(groups.items(), key=lambda g: (order.index(g[0]) if g[0] in order else 7, g[0]))
    )
    head = f"| group | n | {' | '.join(names)} | span_R@5 {' / '.join(names)} |"
    lines = [head, "|" + "---|" * (len(names) + 3)]
    for g, ids in groups.items():
        cells, spans = [], []
        metric = "ndcg" if g == "cosqa" else "mrr"
        for name in names:
            rows = [runs[name][q] for q in ids if q in runs[name]]
            sm = summary(rows)
            cells.append(f"{sm[metric]:.3f}")
            spans.append(f"{sm['span5']:.3f}")
        label = g + (" (nDCG@10)" if g == "cosqa" else "")
        lines.append(f"| {label} | {len(ids)} | {' | '.join(cells)} | {' / '.join(spans)} |")
    return "\n".join(lines)


def bm25_baseline(bench: Path, cache: Path, queries_file: Path) -> list[dict]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        out = fh.name
    try:
        run([sys.executable, str(bench / "baseline_bm25.py"), str(queries_file), str(cache), out])
        return [json.loads(x) for x in Path(out).read_text().splitlines() if x.strip()]
    finally:
        os.unlink(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--modes", default="lexical,semantic,hybrid")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--skip-cosqa", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--store", default="lancedb", choices=["lancedb", "postgres", "chroma"])
    ap.add_argument(
        "--database-url", default=None, help="postgres: this server (default: a throwaway one)"
    )
    args = ap.parse_args()
    if args.store == "postgres":
        from pgtemp import database_url

        with database_url(args.database_url) as url:
            return evaluate(args, url)
    return evaluate(args, None)


def evaluate(args: argparse.Namespace, url: str | None) -> int:
    modes = [m for m in args.modes.split(",") if m]

    fetched = run([sys.executable, str(args.bench / "fetch_corpora.py"), str(args.cache)]).stdout
    roots = dict(line.split("\t", 1) for line in fetched.strip().splitlines())
    qfile = args.bench / "queries.jsonl"
    queries = [json.loads(x) for x in qfile.read_text().splitlines() if x]
    cosqa = args.bench / "cosqa"
    cq = [json.loads(x) for x in (cosqa / "queries.jsonl").read_text().splitlines() if x]
    for q in cq:
        q["corpus"], q["style"] = "cosqa", "cosqa"
    suffix = "-pg" if url else "-chroma" if args.store == "chroma" else ""
    index_root = args.cache / "indexes" / (args.model + suffix)
    score_mod = _score_module(args.bench)
    corpora = [(c, Path(r), [q for q in queries if q["corpus"] == c]) for c, r in roots.items()]
    if not args.skip_cosqa:
        corpora.append(("cosqa", cosqa / "corpus", cq))
    timings: dict[str, float] = {}
    for corpus, _root, _ in corpora:
        if url is not None:
            STORE_ENV[str(index_root / corpus)] = {
                "MVS_STORE": "postgres",
                "MVS_DATABASE_URL": url,
                "MVS_PROJECT": f"quality-{args.model}-{corpus}",
            }
        if args.store == "chroma":  # embedded, in each corpus's index dir
            STORE_ENV[str(index_root / corpus)] = {"MVS_STORE": "chroma"}
    for corpus, root, _ in corpora:
        timings[corpus] = index(root, index_root / corpus, args.model)

    runs: dict[str, dict[str, dict]] = {}
    baseline = bm25_baseline(args.bench, args.cache, qfile)
    if not args.skip_cosqa:
        baseline += [
            json.loads(x) for x in (cosqa / "bm25_results.jsonl").read_text().splitlines() if x
        ]
    every = [q for _, _, mine in corpora for q in mine]
    dev_ids = {str(q["id"]) for q in queries}
    runs["plain BM25"] = per_query(score_mod, every, baseline)
    for mode in modes:
        results: list[dict] = []
        for corpus, root, mine in corpora:
            results += search_all(root, index_root / corpus, mine, mode, args.model)
        runs[f"ours {mode}"] = per_query(score_mod, every, results)
        if mode == "hybrid":
            dev = score(args.bench, qfile, [r for r in results if str(r["id"]) in dev_ids])
            print(dev)
    text = table(runs)
    print(text)
    print("index seconds:", {k: round(v, 1) for k, v in timings.items()})

    if not args.no_write:
        idx_line = (
            "`index` command wall time (s; an existing index is only brought up to date): "
            + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        )
        append_section(
            f"Quality (model {args.model}, store {args.store})",
            "file_MRR@10 (CoSQA: nDCG@10) per corpus and query style; span_R@5 after the "
            "slash columns.\n\n" + text + "\n\n" + idx_line,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
