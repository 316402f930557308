"""Real chunks for the embedding benches: the project's own walker and chunker on real corpora.

Synthetic text (repeated identifiers, stdlib cut at exactly 254 pieces) tokenizes and batches
unlike what `index` feeds the model, so every embedding figure is taken on these instead.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mcp_vector_search import walker
from mcp_vector_search.chunking import TokenCounter, chunk_source
from mcp_vector_search.config import Config
from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder
from mcp_vector_search.records import Chunk

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCH = REPO.parent / "shared" / "bench"


def corpus_roots(cache: Path, bench: Path = BENCH) -> dict[str, Path]:
    """The development corpora (fetched into `cache` if missing), plus CoSQA when present."""
    out = subprocess.run(
        [sys.executable, str(bench / "fetch_corpora.py"), str(cache)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    roots = {k: Path(v) for k, v in (ln.split("\t", 1) for ln in out.strip().splitlines())}
    cosqa = bench / "cosqa" / "corpus"
    if cosqa.is_dir():
        roots["cosqa"] = cosqa
    return roots


def chunk_tree(root: Path, max_tokens: int, count: TokenCounter) -> list[Chunk]:
    """What `index` would write for `root`: every file walked, read and chunked."""
    cfg = Config()
    chunks: list[Chunk] = []
    for cand in walker.walk(root, cfg).files:
        src = walker.read_source(cand, cfg)
        if isinstance(src, walker.Source):
            chunks.extend(
                chunk_source(cand.path, src.text, max_tokens=max_tokens, count_tokens=count)
            )
    return chunks


def sample(chunks: Sequence[Chunk], n: int, seed: int = 8) -> list[Chunk]:
    """A fixed pseudo-random sample (the same chunks for every variant and run)."""
    if len(chunks) <= n:
        return list(chunks)
    return random.Random(seed).sample(list(chunks), n)


def load_or_chunk(
    cache: Path, corpora: Sequence[str] | None, max_tokens: int, count: TokenCounter
) -> dict[str, list[Chunk]]:
    roots = corpus_roots(cache)
    names = list(corpora) if corpora else list(roots)
    return {name: chunk_tree(roots[name], max_tokens, count) for name in names}


def texts_file(path: Path, texts: Sequence[str]) -> None:
    path.write_text("\n".join(json.dumps(t) for t in texts) + "\n", encoding="utf-8")


def calibration_and_eval(
    cache: Path, emb: MiniLMEmbedder, n_calib: int, n_eval: int
) -> tuple[list[str], list[str]]:
    """(calibration texts, evaluation texts): one fixed sample of every corpus, split."""
    per = load_or_chunk(cache, None, emb.max_tokens, emb.count_tokens)
    chosen = sample([c for cs in per.values() for c in cs], n_eval + n_calib)
    return [c.embed_text for c in chosen[n_eval:]], [c.embed_text for c in chosen[:n_eval]]
