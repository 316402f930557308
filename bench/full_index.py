#!/usr/bin/env python3
"""A fresh full `index` of one tree, per model, as a user runs it: wall time, peak RSS, CPU.

Each run is the real CLI in a subprocess on a new, empty index directory; runs of the
models alternate (a, b, a, b, ...) so that a change in machine load hits each alike.
Peak RSS and CPU time are the child's own (wait4), not a maximum over earlier children.

    python bench/full_index.py --tree /work/bench-cache/flask/flask-3.0.3 \
        --models minilm,minilm-fp32 --runs 2
    python bench/full_index.py --tree /work/bench-cache/django/Django-5.0.6/django --runs 1

Appends a section to docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import append_section  # noqa: E402

CLI = [sys.executable, "-m", "mcp_vector_search"]


def one_run(tree: Path, model: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mvs-full-") as tmp:
        env = {**os.environ, "MVS_INDEX_DIR": str(Path(tmp) / "idx"), "MVS_MODEL": model}
        env["MVS_SEARCH_DAEMON"] = "0"
        out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
        with out_path.open("w") as out, err_path.open("w") as err:
            t0 = time.monotonic()
            proc = subprocess.Popen(
                [*CLI, "index", str(tree), "--quiet", "--json"], env=env, stdout=out, stderr=err
            )
            # Reaped here with wait4: this child's own peak RSS and CPU time, where
            # RUSAGE_CHILDREN would give the maximum over every child so far.
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = err_path.read_text()[-3000:]
            raise SystemExit(f"index with {model} failed ({proc.returncode}):\n{tail}")
        report = json.loads(out_path.read_text())
        return {
            "wall_s": wall,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "cpu_pct": 100.0 * (usage.ru_utime + usage.ru_stime) / max(wall, 1e-9),
            "chunks": float(report["chunks_total"]),
            "embedded": float(report["embedded_total"]),
            "lexical_s": float(report.get("lexical_seconds", 0.0)),
            "embed_s": float(report.get("embed_seconds", 0.0)),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--models", default="minilm", help="comma-separated, alternated")
    ap.add_argument("--runs", type=int, default=1, help="runs per model")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in models}
    loads: list[float] = []
    for _ in range(args.runs):
        for model in models:
            loads.append(os.getloadavg()[0])
            r = one_run(args.tree, model)
            results[model].append(r)
            print(model, json.dumps({k: round(v, 1) for k, v in r.items()}), flush=True)
    loads.append(os.getloadavg()[0])

    rows = []
    for model, runs in results.items():
        walls = [r["wall_s"] for r in runs]
        rows.append(
            f"| {model} | {runs[0]['chunks']:,.0f} ({runs[0]['embedded']:,.0f} embedded) | "
            f"{statistics.median(walls):.1f} ({', '.join(f'{w:.1f}' for w in walls)}) | "
            f"{statistics.median(r['lexical_s'] for r in runs):.1f} | "
            f"{statistics.median(r['embed_s'] for r in runs):.1f} | "
            f"{max(r['peak_rss_mib'] for r in runs):.0f} | "
            f"{statistics.median(r['cpu_pct'] for r in runs):.0f} % |"
        )
    body = (
        f"Tree: `{args.tree}`. Fresh index per run (MVS_INDEX_DIR in a new temp dir, no"
        f" daemon); models alternated, {args.runs} run(s) each; 1-min load at each run's"
        f" start {min(loads):.1f}-{max(loads):.1f}. Peak RSS and CPU are the `index`"
        " process's own (wait4); CPU 200 % = both cores.\n\n"
        "| model | chunks | wall s, median (runs) | lexical stage s | embedding s |"
        " peak RSS MiB | CPU |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    if len(models) == 2:
        a, b = (statistics.median(r["wall_s"] for r in results[m]) for m in models)
        body += f"\n\n{models[1]} / {models[0]} wall: {b / a:.2f}x"
    print(body)
    if not args.no_write:
        append_section(f"Full index of {args.tree.name}", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
