#!/usr/bin/env python3
"""MCP server latency: start to first answer, warm search_code p50/p95, shutdown on EOF.

Talks to `mcp-vector-search mcp PATH` through the SDK's stdio client, as an agent would:
  start     spawn -> initialize -> first search_code answer (median of --starts runs)
  raw start the same over raw JSON-RPC lines, with tools/list timed on its own and the
            mode of the first answer (lexical while the model loads; bench/cold.py)
  warm      search_code round trips over stdio once warm and the server's startup pass is
            done: p50, p95, max (--queries calls)
  engine    the same queries answered in-process without the protocol (ProjectTools)
  symbol    find_symbol round trip p50
  shutdown  stdin closed -> process gone
and appends the figures to docs/benchmarks.md (date, machine, load, command).

    python bench/mcp_latency.py --project PATH [--index-dir DIR]   # an indexed tree
    python bench/mcp_latency.py [--files 150] [--model fake]       # a small made-up corpus

For the Django figures, index it with bench/speed.py first, then:
    python bench/mcp_latency.py --project bench/.cache/django/Django-5.0.6 \\
        --index-dir bench/.cache/indexes/django
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from cold import mcp_start
from report import append_section
from speed import QUERIES as DJANGO_QUERIES

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLI = [sys.executable, "-m", "mcp_vector_search"]
# The speed benchmark's Django questions, plus more of the same kind.
QUERIES = [
    *DJANGO_QUERIES,
    "retry a failed request with backoff",
    "read configuration from environment variables",
    "serialize an object to json",
    "open a database connection",
    "check user permissions before a view runs",
    "url routing and reverse resolution",
    "escape html in user input",
    "timezone aware datetime conversion",
    "upload a file to storage",
    "signal handlers registered on model save",
]
WORDS = [
    "user",
    "order",
    "cart",
    "price",
    "token",
    "session",
    "cache",
    "upload",
    "file",
    "parse",
    "config",
    "request",
    "response",
    "retry",
    "backoff",
    "queue",
    "worker",
    "schedule",
    "email",
    "template",
    "render",
    "field",
    "model",
    "query",
    "index",
    "record",
    "stream",
    "buffer",
    "socket",
    "header",
    "cookie",
    "password",
    "hash",
    "encode",
    "decode",
    "image",
    "thumbnail",
]


def small_corpus(root: Path, files: int) -> None:
    """A deterministic made-up Python project of `files` modules, ~8 functions each."""
    rng = random.Random(0)
    for i in range(files):
        pkg = root / f"pkg_{i % 12}"
        pkg.mkdir(parents=True, exist_ok=True)
        parts = [f'"""Module {i}: {" ".join(rng.sample(WORDS, 6))}."""\n\n']
        for j in range(8):
            a, b, c = rng.sample(WORDS, 3)
            parts.append(
                f"def {a}_{b}_{i}_{j}({c}, limit=10):\n"
                f'    """{a.capitalize()} the {b} of a {c}, at most limit times."""\n'
                f"    out = []\n"
                f"    for n in range(limit):\n"
                f"        out.append(({c}, n, {j}))\n"
                f"    return out\n\n"
            )
        (pkg / f"mod_{i}.py").write_text("".join(parts))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


async def measure(root: Path, env: dict[str, str], starts: int, queries: int) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=CLI[0], args=[*CLI[1:], "mcp", str(root)], env=env)
    figures: dict[str, Any] = {}
    first_answers, inits, shutdowns = [], [], []
    for run in range(starts):
        print(f"start {run + 1}/{starts}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        client = Client(params, read_timeout_seconds=120)
        await client.__aenter__()
        inits.append(time.perf_counter() - t0)
        first = await client.call_tool("search_code", {"query": QUERIES[run % len(QUERIES)]})
        first_answers.append(time.perf_counter() - t0)
        if first.is_error:
            raise SystemExit(f"search_code failed: {first.content}")
        if run == starts - 1:
            figures["first_answer_index"] = (first.structured_content or {}).get("index")
            # Warm means settled: the server's own startup pass over the tree has finished.
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                status = await client.call_tool("index_status", {})
                if not (status.structured_content or {}).get("indexing"):
                    break
                await anyio.sleep(0.5)
            print("warm queries", file=sys.stderr, flush=True)
            # Warm: the same server, now that the first answer is out.
            for q in QUERIES[:5]:
                await client.call_tool("search_code", {"query": q})
            lat = []
            for n in range(queries):
                t = time.perf_counter()
                r = await client.call_tool("search_code", {"query": QUERIES[n % len(QUERIES)]})
                lat.append((time.perf_counter() - t) * 1000)
                if r.is_error:
                    raise SystemExit(f"search_code failed: {r.content}")
            figures["warm_search_code_p50_ms"] = round(statistics.median(lat), 1)
            figures["warm_search_code_p95_ms"] = round(percentile(lat, 95), 1)
            figures["warm_search_code_max_ms"] = round(max(lat), 1)
            sym = []
            for name in ("render", "send_mail", "QuerySet", "parse_header", "get"):
                t = time.perf_counter()
                await client.call_tool("find_symbol", {"name": name})
                sym.append((time.perf_counter() - t) * 1000)
            figures["warm_find_symbol_p50_ms"] = round(statistics.median(sym), 1)
            status = await client.call_tool("index_status", {})
            data = status.structured_content or {}
            figures["files"] = data.get("files")
            figures["chunks"] = data.get("chunks")
            figures["embedded"] = data.get("embedded")
        t = time.perf_counter()
        await client.__aexit__(None, None, None)  # closes stdin, waits for the exit
        shutdowns.append(time.perf_counter() - t)
    figures["start_to_initialized_median_s"] = round(statistics.median(inits), 2)
    figures["start_to_first_answer_median_s"] = round(statistics.median(first_answers), 2)
    figures["start_to_first_answer_runs_s"] = [round(x, 2) for x in first_answers]
    figures["shutdown_on_eof_max_s"] = round(max(shutdowns), 2)
    return figures


def engine_latency(root: Path, queries: int) -> dict[str, float]:
    """The same questions without the protocol: what the tool layer itself costs."""
    from mcp_vector_search.agent_tools import open_tools
    from mcp_vector_search.config import load_config

    tools = open_tools(root, load_config(root), index=False, watch=False)
    try:
        for q in QUERIES[:5]:
            tools.search_code(q)
        lat = []
        for n in range(queries):
            t = time.perf_counter()
            tools.search_code(QUERIES[n % len(QUERIES)])
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        tools.close()
    return {
        "engine_search_code_p50_ms": round(statistics.median(lat), 1),
        "engine_search_code_p95_ms": round(percentile(lat, 95), 1),
    }


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.node()} ({os.cpu_count()} cores, {platform.machine()}"
        f"{', ' + model if model else ''}; load average at start {load})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, help="an already indexed tree")
    ap.add_argument("--index-dir", type=Path, help="its index, when not inside it (MVS_INDEX_DIR)")
    ap.add_argument("--files", type=int, default=150, help="small corpus size (no --project)")
    ap.add_argument("--model", default=None, help="embedding model (default: the config's)")
    ap.add_argument("--starts", type=int, default=3, help="server starts to time")
    ap.add_argument("--queries", type=int, default=100, help="warm search_code calls")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--no-write", action="store_true", help="print only; leave the docs alone")
    args = ap.parse_args()

    env = dict(os.environ)
    if args.model:
        env["MVS_MODEL"] = args.model
    if args.index_dir:
        env["MVS_INDEX_DIR"] = str(args.index_dir.resolve())
    os.environ.update(env)  # the in-process engine run reads the same settings
    machine_line = machine()
    if args.project:
        root = args.project.resolve()
        label = f"{root.name} (existing index)"
    else:
        root = (args.cache / f"mcp-small-{args.files}").resolve()
        if not root.exists():
            small_corpus(root, args.files)
        label = f"made-up corpus of {args.files} Python files"
        subprocess.run([*CLI, "index", str(root), "--quiet"], env=env, check=True)

    raw = [mcp_start(root, env, QUERIES[n % len(QUERIES)]) for n in range(args.starts)]
    figures: dict[str, Any] = {
        f"raw_start_to_{key.removesuffix('_s')}_median_s": round(
            statistics.median(r[key] for r in raw), 2
        )
        for key in ("initialize_s", "tools_list_s", "first_search_s")
    }
    figures["raw_first_answer_modes"] = [r["first_mode"] for r in raw]
    figures.update(anyio.run(measure, root, env, args.starts, args.queries))
    print("in-process engine", file=sys.stderr, flush=True)
    figures.update(engine_latency(root, args.queries))
    print(json.dumps(figures, indent=2))

    if not args.no_write:
        append_section(
            f"MCP latency — {label}", f"Machine at start: {machine_line}", figures=figures
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
