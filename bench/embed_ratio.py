#!/usr/bin/env python3
"""End-to-end embedding rate of `index` vs the bare model on the same texts.

Indexes CORPUS fresh (real model) into a temporary index, takes the run's own embedding
rate (vectors added / seconds in the embedding stage), then times the bare embedder on
the same embedded texts, back to back so both see the same machine load.

    python bench/embed_ratio.py [CORPUS] [--no-write]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", type=Path, default=HERE / ".cache/httpx/httpx-0.25.0")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from mcp_vector_search.embedding import create_embedder
    from mcp_vector_search.store.lancedb import open_store

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MVS_INDEX_DIR": tmp, "MVS_MODEL": "minilm"}
        out = subprocess.run(
            [sys.executable, "-m", "mcp_vector_search", "index", str(args.corpus), "-q", "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rep = json.loads(out)
        e2e = rep["vectors_added"] / rep["embed_seconds"]
        emb = create_embedder("minilm")
        store = open_store(
            Path(tmp), model_id=emb.model_id, dimensions=emb.dimensions, writable=False
        )
        hashes = [c.embed_hash for c in store.chunk_catalog()]
        texts = list(store.embed_texts(hashes).values())
        store.close()
    emb.embed_batch(texts[:8])  # session start is not embedding
    t0 = time.monotonic()
    for i in range(0, len(texts), 32):
        emb.embed_batch(texts[i : i + 32])
    alone = len(texts) / (time.monotonic() - t0)
    emb.close()
    load = os.getloadavg()
    figures = {
        "corpus": str(
            args.corpus.relative_to(REPO) if args.corpus.is_relative_to(REPO) else args.corpus
        ),
        "chunks": rep["chunks_total"],
        "vectors_added": rep["vectors_added"],
        "e2e_embed_rate_per_s": round(e2e, 2),
        "model_alone_rate_per_s": round(alone, 2),
        "e2e_vs_model_pct": round(100 * e2e / alone, 1),
        "load_average_after": [round(x, 1) for x in load],
    }
    print(json.dumps(figures, indent=2))
    if not args.no_write:
        append_section("Embedding overhead", figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
