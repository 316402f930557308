#!/usr/bin/env python3
"""Retrieval quality on the development benchmark (../shared/bench) and CoSQA.

Runs the real CLI: `index` on each corpus root, then `search --json --queries-file`
(one process per corpus, the model loaded once), and scores with the benchmark's own
score.py. Appends a dated section to docs/benchmarks.md unless --no-write.

    python bench/quality.py [--bench ../shared/bench] [--skip-cosqa] [--mode hybrid]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import append_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLI = [sys.executable, "-m", "mcp_vector_search"]


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def index(root: Path, index_dir: Path, model: str) -> float:
    env = {**os.environ, "MVS_INDEX_DIR": str(index_dir), "MVS_MODEL": model}
    t0 = time.monotonic()
    run([*CLI, "index", str(root), "--quiet"], env=env)
    return time.monotonic() - t0


def search_all(
    root: Path, index_dir: Path, queries: list[dict], mode: str, model: str
) -> list[dict]:
    env = {**os.environ, "MVS_INDEX_DIR": str(index_dir), "MVS_MODEL": model}
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


def ndcg_at_10(bench_queries: Path, results: list[dict]) -> float:
    import math

    targets = {}
    for line in bench_queries.read_text().splitlines():
        q = json.loads(line)
        targets[str(q["id"])] = {t["path"] for t in q["targets"]}
    total = 0.0
    for r in results:
        want = targets.get(str(r["id"]), set())
        for rank, hit in enumerate(r["results"][:10], 1):
            if hit["path"] in want:
                total += 1 / math.log2(rank + 1)
                break
    return total / max(1, len(targets))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--mode", default="hybrid", choices=["hybrid", "semantic", "lexical"])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--skip-cosqa", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    fetched = run([sys.executable, str(args.bench / "fetch_corpora.py"), str(args.cache)]).stdout
    roots = dict(line.split("\t", 1) for line in fetched.strip().splitlines())
    queries = [json.loads(x) for x in (args.bench / "queries.jsonl").read_text().splitlines() if x]
    index_root = args.cache / "indexes" / args.model
    results: list[dict] = []
    timings = {}
    for corpus, root in roots.items():
        idx = index_root / corpus
        timings[corpus] = index(Path(root), idx, args.model)
        mine = [q for q in queries if q["corpus"] == corpus]
        results += search_all(Path(root), idx, mine, args.mode, args.model)
    dev = score(args.bench, args.bench / "queries.jsonl", results)
    print(dev)
    sections = [f"Development set ({args.mode}, model {args.model}):\n\n```\n{dev.strip()}\n```"]

    if not args.skip_cosqa:
        cosqa = args.bench / "cosqa"
        cq = [json.loads(x) for x in (cosqa / "queries.jsonl").read_text().splitlines() if x]
        idx = index_root / "cosqa"
        timings["cosqa"] = index(cosqa / "corpus", idx, args.model)
        cres = search_all(cosqa / "corpus", idx, cq, args.mode, args.model)
        cscore = score(args.bench, cosqa / "queries.jsonl", cres)
        nd = ndcg_at_10(cosqa / "queries.jsonl", cres)
        overall = [ln for ln in cscore.splitlines() if ln.startswith("overall")]
        line = f"CoSQA nDCG@10={nd:.3f} " + (overall[-1] if overall else "")
        print(line)
        sections.append(
            f"CoSQA (500 queries, 6,267 functions; BM25 nDCG@10 0.377):\n\n```\n{line}\n```"
        )
    print("index seconds:", {k: round(v, 1) for k, v in timings.items()})

    if not args.no_write:
        idx_line = (
            "`index` command wall time (s; an existing index is only brought up to date): "
            + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        )
        append_section("Quality", "\n\n".join([*sections, idx_line]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
