"""Pure ranking functions: fusion, boosts, file coherence, dedupe. No I/O, no store.

Fusion is a weighted sum over the candidate lists (lexical, vectors), per chunk and per
file. Each list's scores are rescaled to [0, 1] within the list (a convex combination,
which keeps how far a list's top is ahead of the rest; measured better than reciprocal
rank fusion on every corpus but two, see docs/benchmarks.md), and the weights follow the
query's shape: identifier-like queries lean on the lexical list, prose on vectors. Boosts
follow what the field measured (semble's ablation): definitions of the queried name,
path matches, files with several good chunks; docs and tests step back unless asked for.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .store import LexicalHit, StoredChunk

RRF_K = 60
DOC_LANGUAGES = frozenset({"markdown", "rst", "text", "asciidoc"})
_TEST_PATH = re.compile(
    r"(^|/)(tests?|testing|__tests__|spec|specs)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[jt]sx?$"
)
_EXAMPLE_PATH = re.compile(r"(^|/)(examples?|samples?|demos?|docs?|docs_src|benchmarks?)/")
_GENERATED_PATH = re.compile(
    r"(_pb2(_grpc)?\.py|\.pb\.(go|cc|h)|\.generated\.\w+|_generated\.\w+|\.g\.dart)$"
    r"|(^|/)(generated|gen|vendor|third_party)/"
)
_DOC_WORDS = frozenset(
    {
        "doc",
        "docs",
        "documentation",
        "readme",
        "guide",
        "tutorial",
        "changelog",
        "explain",
        "explained",
        "example",
        "examples",
    }
)
_TEST_WORDS = frozenset({"test", "tests", "testing", "fixture", "fixtures", "mock", "spec"})
_EXAMPLE_WORDS = frozenset({"example", "examples", "sample", "samples", "demo", "demos"})


@dataclass(frozen=True, slots=True)
class Scored:
    chunk: StoredChunk
    score: float
    lexical_rank: int | None = None
    vector_rank: int | None = None
    cosine: float | None = None


def _last_name(symbol: str | None) -> str:
    if not symbol:
        return ""
    return re.split(r"[.:#>\s]+", symbol.strip())[-1].lower()


@dataclass(frozen=True, slots=True)
class QueryShape:
    """What the query asks for, computed once per query."""

    terms: frozenset[str]
    identifiers: frozenset[str]  # words written like code: snake_case, camelCase, dotted
    words: frozenset[str]  # every word, lower-cased
    wants_docs: bool
    wants_tests: bool
    identifier_weight: float
    wants_examples: bool = False


_CODE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def query_shape(query: str, terms: Sequence[str], identifier_weight: float) -> QueryShape:
    words = _CODE_WORD.findall(query)
    idents = {
        part.lower()
        for w in words
        for part in w.split(".")
        if "_" in part or re.search(r"[a-z][A-Z]", part) or (len(words) == 1)
    }
    term_set = frozenset(terms)
    return QueryShape(
        terms=term_set,
        identifiers=frozenset(idents),
        words=frozenset(w.lower() for w in words),
        wants_docs=bool(term_set & _DOC_WORDS),
        wants_tests=bool(term_set & _TEST_WORDS),
        identifier_weight=identifier_weight,
        wants_examples=bool(term_set & _EXAMPLE_WORDS),
    )


def name_factor(c: StoredChunk, q: QueryShape) -> float:
    """A definition whose name the query spells out as an identifier."""
    last = _last_name(c.symbol)
    if last and last in q.identifiers:
        return 1.6
    return 1.0


def structure_factor(
    c: StoredChunk,
    q: QueryShape,
    *,
    doc: float = 0.55,
    test: float = 0.7,
    example: float = 1.0,
    generated: float = 1.0,
) -> float:
    """Docs, tests, examples and generated code step back unless the query asks for them."""
    factor = 1.0
    if c.language in DOC_LANGUAGES or c.kind in ("section", "window"):
        factor *= 1.0 if q.wants_docs else doc
    if not q.wants_tests and _TEST_PATH.search(c.path):
        factor *= test
    if not q.wants_examples and _EXAMPLE_PATH.search(c.path):
        factor *= example
    if _GENERATED_PATH.search(c.path):
        factor *= generated
    # Top-level code is not penalised: in JavaScript modules it is often the real code
    # (anonymous default exports, module-level handlers).
    return factor


def path_factor(c: StoredChunk, q: QueryShape) -> float:
    stem = c.path.rsplit("/", 1)[-1].split(".", 1)[0].lower()
    if stem and stem in q.identifiers:
        return 1.15
    return 1.0


def apply_boosts(
    scored: Sequence[Scored],
    query: str,
    terms: Sequence[str],
    identifier_weight: float = 0.5,
    params: Params | None = None,
) -> list[Scored]:
    """Scale scores by the query-aware structure factors: definition names, paths, and
    the penalties of `params` (lexical mode's, measured at 0.7 for tests, by default)."""
    p = params or LEXICAL
    shape = query_shape(query, terms, identifier_weight)
    return [
        replace(
            s,
            score=s.score
            * name_factor(s.chunk, shape)
            * path_factor(s.chunk, shape)
            * structure_factor(
                s.chunk,
                shape,
                doc=p.doc_penalty,
                test=p.test_penalty,
                example=p.example_penalty,
                generated=p.generated_penalty,
            ),
        )
        for s in scored
    ]


def file_coherence(
    scored: Sequence[Scored], *, weight: float = 0.05, depth: int = 3
) -> list[Scored]:
    """Lift chunks whose file has several strong candidates (a file about the topic)."""
    by_file: dict[str, list[float]] = defaultdict(list)
    for s in scored:
        by_file[s.chunk.path].append(s.score)
    bonus = {path: sum(sorted(vals, reverse=True)[1 : depth + 1]) for path, vals in by_file.items()}
    return [replace(s, score=s.score + weight * bonus[s.chunk.path]) for s in scored]


def dedupe(scored: Sequence[Scored]) -> list[Scored]:
    """One result per span, and one per definition when it was split into pieces."""
    seen_spans: set[tuple[str, int, int]] = set()
    seen_defs: set[tuple[str, str, str]] = set()
    out: list[Scored] = []
    for s in sorted(scored, key=lambda s: -s.score):
        c = s.chunk
        span = (c.path, c.start_line, c.end_line)
        if span in seen_spans:
            continue
        if c.symbol and c.kind not in ("module", "section", "window"):
            key = (c.path, c.symbol, c.kind)
            if key in seen_defs:
                continue
            seen_defs.add(key)
        seen_spans.add(span)
        out.append(s)
    return out


@dataclass(frozen=True, slots=True)
class Params:
    """The knobs of hybrid ranking.

    The defaults were chosen once on all six dev corpora and CoSQA together (each corpus
    weighing the same), with leave-one-corpus-out checks; never per query or per corpus.
    bench/rank_lab.py reproduces the search and the ablation in docs/benchmarks.md.
    """

    fusion: str = "cc"  # "cc": weighted sum of per-list rescaled scores; "rrf": ranks only
    k: int = RRF_K  # rrf only
    file_k: int = RRF_K  # rrf only, for file evidence
    # List weights by query shape: w = base + slope * identifier_weight (0 prose, 1 code).
    lex_base: float = 0.6
    lex_slope: float = 0.4
    vec_base: float = 0.7
    vec_slope: float = -0.6
    file_weight: float = 0.1  # a file's fused evidence, added to each of its chunks
    # A second lexical list over a long query's signal terms. Measured neutral to
    # slightly worse on the dev set (BM25's idf already favours rare identifiers), so off.
    signal_weight: float = 0.0
    coherence: float = 0.05
    doc_penalty: float = 0.55
    test_penalty: float = 0.5
    example_penalty: float = 1.0
    generated_penalty: float = 1.0


DEFAULT = Params()
# Lexical mode's boosts: the penalties it was measured with (ours-lexical in the tables).
LEXICAL = Params(test_penalty=0.7)
# The ranking before this calibration (weighted RRF, no file evidence), for ablations.
PREVIOUS = Params(fusion="rrf", lex_base=0.6, vec_base=1.0, file_weight=0.0, test_penalty=0.7)


def _contributions(
    entries: Sequence[tuple[StoredChunk, float]], weight: float, p: Params
) -> list[float]:
    """What each entry of one best-first list adds to a chunk's fused score.

    rrf: weight / (k + rank); cc (convex combination): weight times the score rescaled
    to [0, 1] within the list, so a list whose top is far ahead of the rest says so.
    """
    if p.fusion == "cc" and entries:
        top, low = entries[0][1], entries[-1][1]
        span = top - low
        if span <= 0:
            return [weight] * len(entries)
        return [weight * (score - low) / span for _, score in entries]
    return [weight / (p.k + r + 1) for r in range(len(entries))]


def file_evidence(
    lists: Sequence[tuple[Sequence[tuple[StoredChunk, float]], Sequence[float]]],
) -> dict[str, float]:
    """Fusion over files: each list credits a file once, with its best chunk's share.

    A file that two lists both rank first, through different chunks (a module chunk
    lexically, a method semantically), gets both contributions here, which per-chunk
    fusion can never give it.
    """
    acc: dict[str, float] = defaultdict(float)
    for entries, adds in lists:
        seen: set[str] = set()
        for (c, _), add in zip(entries, adds, strict=True):
            if c.path not in seen:
                seen.add(c.path)
                acc[c.path] += add
    return acc


def rank(
    lexical: Sequence[LexicalHit],
    vector: Sequence[tuple[StoredChunk, float]],
    *,
    query: str,
    terms: Sequence[str],
    identifier_weight: float,
    signal: Sequence[LexicalHit] = (),
    params: Params = DEFAULT,
) -> list[Scored]:
    """Fused, boosted, deduplicated candidates, best first.

    Each list (lexical, the signal terms' lexical list, vectors) adds to the chunks it
    holds and, through file_evidence, to every chunk of the files it holds; then the
    structure factors (definition names, paths, tests/docs/examples) scale the total,
    so a penalised file stays behind however much evidence it collected.
    """
    p = params
    w_lex = p.lex_base + p.lex_slope * identifier_weight
    w_vec = p.vec_base + p.vec_slope * identifier_weight
    lex = [(h.chunk, h.score) for h in lexical]
    sig = [(h.chunk, h.score) for h in signal]
    lists = [
        (lex, _contributions(lex, w_lex, p)),
        (sig, _contributions(sig, p.signal_weight, p)),
        (vector, _contributions(vector, w_vec, p)),
    ]
    acc: dict[str, Scored] = {}
    for which, (entries, adds) in enumerate(lists):
        for rank_, ((chunk, raw), add) in enumerate(zip(entries, adds, strict=True)):
            prev = acc.get(chunk.id) or Scored(chunk, 0.0)
            if which == 2:
                acc[chunk.id] = replace(prev, score=prev.score + add, vector_rank=rank_, cosine=raw)
            elif which == 0:
                acc[chunk.id] = replace(prev, score=prev.score + add, lexical_rank=rank_)
            else:
                acc[chunk.id] = replace(prev, score=prev.score + add)
    fused = list(acc.values())
    if p.file_weight:
        if p.fusion == "rrf" and p.file_k != p.k:
            lists = [
                (e, _contributions(e, w, replace(p, k=p.file_k)))
                for (e, _), w in zip(lists, (w_lex, p.signal_weight, w_vec), strict=True)
            ]
        evidence = file_evidence(lists)
        fused = [replace(s, score=s.score + p.file_weight * evidence[s.chunk.path]) for s in fused]
    boosted = apply_boosts(fused, query, terms, identifier_weight, p)
    return dedupe(file_coherence(boosted, weight=p.coherence))
