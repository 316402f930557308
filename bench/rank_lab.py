#!/usr/bin/env python3
"""Ranking lab: capture each query's candidate lists once, then score ranking variants.

The candidates (lexical and vector lists, as search.py hands them to ranking.rank) are
captured from real indexes built by bench/quality.py, so a ranking change can be scored
over every dev corpus and CoSQA in seconds instead of re-running the CLI. The numbers
here are for exploring; bench/quality.py (the real CLI) gives the figures we report.

    python bench/rank_lab.py capture [--cache bench/.cache] [--model minilm]
    python bench/rank_lab.py eval [--variants base,...] [--loo]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(HERE))

from mcp_vector_search import lexical, ranking  # noqa: E402


def _roots(bench: Path, cache: Path) -> dict[str, Path]:
    out = subprocess.run(
        [sys.executable, str(bench / "fetch_corpora.py"), str(cache)],
        check=True,
        text=True,
        capture_output=True,
    ).stdout
    roots = {k: Path(v) for k, v in (ln.split("\t", 1) for ln in out.strip().splitlines())}
    roots["cosqa"] = bench / "cosqa" / "corpus"
    return roots


def _queries(bench: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (bench / "queries.jsonl").read_text().splitlines() if x]
    for x in (bench / "cosqa" / "queries.jsonl").read_text().splitlines():
        if x:
            q = json.loads(x)
            q["corpus"], q["style"] = "cosqa", "cosqa"
            rows.append(q)
    return rows


def capture(args: argparse.Namespace) -> None:
    from mcp_vector_search import search as search_mod
    from mcp_vector_search.config import load_config
    from mcp_vector_search.lifecycle import Session

    roots = _roots(args.bench, args.cache)
    queries = _queries(args.bench)
    captured: dict[str, dict[str, Any]] = {}
    real_rank = ranking.rank
    box: dict[str, Any] = {}

    def spy(lex: Any, vec: Any, **kw: Any) -> Any:
        box["lex"], box["vec"], box["kw"] = list(lex), list(vec), kw
        return real_rank(lex, vec, **kw)

    search_mod.ranking.rank = spy  # type: ignore[attr-defined]
    only = set(args.corpora.split(",")) if args.corpora else set(roots)
    old = args.cache / f"capture-{args.model}.pkl"
    if args.corpora and old.exists():
        captured.update(pickle.loads(old.read_bytes()))
    for corpus, root in roots.items():
        mine = [q for q in queries if q["corpus"] == corpus and corpus in only]
        if not mine:
            continue
        os.environ["MVS_INDEX_DIR"] = str(args.cache / "indexes" / args.model / corpus)
        os.environ["MVS_MODEL"] = args.model
        config = load_config(root)
        with Session(root, config) as session:
            store = session.store()
            searcher = search_mod.Searcher(store, session.embedder)
            for q in mine:
                box.clear()
                searcher.search(q["query"], limit=10, mode="hybrid")
                signal = lexical.signal_terms(box["kw"]["query"])
                captured[q["id"]] = {
                    "lex": box["lex"],
                    "vec": box["vec"],
                    "query": box["kw"]["query"],
                    "terms": box["kw"]["terms"],
                    "signal": store.lexical_search(signal, 100) if signal else [],
                }
        print(corpus, len(mine), file=sys.stderr)
    out = args.cache / f"capture-{args.model}.pkl"
    out.write_bytes(pickle.dumps(captured))
    print(out)


Ranker = Callable[[dict[str, Any]], list[ranking.Scored]]


def hybrid(params: ranking.Params, *, use_signal: bool = True) -> Ranker:
    def run(c: dict[str, Any]) -> list[ranking.Scored]:
        return ranking.rank(
            c["lex"],
            c["vec"],
            query=c["query"],
            terms=c["terms"],
            identifier_weight=lexical.identifier_weight(c["query"]),
            signal=c["signal"] if use_signal else (),
            params=params,
        )

    return run


def lexical_only(c: dict[str, Any]) -> list[ranking.Scored]:
    scored = [ranking.Scored(h.chunk, h.score, lexical_rank=r) for r, h in enumerate(c["lex"])]
    return ranking.dedupe(ranking.apply_boosts(scored, c["query"], c["terms"]))


def semantic_only(c: dict[str, Any]) -> list[ranking.Scored]:
    scored = [
        ranking.Scored(ch, cos, vector_rank=r, cosine=cos) for r, (ch, cos) in enumerate(c["vec"])
    ]
    return ranking.dedupe(scored)


VARIANTS: dict[str, Ranker] = {
    "lexical": lexical_only,
    "semantic": semantic_only,
    "hybrid-old": hybrid(ranking.Params(), use_signal=False),
    "hybrid": hybrid(ranking.DEFAULT),
}


def _first(results: Sequence[ranking.Scored], targets: list[dict[str, Any]], span: bool) -> int:
    for rank, s in enumerate(results[:10], 1):
        c = s.chunk
        for t in targets:
            if c.path != t["path"]:
                continue
            if not span or t.get("start_line") is None:
                return rank
            if c.start_line <= int(t["end_line"]) and c.end_line >= int(t["start_line"]):
                return rank
    return 0


def evaluate(
    ranker: Ranker, captured: dict[str, Any], queries: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for q in queries:
        c = captured.get(q["id"])
        if c is None:
            continue
        res = ranker(c)
        hit = (_first(res, q["targets"], False), _first(res, q["targets"], True))
        groups[q["corpus"]].append(hit)
        if q["corpus"] != "cosqa":
            groups["style:" + q["style"]].append(hit)
            groups["dev"].append(hit)
    out: dict[str, dict[str, float]] = {}
    for g, hits in groups.items():
        n = len(hits)
        out[g] = {
            "n": n,
            "mrr": sum(1 / f for f, _ in hits if f) / n,
            "ndcg": sum(1 / math.log2(f + 1) for f, _ in hits if f) / n,
            "span5": sum(1 for _, s in hits if 0 < s <= 5) / n,
        }
    return out


ORDER = ["click", "httpx", "axios", "rich", "orjson", "tanstack-query", "dev", "cosqa"]


def eval_cmd(args: argparse.Namespace) -> None:
    captured = pickle.loads((args.cache / f"capture-{args.model}.pkl").read_bytes())
    queries = _queries(args.bench)
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    header = f"{'variant':<16}" + "".join(f"{g[:8]:>9}" for g in ORDER) + "  span5(dev)"
    print(header)
    for name in names:
        r = evaluate(VARIANTS[name], captured, queries)
        cells = "".join(
            f"{r[g]['ndcg' if g == 'cosqa' else 'mrr']:>9.3f}" if g in r else f"{'-':>9}"
            for g in ORDER
        )
        styles = " ".join(
            f"{k[6:]}={v['mrr']:.3f}" for k, v in sorted(r.items()) if k.startswith("style:")
        )
        print(f"{name:<16}{cells}  {r['dev']['span5']:.3f}  {styles}")


GRID: dict[str, list[Any]] = {
    "k": [10, 30, 60],
    "file_k": [5, 15, 60],
    "file_weight": [0.0, 0.5, 1.0, 2.0],
    "lex_base": [0.5, 0.8, 1.1],
    "vec_base": [0.6, 1.0, 1.4],
    "signal_weight": [0.0, 0.4, 0.8],
    "test_penalty": [0.5, 0.7],
    "coherence": [0.0, 0.05],
    "fusion": ["rrf", "cc"],
}
CORPORA = ["click", "httpx", "axios", "rich", "orjson", "tanstack-query", "cosqa"]


def objective(r: dict[str, dict[str, float]], corpora: Sequence[str]) -> float:
    """Mean per-corpus quality: every corpus counts the same, whatever its size."""
    return sum(r[c]["ndcg" if c == "cosqa" else "mrr"] for c in corpora) / len(corpora)


def sweep_cmd(args: argparse.Namespace) -> None:
    import random
    import time

    captured = pickle.loads((args.cache / f"capture-{args.model}.pkl").read_bytes())
    queries = _queries(args.bench)
    import itertools

    rng = random.Random(args.seed)
    grid: dict[str, list[Any]] = json.loads(args.grid) if args.grid else GRID
    fixed: dict[str, Any] = json.loads(args.start) if args.start else {}
    trials: list[tuple[dict[str, Any], dict[str, dict[str, float]]]] = []
    t0 = time.monotonic()
    size = math.prod(len(v) for v in grid.values())
    if size <= args.trials:  # small grids are searched exhaustively
        picks = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    else:
        seen: set[tuple[Any, ...]] = set()
        picks = []
        while len(picks) < args.trials:
            pick = {k: rng.choice(v) for k, v in grid.items()}
            if tuple(pick.values()) not in seen:
                seen.add(tuple(pick.values()))
                picks.append(pick)
    for pick in picks:
        r = evaluate(hybrid(ranking.Params(**{**fixed, **pick})), captured, queries)
        trials.append((pick, r))
    print(f"{len(trials)} trials in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    best = max(trials, key=lambda t: objective(t[1], CORPORA))
    print("best on all corpora:", best[0], f"{objective(best[1], CORPORA):.3f}")
    cells = (f"{c}={best[1][c]['ndcg' if c == 'cosqa' else 'mrr']:.3f}" for c in CORPORA)
    print("  " + " ".join(cells))
    print("leave one corpus out (params chosen on the other six, scored on the held-out one):")
    for held in CORPORA:
        rest = [c for c in CORPORA if c != held]
        pick, _ = max(trials, key=lambda t: objective(t[1], rest))
        r = next(rr for p, rr in trials if p == pick)
        m = "ndcg" if held == "cosqa" else "mrr"
        print(f"  {held:<15} held-out {r[held][m]:.3f}", end="")
        print(f"  (best-in-sample {best[1][held][m]:.3f}) {pick}")
    out = args.cache / f"sweep-{args.model}.pkl"
    out.write_bytes(pickle.dumps(trials))


def scan_cmd(args: argparse.Namespace) -> None:
    """One parameter at a time around a starting point: how sensitive each knob is."""
    captured = pickle.loads((args.cache / f"capture-{args.model}.pkl").read_bytes())
    queries = _queries(args.bench)
    start = json.loads(args.start) if args.start else {}
    grid = json.loads(args.grid) if args.grid else GRID
    base = ranking.Params(**start)

    def show(label: str, params: ranking.Params) -> None:
        r = evaluate(hybrid(params), captured, queries)
        cells = " ".join(f"{r[c]['ndcg' if c == 'cosqa' else 'mrr']:.3f}" for c in CORPORA)
        styles = " ".join(
            f"{k[6:]}={v['mrr']:.3f}" for k, v in sorted(r.items()) if k.startswith("style:")
        )
        print(
            f"{label:<24} {objective(r, CORPORA):.4f}  {cells}  span5={r['dev']['span5']:.3f}"
            f" {styles}",
            flush=True,
        )

    print(f"{'':<24} {'mean':<6}  " + " ".join(c[:5] for c in CORPORA))
    show("start", base)
    for name, values in grid.items():
        for v in values:
            if getattr(base, name) != v:
                show(f"{name}={v}", replace(base, **{name: v}))


def ablation_cmd(args: argparse.Namespace) -> None:
    """The ablation table (markdown): each row changes one thing from the shipped ranking."""
    captured = pickle.loads((args.cache / f"capture-{args.model}.pkl").read_bytes())
    queries = _queries(args.bench)
    shipped = ranking.DEFAULT
    rows: list[tuple[str, Ranker]] = [
        ("ours lexical", lexical_only),
        ("ours semantic", semantic_only),
        ("previous hybrid (weighted RRF, k=60)", hybrid(ranking.PREVIOUS, use_signal=False)),
        ("shipped hybrid", hybrid(shipped)),
        ("  fusion RRF instead of rescaled scores", hybrid(replace(shipped, fusion="rrf"))),
        ("  no file evidence", hybrid(replace(shipped, file_weight=0.0))),
        ("  file evidence weight 0.25", hybrid(replace(shipped, file_weight=0.25))),
        ("  + signal-term list, weight 0.1", hybrid(replace(shipped, signal_weight=0.1))),
        ("  + signal-term list, weight 0.2", hybrid(replace(shipped, signal_weight=0.2))),
        ("  test penalty 0.7 (previous)", hybrid(replace(shipped, test_penalty=0.7))),
        ("  no file coherence", hybrid(replace(shipped, coherence=0.0))),
        ("  lexical weight -0.1", hybrid(replace(shipped, lex_base=shipped.lex_base - 0.1))),
        ("  lexical weight +0.1", hybrid(replace(shipped, lex_base=shipped.lex_base + 0.1))),
    ]
    styles = ["paraphrase", "keyword", "issue"]
    lines = [
        "| ranking | " + " | ".join(CORPORA) + " | mean | " + " | ".join(styles) + " | span_R@5 |",
        "|---" * (len(CORPORA) + len(styles) + 3) + "|",
    ]
    for label, ranker in rows:
        r = evaluate(ranker, captured, queries)
        cells = [f"{r[c]['ndcg' if c == 'cosqa' else 'mrr']:.3f}" for c in CORPORA]
        st = [f"{r['style:' + s]['mrr']:.3f}" for s in styles]
        lines.append(
            f"| {label} | {' | '.join(cells)} | {objective(r, CORPORA):.3f} | "
            f"{' | '.join(st)} | {r['dev']['span5']:.3f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.write:
        from report import append_section

        append_section(
            "Ranking ablation (dev corpora + CoSQA, captured candidates)",
            "file_MRR@10 per corpus (CoSQA: nDCG@10), the mean over the seven corpora (each "
            "counts the same), file_MRR@10 per query style, and dev span_R@5. Each indented "
            "row changes one thing from the shipped ranking. Candidates are captured from the "
            f"real indexes (model {args.model}) by `python bench/rank_lab.py capture`; "
            "bench/quality.py gives the same hybrid figures through the CLI.\n\n" + text,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cmd", choices=["capture", "eval", "sweep", "scan", "ablation"])
    ap.add_argument("--start", default="", help="scan: JSON of Params to start from")
    ap.add_argument("--grid", default="", help="scan: JSON {param: [values]}")
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--variants", default="")
    ap.add_argument("--corpora", default="", help="capture only these (comma-separated)")
    ap.add_argument("--write", action="store_true", help="ablation: append to docs/benchmarks.md")
    args = ap.parse_args()
    {
        "capture": capture,
        "eval": eval_cmd,
        "sweep": sweep_cmd,
        "scan": scan_cmd,
        "ablation": ablation_cmd,
    }[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
