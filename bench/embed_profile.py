#!/usr/bin/env python3
"""Where the embedding time goes, on the chunks `index` really makes.

tokens    tokens per chunk (mean, p50, p90) on every dev corpus and CoSQA, and how many
          of them the context header and the overlap between split pieces add
bare      the bare model (MiniLMEmbedder) at the indexer's call shape (length-sorted groups
          of 512, 16 texts a call), tokens/s and CPU use, beside other batch limits,
          interleaved
e2e       `index` on one corpus (fresh, real model): the run's embedding rate and the CPU
          use of the whole process, sampled every 0.5 s

  python bench/embed_profile.py --cache /work/bench-cache [--model minilm] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mcp_vector_search.embedding import create_embedder
from mcp_vector_search.indexer import EMBED_CALL, EMBED_GROUP
from mcp_vector_search.records import Chunk
from realchunks import corpus_roots, load_or_chunk, sample
from report import append_section

CLK = os.sysconf("SC_CLK_TCK")


def token_figures(emb: object, chunks: list[Chunk]) -> dict[str, float]:
    count = emb.count_tokens  # type: ignore[attr-defined]
    window = emb.max_tokens  # type: ignore[attr-defined]
    full = np.array(count([c.embed_text for c in chunks]))
    body = np.array(count([c.content for c in chunks]))
    fed = np.minimum(full, window)
    header = full - body  # the counter is additive over lines, so this is the header alone
    # Overlap: a line inside several chunks of one file is fed once per chunk; a line cut
    # by characters (one huge line) is left out, its pieces are not whole lines.
    by_path: dict[str, list[Chunk]] = defaultdict(list)
    for c in chunks:
        by_path[c.path].append(c)
    extra = 0
    for cs in by_path.values():
        cover: dict[int, int] = defaultdict(int)
        text_of: dict[int, str] = {}
        for c in cs:
            rows = c.content.split("\n")
            if len(rows) != c.end_line - c.start_line + 1:
                continue
            for k, row in enumerate(rows):
                cover[c.start_line + k] += 1
                text_of[c.start_line + k] = row
        twice = [ln for ln, n in cover.items() if n > 1 and text_of[ln].strip()]
        if twice:
            tok = count([text_of[ln] for ln in twice])
            extra += sum((cover[ln] - 1) * (t - 2) for ln, t in zip(twice, tok, strict=True))
    total = float(fed.sum())
    return {
        "chunks": len(chunks),
        "tokens_mean": round(float(fed.mean()), 1),
        "tokens_p50": round(float(np.percentile(fed, 50)), 1),
        "tokens_p90": round(float(np.percentile(fed, 90)), 1),
        "share_at_window": round(float(np.mean(fed >= window - 8)), 3),
        "header_tokens_mean": round(float(header.mean()), 1),
        "header_share": round(float(header.sum()) / total, 3),
        "overlap_share": round(extra / total, 3),
        "tokens_total": int(total),
    }


def indexer_calls(texts: list[str]) -> list[list[str]]:
    """The embed_batch calls the indexer makes: groups of 512 sorted by length, 16 a call."""
    calls = []
    for g in range(0, len(texts), EMBED_GROUP):
        group = sorted(texts[g : g + EMBED_GROUP], key=len)
        calls += [group[i : i + EMBED_CALL] for i in range(0, len(group), EMBED_CALL)]
    return calls


def bare(model: str, texts: list[str], shapes: list[tuple[int, int]], slices: int) -> list[dict]:
    from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder

    base = create_embedder(model)
    embs = []
    for bs, mbt in shapes:
        if isinstance(base, MiniLMEmbedder):
            e = MiniLMEmbedder(batch_size=bs, max_batch_tokens=mbt, precision=base.precision)
        else:
            e = create_embedder(model)
        e.embed_batch(texts[:4])
        embs.append(e)
    ntok = sum(min(n, base.max_tokens) for n in base.count_tokens(texts))
    wall = [0.0] * len(embs)
    cpu = [0.0] * len(embs)
    bounds = np.linspace(0, len(texts), slices + 1).astype(int)
    for s in range(slices):
        calls = indexer_calls(texts[bounds[s] : bounds[s + 1]])
        for j in [*range(s % len(embs), len(embs)), *range(s % len(embs))]:
            c0, t0 = os.times(), time.perf_counter()
            for call in calls:
                embs[j].embed_batch(call)
            wall[j] += time.perf_counter() - t0
            c1 = os.times()
            cpu[j] += (c1.user - c0.user) + (c1.system - c0.system)
    out = []
    for (bs, mbt), w, c, e in zip(shapes, wall, cpu, embs, strict=True):
        out.append(
            {
                "batch_size": bs,
                "max_batch_tokens": mbt,
                "chunks_per_s": round(len(texts) / w, 1),
                "tokens_per_s": round(ntok / w),
                "cpu_pct": round(100 * c / w),
            }
        )
        e.close()
    base.close()
    return out


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def e2e(root: Path, model: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MVS_INDEX_DIR": tmp, "MVS_MODEL": model}
        cmd = [sys.executable, "-m", "mcp_vector_search", "index", str(root), "-q", "--json"]
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        samples: list[tuple[float, float]] = []

        def watch() -> None:
            while p.poll() is None:
                try:
                    samples.append((time.monotonic() - t0, _proc_cpu(p.pid)))
                except (OSError, IndexError, ValueError):
                    return
                time.sleep(0.5)

        th = threading.Thread(target=watch)
        th.start()
        out, _ = p.communicate()
        th.join()
        wall = time.monotonic() - t0
    rep = json.loads(out)
    start = rep["lexical_seconds"] + 3  # model load and the first batches aside
    pts = [(t, c) for t, c in samples if t >= start]
    embed_cpu = 100 * (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]) if len(pts) > 2 else None
    return {
        "corpus": root.name,
        "chunks": rep["chunks_total"],
        "wall_s": round(wall, 1),
        "lexical_s": round(rep["lexical_seconds"], 1),
        "embed_s": round(rep["embed_seconds"], 1),
        "e2e_chunks_per_s": round(rep["vectors_added"] / rep["embed_seconds"], 1),
        "cpu_pct_while_embedding": round(embed_cpu) if embed_cpu is not None else None,
        # The largest child so far: the index run (the corpus fetch before it is tiny).
        "peak_rss_mb_of_index": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        ),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--bare-chunks", type=int, default=600)
    ap.add_argument("--e2e-corpus", default="httpx")
    ap.add_argument("--skip", default="", help="comma list of tokens,bare,e2e to skip")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    emb = create_embedder(args.model)
    loads = [os.getloadavg()[0]]
    per = load_or_chunk(args.cache, None, emb.max_tokens, emb.count_tokens)
    sections = []
    if "tokens" not in skip:
        rows = {name: token_figures(emb, cs) for name, cs in per.items()}
        rows["all"] = token_figures(emb, [c for cs in per.values() for c in cs])
        cols = list(next(iter(rows.values())))
        table = "| corpus | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n"
        table += "\n".join(
            f"| {n} | " + " | ".join(str(v) for v in r.values()) + " |" for n, r in rows.items()
        )
        print(table)
        sections.append(
            "Tokens per chunk as fed to the model (window-capped), from the project's chunker "
            "with the model's own counter. header = tokens of the context header "
            "(path | language kind symbol, plus the definition head on split pieces); "
            "overlap = tokens of lines repeated at the start of a split piece.\n\n" + table
        )
        loads.append(os.getloadavg()[0])
    if "bare" not in skip:
        texts = [
            c.embed_text for c in sample([c for cs in per.values() for c in cs], args.bare_chunks)
        ]
        rows_b = bare(args.model, texts, [(1, 1024), (32, 1024), (32, 4096)], 6)
        table = "| batch_size | max_batch_tokens | chunks/s | tokens/s | CPU % |\n"
        table += "|---|---|---|---|---|\n"
        table += "\n".join("| " + " | ".join(str(v) for v in r.values()) + " |" for r in rows_b)
        print(table)
        sections.append(
            f"Bare model ({args.model}), {len(texts)} sampled real chunks, the indexer's calls "
            f"(groups of {EMBED_GROUP} sorted by length, {EMBED_CALL} texts a call), "
            "three batch shapes interleaved; CPU % is process CPU time over wall time "
            "(200 % = both cores).\n\n" + table
        )
        loads.append(os.getloadavg()[0])
    if "e2e" not in skip:
        fig = e2e(corpus_roots(args.cache)[args.e2e_corpus], args.model)
        print(fig)
        table = "| figure | value |\n|---|---|\n" + "\n".join(
            f"| {k} | {v} |" for k, v in fig.items()
        )
        sections.append(
            f"`index` end to end ({args.model}, fresh index); CPU % sampled from /proc every 0.5 s "
            "from 3 s after the lexical pass to the end.\n\n" + table
        )
        loads.append(os.getloadavg()[0])
    emb.close()
    note = f"1-min load average during the run: {min(loads):.1f}-{max(loads):.1f}."
    print(note)
    if not args.no_write:
        append_section(f"Embedding profile ({args.model})", "\n\n".join([note, *sections]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
