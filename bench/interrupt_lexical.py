#!/usr/bin/env python3
"""Lexical search after a Ctrl+C in the middle of a first run's lexical stage (issue 12).

A fresh lexical-only index (`index --no-embed`) of PROJECT in a scratch dir gets SIGINT
after --after seconds. Figures: how long the interrupted process took to exit, how long
until the detached `finish-index` let go of the writer lock (the text index and the
read copy caught up), then lexical searches: cold CLI ones (median, and whether the
engine was imported: False means the read copy answered) and, in-process, the engine's
own lexical query (rows its text index lacks are scanned on every query) and the read
copy's. `--costs` instead times, on the interrupted index before any catch-up, what the
catch-up does: the read copy's publish and the engine's text-index refresh.

    python bench/interrupt_lexical.py --project PATH [--after 20] [--costs] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import append_section

CLI = [sys.executable, "-m", "mcp_vector_search"]
QUERIES = ["queryset filter exclude", "csrf token middleware", "parse the command line options"]


def lexical_ms(store: Any, runs: int = 3) -> float:
    from mcp_vector_search import lexical

    times = []
    for _ in range(runs):
        for q in QUERIES:
            t0 = time.perf_counter()
            store.lexical_search(lexical.query_terms(q), 100)
            times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--after", type=float, default=20.0, help="seconds before the SIGINT")
    ap.add_argument("--costs", action="store_true", help="time publish and FTS refresh instead")
    ap.add_argument("--no-write", action="store_true", help="print only; leave the docs alone")
    args = ap.parse_args()
    root = args.project.resolve()
    idx = Path(tempfile.mkdtemp(prefix="mvs-bench-interrupt-"))
    env = {**os.environ, "MVS_INDEX_DIR": str(idx), "MVS_SEARCH_DAEMON": "0"}
    os.environ["MVS_INDEX_DIR"] = str(idx)
    figures: dict[str, Any] = {}
    try:
        proc = subprocess.Popen(
            [*CLI, "index", str(root), "--no-embed", "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(args.after)
        if args.costs:
            proc.send_signal(signal.SIGTERM)  # no catch-up: this run times its parts
        else:
            proc.send_signal(signal.SIGINT)
        t_sig = time.monotonic()
        _out, err = proc.communicate(timeout=120)
        figures["exit_after_signal_s"] = round(time.monotonic() - t_sig, 2)
        figures["interrupted"] = err.strip().splitlines()[-1] if err.strip() else proc.returncode

        from mcp_vector_search.lock import WriterLock
        from mcp_vector_search.store import sidecar

        if not args.costs:
            # Done once the finisher let go of the lock with the copy current; polled
            # before anything heavy is imported here, so its moment is not missed.
            lock = WriterLock(idx)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                header = sidecar.read_header(idx)
                if lock.holder() is None and header and sidecar.is_current(header, idx):
                    break
                time.sleep(0.05)
            figures["catch_up_done_after_signal_s"] = round(time.monotonic() - t_sig, 1)
            header = sidecar.read_header(idx)
            figures["copy_current"] = header is not None and sidecar.is_current(header, idx)

        from mcp_vector_search.store import lancedb
        from mcp_vector_search.store.meta import read_meta

        meta = read_meta(idx)
        assert meta is not None, "interrupted before the index existed: use a larger --after"
        model, dims = str(meta["model_id"]), int(meta["dimensions"])
        if args.costs:
            store = lancedb.open_store(idx, model_id=model, dimensions=dims, writable=True)
            figures["chunks"] = store.counts()[1]
            figures["engine_lexical_unindexed_ms"] = lexical_ms(store)
            t0 = time.perf_counter()
            source = store.sidecar_source()
            sidecar.publish(idx, source)
            figures["publish_read_copy_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            store.optimize()
            figures["fts_refresh_optimize_s"] = round(time.perf_counter() - t0, 2)
            figures["engine_lexical_indexed_ms"] = lexical_ms(store)
            store.close()
        else:
            walls, engine_seen = [], False
            for q in QUERIES:
                t0 = time.monotonic()
                search = ["--project", str(root), "search", q, "--mode", "lexical", "--json"]
                out = subprocess.run(
                    [sys.executable, "-X", "importtime", "-m", "mcp_vector_search", *search],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                walls.append(time.monotonic() - t0)
                json.loads(out.stdout)
                names = {
                    ln.rsplit("|", 1)[-1].strip().split(".")[0] for ln in out.stderr.splitlines()
                }
                engine_seen = engine_seen or "lancedb" in names
            figures["cold_lexical_median_s"] = round(statistics.median(walls), 2)
            figures["cold_lexical_imported_engine"] = engine_seen
            store = lancedb.open_store(idx, model_id=model, dimensions=dims, writable=False)
            figures["chunks"] = store.counts()[1]
            figures["engine_lexical_ms"] = lexical_ms(store)
            store.close()
            copy = sidecar.open_current(idx, model_id=model, dimensions=dims)
            if copy is not None:
                figures["copy_lexical_ms"] = lexical_ms(copy)
    finally:
        shutil.rmtree(idx, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    if not args.no_write:
        what = "costs" if args.costs else "after the catch-up"
        append_section(
            f"Lexical search after an interrupted first run ({what}) — {root.name}", figures=figures
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
