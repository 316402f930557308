#!/usr/bin/env python3
"""Cold-start figures: what a fresh process pays before its first answer (issue 12).

Each step runs the real CLI in a new process, with no search daemon, `--runs` times
(median; peak RSS of that very child, from wait4):
  cold_search        `search QUERY --json` (hybrid: the model loads for the query)
  cold_lexical       `search QUERY --mode lexical --json`
  status             `status`
  mcp                spawn -> initialize -> tools/list -> first search_code (raw JSON-RPC)
and, once each, `python -X importtime` of search, status and mcp, summed by top-level
package (what the process imported, and what it cost), so docs/benchmarks.md can show
where a cold start goes. Whether the engine (lancedb) was imported is a figure too.

Then the search daemon (skip with --no-daemon; it sits idle past its release period,
about a minute): its RSS (VmRSS) right after answering hybrid searches, its idle RSS
once it has dropped the model (`idle_daemon_rss_mib`, after RELEASE_SECONDS + 10 s with
no request), the first hybrid answer after that (the model loads again) and what
answered (the read copy or the engine).

    python bench/cold.py --project PATH [--index-dir DIR] [--runs 5] [--no-daemon] [--no-write]

speed.py runs the same steps on its Django index (`--cold-only` there skips the rest).
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
from collections import defaultdict
from pathlib import Path
from typing import Any

from report import append_section

CLI = [sys.executable, "-m", "mcp_vector_search"]
QUERY = "parse the command line options"


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, this child's own peak RSS (MiB) and stdout: the child is reaped
    with wait4, so its rusage is its own (RUSAGE_CHILDREN is a maximum over all)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode})")
    return wall, usage.ru_maxrss // 1024, out


def median_of(runs: int, cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    walls, rss = [], []
    for _ in range(runs):
        wall, peak, _out = run_measured(cmd, env)
        walls.append(wall)
        rss.append(peak)
    return {"median_s": round(statistics.median(walls), 3), "peak_rss_mib": max(rss)}


def import_breakdown(cmd: list[str], env: dict[str, str], top: int = 8) -> dict[str, Any]:
    """Packages by import time (ms, cumulative), from -X importtime: each package counted
    where another package (ours, or the interpreter's start) first imports it."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd[1:]],
        env=env,
        capture_output=True,
        text=True,
        input="",
        timeout=300,
    )
    rows: list[tuple[int, str, float]] = []  # depth, package, cumulative ms
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _head, cumulative, name = line.split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, name.strip().split(".")[0], int(cumulative.strip()) / 1000))
    by_package: dict[str, float] = defaultdict(float)
    for i, (depth, package, ms) in enumerate(rows):
        # A module's parent is the next line printed at a smaller depth.
        parent = next((p for d, p, _ in rows[i + 1 :] if d < depth), None)
        if parent != package:
            by_package[package] += ms
    total = sum(ms for depth, _p, ms in rows if depth == 0)
    ranked = sorted(
        ((k, v) for k, v in by_package.items() if k != "mcp_vector_search"), key=lambda kv: -kv[1]
    )[:top]
    return {
        "total_ms": round(total),
        "engine_imported": "lancedb" in by_package,
        "top_ms": {k: round(v) for k, v in ranked},
    }


def mcp_start(root: Path, env: dict[str, str], query: str) -> dict[str, Any]:
    """Spawn the server; seconds to initialize, tools/list and the first search_code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "mcp", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()

    def reply(ident: int) -> dict[str, Any]:
        assert proc.stdout is not None
        for line in proc.stdout:
            message = json.loads(line)
            if message.get("id") == ident:
                return message  # type: ignore[no-any-return]
        raise SystemExit("the server closed stdout")

    hello = {"name": "bench", "version": "0"}
    send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": hello},
        }
    )
    reply(1)
    initialized = time.perf_counter() - t0
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    reply(2)
    listed = time.perf_counter() - t0
    call = {"name": "search_code", "arguments": {"query": query}}
    send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call})
    answer = reply(3).get("result", {}).get("structuredContent") or {}
    first = time.perf_counter() - t0
    proc.stdin.close()
    proc.wait(60)
    return {
        "initialize_s": initialized,
        "tools_list_s": listed,
        "first_search_s": first,
        "first_mode": answer.get("mode"),
    }


def vm_rss_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise SystemExit(f"no VmRSS for {pid}")


def daemon_figures(root: Path, env: dict[str, str], query: str) -> dict[str, Any]:
    """A search daemon's RSS after hybrid answers and idle past its release period."""
    from mcp_vector_search import search_daemon
    from mcp_vector_search.config import load_config

    run_dir = Path(tempfile.mkdtemp(prefix="mvs-bench-run-"))
    env = {**env, "MVS_SEARCH_DAEMON": "1", "XDG_RUNTIME_DIR": str(run_dir)}
    saved = {
        k: os.environ.get(k) for k in ("MVS_SEARCH_DAEMON", "XDG_RUNTIME_DIR", "MVS_INDEX_DIR")
    }
    os.environ.update({k: env[k] for k in saved if k in env})
    try:
        config = load_config(root)
        index_dir, model = config.index_path(root), config.model
        proc = subprocess.Popen(
            [*CLI, "--project", str(root), "search-daemon"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            sock = search_daemon.socket_path(index_dir, model)
            deadline = time.monotonic() + 120
            while not sock.exists() and time.monotonic() < deadline:
                time.sleep(0.05)

            def ask(text: str, mode: str = "hybrid") -> tuple[float, dict[str, Any]]:
                t0 = time.perf_counter()
                reply = search_daemon.query(
                    index_dir, model, {"op": "search", "query": text, "limit": 10, "mode": mode}
                )
                if reply is None or "payload" not in reply:
                    raise SystemExit(f"the daemon did not answer: {reply}")
                return (time.perf_counter() - t0) * 1000, reply

            _ms, first = ask(query)
            ask("read the configuration file")
            ask("session cookie", "lexical")
            figures: dict[str, Any] = {
                "daemon_answered_from": first.get("source"),
                "daemon_answer_mode": first["payload"]["mode"],
                "daemon_rss_after_hybrid_mib": vm_rss_mib(proc.pid),
            }
            time.sleep(search_daemon.RELEASE_SECONDS + 10)
            figures["idle_daemon_rss_mib"] = vm_rss_mib(proc.pid)
            ms, _reply = ask("render a template with a context")
            figures["daemon_hybrid_after_release_ms"] = round(ms)
            figures["daemon_rss_after_reload_mib"] = vm_rss_mib(proc.pid)
        finally:
            search_daemon.query(index_dir, model, {"op": "shutdown"})
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return figures


def cold_figures(root: Path, env: dict[str, str], runs: int, query: str) -> dict[str, Any]:
    env = {**env, "MVS_SEARCH_DAEMON": "0"}
    project = ["--project", str(root)]
    search = [*CLI, *project, "search", query, "--json"]
    lexical = [*search, "--mode", "lexical"]
    status = [*CLI, *project, "status"]
    figures: dict[str, Any] = {}
    for name, cmd in (("cold_search", search), ("cold_lexical", lexical), ("status", status)):
        for key, value in median_of(runs, cmd, env).items():
            figures[f"{name}_{key}"] = value
    starts = [mcp_start(root, env, query) for _ in range(runs)]
    for key in ("initialize_s", "tools_list_s", "first_search_s"):
        figures[f"mcp_{key.removesuffix('_s')}_median_s"] = round(
            statistics.median(s[key] for s in starts), 2
        )
    figures["mcp_first_answer_modes"] = [s["first_mode"] for s in starts]
    figures["importtime_search"] = import_breakdown(search, env)
    figures["importtime_status"] = import_breakdown(status, env)
    figures["importtime_mcp"] = import_breakdown([*CLI, "mcp", str(root)], env)
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, required=True, help="an indexed tree")
    ap.add_argument("--index-dir", type=Path, help="its index, when not inside it")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--query", default=QUERY)
    ap.add_argument("--no-daemon", action="store_true", help="skip the daemon's RSS figures")
    ap.add_argument("--no-write", action="store_true", help="print only; leave the docs alone")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.index_dir:
        env["MVS_INDEX_DIR"] = str(args.index_dir.resolve())
    root = args.project.resolve()
    figures = cold_figures(root, env, args.runs, args.query)
    if not args.no_daemon:
        figures.update(daemon_figures(root, env, args.query))
    print(json.dumps(figures, indent=2))
    if not args.no_write:
        append_section(f"Cold start — {root.name}", figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
