#!/usr/bin/env python3
"""Does the context header earn its tokens? Semantic-only file retrieval with and without it.

The chunker prefixes every embed_text with `path | language kind symbol` (plus the
definition's head on split pieces): about a sixth of the tokens the model sees. This embeds
every chunk of the dev corpora twice (embed_text as indexed, and the chunk's content alone),
ranks chunks by cosine for each dev query, and scores the best-ranked chunk's file:
file_MRR@10 and file_R@1, vector-only (no lexical, no ranking heuristics), so the header's
own contribution shows.

    python bench/header_ablation.py --cache /work/bench-cache --model minilm-int8 [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from mcp_vector_search.embedding import create_embedder
from mcp_vector_search.records import Chunk
from realchunks import BENCH, load_or_chunk
from report import append_section


def file_scores(
    qv: np.ndarray, cv: np.ndarray, chunks: list[Chunk], targets: list[set[str]]
) -> tuple[float, float]:
    sims = qv @ cv.T
    mrr = r1 = 0.0
    for row, want in zip(sims, targets, strict=True):
        files: list[str] = []
        for i in np.argsort(-row):
            p = chunks[i].path
            if p not in files:
                files.append(p)
                if len(files) == 10:
                    break
        hit = next((k for k, f in enumerate(files) if f in want), None)
        if hit is not None:
            mrr += 1 / (hit + 1)
            r1 += hit == 0
    return mrr / len(targets), r1 / len(targets)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument("--model", default="minilm-int8")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    emb = create_embedder(args.model)
    queries = [json.loads(x) for x in (BENCH / "queries.jsonl").read_text().splitlines() if x]
    corpora = sorted({q["corpus"] for q in queries})
    per = load_or_chunk(args.cache, corpora, emb.max_tokens, emb.count_tokens)
    loads = [os.getloadavg()[0]]
    rows = {"with header (as indexed)": [0.0, 0.0], "content only": [0.0, 0.0]}
    tokens = {"with header (as indexed)": 0, "content only": 0}
    t0 = time.monotonic()
    for corpus in corpora:
        chunks = per[corpus]
        mine = [q for q in queries if q["corpus"] == corpus]
        qv = emb.embed_batch([q["query"] for q in mine])
        targets = [{t["path"] for t in q["targets"]} for q in mine]
        for name, texts in (
            ("with header (as indexed)", [c.embed_text for c in chunks]),
            ("content only", [c.content for c in chunks]),
        ):
            tokens[name] += sum(min(n, emb.max_tokens) for n in emb.count_tokens(texts))
            cv = np.vstack([emb.embed_batch(texts[i : i + 64]) for i in range(0, len(texts), 64)])
            mrr, r1 = file_scores(qv, cv, chunks, targets)
            rows[name][0] += mrr * len(mine)
            rows[name][1] += r1 * len(mine)
        loads.append(os.getloadavg()[0])
        print(f"{corpus}: {len(chunks)} chunks, {time.monotonic() - t0:.0f}s", file=sys.stderr)
    n = len(queries)
    table = (
        "| embedded text | tokens fed | file_MRR@10 (vector only) | file_R@1 |\n|---|---|---|---|\n"
    )
    table += "\n".join(
        f"| {k} | {tokens[k]:,} | {v[0] / n:.3f} | {v[1] / n:.3f} |" for k, v in rows.items()
    )
    note = (
        f"{n} dev queries over {', '.join(corpora)}; model {args.model}; vector search alone "
        f"(cosine over every chunk, best chunk per file); load {min(loads):.1f}-{max(loads):.1f}."
    )
    print(table)
    print(note)
    if not args.no_write:
        append_section("Context header ablation (semantic only)", note + "\n\n" + table)
    emb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
